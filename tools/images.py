"""Photo tools: keep the sender's photos with descriptions, and find them again.

Images reach the tools only as media ids from the trusted turn (or the sender's own photos still
waiting for a description), never as URLs the model could invent.

A photo sent alone is answered by the server itself, with or without the model: the question (with
what the model saw as a suggestion when vision is on), and a "photo" flow that takes the next text
as the description (*sim* takes the suggestion), so no model call is spent and none can echo.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from agno.run import RunContext

from agent.context import TurnContext, turn_context
from agent.flows import register_flow, register_screen
from agent.turn import Reply
from agent.vision import describe_turn_photos
from common.inline_secrets import find_inline_password
from storage import images, search
from storage.conversation import Flow, clear_flow, set_flow

from .auth import require_login
from .errors import ToolRefusal, tool_errors

ASK_DESCRIPTION = "Recebi {n}! Me diga uma descrição para eu guardar (ex.: \"meu cachorro na praia\")."
SUGGEST_DESCRIPTION = "Recebi {n}! Parece *{suggestion}*. Guardo com essa descrição? Responda *sim* ou envie outra descrição."
PHOTO_FLOW = "photo"
# With the model configured, an answer like these is a request to the assistant, not a description.
REQUEST = re.compile(r"^\s*(quero|queria|gostaria|preciso|pode|poderia|me|por favor|como|qual|quais|quando|onde"
                     r"|o que|voc[eê]|vc)\b|\?\s*$", re.I)
YES = re.compile(r"^\s*(sim|s|pode|pode ser|ok|isso|claro|guarda|guarde|beleza|aham|uhum)\s*[.!👍]*\s*$", re.I)
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
    return _saved(images.save_description(ctx.services.db, ctx.sender, description[:1000], media_ids))


def _saved(saved: images.SavedImage) -> str:
    return f"Salvei {_photos(len(saved.image_keys))} com a descrição “{saved.description}”. É só pedir para ver depois."


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
    """A photo with a caption is saved; a text while photos wait for a description describes them
    (a photo alone never gets here: `ask_about_lone_photo` answers it)."""
    text = match.group(0).strip()
    try:
        if text and (ctx.turn.image_ids or waiting_images(ctx)):
            return save_turn_images(ctx, text)
    except ToolRefusal as refusal:
        return str(refusal)
    return None


@register_screen
def ask_about_lone_photo(ctx: TurnContext) -> Reply | None:
    """A photo sent alone: the server asks for its description (suggesting what the model saw, when
    vision is on) and waits for the answer in the photo flow. Not logged in: how to log in."""
    turn = ctx.turn
    if not turn.image_ids or turn.text.strip():
        return None
    reply = Reply(inbound_for_log=turn.text)
    for notice in turn.notices:
        reply.add(notice)
    try:
        require_login(ctx)
    except ToolRefusal as refusal:
        return reply.add(str(refusal))
    seen = [description for _, _, description in describe_turn_photos(ctx) if description]
    suggestion = "; ".join(dict.fromkeys(seen))[:300]
    set_flow(ctx.services.db, ctx.sender, PHOTO_FLOW, {"ids": list(turn.image_ids), "suggestion": suggestion or None})
    n = _photos(len(turn.image_ids))
    return reply.add(SUGGEST_DESCRIPTION.format(n=n, suggestion=suggestion) if suggestion
                     else ASK_DESCRIPTION.format(n=n))


def _another_command(text: str) -> bool:
    from tools import all_commands

    return any(pattern.search(text) for pattern, handler in all_commands() if handler is not _caption_command)


@register_flow(PHOTO_FLOW)
def answer_photo_question(ctx: TurnContext, flow: Flow) -> Reply | None:
    """The answer to the question about a lone photo: *sim* saves the suggestion, other text saves
    itself. A new photo, another command, a request or question for the model, or a password pass
    the turn on (the model is then told what waits, and what the model saw in it)."""
    text, turn = ctx.turn.text.strip(), ctx.turn
    if not text and not turn.image_ids:
        return None
    waiting = {record.id for record in ctx.state().waiting_images}
    media_ids = [i for i in flow.data.get("ids", []) if i in waiting]
    suggestion = flow.data.get("suggestion")
    accepted = bool(suggestion and YES.match(text))
    asks_model = ctx.services.openai is not None and REQUEST.search(text) is not None
    passed_on = turn.image_ids or not media_ids or find_inline_password(turn.raw_text)
    clear_flow(ctx.services.db, ctx.sender)
    if passed_on or (not accepted and (asks_model or _another_command(text))):
        return None
    description = suggestion if accepted else text
    try:
        require_login(ctx)
        saved = images.save_description(ctx.services.db, ctx.sender, description[:1000], media_ids)
    except (ToolRefusal, images.MediaRefused):
        return None  # logged out or erased meanwhile: the turn goes on as any other
    return Reply(inbound_for_log=turn.text).add(_saved(saved))


TOOLS = [save_image, search_images]
COMMANDS = [
    (r"^\s*(?:me\s+)?(?:mostre|mostra|mostrar|ver|veja|busque|buscar|procure|procurar)\s+(?:as\s+|minhas\s+)?"
     r"(?:fotos?|imagens?)(?:\s+(?:de|do|da|dos|das|com))?\s+(?P<query>.+)$", _search_command),
    (r"^.*$", _caption_command),
]
