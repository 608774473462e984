"""Reminders: `set_reminder`, `list_reminders`, `cancel_reminder`, `set_time_zone`, and their commands.

Times are the user's own words, read by common/ptdates.py in the user's time zone (DEFAULT_TIME_ZONE
unless they set one); what cannot be read for certain is asked back, never guessed. A reminder on a
to-do item ("item 2 da lista 1") carries the item's text and is dropped once the item is done.
"""
from __future__ import annotations

import re
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from agno.run import RunContext

from agent.context import TurnContext, turn_context
from agent.turn import Reply
from common.clock import utcnow
from common.ptdates import Unclear, describe, read_when
from storage import deliveries, reminders, todos

from .auth import require_login
from .errors import ToolRefusal, tool_errors

TEXT_LIMIT = 500
REPEAT_WORDS = {"daily": "todo dia", "weekly": "toda semana"}
NO_REMINDERS = "Você não tem lembretes marcados. Envie, por exemplo: *me lembre amanhã às 9h de ligar para a Ana*."
_ASK = re.compile(r"\b(?:por favor,?\s*)?(?:me\s+lembr[ae]\w*|lembre-me|lembrar-me|me\s+avis[ae]\w*|lembrete\s*:)",
                  re.I)
_ITEM = re.compile(r"\bitem\s+(\d+)(?:\s+d[ao]\s+lista\s+(\d+))?", re.I)
_LEADING = re.compile(r"^(?:\s|[,.;:!-]|\b(?:de|do|da|que|para|pra|sobre)\b)+", re.I)


def reminder_text(reminder: reminders.ReminderRecord, late: bool = False) -> str:
    """The message a reminder sends; `late` names the time it was due."""
    when = reminder.due_at.astimezone(ZoneInfo(reminder.time_zone))
    head = f"⏰ Lembrete (atrasado: era para {when:%d/%m às %H:%M})" if late else "⏰ Lembrete"
    return f"{head}: {reminder.text}"


def with_held_reminders(ctx: TurnContext, reply: Reply) -> Reply:
    """Add the reminders held for the user's next message (outside WhatsApp's 24-hour window, no
    template) to this reply; the worker marks them sent once it went out. Costs nothing when none
    wait: the turn's state read counts them."""
    if not ctx.state().held_reminders or not deliveries.prefs_of(ctx.services.db, ctx.sender).proactive_allowed:
        return reply
    held = reminders.held_of(ctx.services.db, ctx.sender)
    for reminder in held:
        reply.add(reminder_text(reminder, late=True))
    reply.held_reminders.extend(held)
    return reply


def zone_of(ctx: TurnContext) -> ZoneInfo:
    """The user's time zone, else DEFAULT_TIME_ZONE."""
    return ZoneInfo(deliveries.prefs_of(ctx.services.db, ctx.sender).time_zone
                    or ctx.services.config.default_time_zone)


def _clean(text: str) -> str:
    text = _ASK.sub(" ", text)
    text = " ".join(text.split())
    return _LEADING.sub("", text).strip(" ,.;:!")


def create_reminder(ctx: TurnContext, what: str, when: str, list_number: int | None = None,
                    item_number: int | None = None) -> str:
    """Read `when` in the user's zone, store the reminder and say exactly when it fires."""
    require_login(ctx)
    if len(what or "") > TEXT_LIMIT:
        raise ToolRefusal(f"O lembrete pode ter até {TEXT_LIMIT} caracteres (o seu tem {len(what):,}). "
                          "Envie um texto mais curto.".replace(",", "."))
    zone, now = zone_of(ctx), utcnow()
    try:
        found, _rest = read_when(when or "", now, zone)
    except Unclear as question:
        raise ToolRefusal(f"⏰ {question}") from None
    item_id, text = None, " ".join((what or "").split())
    if item_number is not None:
        todo = todos.get_list(ctx.services.db, ctx.sender, list_number)
        item = next((i for i in todo.items if i.position == item_number), None) if todo else None
        if item is None:
            raise ToolRefusal(f"Não encontrei o item {item_number}"
                              f"{f' da lista {list_number}' if list_number else ' da sua última lista'}.")
        item_id = todos.item_id(ctx.services.db, todo.id, item_number)
        text = f"{item.text} (item {item_number} da lista {todo.number})"
    if not text:
        raise ToolRefusal("Do que devo lembrar você? Por exemplo: *me lembre amanhã às 9h de levar o cachorro*.")
    config = ctx.services.config
    try:
        reminder = reminders.create(ctx.services.db, ctx.sender, text, found.local, found.local_time, zone.key,
                                    found.repeat, item_id, cap=config.reminder_max_active)
    except reminders.CapReached:
        raise ToolRefusal(f"Você já tem {config.reminder_max_active} lembretes ativos, o máximo. Cancele algum "
                          "(*meus lembretes*, depois *cancelar lembrete N*) e peça de novo.") from None
    repeat = f", {REPEAT_WORDS[found.repeat]}" if found.repeat else ""
    answer = f"✅ Lembrete {reminder.number} marcado para {describe(found.local, now)}{repeat}: {text}"
    if found.local - now > reminders.WINDOW and not config.reminder_template_sid:
        answer += ("\nObs.: o WhatsApp só me deixa escrever primeiro até 24 h depois da sua última mensagem. Se "
                   "você não me escrever até lá, o lembrete chega junto com a sua próxima mensagem.")
    return answer


def show_reminders(ctx: TurnContext) -> str:
    """The user's live reminders, numbered, soonest first."""
    require_login(ctx)
    live = reminders.live_of(ctx.services.db, ctx.sender)
    if not live:
        return NO_REMINDERS
    now = utcnow()
    lines = ["⏰ *Seus lembretes*"]
    for r in live:
        when = describe(r.due_at.astimezone(ZoneInfo(r.time_zone)), now)
        extra = f" ({REPEAT_WORDS[r.repeat]})" if r.repeat else ""
        held = " — aguardando sua próxima mensagem" if r.status == reminders.HELD else ""
        lines.append(f"{r.number}. {when}{extra}: {r.text}{held}")
    lines.append("Para cancelar, envie *cancelar lembrete N*.")
    return "\n".join(lines)


def drop_reminder(ctx: TurnContext, number: int) -> str:
    """Cancel one of the user's reminders by its number."""
    require_login(ctx)
    cancelled = reminders.cancel(ctx.services.db, ctx.sender, number)
    if cancelled is None:
        raise ToolRefusal(f"Não encontrei o lembrete {number} entre os marcados. Envie *meus lembretes* para ver.")
    return f"🗑️ Lembrete {number} cancelado: {cancelled.text}"


def choose_zone(ctx: TurnContext, name: str) -> str:
    """Set the IANA time zone the user's reminders are read in."""
    require_login(ctx)
    wanted = (name or "").strip()
    match = {zone.lower(): zone for zone in available_timezones()}.get(wanted.lower())
    try:
        ZoneInfo(match or "")
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolRefusal(f"Não conheço o fuso {wanted!r}. Use o nome oficial, por exemplo: *fuso America/Manaus*."
                          ) from None
    deliveries.set_time_zone(ctx.services.db, ctx.sender, match)
    return f"🌎 Fuso horário: {match}. Os próximos lembretes usam este horário."


@tool_errors
def set_reminder(run_context: RunContext, what: str, when: str, list_number: Optional[int] = None,
                 item_number: Optional[int] = None) -> str:
    """Schedule a WhatsApp reminder for the user and return the confirmation (send it as it is).

    Args:
        what: What to remind, in the user's words ("levar o cachorro ao veterinário"); empty for a to-do item.
        when: The time exactly as the user said it, in Portuguese ("amanhã às 9h", "sexta à tarde",
            "todo dia às 7h", "daqui a 2 horas"). Never convert or guess it: if it is unclear the tool asks.
        list_number: For a reminder of a to-do item, the list's number (empty: the newest list).
        item_number: For a reminder of a to-do item, the item's number.
    """
    return create_reminder(turn_context(run_context), what, when, list_number, item_number)


@tool_errors
def list_reminders(run_context: RunContext) -> str:
    """Show the user's scheduled reminders, numbered."""
    return show_reminders(turn_context(run_context))


@tool_errors
def cancel_reminder(run_context: RunContext, number: int) -> str:
    """Cancel one of the user's reminders by the number shown in their list.

    Args:
        number: The reminder's number ("cancelar lembrete 2" -> 2).
    """
    return drop_reminder(turn_context(run_context), number)


@tool_errors
def _set_command(ctx: TurnContext, match: re.Match) -> str:
    text = ctx.turn.text
    item = _ITEM.search(text)
    if item:
        text = text[:item.start()] + " " + text[item.end():]
    try:
        _found, rest = read_when(text, utcnow(), zone_of(ctx))
    except Unclear:
        rest = text
    what = "" if item else _clean(rest)
    return create_reminder(ctx, what, text, int(item.group(2)) if item and item.group(2) else None,
                           int(item.group(1)) if item else None)


TOOLS = [set_reminder, list_reminders, cancel_reminder]
COMMANDS = [
    (r"^\s*(?:meus|ver|listar?|mostrar?)\s+lembretes\s*[?.!]*\s*$", tool_errors(lambda ctx, m: show_reminders(ctx))),
    (r"^\s*(?:cancelar|cancele|cancela|apagar|apague|excluir)\s+(?:o\s+)?lembrete\s+(?P<n>\d+)\s*[.!]*\s*$",
     tool_errors(lambda ctx, m: drop_reminder(ctx, int(m.group("n"))))),
    (r"^\s*fuso(?:\s+hor[aá]rio)?\s*:?\s*(?P<zone>[A-Za-z_]+(?:/[A-Za-z_]+)+)\s*$",
     tool_errors(lambda ctx, m: choose_zone(ctx, m.group("zone")))),
    (r"(?:\bme\s+lembr[ae]\w*|\blembre-me\b|^\s*lembrete\s*:)", _set_command),
]
