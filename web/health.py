"""Liveness and readiness: /healthz (the process is up), /readyz (each configured store answers).

Both are open, like the webhook: load balancers and orchestrators probe them without the admin
token. /readyz therefore says only which store fails (database, chat_log, media_store, session_db),
never why: the exception goes to the log. Checks run in parallel, each bounded by CHECK_TIMEOUT, so
a store that hangs is reported as failing instead of hanging the probe. Beside the checks it counts
the inbound spool: messages kept on disk while the database refused them (`waiting`) and those it
can never take (`set_aside`, see storage/spool.py), and, when ready, the turns' figures: messages no
key opens (`unreadable`, another SECRET_KEY) and the PostgreSQL engine's jobs by status (`engine`);
counts only, and they do not change the status.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Callable

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from .report_data import turn_figures

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)
CHECK_TIMEOUT = 3.0
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")


@bp.get("/healthz")
def healthz():
    """The process is up and serving."""
    return jsonify({"status": "ok"})


def store_checks(runtime) -> dict[str, Callable[[], None]]:
    """One callable per configured store; each raises when its store does not answer."""
    services = runtime.services
    session_engine = runtime.assistant.session_db.db_engine

    def session_db() -> None:
        with session_engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return {"database": services.db.ping, "chat_log": services.chatlog.ping, "media_store": services.media.ping,
            "session_db": session_db}


def run_checks(checks: dict[str, Callable[[], None]], timeout: float = CHECK_TIMEOUT) -> dict[str, str]:
    """`ok`, `failing` or `timeout` for each check, all run at once and bounded by `timeout` seconds."""
    futures = {name: _pool.submit(check) for name, check in checks.items()}
    wait(futures.values(), timeout=timeout)
    results = {}
    for name, future in futures.items():
        if not future.done():
            log.warning("readiness: %s did not answer within %.1f s", name, timeout)
            results[name] = "timeout"
        elif future.exception() is not None:
            exc = future.exception()
            log.warning("readiness: %s is not answering: %s: %s", name, type(exc).__name__, exc)
            results[name] = "failing"
        else:
            results[name] = "ok"
    return results


def spool_counts(runtime) -> dict[str, int]:
    """Messages the spool holds for the ledger, and those it set aside for good."""
    waiting, set_aside = runtime.spool.counts()
    return {"waiting": waiting, "set_aside": set_aside}


@bp.get("/readyz")
def readyz():
    """200 when every configured store answers; 503 naming the ones that do not."""
    runtime = current_app.extensions["assistant"]
    results = run_checks(store_checks(runtime))
    failing = [name for name, result in results.items() if result != "ok"]
    spool = spool_counts(runtime)
    if failing:
        body = {"error": {"code": "not_ready", "message": f"not answering: {', '.join(failing)}"},
                "checks": results, "inbound_spool": spool}
        return jsonify(body), 503
    return jsonify({"status": "ready", "checks": results, "inbound_spool": spool, "turns": _turns(runtime)})


def _turns(runtime) -> dict | None:
    """Counts of the turns operators watch (unreadable messages, the engine's jobs); None if unread."""
    try:
        return turn_figures(runtime.services)
    except Exception:
        log.warning("readiness: could not count the turns", exc_info=True)
        return None
