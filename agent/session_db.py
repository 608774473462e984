"""agno's SQLite session storage with the read and the two writes of every turn prepared once.

Each agent run starts with `get_session` and ends with `upsert_session` and `upsert_run`. agno's
`SqliteDb` builds these statements afresh on every call (`insert(...).values(**row)
.on_conflict_do_update(...)`, a RETURNING of every column, the read's two SELECTs), so SQLAlchemy
rebuilds and re-keys each statement tree before it can reuse the compiled SQL: about half of
agno's per-turn storage cost (py-spy over `python -m bench --only overhead`). `PreparedSqliteDb`
runs the very same statements, built once per table with bound parameters, on the same tables,
engine and JSON serializer, and feeds agno's own run-object cache. Every other method, and the
cases these do not cover (team and workflow sessions, raw reads, a runs limit, legacy rows, a run
without a run_index), stay agno's own.
"""
from __future__ import annotations

import json
import time
from typing import Any, Optional, Union

from agno.db.base import SessionType
from agno.db.sqlite import SqliteDb
from agno.db.utils import build_single_run_row, deserialize_session, deserialize_session_json_fields
from agno.run.base import RunStatus
from agno.session import AgentSession, Session
from agno.utils.log import log_debug, log_error, log_warning
from sqlalchemy import Table, Text, bindparam, func, or_, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql import Executable

_SESSION_VALUES = ("agent_id", "user_id", "agent_data", "session_data", "summary", "metadata")


def _binds(table: Table, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: bindparam(name, type_=table.c[name].type) for name in names}


def session_select_statement(table: Table, by_user: bool) -> Executable:
    """agno's read of one session row (SqliteDb.get_session), optionally of one user only."""
    stmt = select(table).where(table.c.session_id == bindparam("session_id"))
    return stmt.where(table.c.user_id == bindparam("user_id")) if by_user else stmt


def session_runs_statement(runs: Table) -> Executable:
    """agno's read of a session's runs as raw text, in their order (SqliteDb._get_session_run_rows)."""
    return (select(runs.c.run_id, runs.c.run_data.cast(Text)).where(runs.c.session_id == bindparam("session_id"))
            .order_by(runs.c.run_index.asc(), runs.c.created_at.asc(), runs.c.run_id.asc()))


def run_upsert_statement(table: Table, names: tuple[str, ...]) -> Executable:
    """agno's run upsert (SqliteDb.upsert_run) for rows with these keys, with bound parameters."""
    stmt = sqlite.insert(table).values(_binds(table, names))
    return stmt.on_conflict_do_update(
        index_elements=["run_id"],
        set_=dict(status=stmt.excluded.status, run_data=stmt.excluded.run_data, user_id=stmt.excluded.user_id,
                  parent_run_id=stmt.excluded.parent_run_id, updated_at=stmt.excluded.updated_at,
                  run_index=func.coalesce(table.c.run_index, stmt.excluded.run_index)))


def agent_session_upsert_statement(table: Table) -> Executable:
    """agno's upsert of an agent session row (SqliteDb.upsert_session), with bound parameters."""
    values = _binds(table, ("session_id", "created_at", "updated_at", "session_type", *_SESSION_VALUES))
    stmt = sqlite.insert(table).values(values)
    return stmt.on_conflict_do_update(
        index_elements=["session_id"],
        set_={"updated_at": bindparam("now", type_=table.c.updated_at.type),
              **{name: values[name] for name in _SESSION_VALUES}},
        where=or_(table.c.user_id == bindparam("owner", type_=table.c.user_id.type), table.c.user_id.is_(None)),
    ).returning(*table.columns)


class PreparedSqliteDb(SqliteDb):
    """`SqliteDb` whose per-turn `get_session`, `upsert_session` and `upsert_run` reuse prepared statements.

    With `approvals=False` (an agent none of whose tools asks for approval, so no approval row
    ever exists) the approval status update agno makes after every run is skipped: it was one
    more write transaction per turn, and it never matched a row."""

    def __init__(self, *args: Any, approvals: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.approvals = approvals
        self._prepared: dict[tuple, Executable] = {}

    def update_approval_run_status(self, run_id: str, run_status: RunStatus) -> int:
        """agno's update of the approvals of a finished run; 0 at once when approvals are off."""
        return super().update_approval_run_status(run_id, run_status) if self.approvals else 0

    def _statement(self, key: tuple, table: Table, build) -> Executable:
        cached = self._prepared.get(key)
        if cached is None or cached[0] is not table:
            cached = self._prepared[key] = (table, build())
        return cached[1]

    def get_session(self, session_id: str, session_type: Optional[SessionType] = None,
                    user_id: Optional[str] = None, deserialize: Optional[bool] = True,
                    runs_limit: Optional[int] = None) -> Optional[Union[Session, dict[str, Any]]]:
        """Read an agent session with its runs, as agno's per-turn path does (its run cache included);
        other reads (raw dicts, a runs limit, team or workflow sessions, legacy rows) are agno's."""
        table, runs = self._get_table(table_type="sessions"), self._get_table(table_type="runs")
        if (not deserialize or runs_limit is not None or session_type not in (None, SessionType.AGENT)
                or table is None or runs is None):
            return super().get_session(session_id, session_type, user_id, deserialize, runs_limit)
        by_user = user_id is not None
        params = {"session_id": session_id, "user_id": user_id}
        try:
            with self.db_engine.connect() as conn:
                row = conn.execute(self._statement(("read", by_user), table,
                                                   lambda: session_select_statement(table, by_user)), params).fetchone()
                if row is None:
                    return None
                session_raw = deserialize_session_json_fields(dict(row._mapping))
                if session_raw.get("runs") or session_raw.get("session_type") != SessionType.AGENT.value:
                    return super().get_session(session_id, session_type, user_id, deserialize, runs_limit)
                run_rows = [(run_id, data if isinstance(data, str) else json.dumps(data)) for run_id, data in
                            conn.execute(self._statement(("runs",), runs, lambda: session_runs_statement(runs)),
                                         params)]
        except Exception as exc:
            log_debug(f"Exception reading from sessions table: {exc}")
            raise
        session_raw["runs"] = None
        session_obj = deserialize_session(session_type, session_raw)
        session_obj.runs = self._run_object_cache.runs_from_rows(session_id, run_rows)
        return session_obj

    def upsert_run(self, run: Any, session_id: str, user_id: Optional[str] = None,
                   run_index: Optional[int] = None) -> None:
        """Insert or update one run row, as agno's `upsert_run` does."""
        row = build_single_run_row(run=run, session_id=session_id, user_id=user_id, run_index=run_index)
        if row.get("run_index") is None:
            super().upsert_run(run, session_id, user_id=user_id, run_index=run_index)
            return
        try:
            table = self._get_table(table_type="runs", create_table_if_not_found=True)
            if table is None:
                return
            names = tuple(row)
            stmt = self._statement(("run", names), table, lambda: run_upsert_statement(table, names))
            with self.db_engine.begin() as conn:
                conn.execute(stmt, row)
        except Exception as exc:
            log_error(f"Exception upserting run to runs table: {exc}")
            raise

    def upsert_session(self, session: Session,
                       deserialize: Optional[bool] = True) -> Optional[Union[Session, dict[str, Any]]]:
        """Insert or update an agent session row and return it, as agno's `upsert_session` does."""
        if not isinstance(session, AgentSession):
            return super().upsert_session(session, deserialize=deserialize)
        try:
            table = self._get_table(table_type="sessions", create_table_if_not_found=True)
            if table is None:
                return None
            data = session.to_dict(include_runs=False)
            created = data.get("created_at") or int(time.time())
            params = {name: data.get(name) for name in _SESSION_VALUES}
            params.update(session_id=data.get("session_id"), created_at=created, updated_at=created,
                          session_type=SessionType.AGENT.value, now=int(time.time()), owner=data.get("user_id"))
            stmt = self._statement(("session",), table, lambda: agent_session_upsert_statement(table))
            with self.db_engine.begin() as conn:
                row = conn.execute(stmt, params).fetchone()
            if row is None:
                return None
            session_raw = deserialize_session_json_fields(dict(row._mapping))
        except Exception as exc:
            log_warning(f"Exception upserting into table: {exc}")
            raise
        if not deserialize:
            session_raw["runs"] = [run if isinstance(run, dict) else run.to_dict() for run in session.runs or []]
            return session_raw
        session_raw.pop("runs", None)
        upserted = deserialize_session(None, session_raw)
        upserted.runs = session.runs
        return upserted
