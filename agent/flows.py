"""Server-side flows that run outside the model (secret capture, step-by-step registration), and the
screens every other turn passes before the model.

A tool starts a flow by storing it in `conversation_state`; the user's next message then goes to
the flow's handler instead of the model, so a password typed by the user never reaches the model,
the chat log or the session memory. A password typed where none was asked for ("login <cpf>
<senha>", "minha senha é ...": common/inline_secrets.py) is kept out the same way: a screen answers
that turn instead of the model, and a flow's answer to such a message is redacted too.
"""
from __future__ import annotations

from typing import Callable

from common.inline_secrets import find_inline_password
from storage.conversation import Flow
from storage.ledger import REDACTED

from .context import TurnContext
from .turn import Reply

FlowHandler = Callable[[TurnContext, Flow], "Reply | None"]
Screen = Callable[[TurnContext], "Reply | None"]
_HANDLERS: dict[str, FlowHandler] = {}
_SCREENS: list[Screen] = []
PASSWORD_KEPT_OUT = ("🔒 Sua mensagem trazia uma senha: ela não foi para a IA e não fica no histórico. Da próxima "
                     "vez, envie só *login* e digite a senha quando eu pedir, numa mensagem só com ela.")


def keep_out(reply: Reply) -> Reply:
    """Mark a reply's inbound message as holding a password (redacted in the ledger and the chat log,
    a voice note deleted) and tell the user why."""
    reply.secret, reply.inbound_for_log = True, REDACTED
    return reply.add(PASSWORD_KEPT_OUT)


def register_screen(screen: Screen) -> Screen:
    """Decorator: look at every turn no flow took, before the model; a screen may answer it itself."""
    _SCREENS.append(screen)
    return screen


def screen_turn(ctx: TurnContext) -> Reply | None:
    """The answer of the first screen that takes the turn, or None: the model may read it."""
    for screen in _SCREENS:
        reply = screen(ctx)
        if reply is not None:
            return reply
    return None


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
    reply = handler(ctx, flow)
    if reply is not None and not reply.secret and find_inline_password(ctx.turn.raw_text):
        keep_out(reply)
    return reply
