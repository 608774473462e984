"""Command mode: the assistant without a model. Plain commands call the same tools directly.

Used when OPENAI_API_KEY is unset and when a model run fails (timeout, 5xx, 429 after retries),
so users always get a useful answer and nothing they sent is lost. The commands themselves live
beside their tools (`COMMANDS` in each tools module).
"""
from __future__ import annotations

from functools import lru_cache

from tools import all_commands

from .context import TurnContext
from .prompts import load_prompt
from .turn import Reply

NOT_CONFIGURED = "⚠️ A IA não está configurada neste servidor; respondo apenas a comandos simples."
UNAVAILABLE = "⚠️ A IA está indisponível agora; sua mensagem foi guardada. Enquanto isso, respondo a comandos simples."


@lru_cache(maxsize=1)
def _table():
    return all_commands()


def answer_without_model(ctx: TurnContext, notice: str) -> Reply:
    """Answer a turn from the command table; unknown text gets the help list. Always says why."""
    reply = Reply(inbound_for_log=ctx.turn.text)
    reply.add(notice)
    for problem in ctx.turn.notices:
        reply.add(problem)
    text = ctx.turn.text.strip()
    for pattern, handler in _table():
        match = pattern.search(text)
        answer = handler(ctx, match) if match else None
        if answer is not None:
            reply.add(answer)
            break
    else:
        if text or ctx.turn.image_ids or not ctx.turn.notices:
            reply.add(load_prompt("help"))
    reply.images.extend(ctx.images_out)
    for extra in ctx.texts_after:
        reply.add(extra)
    return reply
