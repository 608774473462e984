"""The agent's session memory, read and cleared for the operator through agno's own `SqliteDb` /
`PostgresDb` API (the same calls on both).

A session is keyed by the sender's canonical phone (`+55...`). Clearing removes the agno session,
its runs (the messages the model sees as history) and any agno user memories of that phone; the
chat log, users, images and to-do lists live elsewhere and are never touched here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from typing import Union

from agno.db.postgres import PostgresDb
from agno.db.sqlite import SqliteDb
from sqlalchemy import bindparam, column, func, select, table

DELETE_BATCH = 500
KEPT = ("chat_log", "users", "logins", "images", "todo_lists")
AgnoDb = Union[SqliteDb, PostgresDb]


@dataclass(frozen=True)
class MemoryMessage:
    """One message the session holds (system prompts and history copies are left out)."""

    role: str
    content: str
    created_at: datetime | None
    run_id: str | None


@dataclass(frozen=True)
class SessionMemory:
    """One session: counts, times and (when asked for) its newest messages, oldest of them first."""

    session_id: str
    runs: int
    messages: int
    created_at: datetime | None
    updated_at: datetime | None
    recent: list[MemoryMessage] = field(default_factory=list)


@dataclass(frozen=True)
class Removed:
    """What a clear removed."""

    sessions: int
    runs: int
    messages: int | None
    user_memories: int


def _when(epoch: Any) -> datetime | None:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc) if epoch else None


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _messages(runs: list[dict[str, Any]]) -> list[MemoryMessage]:
    found = []
    for run in runs or []:
        for message in run.get("messages") or []:
            if message.get("role") == "system" or message.get("from_history"):
                continue
            found.append(MemoryMessage(str(message.get("role")), _text(message.get("content")),
                                       _when(message.get("created_at")), run.get("run_id")))
    return found


def _summary(raw: dict[str, Any], max_messages: int) -> SessionMemory:
    messages = _messages(raw.get("runs") or [])
    recent = messages[-max_messages:] if max_messages > 0 else []
    return SessionMemory(raw["session_id"], len(raw.get("runs") or []), len(messages),
                         _when(raw.get("created_at")), _when(raw.get("updated_at") or raw.get("created_at")),
                         recent)


def memory_status(db: AgnoDb, session_id: str) -> SessionMemory | None:
    """The session's run and message counts and times, or None when it holds nothing."""
    raw = db.get_session(session_id, deserialize=False)
    return _summary(raw, 0) if raw else None


def session_messages(db: AgnoDb, session_id: str) -> list[MemoryMessage]:
    """Every message the session keeps for the model, oldest first (what the assistant remembers)."""
    raw = db.get_session(session_id, deserialize=False)
    return _messages(raw.get("runs") or []) if raw else []


def list_memory(db: AgnoDb, page: int = 1, per_page: int = 20, session_id: str | None = None,
                max_messages: int = 50) -> tuple[list[SessionMemory], int]:
    """One page of sessions, most recently updated first, each with its newest `max_messages`."""
    if session_id is not None:
        raw = db.get_session(session_id, deserialize=False)
        return ([_summary(raw, max_messages)] if raw and page == 1 else []), (1 if raw else 0)
    rows, total = db.get_sessions(deserialize=False, limit=per_page, page=page, sort_by="updated_at",
                                  sort_order="desc", include_runs=True)
    return [_summary(row, max_messages) for row in rows], total


def _runs_table(db: AgnoDb):
    return table(db.runs_table_name, column("run_id"), column("session_id"), column("run_index"),
                 column("created_at"), schema=getattr(db, "db_schema", None))


def trim_session(db: AgnoDb, session_id: str, most: int, keep: int) -> int:
    """Once a session holds more than `most` runs, delete its oldest so the newest `keep` remain.

    A turn reads only the newest HISTORY_RUNS runs (agent/session_db.py), but the memory API and
    LGPD export read them all, and the messages would sit in two stores without end. The chat log
    keeps the whole conversation for recall_history. agno files a new run under its position in the
    loaded list, so the survivors are renumbered 0..keep-1 in the same transaction: otherwise the
    next run would sort before them and the model would read its history out of order. Returns the
    number of runs deleted; `most` of 0 keeps everything."""
    if most <= 0:
        return 0
    runs = _runs_table(db)
    with db.db_engine.begin() as conn:
        held = conn.execute(select(func.count()).select_from(runs).where(runs.c.session_id == session_id)).scalar()
        if not held or held <= most:
            return 0
        ids = conn.execute(select(runs.c.run_id).where(runs.c.session_id == session_id)
                           .order_by(runs.c.run_index, runs.c.created_at, runs.c.run_id)).scalars().all()
        cut = max(len(ids) - keep, 0)
        for start in range(0, cut, DELETE_BATCH):
            conn.execute(runs.delete().where(runs.c.run_id.in_(ids[start:min(start + DELETE_BATCH, cut)])))
        if ids[cut:]:
            conn.execute(runs.update().where(runs.c.run_id == bindparam("id")).values(run_index=bindparam("position")),
                         [{"id": run_id, "position": position} for position, run_id in enumerate(ids[cut:])])
    return cut


def _user_memory_ids(db: AgnoDb, user_id: str | None) -> list[str]:
    rows, _ = db.get_user_memories(user_id=user_id, deserialize=False)
    return [row["memory_id"] for row in rows]


def clear_session(db: AgnoDb, session_id: str) -> Removed | None:
    """Delete one sender's session, runs and agno user memories; None when there was nothing."""
    status = memory_status(db, session_id)
    memory_ids = _user_memory_ids(db, session_id)
    if status is None and not memory_ids:
        return None
    if status is not None:
        db.delete_session(session_id)
    if memory_ids:
        db.delete_user_memories(memory_ids, user_id=session_id)
    return Removed(1 if status else 0, status.runs if status else 0, status.messages if status else 0,
                   len(memory_ids))


def clear_all(db: AgnoDb) -> Removed:
    """Delete every session with its runs, and every agno user memory."""
    rows, sessions = db.get_sessions(deserialize=False, include_runs=False)
    _, runs = db.get_runs(deserialize=False, limit=1)
    ids = [row["session_id"] for row in rows]
    for start in range(0, len(ids), DELETE_BATCH):
        db.delete_sessions(ids[start:start + DELETE_BATCH])
    _, memories = db.get_user_memories(deserialize=False, limit=1)
    if memories:
        db.clear_memories()
    return Removed(sessions, runs, None, memories)
