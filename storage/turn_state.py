"""What a turn needs to know about its sender before the model runs, read in one statement.

Every turn asks three questions of the application database: is a flow pending (a password
prompt takes the message away from the model), which photos are still waiting for a description
(the model is told), and whose account is this (every personal-data tool checks the login). Asked
one by one they were three round trips on PostgreSQL, each one costing a wake-up of the database
and of the worker; here they are one SELECT of the sender's row in each table, the waiting photos
joined beside it. The answer is a snapshot: the caller decides how long it may trust it.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import String, bindparam, func, select, true
from sqlalchemy.engine import Row

from .conversation import FLOW_MAX_AGE, Flow, live_flow
from .db import Database
from .images import PENDING_LIMIT, MediaRecord, media_record, pending_select
from .models import ConversationState, Reminder, User
from .users import ACCOUNT_COLUMNS, UserRecord, user_record

_STATE, _USERS = ConversationState.__table__, User.__table__
_ME = select(bindparam("phone", type_=String(20)).label("phone")).subquery("me")
_WAITING = pending_select(bindparam("phone"), PENDING_LIMIT).subquery("waiting")
_HELD = (select(func.count()).select_from(Reminder)  # reminders waiting for this message (ix_reminders_owner)
         .where(Reminder.owner == bindparam("phone"), Reminder.status == "held").scalar_subquery())
_READ = (select(_STATE.c.flow.label("flow_name"), _STATE.c.data.label("flow_data"),
                _STATE.c.updated_at.label("flow_updated_at"), _HELD.label("held_reminders"),
                *(_USERS.c[name].label(f"user_{name}") for name in ACCOUNT_COLUMNS),
                *(column.label(f"media_{column.name}") for column in _WAITING.c))
         .select_from(_ME.outerjoin(_STATE, _STATE.c.phone == _ME.c.phone)
                      .outerjoin(_USERS, _USERS.c.phone == _ME.c.phone)
                      .outerjoin(_WAITING, true()))
         .order_by(_WAITING.c.created_at, _WAITING.c.id))


@dataclass(frozen=True)
class TurnState:
    """The sender's pending flow, account and photos waiting for a description (oldest first)."""

    flow: Flow | None
    user: UserRecord | None
    waiting_images: tuple[MediaRecord, ...]
    held_reminders: int = 0


def _columns(row: Row, prefix: str) -> SimpleNamespace:
    return SimpleNamespace(**{key[len(prefix):]: value for key, value in row._mapping.items()
                              if key.startswith(prefix)})


def read_turn_state(db: Database, phone: str) -> TurnState:
    """The phone's flow (an abandoned one is dropped, as `get_flow` does), its account (without the
    password hash), its photos still without a description and how many of its reminders wait for
    this message, in one statement."""
    with db.statement() as conn:
        rows = conn.execute(_READ, {"phone": phone}).all()
    first = rows[0]
    flow = None
    if first.flow_name is not None:
        flow = live_flow(db, phone, first.flow_name, first.flow_data, first.flow_updated_at, FLOW_MAX_AGE)
    user = user_record(_columns(first, "user_")) if first.user_id is not None else None
    waiting = tuple(media_record(_columns(row, "media_")) for row in rows if row.media_id is not None)
    return TurnState(flow, user, waiting, first.held_reminders or 0)
