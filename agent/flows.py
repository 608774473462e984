"""Server-side flows that run outside the model (secret capture, step-by-step registration), and the
screens every other turn passes before the model.

A tool starts a flow by storing it in `conversation_state`; the user's next message then goes to
the flow's handler instead of the model, so a password typed by the user never reaches the model,
the chat log or the session memory. A password typed where none was asked for ("login <cpf>
<senha>", "minha senha é ...": common/inline_secrets.py) is kept out the same way: a screen answers
that turn instead of the model, and a flow's answer to such a message is redacted too.
"""
from __future__ import annotations

import logging
from typing import Callable

from common.inline_secrets import find_inline_password
from storage.conversation import Flow, clear_flow
from storage.ledger import REDACTED

from .context import TurnContext
from .turn import Reply

FlowHandler = Callable[[TurnContext, Flow], "Reply | None"]
Screen = Callable[[TurnContext], "Reply | None"]
_HANDLERS: dict[str, FlowHandler] = {}
_SECRET_STEPS: set[str] = set()
_SCREENS: list[Screen] = []
log = logging.getLogger(__name__)
PASSWORD_KEPT_OUT = ("🔒 Sua mensagem trazia uma senha: ela não foi para a IA e não fica no histórico. Da próxima "
                     "vez, envie só *login* e digite a senha quando eu pedir, numa mensagem só com ela.")
SECRET_STEP_FAILED = ("⚠️ Não consegui concluir este passo agora (uma falha passageira do sistema). Sua senha não "
                      "foi para a IA e não fica no histórico. Tente de novo em alguns minutos: envie *login* ou "
                      "*cadastro*.")


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


def register_flow(name: str, secret_steps: tuple[str, ...] = ()) -> Callable[[FlowHandler], FlowHandler]:
    """Decorator: handle messages of phones whose pending flow is `name` (or `name:<step>`). The
    answers to `secret_steps` are passwords: such a step that fails is never run again."""
    def decorate(handler: FlowHandler) -> FlowHandler:
        _HANDLERS[name] = handler
        _SECRET_STEPS.update(secret_steps)
        return handler
    return decorate


def _secret_step(ctx: TurnContext, flow: Flow, handler: FlowHandler) -> Reply | None:
    """Run a step whose message is a password. If it fails (a database blip midway), the turn is
    answered, never retried: the step may already have ended the flow, and a retry would then
    hand the password to the model as an ordinary message. The message is kept out as always."""
    try:
        return handler(ctx, flow)
    except Exception:
        log.exception("the %s step failed for the phone ending %s; not retried", flow.name, ctx.sender[-4:])
    try:
        clear_flow(ctx.services.db, ctx.sender)  # the next message must not be taken for the password
    except Exception:
        log.warning("could not end the %s flow after its failure", flow.name, exc_info=True)
    return Reply(texts=[SECRET_STEP_FAILED], inbound_for_log=REDACTED, secret=True)


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
    reply = _secret_step(ctx, flow, handler) if flow.name in _SECRET_STEPS else handler(ctx, flow)
    if reply is not None and not reply.secret and find_inline_password(ctx.turn.raw_text):
        keep_out(reply)
    return reply
