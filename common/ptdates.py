"""Brazilian Portuguese dates and times for reminders: "amanhã às 9h", "sexta à tarde", "dia 15/03 às
14:30", "daqui a 2 horas", "todo dia às 7h", "toda segunda às 8h".

`read_when` finds the time words in a sentence and resolves them in the user's time zone; the rest
of the sentence is what to remind. Anything it cannot read for certain (no hour, "às 7" without
morning or evening, a day that does not exist, a time already past) raises `Unclear` with a
question for the user: it never guesses.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = {"segunda": 0, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4, "sabado": 5, "domingo": 6}
WEEKDAY_NAMES = ["segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo"]
MONTHS = {name: n for n, name in enumerate(["janeiro", "fevereiro", "marco", "abril", "maio", "junho", "julho",
                                            "agosto", "setembro", "outubro", "novembro", "dezembro"], start=1)}
MONTH_NAMES = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
               "outubro", "novembro", "dezembro"]
PERIODS = {"manha": 9, "tarde": 15, "noite": 20}  # "sexta à tarde" with no hour: the hour said back to the user
NUMBERS = {"um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "dez": 10, "quinze": 15,
           "vinte": 20, "trinta": 30, "meia": 0.5}
MAX_AHEAD = timedelta(days=2 * 366)
_WD = r"(segunda|terca|quarta|quinta|sexta|sabado|domingo)(?:[- ]feira)?s?"
_N = r"(\d+|" + "|".join(NUMBERS) + r")"
PATTERNS = [
    ("daily", re.compile(r"\b(?:todos os dias|todo dia|toda manha|diariamente|cada dia)\b")),
    ("weekly_day", re.compile(r"\b(?:toda|todo|todas as|todos os|cada)\s+" + _WD + r"\b")),
    ("weekly", re.compile(r"\b(?:toda semana|todas as semanas|semanalmente)\b")),
    ("relative", re.compile(r"\b(?:daqui a|daqui|em|dentro de)\s+" + _N + r"\s*(minutos?|min|horas?|h|dias?)\b")),
    ("day_word", re.compile(r"\b(depois de amanha|amanha|hoje)\b")),
    ("date_words", re.compile(r"\b(?:(?:no\s+)?dia\s+)?(\d{1,2})\s+de\s+(" + "|".join(MONTHS) + r")(?:\s+de\s+(\d{4}))?\b")),
    ("date_numbers", re.compile(r"\b(?:(?:no\s+)?dia\s+)?(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?\b")),
    ("month_day", re.compile(r"\b(?:no\s+)?dia\s+(\d{1,2})\b")),
    ("weekday", re.compile(r"\b(?:na|no|nesta|neste|esta|este|proxima|proximo|na proxima|no proximo)?\s*" + _WD + r"\b")),
    ("noon", re.compile(r"\b(?:ao |as |a )?(meio[- ]dia|meia[- ]noite)\b")),
    ("clock", re.compile(r"\b(?:as |a |ao |pelas |por volta das )?(\d{1,2})(?::(\d{2})|h(?:(\d{2})|oras?)?|\s+horas?)(?!\w)")),
    ("bare_hour", re.compile(r"\b(?:as|pelas|por volta das)\s+(\d{1,2})\b(?!\s*[/:])")),
    ("period", re.compile(r"\b(?:de|da|a|pela|na|no|nesta)\s+(manha|tarde|noite|madrugada)\b")),
]


class Unclear(ValueError):
    """The time could not be read for certain; the message is the question to ask the user."""


@dataclass(frozen=True)
class When:
    """A resolved time: the first occurrence (aware, in the user's zone) and the repeat, if any."""

    local: datetime
    repeat: str | None = None  # "daily" or "weekly"

    @property
    def local_time(self) -> str:
        return self.local.strftime("%H:%M")


def fold_keep_length(text: str) -> str:
    """Lowercase without accents, one character for one, so positions still index `text`."""
    return "".join(unicodedata.normalize("NFD", ch)[0] if ch.isalpha() else ch for ch in text.lower()
                   ) if len(text.lower()) == len(text) else text


def describe(local: datetime, now: datetime) -> str:
    """"amanhã (terça, 10/03) às 09:00" in the user's words, for confirmations and lists."""
    today = now.astimezone(local.tzinfo).date()
    day = local.date()
    name = {today: "hoje", today + timedelta(days=1): "amanhã"}.get(day, WEEKDAY_NAMES[day.weekday()])
    return f"{name} ({day:%d/%m}{'/' + str(day.year) if day.year != today.year else ''}) às {local:%H:%M}"


def next_occurrence(local_time: str, zone: ZoneInfo, after: datetime, step_days: int, base: date) -> datetime:
    """The first `local_time` in `zone` on `base` + k*step_days (k >= 0) strictly after `after`."""
    hour, minute = map(int, local_time.split(":"))
    day = base
    while True:
        candidate = datetime.combine(day, time(hour, minute), tzinfo=zone)
        if candidate > after:
            return candidate
        day += timedelta(days=step_days)


def read_when(text: str, now: datetime, zone: ZoneInfo) -> tuple[When, str]:
    """The time said in `text` and `text` without the time words; raises Unclear with a question."""
    folded = fold_keep_length(text)
    found: dict[str, re.Match] = {}
    spans: list[tuple[int, int]] = []
    for name, pattern in PATTERNS:
        for match in pattern.finditer(folded):
            if any(start < match.end() and match.start() < end for start, end in spans):
                continue
            found.setdefault(name, match)
            spans.append(match.span())
    rest = "".join(ch for i, ch in enumerate(text) if not any(start <= i < end for start, end in spans))
    return _resolve(found, now.astimezone(zone), zone), rest


def _number(word: str) -> float:
    return float(word) if word.isdigit() else NUMBERS[word]


def _resolve(found: dict[str, re.Match], now: datetime, zone: ZoneInfo) -> When:
    if "relative" in found:
        match = found["relative"]
        amount, unit = _number(match.group(1)), match.group(2)
        delta = timedelta(minutes=amount) if unit.startswith("min") else (
            timedelta(hours=amount) if unit.startswith("h") else timedelta(days=amount))
        if delta <= timedelta(0):
            raise Unclear("Daqui a quanto tempo? Por exemplo: *daqui a 30 minutos*.")
        return When((now + delta).replace(second=0, microsecond=0))
    clock = _clock(found)
    repeat = "daily" if "daily" in found else ("weekly" if "weekly_day" in found or "weekly" in found else None)
    day = _day(found, now, repeat)
    if clock is None:
        if day is None and repeat is None:
            raise Unclear("Para quando? Diga o dia e a hora, por exemplo: *amanhã às 9h* ou *sexta às 15h*.")
        raise Unclear("A que horas? Diga a hora também, por exemplo: *às 9h* ou *às 18h30*.")
    if repeat == "daily":
        return When(next_occurrence(f"{clock:%H:%M}", zone, now, 1, now.date()), repeat)
    if repeat == "weekly":
        base = day or now.date()
        return When(next_occurrence(f"{clock:%H:%M}", zone, now, 7, base), repeat)
    if day is None:
        local = datetime.combine(now.date(), clock, tzinfo=zone)
        if local <= now:
            raise Unclear(f"Hoje às {clock:%H:%M} já passou. Quer dizer *amanhã às {clock:%H:%M}*? Diga o dia também.")
        return When(local)
    local = datetime.combine(day, clock, tzinfo=zone)
    if local <= now:
        raise Unclear(f"Esse horário ({local:%d/%m/%Y} às {clock:%H:%M}) já passou. Para quando devo marcar?")
    if local - now > MAX_AHEAD:
        raise Unclear("Marco lembretes para até 2 anos à frente. Qual data mais próxima você quer?")
    return When(local)


def _clock(found: dict[str, re.Match]) -> time | None:
    period = found["period"].group(1) if "period" in found else None
    if "noon" in found:
        return time(12) if found["noon"].group(1).startswith("meio") else time(0)
    if "clock" in found:
        match = found["clock"]
        hour, minute = int(match.group(1)), int(match.group(2) or match.group(3) or 0)
    elif "bare_hour" in found:
        hour, minute = int(found["bare_hour"].group(1)), 0
        if period is None and 1 <= hour <= 11:
            raise Unclear(f"Às {hour}h da manhã ou às {hour + 12}h? Diga, por exemplo: *às {hour}h* ou *às {hour + 12}h*.")
    elif period in PERIODS:
        return time(PERIODS[period])
    elif period == "madrugada":
        raise Unclear("A que horas da madrugada? Por exemplo: *às 5h*.")
    else:
        return None
    if period in ("tarde", "noite") and 1 <= hour <= 11:
        hour += 12
    if hour > 23 or minute > 59:
        raise Unclear(f"{hour}h{minute:02d} não é um horário válido. Diga a hora de 0h a 23h59, por exemplo: *às 18h30*.")
    return time(hour, minute)


def _day(found: dict[str, re.Match], now: datetime, repeat: str | None) -> date | None:
    today = now.date()
    if "day_word" in found:
        word = found["day_word"].group(1)
        return today + timedelta(days={"hoje": 0, "amanha": 1}.get(word, 2))
    for name in ("date_words", "date_numbers"):
        if name in found:
            match = found[name]
            day_n = int(match.group(1))
            month = MONTHS[match.group(2)] if name == "date_words" else int(match.group(2))
            year = int(match.group(3)) if match.group(3) else None
            return _calendar_day(day_n, month, year, today)
    if "month_day" in found:
        day_n = int(found["month_day"].group(1))
        for offset in range(0, 3):
            month, year = (today.month + offset - 1) % 12 + 1, today.year + (today.month + offset - 1) // 12
            try:
                candidate = date(year, month, day_n)
            except ValueError:
                continue
            if candidate >= today:
                return candidate
        raise Unclear(f"Não existe dia {day_n} nos próximos meses. Qual data você quer? Por exemplo: *dia 15/03*.")
    match = found.get("weekday_day") or found.get("weekly_day") or found.get("weekday")
    if match:
        target = WEEKDAYS[match.group(1)]
        return today + timedelta(days=(target - today.weekday()) % 7)
    return None


def _calendar_day(day_n: int, month: int, year: int | None, today: date) -> date:
    if year is not None and year < 100:
        year += 2000
    if not 1 <= month <= 12:
        raise Unclear(f"Não existe o mês {month}. Diga a data como *15/03* ou *15 de março*.")
    try:
        candidate = date(year or today.year, month, day_n)
    except ValueError:
        month_name = MONTH_NAMES[month - 1]
        raise Unclear(f"O dia {day_n} de {month_name} não existe. Qual data você quer?") from None
    if year is None and candidate < today:
        try:
            candidate = date(today.year + 1, month, day_n)
        except ValueError:  # 29/02 of a year with none
            raise Unclear(f"O próximo dia {day_n} de {MONTH_NAMES[month - 1]} não existe. Qual data você quer?") from None
    return candidate
