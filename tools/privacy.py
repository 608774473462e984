"""LGPD: "exportar meus dados" (a JSON link that expires) and "apagar meus dados" (confirmed, outside the model).

The deletion is confirmed by the user's next message, handled by a server-side flow so that no
agent run follows it and writes the conversation back into the session memory just erased.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import datetime, timezone

from agno.run import RunContext

from agent.context import TurnContext, turn_context
from agent.flows import register_flow
from agent.memory import clear_session, session_messages
from agent.turn import Reply
from common.clock import utcnow
from storage import deliveries, images, reminders, todos, users
from storage.conversation import Flow, clear_flow, set_flow
from storage.erasure import erase_from_disk, erase_phone
from storage.media import MediaStore

from .auth import require_login
from .errors import tool_errors

log = logging.getLogger(__name__)
EXPORT_TTL = 3600
EXPORTS = "exports/"
STAMP = "%Y%m%dT%H%M%SZ"
PAGE = 200  # descriptions read per query while exporting
CONFIRM = "APAGAR"
ASK_CONFIRMATION = ("⚠️ Isso apaga sua conta, seus logins, fotos, áudios, listas, nossas conversas e a memória do "
                    f"assistente, e não dá para desfazer. Para confirmar, envie *{CONFIRM}*. "
                    "Qualquer outra mensagem cancela.")


def export_key(phone: str, at: datetime) -> str:
    """`exports/<digits>/<UTC time>-<random>.json`: its age in its name, unguessable besides."""
    return f"{EXPORTS}{phone.lstrip('+')}/{at:{STAMP}}-{secrets.token_hex(8)}.json"


def expire_exports(media: MediaStore, now: datetime | None = None) -> int:
    """Delete every export older than its link (EXPORT_TTL): an export is a full copy of someone's
    data, kept only while the link works. Files not named by `export_key` go too. Returns how many."""
    now = now or utcnow()
    removed = 0
    for key in media.keys(EXPORTS):
        try:
            made = datetime.strptime(key.rsplit("/", 1)[-1].split("-", 1)[0], STAMP).replace(tzinfo=timezone.utc)
        except ValueError:
            made = None
        if made is None or (now - made).total_seconds() > EXPORT_TTL:
            media.delete(key)
            removed += 1
    return removed


def _all_descriptions(db, phone: str) -> list[images.DescriptionRow]:
    found, page = [], 1
    while True:
        batch, total = images.list_descriptions(db, owner=phone, page=page, per_page=PAGE)
        found += batch
        if not batch or len(found) >= total:
            return found
        page += 1


def _all_messages(chatlog, phone: str) -> list[dict]:
    messages, page = [], 1
    while True:
        batch = chatlog.list(phone=phone, page=page, per_page=500)
        messages += [{"at": m.created_at.isoformat(), "direction": m.direction, "text": m.body} for m in batch.items]
        if page * batch.per_page >= batch.total or not batch.items:
            return messages
        page += 1


def collect_data(ctx: TurnContext) -> dict:
    """Everything stored about the logged-in sender, as plain JSON-ready values (CPF masked): the
    account, logins, lists, described photos (with what the model saw in them), every file sent (voice
    notes with their transcripts, photos still waiting for a description), the chat log and what the
    assistant's memory keeps."""
    user = require_login(ctx)
    db, phone, media = ctx.services.db, ctx.sender, ctx.services.media
    descriptions = _all_descriptions(db, phone)
    return {
        "exported_at": utcnow().isoformat(),
        "account": {"name": user.name, "phone": phone, "cpf": user.masked_cpf, "created_at": user.created_at.isoformat(),
                    "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None},
        "logins": [{"at": at.isoformat(), "success": ok} for at, ok in users.login_attempts(db, phone)],
        "todo_lists": [{"number": t.number, "title": t.title, "motivation": t.motivation,
                        "items": [{"text": i.text, "done": i.done} for i in t.items]}
                       for t in todos.lists_of(db, phone, limit=max(todos.count_lists(db, phone), 1))],
        "images": [{"description": d.description, "model_description": d.model_description,
                    "created_at": d.created_at.isoformat(),
                    "links": [media.url(key, expires_in=EXPORT_TTL) for key in d.image_keys]} for d in descriptions],
        "files": [{"kind": f.kind, "received_at": f.created_at.isoformat(), "content_type": f.content_type,
                   "link": media.url(f.key, expires_in=EXPORT_TTL),
                   **({"transcript": f.transcript} if f.kind == images.AUDIO
                      else {"model_description": f.model_description})}
                  for f in images.media_of(db, phone)],
        "reminders": [{"number": r.number, "text": r.text, "due_at": r.due_at.isoformat(), "repeat": r.repeat,
                       "time_zone": r.time_zone, "status": r.status} for r in reminders.all_of(db, phone)],
        "deliveries": [{"message_sid": d.message_sid, "kind": d.kind, "status": d.status, "error_code": d.error_code,
                        "sent_at": d.created_at.isoformat()} for d in deliveries.deliveries_of(db, phone)],
        "proactive_messages": (lambda p: {"opted_out": p.opted_out, "blocked": p.blocked,
                                          "time_zone": p.time_zone})(deliveries.prefs_of(db, phone)),
        "messages": _all_messages(ctx.services.chatlog, phone),
        "assistant_memory": [{"at": m.created_at.isoformat() if m.created_at else None, "role": m.role,
                              "text": m.content} for m in session_messages(ctx.services.session_db, phone)],
    }


def export_data(ctx: TurnContext) -> str:
    """Store the sender's data as JSON in the media store and return a link valid for EXPORT_TTL;
    expired exports (anyone's) are deleted first."""
    data = json.dumps(collect_data(ctx), ensure_ascii=False, indent=2).encode("utf-8")
    media = ctx.services.media
    try:
        expire_exports(media)
    except Exception:
        log.warning("could not delete expired exports", exc_info=True)
    key = export_key(ctx.sender, utcnow())
    media.put(key, data, "application/json")
    return f"📦 Seus dados (JSON): {ctx.services.media.url(key, expires_in=EXPORT_TTL)}\nO link vale por 1 hora."


def ask_to_erase(ctx: TurnContext) -> str:
    """Ask the logged-in sender to confirm the erasure; the answer goes to the flow below."""
    require_login(ctx)
    set_flow(ctx.services.db, ctx.sender, "privacy:erase", {})
    return ASK_CONFIRMATION


@register_flow("privacy")
def erase_step(ctx: TurnContext, flow: Flow) -> Reply:
    """Erase everything of the sender when they answered APAGAR; anything else cancels."""
    clear_flow(ctx.services.db, ctx.sender)
    if ctx.turn.raw_text.strip(" .!").upper() != CONFIRM:
        return Reply(texts=["Tudo certo: nada foi apagado."], inbound_for_log=ctx.turn.text)
    services, phone = ctx.services, ctx.sender
    erased = erase_phone(services.db, phone)
    ctx.account_changed()
    try:
        exports = services.media.keys(f"{EXPORTS}{phone.lstrip('+')}/")
    except Exception:
        log.exception("could not list the exports of an erased user (they expire within %d s)", EXPORT_TTL)
        exports = []
    for key in (*erased.media_keys, *erased.thumbnail_keys, *exports):
        try:
            services.media.delete(key)
        except Exception:
            log.exception("a media object of an erased user could not be deleted")
    removed = services.chatlog.delete_phone(phone)
    clear_session(services.session_db, phone)
    if not erase_from_disk(services.db.engine, services.session_db.db_engine):
        log.warning("a database stayed busy: part of its WAL, with erased rows, is left until the next checkpoint")
    log.info("erased the data of the phone ending %s", phone[-4:])
    return Reply(texts=[f"🗑️ Pronto: apaguei sua conta, {erased.todo_lists} lista(s), "
                        f"{len(erased.media_keys)} arquivo(s) de foto/áudio, {removed} mensagem(ns) e a memória "
                        "do assistente. Se quiser voltar, envie *cadastro*."], inbound_for_log=ctx.turn.text)


@tool_errors
def export_my_data(run_context: RunContext) -> str:
    """Export everything stored about the user (account, lists, photos, conversation) as a JSON link that
    expires in one hour. Use when the user asks for their data ("exportar meus dados")."""
    return export_data(turn_context(run_context))


@tool_errors
def delete_my_data(run_context: RunContext) -> str:
    """Start deleting all of the user's data ("apagar meus dados"). The system asks for confirmation itself;
    relay its question to the user."""
    return ask_to_erase(turn_context(run_context))


@tool_errors
def _export_command(ctx: TurnContext, match: re.Match) -> str:
    return export_data(ctx)


@tool_errors
def _erase_command(ctx: TurnContext, match: re.Match) -> str:
    return ask_to_erase(ctx)


TOOLS = [export_my_data, delete_my_data]
COMMANDS = [
    (r"^\s*(exportar|baixar)\s+(os\s+)?(meus\s+)?dados\b", _export_command),
    (r"^\s*(apagar|excluir|deletar)\s+(todos\s+)?(os\s+)?(meus\s+)?dados\b", _erase_command),
]
