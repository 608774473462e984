"""Bookkeeping still owed by a turn that has acted, kept in a file until the stores take it.

Once a reply is sent, the turn must never run again: it would answer twice. If the database (or
the chat log) stays down through the retries after the send, the ledger rows stay `processing`
and the turn's chat-log lines are unwritten. Before, a restart in that state answered the rows
again and the lines were lost. Now what is owed is appended to `<DATA_DIR>/after-send.jsonl`
(flushed to disk) and paid as soon as the stores answer: after the next turn that succeeds, and
at start, before the ledger's leftovers are queued, so those rows are never answered again.

Two more debts go the same way. A reply Twilio refused partway (`SendFailed`) owes its rows a
`failed` mark with the reason, and the chat log the lines of what did go out: a retry would send
that part again. A password a dialogue consumed owes its redaction from the ledger, paid first:
running that turn again would give the password, no longer inside its dialogue, to the model.

With REPLY_MODE=twiml the web processes answer inline and owe to the same file as the worker: every
append and every settle holds an exclusive lock on a file beside it (common/durable_files.locked).
The lines hold what the chat log would hold (a password already redacted); they are gone once written.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from common.durable_files import append_line, has_lines, locked, rewrite_lines
from storage import ledger
from storage.chatlog import LoggedMessage

if TYPE_CHECKING:
    from storage.chatlog import ChatLog
    from storage.db import Database

log = logging.getLogger(__name__)
FILE_NAME = "after-send.jsonl"


@dataclass
class Owed:
    """What one turn that has acted still owes: rows whose password the ledger must forget
    (`redact_ids`), rows to mark done (with their note) or failed (with `failure`, when the send
    broke off), and chat-log lines."""

    ledger_ids: list[int] = field(default_factory=list)
    note: str | None = None
    lines: list[LoggedMessage] = field(default_factory=list)
    failure: str | None = None
    redact_ids: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        lines = [{"phone": m.phone, "body": m.body, "direction": m.direction, "message_id": m.message_id,
                  "created_at": m.created_at.isoformat()} for m in self.lines]
        return json.dumps({"ledger_ids": self.ledger_ids, "note": self.note, "lines": lines, "failure": self.failure,
                           "redact_ids": self.redact_ids}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Owed":
        data = json.loads(text)
        lines = [LoggedMessage(m["phone"], m["body"], m["direction"], m["message_id"],
                               datetime.fromisoformat(m["created_at"])) for m in data.get("lines", [])]
        return cls(list(data.get("ledger_ids", [])), data.get("note"), lines, data.get("failure"),
                   list(data.get("redact_ids", [])))

    def record(self, db: "Database") -> None:
        """Mark the owed rows as the turn ended: failed with its reason, else done with the note."""
        if not self.ledger_ids:
            return
        if self.failure is not None:
            ledger.mark_failed(db, self.ledger_ids, self.failure)
        else:
            ledger.mark_done(db, self.ledger_ids, self.note)


class AfterSendJournal:
    """The owed bookkeeping of one worker, in a file; `settle()` pays what the stores now accept."""

    def __init__(self, path: Path, db: "Database", chatlog: "ChatLog") -> None:
        self.path, self.db, self.chatlog = path, db, chatlog
        self._lock = threading.Lock()

    @property
    def pending(self) -> bool:
        """Whether anything is owed, by this process or another (one stat)."""
        return has_lines(self.path)

    def owe(self, owed: Owed) -> None:
        """Keep what a sent turn could not record, on disk before returning."""
        with self._lock, locked(self.path):
            append_line(self.path, owed.to_json())

    def owed(self) -> list[Owed]:
        """Everything owed, oldest first (a torn last line, from a crash mid-write, is skipped)."""
        if not self.path.exists():
            return []
        found = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                found.append(Owed.from_json(line))
            except (ValueError, KeyError, TypeError):
                log.warning("skipping an unreadable line of %s", self.path)
        return found

    def owed_ids(self) -> set[int]:
        """The ledger rows whose reply went out (whole or in part) but are not yet marked."""
        return {entry_id for owed in self.owed() for entry_id in owed.ledger_ids}

    def settle(self) -> int:
        """Write the owed chat-log lines and mark the owed rows done, in order; keep what still
        fails for next time. Returns how many entries were paid; never raises."""
        with self._lock:
            if not self.pending:
                return 0
            try:
                with locked(self.path):
                    return self._settle()
            except Exception:
                log.exception("could not go through %s; trying again later", self.path)
                return 0

    def _settle(self) -> int:
        remaining, paid = [], 0
        for owed in self.owed():
            if remaining:
                remaining.append(owed)
                continue
            try:
                if owed.redact_ids:
                    ledger.redact_body(self.db, owed.redact_ids)
                    owed.redact_ids = []
                if owed.lines:
                    self.chatlog.append_many(owed.lines)
                    owed.lines = []
                owed.record(self.db)
                paid += 1
            except Exception as exc:
                log.warning("owed bookkeeping after a send still not recorded (%s); kept in %s",
                            type(exc).__name__, self.path)
                remaining.append(owed)
        rewrite_lines(self.path, [owed.to_json() for owed in remaining])
        if paid:
            log.info("recorded %d turn(s) whose reply had gone out while the stores were down", paid)
        return paid
