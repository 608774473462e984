"""Inbound messages kept in a file while the application database refuses them.

Twilio does not retry a webhook that fails. So when the ledger insert fails (the database down),
the webhook appends the message to `<DATA_DIR>/inbound-spool.jsonl` (flushed to disk) and still
answers 200; the worker side moves the file's messages into the ledger, in order and with their
arrival time, once the database answers. While the file holds anything, new messages join it
instead of the ledger, so a sender's later message cannot overtake one kept here.

Bodies are sealed like the ledger's (storage/sealing.py): a password typed at a prompt is never
plaintext on disk. Several web processes may append and several drains may run (one per process
in WORKER_MODE=thread): every read and write of the file holds an exclusive lock on a lock file
beside it. Moving a message in twice is harmless: the ledger refuses a MessageSid it holds.

A message the database refuses for good (a value it can never hold: `DataError`, an integrity
error, a string PostgreSQL cannot take) or a line that cannot be read back must not hold up every
later message: it is set aside, whole, in `inbound-spool.rejected.jsonl` with the reason, logged as
an error, and counted where operators look (/readyz, the dashboard). Everything else (the server
away, a timeout) keeps the message and the rest for the next drain.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from sqlalchemy.exc import DataError, IntegrityError

from common.durable_files import append_line, has_lines, locked, rewrite_lines
from common.errors import short_reason

from . import sealing

log = logging.getLogger(__name__)
FILE_NAME = "inbound-spool.jsonl"
REJECTED_FILE_NAME = "inbound-spool.rejected.jsonl"
# Refusals no later try can change; anything else is taken for an outage and waits.
REFUSED_FOR_GOOD = (DataError, IntegrityError, ValueError, TypeError, KeyError)


@dataclass
class SpooledMessage:
    """One inbound message as the webhook received it, waiting for the ledger."""

    message_sid: str
    sender: str
    body: str
    media: list[dict[str, Any]] = field(default_factory=list)
    profile_name: str | None = None
    received_at: str = ""
    # REPLY_MODE=twiml: the webhook already asked the sender to send it again; kept for the record only.
    asked_to_resend: bool = False

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "body": sealing.seal(self.body)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "SpooledMessage":
        data = json.loads(text)
        data["body"] = sealing.unseal(data.get("body") or "")
        return cls(**data)

    @property
    def arrived(self) -> datetime:
        return datetime.fromisoformat(self.received_at)


class InboundSpool:
    """The spool file of one DATA_DIR."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self.rejected_path = Path(data_dir) / REJECTED_FILE_NAME
        self._refused = False  # the last drain met a refusal: say so once per outage, not every second

    def pending(self) -> bool:
        """Whether any message waits in the file (one stat, cheap enough for every webhook)."""
        return has_lines(self.path)

    def counts(self) -> tuple[int, int]:
        """(messages waiting, messages set aside as refused for good), read without the lock: a
        figure for operators, not a decision."""
        return _count_lines(self.path), _count_lines(self.rejected_path)

    def append(self, message: SpooledMessage) -> None:
        """Keep `message`, on disk before returning."""
        with locked(self.path):
            append_line(self.path, message.to_json())

    def drain(self, move: Callable[[SpooledMessage], None]) -> int:
        """Hand each kept message to `move` (the ledger insert), oldest first. A refusal for good sets
        that one message aside and goes on; any other failure stops the drain and keeps that message
        and the rest for the next one. Returns how many moved; never raises."""
        moved = 0
        try:
            with locked(self.path):
                if not self.pending():
                    return 0
                lines = self.path.read_text(encoding="utf-8").splitlines()
                for index, line in enumerate(lines):
                    if not line.strip():
                        continue
                    try:
                        move(SpooledMessage.from_json(line))
                    except REFUSED_FOR_GOOD as exc:
                        self._set_aside(line, exc)
                        continue
                    except Exception as exc:
                        log.log(logging.DEBUG if self._refused else logging.WARNING,
                                "the database still refuses spooled messages (%s); %d kept in %s",
                                type(exc).__name__, len(lines) - index, self.path)
                        self._refused = True
                        rewrite_lines(self.path, lines[index:])
                        return moved
                    moved += 1
                rewrite_lines(self.path, [])
                self._refused = False
        except OSError:
            log.exception("could not go through %s; trying again later", self.path)
        if moved:
            log.info("moved %d message(s) kept while the database was down into the ledger", moved)
        return moved

    def _set_aside(self, line: str, exc: Exception) -> None:
        """Keep a message that can never enter the ledger, as it was, in the rejected file."""
        reason = short_reason(exc)
        append_line(self.rejected_path, json.dumps({"rejected_at": datetime.now().astimezone().isoformat(),
                                                    "reason": reason, "line": line}, ensure_ascii=False))
        log.error("a spooled message can never enter the ledger (%s); set aside in %s", reason, self.rejected_path)


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as file:
            return sum(1 for line in file if line.strip())
    except FileNotFoundError:
        return 0
