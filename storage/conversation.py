"""Pending multi-step flows per phone (registration, login, photo waiting for a description)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select

from common.clock import as_utc, utcnow

from .db import Database
from .models import ConversationState


_STATE = ConversationState.__table__
_GET = select(_STATE).where(_STATE.c.phone == bindparam("phone"))  # asked on every turn
# Only a flow still untouched since the cutoff: one advanced in the meantime stays.
_DROP_ABANDONED = delete(_STATE).where(_STATE.c.phone == bindparam("phone"), _STATE.c.updated_at < bindparam("cutoff"))


@dataclass(frozen=True)
class Flow:
    """The flow a phone is in and the data gathered so far (never a password)."""

    phone: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


FLOW_MAX_AGE = timedelta(minutes=30)


def get_flow(db: Database, phone: str, max_age: timedelta = FLOW_MAX_AGE) -> Flow | None:
    """The phone's pending flow, or None; a flow untouched for `max_age` is dropped as abandoned."""
    with db.statement() as conn:
        row = conn.execute(_GET, {"phone": phone}).first()
    if row is None:
        return None
    return live_flow(db, phone, row.flow, row.data, row.updated_at, max_age)


def live_flow(db: Database, phone: str, name: str, data: dict[str, Any] | None, updated_at: datetime,
              max_age: timedelta = FLOW_MAX_AGE) -> Flow | None:
    """The flow read from a `conversation_state` row, or None when it was abandoned (untouched for
    `max_age`): then it is deleted, unless a step was taken since it was read."""
    cutoff = utcnow() - max_age
    if as_utc(updated_at) < cutoff:
        with db.statement() as conn:
            conn.execute(_DROP_ABANDONED, {"phone": phone, "cutoff": cutoff})
        return None
    return Flow(phone, name, dict(data or {}), as_utc(updated_at))


def set_flow(db: Database, phone: str, name: str, data: dict[str, Any] | None = None) -> None:
    """Start or advance a flow for the phone."""
    with db.session() as session:
        row = session.get(ConversationState, phone)
        if row is None:
            session.add(ConversationState(phone=phone, flow=name, data=data or {}, updated_at=utcnow()))
        else:
            row.flow, row.data, row.updated_at = name, data or {}, utcnow()


def clear_flow(db: Database, phone: str) -> None:
    """End the phone's pending flow, if any."""
    with db.session() as session:
        session.execute(delete(ConversationState).where(ConversationState.phone == phone))
