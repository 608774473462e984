"""Trusted per-turn context for tools, passed through agno's injected `run_context`.

The sender comes from the ledger (Twilio's signed `From`), never from model-supplied arguments.
agno does not persist `dependencies`, so nothing here lands in session memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storage import users
from storage.turn_state import TurnState, read_turn_state
from storage.users import UserRecord

from .turn import Turn

if TYPE_CHECKING:
    from services import Services


@dataclass
class TurnContext:
    """What a tool may rely on: who is speaking, this turn's media, and where to put images."""

    services: "Services"
    turn: Turn
    images_out: list[tuple[str, str]] = field(default_factory=list)
    texts_after: list[str] = field(default_factory=list)
    tool_results: list[str] = field(default_factory=list)  # what each tool call answered, in order
    stored_runs: int | None = None  # the sender's runs in agno's memory after this turn, once the run saw them
    _state: TurnState | None = field(default=None, repr=False)
    _account_changed: bool = field(default=False, repr=False)

    @property
    def sender(self) -> str:
        return self.turn.sender

    def state(self) -> TurnState:
        """The sender's pending flow, account and photos waiting for a description, read once, in one
        statement, the first time the turn asks (before the model runs)."""
        if self._state is None:
            self._state = read_turn_state(self.services.db, self.sender)
        return self._state

    def account(self) -> UserRecord | None:
        """The account of the sender's phone: from the turn's snapshot until something in this turn
        changed an account (a login, a logout, a registration, an erasure), then read afresh."""
        if self._account_changed:
            return users.get_user_by_phone(self.services.db, self.sender)
        return self.state().user

    def account_changed(self) -> None:
        """Note that this turn changed the sender's account: later checks must not trust the snapshot."""
        self._account_changed = True


def find_turn_context(run_context: Any) -> TurnContext | None:
    """The TurnContext agno carries in a run's dependencies, or None outside a turn."""
    ctx = (getattr(run_context, "dependencies", None) or {}).get("turn_context")
    return ctx if isinstance(ctx, TurnContext) else None


def turn_context(run_context: Any) -> TurnContext:
    """The TurnContext agno handed to a tool; raises if a tool is called outside a turn."""
    ctx = find_turn_context(run_context)
    if ctx is None:
        raise RuntimeError("tool called without a trusted turn context")
    return ctx
