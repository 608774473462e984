"""Liveness and readiness: /healthz (the process is up), /readyz (each configured store answers)."""
from __future__ import annotations

import sqlite3

from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and serving."""
    return jsonify({"status": "ok"})


def _checks(services) -> dict:
    def session_db() -> None:
        with sqlite3.connect(str(services.config.session_db), timeout=2) as conn:
            conn.execute("SELECT 1")
    return {"database": services.db.ping, "chat_log": services.chatlog.ping, "media_store": services.media.ping,
            "session_db": session_db}


@bp.get("/readyz")
def readyz():
    """200 when every configured store answers; 503 naming the ones that do not."""
    services = current_app.extensions["assistant"].services
    results, failing = {}, []
    for name, check in _checks(services).items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"error: {type(exc).__name__}"
            failing.append(name)
    if failing:
        body = {"error": {"code": "not_ready", "message": f"not answering: {', '.join(failing)}"},
                "checks": results}
        return jsonify(body), 503
    return jsonify({"status": "ready", "checks": results})
