"""The worker process's eyes on the ledger (WORKER_MODE=process).

The web process only writes ledger rows; this loop finds them and hands them to the dispatcher.
At start it recovers what a crash left; then it sleeps until the webhook's nudge (or the poll
interval, should a nudge be lost) and reads the queued rows above its cursor. PostgreSQL hands out
ids at insert but rows become visible at commit, so a lower id can appear after a higher one has
moved the cursor past it: a full sweep of queued rows every few seconds catches those. Seeing a
row twice is harmless: the dispatcher ignores ids it already holds, and the ledger refuses to
claim a finished row.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from storage import ledger
from storage.db import Database

from .dispatcher import Dispatcher
from .nudge import NudgeListener

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.5
SWEEP_INTERVAL = 5.0
ERROR_PAUSE = 2.0


class Waiter(Protocol):
    """Something the loop can sleep on: a NudgeListener, or a plain timer without one."""

    def wait(self, timeout: float) -> bool: ...


class _Timer:
    def __init__(self) -> None:
        self.event = threading.Event()

    def wait(self, timeout: float) -> bool:
        woken = self.event.wait(timeout)
        self.event.clear()
        return woken


class LedgerFeed:
    """Feeds new ledger rows to the dispatcher from a thread of its own."""

    def __init__(self, db: Database, dispatcher: Dispatcher, listener: NudgeListener | None = None,
                 poll_interval: float = POLL_INTERVAL, sweep_interval: float = SWEEP_INTERVAL) -> None:
        self.db, self.dispatcher, self.listener = db, dispatcher, listener
        self.poll_interval, self.sweep_interval = poll_interval, sweep_interval
        self.cursor = 0
        self._waiter: Waiter = listener or _Timer()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "LedgerFeed":
        """Recover the ledger's leftovers, then keep feeding new rows until `stop()`."""
        self._thread = threading.Thread(target=self._run, name="ledger-feed", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.dispatcher.recover()
                break
            except Exception:
                log.exception("could not read the ledger at start; trying again in %.0f s", ERROR_PAUSE)
                self._stopped.wait(ERROR_PAUSE)
        last_sweep = time.monotonic()
        while not self._stopped.is_set():
            self._waiter.wait(self.poll_interval)
            if self._stopped.is_set():
                return
            try:
                self.feed_new()
                if time.monotonic() - last_sweep >= self.sweep_interval:
                    self.sweep()
                    last_sweep = time.monotonic()
            except Exception:
                log.exception("could not read the ledger; trying again in %.0f s", ERROR_PAUSE)
                self._stopped.wait(ERROR_PAUSE)

    def feed_new(self) -> int:
        """Enqueue the queued rows above the cursor and move it; returns how many were taken."""
        rows = ledger.list_waiting(self.db, after_id=self.cursor)
        if rows:
            self.cursor = max(self.cursor, rows[-1].id)
        return self._enqueue(rows)

    def sweep(self) -> int:
        """Enqueue every queued row the cursor went past (ids committed out of order)."""
        taken = self._enqueue(ledger.list_waiting(self.db))
        if taken:
            log.info("the ledger sweep found %d row(s) the cursor had passed", taken)
        return taken

    def _enqueue(self, rows: list[ledger.WaitingRow]) -> int:
        return sum(1 for row in rows if self.dispatcher.enqueue(row.id, row.sender, row.has_media))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop looking for rows (the dispatcher is stopped separately)."""
        self._stopped.set()
        if isinstance(self._waiter, _Timer):
            self._waiter.event.set()
        if self._thread is not None:
            self._thread.join(timeout)
