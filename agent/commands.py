"""Command mode: the assistant without a model. Plain commands call the same tools directly.

Used when OPENAI_API_KEY is unset and when a model run fails (timeout, 5xx, 429 after retries),
so users always get a useful answer and nothing they sent is lost.
"""
from __future__ import annotations

import re
from typing import Callable

from .context import TurnContext
from .prompts import load_prompt
from .turn import Reply

NOT_CONFIGURED = "⚠️ A IA não está configurada neste servidor; respondo apenas a comandos simples."
UNAVAILABLE = "⚠️ A IA está indisponível agora; sua mensagem foi guardada. Enquanto isso, respondo a comandos simples."

CommandHandler = Callable[[TurnContext, re.Match], str]
_COMMANDS: list[tuple[re.Pattern, CommandHandler]] = []


def command(pattern: str) -> Callable[[CommandHandler], CommandHandler]:
    """Decorator: answer messages matching `pattern` (case-insensitive, whole message) in command mode."""
    def decorate(handler: CommandHandler) -> CommandHandler:
        _COMMANDS.append((re.compile(pattern, re.I | re.S), handler))
        return handler
    return decorate


@command(r"^\s*(ajuda|help|menu|\?)\s*[.!]*\s*$")
def _help(ctx: TurnContext, match: re.Match) -> str:
    return load_prompt("help")


def answer_without_model(ctx: TurnContext, notice: str) -> Reply:
    """Answer a turn from the command table; unknown text gets the help list. Always says why."""
    reply = Reply(inbound_for_log=ctx.turn.text)
    reply.add(notice)
    text = ctx.turn.text.strip()
    for pattern, handler in _COMMANDS:
        match = pattern.search(text)
        if match:
            reply.add(handler(ctx, match))
            break
    else:
        reply.add(load_prompt("help"))
    return reply
