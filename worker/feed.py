"""The worker process's eyes on the ledger (WORKER_MODE=process).

The web process only writes ledger rows; this loop finds them and hands them to the dispatcher.
At start it recovers what a crash left; then it sleeps until the webhook's nudge (or the poll
interval, should a nudge be lost) and reads the queued rows above its cursor. A nudge names its
row, committed before it was sent: when the named rows are exactly the ones right above the
cursor and no gap is outstanding, they are taken as they are, without reading the ledger;
anything else (a gap, an id skipped, a bare wake-up, a timeout) reads the ledger.

PostgreSQL hands out ids at insert but rows become visible at commit, so with concurrent webhooks
a lower id often commits just after a higher one moved the cursor past it. The ids the cursor
skipped are kept as gaps and asked for again at each look for GAP_SECONDS: the late row's own
nudge then finds it at once, before that sender's next message can be acknowledged and overtake
it. A gap that never fills is an insert that rolled back (a duplicate MessageSid). A full sweep of
queued rows every few seconds catches anything later still. Seeing a row twice is harmless: the
dispatcher ignores ids it already holds, and the ledger refuses to claim a finished row.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from storage import ledger
from storage.db import Database

from .dispatcher import Dispatcher
from .nudge import Nudge, NudgeListener

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.5
SWEEP_INTERVAL = 5.0
GAP_SECONDS = 10.0
MAX_NEW_GAPS = 1000  # a larger jump is left to the sweep rather than asked for id by id
ERROR_PAUSE = 2.0


class Waiter(Protocol):
    """Something the loop can sleep on: a NudgeListener, or a plain timer without one."""

    def wait(self, timeout: float) -> list[Nudge] | None:
        """Sleep until woken or `timeout` seconds pass; None on timeout, else the rows named."""


class _Timer:
    def __init__(self) -> None:
        self.event = threading.Event()

    def wait(self, timeout: float) -> list[Nudge] | None:
        woken = self.event.wait(timeout)
        self.event.clear()
        return [] if woken else None


class LedgerFeed:
    """Feeds new ledger rows to the dispatcher from a thread of its own."""

    def __init__(self, db: Database, dispatcher: Dispatcher, listener: NudgeListener | None = None,
                 poll_interval: float = POLL_INTERVAL, sweep_interval: float = SWEEP_INTERVAL,
                 gap_seconds: float = GAP_SECONDS) -> None:
        self.db, self.dispatcher, self.listener = db, dispatcher, listener
        self.poll_interval, self.sweep_interval, self.gap_seconds = poll_interval, sweep_interval, gap_seconds
        self.cursor = 0
        self.gaps: dict[int, float] = {}
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
                self.cursor = ledger.last_id(self.db)  # read first: what commits meanwhile, recovery sees
                self.dispatcher.recover()
                break
            except Exception:
                log.exception("could not read the ledger at start; trying again in %.0f s", ERROR_PAUSE)
                self._stopped.wait(ERROR_PAUSE)
        last_sweep = time.monotonic()
        while not self._stopped.is_set():
            nudges = self._waiter.wait(self.poll_interval)
            if self._stopped.is_set():
                return
            try:
                if not (nudges and self.take_nudged(nudges)):
                    self.feed_new()
                if time.monotonic() - last_sweep >= self.sweep_interval:
                    self.sweep()
                    last_sweep = time.monotonic()
            except Exception:
                log.exception("could not read the ledger; trying again in %.0f s", ERROR_PAUSE)
                self._stopped.wait(ERROR_PAUSE)

    def feed_new(self) -> int:
        """Enqueue the queued rows above the cursor or in its gaps, move the cursor and note the ids
        it skipped; returns how many rows were taken."""
        now = time.monotonic()
        self.gaps = {gap: since for gap, since in self.gaps.items() if now - since < self.gap_seconds}
        rows = ledger.list_waiting(self.db, after_id=self.cursor, also_ids=self.gaps.keys())
        seen = {row.id for row in rows}
        for gap in seen.intersection(self.gaps):
            del self.gaps[gap]
        top = rows[-1].id if rows else self.cursor
        if top > self.cursor:
            skipped = top - self.cursor - sum(1 for row_id in seen if row_id > self.cursor)
            if skipped <= MAX_NEW_GAPS:
                self.gaps.update((gap, now) for gap in range(self.cursor + 1, top) if gap not in seen)
            self.cursor = top
        return self._enqueue(rows)

    def take_nudged(self, nudges: list[Nudge]) -> bool:
        """Enqueue the nudged rows without reading the ledger when they are exactly the ids right
        above the cursor and no gap is outstanding (ids at or below the cursor were seen already);
        False, taking nothing, otherwise: then the ledger must be read as usual."""
        if self.gaps:
            return False
        fresh = sorted((n for n in nudges if n.entry_id > self.cursor), key=lambda n: n.entry_id)
        if [n.entry_id for n in fresh] != list(range(self.cursor + 1, self.cursor + 1 + len(fresh))):
            return False
        if fresh:
            self.cursor = fresh[-1].entry_id
        for nudge in fresh:
            self.dispatcher.enqueue(nudge.entry_id, nudge.sender, nudge.has_media)
        return True

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
