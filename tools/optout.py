"""Opt-out of proactive messages: "PARAR", "STOP", "SAIR" stop every message the assistant would send
on its own (reminders) until "VOLTAR"; replies to the user's own messages go on.

Handled by the server before the model (a screen), so it works the same with the model, without it
and when it fails. Inside a pending dialogue (login, registration) "parar" still cancels that dialogue.
"""
from __future__ import annotations

import re

from agent.context import TurnContext
from agent.flows import register_screen
from agent.turn import Reply
from common.textfold import fold
from storage import deliveries

STOP_WORDS = re.compile(r"^\s*(parar|stop|sair|pare)\s*[.!]*\s*$")
BACK_WORDS = re.compile(r"^\s*(voltar|volta|start)\s*[.!]*\s*$")
STOPPED = ("🔕 Pronto: não vou mais enviar mensagens por conta própria (lembretes incluídos). Continuo "
           "respondendo quando você me escrever. Para voltar a receber, envie *VOLTAR*.")
ALREADY_STOPPED = "🔕 Você já tinha pedido para parar: não envio nada por conta própria. Para voltar, envie *VOLTAR*."
BACK = "🔔 Combinado: voltei a enviar seus lembretes e avisos. Para parar de novo, envie *PARAR*."
NOT_STOPPED = "🔔 Você já recebe meus lembretes e avisos. Para parar, envie *PARAR*."


@register_screen
def opt_out_screen(ctx: TurnContext) -> Reply | None:
    """Answer PARAR/STOP/SAIR and VOLTAR ourselves, recording the choice; None for anything else."""
    text = fold(ctx.turn.raw_text or ctx.turn.text)
    stop, back = STOP_WORDS.match(text), BACK_WORDS.match(text)
    if not (stop or back) or ctx.turn.image_ids:
        return None
    db = ctx.services.db
    before = deliveries.prefs_of(db, ctx.sender)
    deliveries.set_opted_out(db, ctx.sender, bool(stop))
    if stop:
        answer = ALREADY_STOPPED if before.opted_out else STOPPED
    else:
        answer = BACK if not before.proactive_allowed else NOT_STOPPED
    return Reply(texts=[answer], inbound_for_log=ctx.turn.text)
