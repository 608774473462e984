"""Photo tools: keep the sender's photos with descriptions, and find them again.

Images reach the tools only as media ids from the trusted turn (or the sender's own photos still
waiting for a description), never as URLs the model could invent.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from agno.run import RunContext

from agent.context import TurnContext, turn_context
from storage import images, search

from .auth import require_login
from .errors import ToolRefusal, tool_errors

ASK_DESCRIPTION = "Recebi {n}! Me diga uma descrição para eu guardar (ex.: \"meu cachorro na praia\")."
URL_TTL = 3600
PENDING_WINDOW = timedelta(minutes=30)


def _photos(n: int) -> str:
    return "sua foto" if n == 1 else f"suas {n} fotos"


def waiting_images(ctx: TurnContext) -> list[int]:
    """The sender's latest photos still without a description (those of the latest burst), read now."""
    return latest_burst(images.pending_images(ctx.services.db, ctx.sender))


def latest_burst(pending: Sequence[images.MediaRecord]) -> list[int]:
    """Of photos without a description (oldest first), the ids of those sent with the newest one."""
    if not pending:
        return []
    newest = pending[-1].created_at
    return [p.id for p in pending if newest - p.created_at <= PENDING_WINDOW]


def save_turn_images(ctx: TurnContext, description: str) -> str:
    """Save this turn's photos, else the photos waiting for a description, under `description`."""
    require_login(ctx)
    description = " ".join((description or "").split())
    if not description:
        raise ToolRefusal("Preciso de uma descrição para guardar a foto.")
    media_ids = list(ctx.turn.image_ids) or waiting_images(ctx)
    if not media_ids:
        raise ToolRefusal("Não há foto para salvar: envie a foto (com ou sem legenda) e depois a descrição.")
    saved = images.save_description(ctx.services.db, ctx.sender, description[:1000], media_ids)
    count = len(saved.image_keys)
    return f"Salvei {_photos(count)} com a descrição “{saved.description}”. É só pedir para ver depois."


def find_images(ctx: TurnContext, query: str) -> str:
    """Search the sender's photos and queue the best ones (at most SEARCH_LIMIT) to be sent back."""
    require_login(ctx)
    query = " ".join((query or "").split())
    if not query:
        raise ToolRefusal("Diga o que devo procurar, por exemplo: mostre fotos de praia.")
    limit = ctx.services.config.search_limit
    hits = search.search_images(ctx.services.db, ctx.sender, query, limit=limit)
    queued = 0
    for hit in hits:
        for key in hit.image_keys:
            if queued >= limit:
                break
            ctx.images_out.append((ctx.services.media.url(key, expires_in=URL_TTL), hit.description))
            queued += 1
    if not queued:
        return f"Não encontrei fotos suas com “{query}”. Tente outras palavras."
    return f"Encontrei {queued} foto(s) para “{query}”; estou enviando em seguida."


@tool_errors
def save_image(run_context: RunContext, description: str) -> str:
    """Guarda a(s) foto(s) desta mensagem, ou a(s) última(s) foto(s) que aguardam descrição, com a descrição dada.

    Args:
        description: A descrição da foto, com as palavras do usuário (ex.: "meu cachorro na praia").
    """
    return save_turn_images(turn_context(run_context), description)


@tool_errors
def search_images(run_context: RunContext, query: str) -> str:
    """Procura as fotos do próprio usuário pela descrição; as encontradas são enviadas a ele automaticamente.

    Args:
        query: As palavras do assunto procurado (ex.: "cachorro praia").
    """
    return find_images(turn_context(run_context), query)


def _search_command(ctx: TurnContext, match: re.Match) -> str:
    try:
        return find_images(ctx, match.group("query"))
    except ToolRefusal as refusal:
        return str(refusal)


def _caption_command(ctx: TurnContext, match: re.Match) -> str | None:
    """A photo with a caption is saved; a photo alone gets a question; the next text describes it."""
    text = match.group(0).strip()
    try:
        if ctx.turn.image_ids:
            if not text:
                require_login(ctx)
                return ASK_DESCRIPTION.format(n=_photos(len(ctx.turn.image_ids)))
            return save_turn_images(ctx, text)
        if text and waiting_images(ctx):
            return save_turn_images(ctx, text)
    except ToolRefusal as refusal:
        return str(refusal)
    return None


TOOLS = [save_image, search_images]
COMMANDS = [
    (r"^\s*(?:me\s+)?(?:mostre|mostra|mostrar|ver|veja|busque|buscar|procure|procurar)\s+(?:as\s+|minhas\s+)?"
     r"(?:fotos?|imagens?)(?:\s+(?:de|do|da|dos|das|com))?\s+(?P<query>.+)$", _search_command),
    (r"^.*$", _caption_command),
]
