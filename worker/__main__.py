"""`python -m worker`: the worker process of WORKER_MODE=process.

On PostgreSQL it is one of any number of workers, on any number of machines: the turns are
procrastinate jobs (worker/engine.py), per-sender order and failover come from the engine. On
SQLite it is the one worker beside the web on one machine: it answers the ledger's rows through
worker/dispatcher.py, fed by worker/feed.py, which the web nudges after each insert (per-sender
order lives in this process's memory, so one runs per ledger). Either way SIGTERM or SIGINT stops
it: no new work is taken, turns under way finish, the rest stay for the next worker.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

from config import Config, ConfigError
from storage.db import SchemaTooNew

from .feed import LedgerFeed
from .nudge import NudgeListener, socket_path
from .supervisor import PARENT_ENV

log = logging.getLogger("assistant.worker")
CLEANUP_SECONDS = 600  # how often expired exports are looked for


def open_listener(config: Config) -> NudgeListener | None:
    """Bind the nudge socket; without it (e.g. a path too long for a Unix socket) the feed polls."""
    path = socket_path(config.data_dir)
    try:
        return NudgeListener(path)
    except OSError as exc:
        log.warning("cannot listen for nudges at %s (%s); finding new messages by polling only", path, exc)
        return None


def clean_up(media) -> None:
    """Periodic housekeeping: delete the LGPD exports whose links expired. Never raises."""
    from tools.privacy import expire_exports

    try:
        removed = expire_exports(media)
    except Exception:
        log.warning("could not delete expired exports", exc_info=True)
        return
    if removed:
        log.info("deleted %d expired export(s)", removed)


def run(config: Config) -> None:
    """Serve the ledger until SIGTERM/SIGINT (or until the parent `python app.py` is gone)."""
    from common.process_setup import configure_logging, settle_heap
    from services import build_services
    from worker.runtime import SPOOL_CHECK_SECONDS, AssistantRuntime

    configure_logging(config.log_level)
    if not config.separate_worker:
        log.warning("WORKER_MODE=%s, REPLY_MODE=%s: the web process runs the turns itself; a worker process "
                    "beside it would answer messages twice, so this one exits.", config.worker_mode, config.reply_mode)
        return
    if config.worker_nice:
        os.nice(config.worker_nice)
    if config.turn_engine == "procrastinate":
        run_engine_worker(config)
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runtime = AssistantRuntime(build_services(config))
    runtime.assistant.warm_up()
    settle_heap()
    listener = open_listener(config)
    runtime.drain_spool()  # messages the webhook kept while the database was down go first
    feed = LedgerFeed(runtime.services.db, runtime.dispatcher, listener).start()
    log.info("worker process %d started: %d turn threads, nice %d, nudges at %s", os.getpid(),
             config.worker_threads, config.worker_nice, listener.path if listener else "(polling only)")
    parent = int(os.environ.get(PARENT_ENV) or 0)
    next_cleanup = time.monotonic()
    while not stop.wait(SPOOL_CHECK_SECONDS):
        if parent and os.getppid() != parent:
            log.error("python app.py (pid %d) is gone; stopping", parent)
            break
        runtime.keep_up()
        if time.monotonic() >= next_cleanup:
            next_cleanup = time.monotonic() + CLEANUP_SECONDS
            clean_up(runtime.services.media)
    log.info("worker process stopping: no new turns; turns under way finish, the rest stay in the ledger")
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C leaves at once
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    feed.stop()
    runtime.stop()
    if listener is not None:
        listener.close()
    log.info("worker process stopped")


def run_engine_worker(config: Config) -> None:
    """One of the engine's workers (PostgreSQL): turns and chores are jobs; this process also keeps
    its own folder's spool and after-send journal moving, like every process of the deployment."""
    from common.process_setup import settle_heap
    from services import build_services
    from worker import engine
    from worker.runtime import AssistantRuntime

    runtime = AssistantRuntime(build_services(config))
    runtime.assistant.warm_up()
    runtime.start_chores()
    settle_heap()
    parent = int(os.environ.get(PARENT_ENV) or 0)
    log.info("worker process %d started on the turn engine: %d turn threads, failover after %.0f s", os.getpid(),
             config.worker_threads, config.worker_failover_seconds)
    try:
        engine.run_worker(runtime, parent_gone=lambda: bool(parent) and os.getppid() != parent)
    finally:
        runtime.stop()
        log.info("worker process stopped")


def main() -> None:
    """Entry point of `python -m worker`."""
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    try:
        run(config)
    except SchemaTooNew as exc:
        print(f"Refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(3)


if __name__ == "__main__":
    main()
