"""`recall_history`: the sender's older conversation (beyond what the model already has), as dated snippets.

Searches the chat log (SQL or MongoDB, same interface) by words and/or a period written as ISO
dates or simple Portuguese ("ontem", "semana passada", "últimos 30 dias", "01/05/2025 a 10/05/2025").
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta, timezone

from agno.run import RunContext

from agent.context import TurnContext, turn_context
from common.clock import utcnow
from storage.chatlog import LoggedMessage

from .auth import require_login
from .errors import ToolRefusal, tool_errors

BRAZIL = timezone(timedelta(hours=-3), "BRT")
LIMIT = 10
SNIPPET = 220
Period = tuple[datetime | None, datetime | None]


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().strip()


def _at(day: date) -> datetime:
    return datetime.combine(day, time(), BRAZIL)


def _day(text: str, today: date) -> date | None:
    """A single day: ISO `2025-05-03`, `03/05/2025`, `03/05`, or hoje/ontem/anteontem/há N dias."""
    words = {"hoje": 0, "ontem": 1, "anteontem": 2}
    if text in words:
        return today - timedelta(days=words[text])
    if m := re.fullmatch(r"(?:ha\s+(\d+)\s+dias?|(\d+)\s+dias?\s+atras)", text):
        return today - timedelta(days=int(m.group(1) or m.group(2)))
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text):
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?", text):
            year = int(m.group(3)) if m.group(3) else today.year
            return date(year + 2000 if year < 100 else year, int(m.group(2)), int(m.group(1)))
    except ValueError:
        return None
    return None


def _span(text: str, today: date) -> tuple[date, date] | None:
    """[first day, day after the last) of a named period or a single day."""
    monday = today - timedelta(days=today.weekday())
    first_of_month = today.replace(day=1)
    if text in ("semana passada", "na semana passada", "ultima semana"):
        return monday - timedelta(days=7), monday
    if text in ("esta semana", "essa semana", "nesta semana", "nessa semana"):
        return monday, today + timedelta(days=1)
    if text in ("mes passado", "no mes passado", "ultimo mes"):
        return (first_of_month - timedelta(days=1)).replace(day=1), first_of_month
    if text in ("este mes", "esse mes", "neste mes", "nesse mes"):
        return first_of_month, today + timedelta(days=1)
    if m := re.fullmatch(r"(?:nos\s+)?ultim[oa]s\s+(\d+)\s+dias", text):
        return today - timedelta(days=int(m.group(1))), today + timedelta(days=1)
    day = _day(text, today)
    return (day, day + timedelta(days=1)) if day else None


def parse_period(text: str, now: datetime | None = None) -> Period | None:
    """(since, until) for a period in ISO or simple Portuguese (Brazil's clock); None if not understood.

    An empty text is no restriction, (None, None).
    """
    text = " ".join(_fold(text).split())
    today = (now or utcnow()).astimezone(BRAZIL).date()
    if not text:
        return None, None
    if m := re.fullmatch(r"(?:desde|a partir de|depois de)\s+(.+)", text):
        span = _span(m.group(1), today)
        return (_at(span[0]), None) if span else None
    if m := re.fullmatch(r"(?:ate|antes de)\s+(.+)", text):
        span = _span(m.group(1), today)
        return (None, _at(span[1])) if span else None
    if m := re.fullmatch(r"(?:de|entre)?\s*(.+?)\s+(?:a|ate|e)\s+(.+)", text):
        first, last = _span(m.group(1), today), _span(m.group(2), today)
        if first and last:
            return _at(first[0]), _at(last[1])
    span = _span(text, today)
    return (_at(span[0]), _at(span[1])) if span else None


def _snippet(body: str, words: list[str]) -> str:
    body = " ".join(body.split())
    if len(body) <= SNIPPET:
        return body
    folded = _fold(body)
    hits = [folded.find(w) for w in words if folded.find(w) >= 0]
    start = max(0, min(hits) - SNIPPET // 3) if hits else 0
    text = body[start:start + SNIPPET].strip()
    return ("…" if start else "") + text + ("…" if start + SNIPPET < len(body) else "")


def format_snippets(messages: list[LoggedMessage], words: str = "") -> str:
    """Dated snippets, oldest first, in Brazil's time: `📅 03/05/2025 14:32 · você: ...`."""
    folded = [_fold(w) for w in words.split()]
    lines = []
    for message in sorted(messages, key=lambda m: m.created_at):
        who = "você" if message.direction == "in" else "assistente"
        when = message.created_at.astimezone(BRAZIL)
        lines.append(f"📅 {when:%d/%m/%Y %H:%M} · {who}: {_snippet(message.body, folded)}")
    return "\n".join(lines)


def search_history(ctx: TurnContext, words: str = "", period: str = "") -> str:
    """The logged-in sender's own older messages matching words and/or a period, as dated snippets."""
    require_login(ctx)
    words = " ".join((words or "").split())
    bounds = parse_period(period or "")
    if bounds is None:
        raise ToolRefusal(f"Não entendi o período \"{period}\". Use, por exemplo, 2025-05-03, ontem, "
                          "semana passada ou últimos 30 dias.")
    since, until = (bound.astimezone(timezone.utc) if bound else None for bound in bounds)
    found = ctx.services.chatlog.search(ctx.sender, words, since=since, until=until, limit=LIMIT,
                                        before_latest=ctx.services.config.history_runs * 2)
    about = " ".join(filter(None, [f"\"{words}\"" if words else "", period.strip() if period else ""]))
    if not found:
        return f"Não encontrei nada {('sobre ' + about + ' ') if about else ''}nas nossas conversas mais antigas."
    return f"Encontrei {len(found)} mensagem(ns) {('sobre ' + about) if about else 'antigas'}:\n" + \
        format_snippets(found, words)


@tool_errors
def recall_history(run_context: RunContext, words: str = "", period: str = "") -> str:
    """Search the user's own older conversation (beyond the recent messages you already see).

    Returns dated snippets; quote only what it returns. Give words, a period, or both.

    Args:
        words: Key words to look for, e.g. "veterinário vacina" (all must appear; accents ignored).
        period: A date or period: "2025-05-03", "2025-05-01 a 2025-05-10", "ontem", "semana passada",
            "mês passado", "últimos 30 dias", "desde 2025-01-01". Empty for any time.
    """
    return search_history(turn_context(run_context), words, period)


@tool_errors
def _history_command(ctx: TurnContext, match: re.Match) -> str:
    tokens = match.group("q").split()
    for cut in range(len(tokens)):
        tail = " ".join(tokens[cut:])
        if parse_period(tail) is not None:
            return search_history(ctx, " ".join(tokens[:cut]), tail)
    return search_history(ctx, " ".join(tokens))


TOOLS = [recall_history]
COMMANDS = [(r"^\s*hist[oó]rico\b[:\s]*(?P<q>.*)$", _history_command)]
