"""What the agent receives (a Turn) and what it answers (a Reply)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Turn:
    """One turn of one sender: the text the agent sees plus trusted references to media.

    `text` is what the model may read (CPFs already masked); `raw_text` is what the user typed,
    which only server-side flows may read. Media are referenced by media_objects ids, never URLs.
    """

    sender: str
    text: str
    raw_text: str = ""
    spoken: bool = False
    image_ids: list[int] = field(default_factory=list)
    audio_ids: list[int] = field(default_factory=list)
    message_sids: list[str] = field(default_factory=list)
    ledger_ids: list[int] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    cpfs: list[str] = field(default_factory=list)
    profile_name: str | None = None


@dataclass
class Reply:
    """The answer to a turn: texts in order, then images as (url, caption) in rank order.

    `inbound_for_log` is how the user's message is written to the chat log (`[senha]` when the
    server captured a password); `secret` says the inbound message must be redacted everywhere.
    `after_send` is work the turn leaves for after the reply went out (trimming the agent's memory),
    kept off the user's wait; the worker runs it, and a failure there only delays it to a later turn.
    """

    texts: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)
    inbound_for_log: str | None = None
    secret: bool = False
    after_send: list[Callable[[], None]] = field(default_factory=list, repr=False)
    held_reminders: list = field(default_factory=list, repr=False)  # delivered with this reply (tools/reminders.py)

    def run_after_send(self) -> None:
        """Run the work left for after the send, once; never raises (each piece logs its own failure)."""
        chores, self.after_send = self.after_send, []
        for chore in chores:
            chore()

    def add(self, text: str) -> "Reply":
        """Append a text part (empty parts are dropped)."""
        if text and text.strip():
            self.texts.append(text.strip())
        return self

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)
