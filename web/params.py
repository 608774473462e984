"""Query-string parsing for the operator routes: every bad value becomes a `BadParam` (a 400 that
says which parameter was wrong and why), never a 500.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Mapping

from common.phones import normalize_phone


class BadParam(ValueError):
    """A query parameter or path part is malformed; `code` is the JSON error code."""

    def __init__(self, message: str, code: str = "bad_request", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Paging:
    """A validated page request."""

    page: int
    per_page: int

    def check_in_range(self, total: int) -> None:
        """Raise when the page lies past the last one (page 1 of nothing is fine)."""
        if self.page > max(1, pages(total, self.per_page)):
            raise BadParam(f"page {self.page} is out of range: there are {pages(total, self.per_page)} "
                           f"page(s) of {self.per_page}", "page_out_of_range")


def pages(total: int, per_page: int) -> int:
    """How many pages `total` rows fill."""
    return math.ceil(total / per_page) if total else 0


def integer(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer parameter within [low, high]."""
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParam(f"{name} must be a whole number, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise BadParam(f"{name} must be between {low} and {high}, got {value}")
    return value


def paging(args: Mapping[str, str], default_per_page: int, max_per_page: int = 100,
           prefix: str = "") -> Paging:
    """`page` (from 1) and `per_page` (1..max_per_page), optionally prefixed (`users_page`)."""
    return Paging(integer(args, f"{prefix}page", 1, 1, 1_000_000),
                  integer(args, f"{prefix}per_page", default_per_page, 1, max_per_page))


def phone(raw: str | None, name: str = "user") -> str | None:
    """A WhatsApp number in any common form, canonical (`+55...`); None when absent."""
    if raw is None or raw.strip() == "":
        return None
    try:
        return normalize_phone(raw)
    except ValueError:
        raise BadParam(f"{name} is not a phone number: {raw[:40]!r} (use +5511999998888, "
                       f"whatsapp:+5511999998888 or digits)") from None


def moment(raw: str | None, name: str, end_of_day: bool = False) -> datetime | None:
    """An ISO 8601 date or date-time, as UTC. A bare date means its start (or its end for `until`)."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end_of_day:
                return datetime.combine(day + timedelta(days=1), time.min, timezone.utc) - timedelta(microseconds=1)
            return datetime.combine(day, time.min, timezone.utc)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadParam(f"{name} must be an ISO 8601 date (2026-11-01) or date-time "
                       f"(2026-11-01T14:30:00Z), got {text[:40]!r}") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def date_range(args: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    """`since` and `until`, checked to be in order."""
    since = moment(args.get("since"), "since")
    until = moment(args.get("until"), "until", end_of_day=True)
    if since and until and since > until:
        raise BadParam("since must not be after until")
    return since, until
