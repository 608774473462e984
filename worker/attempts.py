"""One turn's attempts: claim the rows, run the turn, retry a failure a bounded number of times, then
give up visibly. Both schedulers run turns through this: the in-process dispatcher (SQLite) and the
engine's per-sender job (procrastinate on PostgreSQL); they only decide when and where."""
from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Callable

from common.errors import short_reason
from storage import ledger
from storage.db import Database
from storage.ledger import LedgerEntry

from .after_send import AfterSendJournal
from .gate import CpuGate

# The engine job (PostgreSQL) whose turns this thread answers, set by worker/sender_turns.py: the
# reply's `sending` stamp is fenced by it (storage/ledger.py mark_sending); None on SQLite.
RUNNING_JOB: ContextVar[int | None] = ContextVar("running_job", default=None)
log = logging.getLogger(__name__)


class PoisonMessage(RuntimeError):
    """A message that keeps failing, even across restarts: it is failed for good."""


class DeliveredButUnrecorded(RuntimeError):
    """The reply reached the user, but the ledger could not be marked done: retrying would send it
    again, so the turn is not retried (and no apology follows the answer)."""


class TurnRunner:
    """Runs `process(entries)` for a batch of ledger ids under the retry policy; never raises."""

    def __init__(self, db: Database, process: Callable[[list[LedgerEntry]], None],
                 give_up: Callable[[list[LedgerEntry], str], None], gate: CpuGate, max_attempts: int = 3,
                 retry_delay: float = 1.0, journal: AfterSendJournal | None = None,
                 stopped: Callable[[], bool] = lambda: False) -> None:
        self.db, self.process, self.give_up, self.gate, self.journal = db, process, give_up, gate, journal
        self.max_attempts, self.retry_delay, self.stopped = max_attempts, retry_delay, stopped

    def run(self, batch: list[int]) -> None:
        """Claim and process one turn holding a CPU slot; retry on failure, then give up visibly."""
        with self.gate.held():
            self._attempt(batch)

    def _attempt(self, batch: list[int]) -> None:
        for attempt in range(1, self.max_attempts + 1):
            entries: list[LedgerEntry] = []
            try:
                entries = ledger.claim(self.db, batch)
                if not entries:
                    return
                if max(e.attempts for e in entries) > self.max_attempts * 2:
                    raise PoisonMessage(f"gave up after {entries[0].attempts} attempts across restarts")
                self.process(entries)
            except ledger.SenderTakenOver as exc:
                log.warning("%s: this turn is left to it, nothing sent", exc)
                return
            except DeliveredButUnrecorded as exc:
                log.error("%s: they stay 'sending' until the database answers; they are not answered again", exc)
                return
            except PoisonMessage as exc:
                self._safely(ledger.mark_failed, self.db, batch, str(exc))
                self._safely(self.give_up, entries, str(exc))
                return
            except Exception as exc:
                reason = short_reason(exc, 500)
                log.exception("turn failed (attempt %d of %d)", attempt, self.max_attempts)
                if attempt < self.max_attempts and not self.stopped():
                    self._safely(ledger.requeue, self.db, batch, reason)
                    self.gate.sleep(self.retry_delay * attempt)
                    continue
                self._safely(ledger.mark_failed, self.db, batch, reason)
                self._safely(self.give_up, entries, reason)
            else:
                if self.journal is not None and self.journal.pending:
                    self.journal.settle()  # the stores answered this turn: pay what earlier ones owe
            return

    @staticmethod
    def _safely(func: Callable, *args) -> None:
        try:
            func(*args)
        except Exception:
            log.exception("could not record a failed turn (%s)", getattr(func, "__name__", func))
