"""Per-sender ordered processing on a thread pool.

Messages of one sender run strictly one at a time in arrival (ledger id) order; different senders
run in parallel. A sender's queue is drained by one pool task at a time, so no locks are held
while a turn runs. Photos sent together arrive as separate webhooks a second or two apart, so a
turn that carries media waits for a quiet window and takes the sender's following media messages
with it; a lone text is never held back.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from storage import ledger
from storage.db import Database
from storage.ledger import LedgerEntry

from .after_send import AfterSendJournal
from .attempts import TurnRunner
from .gate import CpuGate

log = logging.getLogger(__name__)

# WhatsApp delivers each photo of an album as its own webhook, typically 0.5-2 s apart. Three
# seconds of quiet after the latest photo covers that spread with margin while adding at most a few
# seconds to a photo turn (texts are not held at all). MAX_BURST_WAIT caps a never-ending stream.
MAX_BURST_WAIT = 12.0


class Dispatcher:
    """Feeds ledger entries to `process(entries)` in per-sender order, retrying failures a bounded number of times."""

    def __init__(self, db: Database, process: Callable[[list[LedgerEntry]], None],
                 give_up: Callable[[list[LedgerEntry], str], None], threads: int = 8,
                 burst_window: float = 3.0, max_attempts: int = 3, retry_delay: float = 1.0,
                 gate: CpuGate | None = None, journal: AfterSendJournal | None = None) -> None:
        self.db, self.journal = db, journal
        self.gate = gate or CpuGate(threads)
        self.burst_window = burst_window
        self.runner = TurnRunner(db, process, give_up, self.gate, max_attempts, retry_delay, journal,
                                 stopped=lambda: self._stopped)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="turn")
        self._lock = threading.Condition()
        self._queues: dict[str, deque[tuple[int, bool]]] = {}
        self._active: set[str] = set()
        self._in_flight: set[int] = set()
        self._last_media_at: dict[str, float] = {}
        self._stopped = False

    def recover(self, fail_with: str | None = None) -> int:
        """Queue every ledger row left queued or processing (by a crash); returns how many. Rows
        whose reply already went out (the after-send journal) are recorded, never answered again.
        With `fail_with` (a deployment that has no way left to reach the user) they are marked
        failed with that reason instead, where the dashboard shows them."""
        owed: set[int] = set()
        if self.journal is not None and self.journal.pending:
            self.journal.settle()
            owed = self.journal.owed_ids()
        interrupted = ledger.fail_interrupted_sends(self.db, keep=owed)
        if interrupted:
            log.error("%d message(s) were left mid-send by a crash: failed, not answered again", interrupted)
        rows = [row for row in ledger.list_waiting(self.db, with_processing=True) if row.id not in owed]
        if rows and fail_with is not None:
            ledger.mark_failed(self.db, [row.id for row in rows], fail_with)
            log.error("marked %d unfinished message(s) failed: %s", len(rows), fail_with)
            return len(rows)
        for row in rows:
            self.enqueue(row.id, row.sender, row.has_media)
        if rows:
            log.info("recovered %d unfinished message(s) from the ledger", len(rows))
        return len(rows)

    def enqueue(self, entry_id: int, sender: str, has_media: bool = False) -> bool:
        """Schedule a ledger row; its sender's earlier rows always run first. A row already queued
        or running here is ignored (the ledger feed may find it twice); returns whether it was taken."""
        with self._lock:
            if self._stopped or entry_id in self._in_flight:
                return False
            self._in_flight.add(entry_id)
            queue = self._queues.setdefault(sender, deque())
            queue.append((entry_id, has_media))
            if has_media:
                self._last_media_at[sender] = time.monotonic()
            if sender not in self._active:
                self._active.add(sender)
                self._pool.submit(self._drain, sender)
            self._lock.notify_all()
            return True

    def in_flight(self) -> int:
        """How many ledger rows are queued or running here."""
        with self._lock:
            return len(self._in_flight)

    def _next_batch(self, sender: str) -> list[int] | None:
        """The next turn's ledger ids: one text, or a media message plus the media that follow it."""
        with self._lock:
            queue = self._queues.get(sender)
            if not queue:
                self._queues.pop(sender, None)
                self._active.discard(sender)
                self._lock.notify_all()
                return None
            first_id, has_media = queue.popleft()
            if not has_media:
                return [first_id]
            started = time.monotonic()
            while not self._stopped:
                quiet_until = self._last_media_at.get(sender, 0) + self.burst_window
                remaining = min(quiet_until, started + MAX_BURST_WAIT) - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            batch = [first_id]
            while queue and queue[0][1]:
                batch.append(queue.popleft()[0])
            return batch

    def _drain(self, sender: str) -> None:
        while True:
            batch = self._next_batch(sender)
            if batch is None:
                return
            try:
                self.runner.run(batch)
            finally:
                with self._lock:
                    self._in_flight.difference_update(batch)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no sender has queued or running work (tests, console chat); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def stop(self, wait: bool = True) -> None:
        """Stop taking work; unfinished rows stay in the ledger for the next start."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        self._pool.shutdown(wait=wait, cancel_futures=True)
