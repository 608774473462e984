"""Trusted per-turn context for tools, passed through agno's injected `run_context`.

The sender comes from the ledger (Twilio's signed `From`), never from model-supplied arguments.
agno does not persist `dependencies`, so nothing here lands in session memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    stored_runs: int | None = None  # the sender's runs in agno's memory after this turn, once the run saw them

    @property
    def sender(self) -> str:
        return self.turn.sender


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
