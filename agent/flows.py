"""Server-side flows that run outside the model (secret capture, step-by-step registration).

A tool starts a flow by storing it in `conversation_state`; the user's next message then goes to
the flow's handler instead of the model, so a password typed by the user never reaches the model,
the chat log or the session memory.
"""
from __future__ import annotations

from typing import Callable

from storage.conversation import Flow

from .context import TurnContext
from .turn import Reply

FlowHandler = Callable[[TurnContext, Flow], "Reply | None"]
_HANDLERS: dict[str, FlowHandler] = {}


def register_flow(name: str) -> Callable[[FlowHandler], FlowHandler]:
    """Decorator: handle messages of phones whose pending flow is `name` (or `name:<step>`)."""
    def decorate(handler: FlowHandler) -> FlowHandler:
        _HANDLERS[name] = handler
        return handler
    return decorate


def handle_pending_flow(ctx: TurnContext) -> Reply | None:
    """Give the turn to the sender's pending flow; None when there is none or it passes the turn on.
    A flow may log in, register or erase: the turn stops trusting its account snapshot after it."""
    flow = ctx.state().flow
    if flow is None:
        return None
    handler = _HANDLERS.get(flow.name.split(":", 1)[0])
    if handler is None:
        return None
    ctx.account_changed()
    return handler(ctx, flow)
