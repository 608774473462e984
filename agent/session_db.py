"""agno's session storage (SQLite or PostgreSQL) with the read and the two writes of every turn prepared once.

Each agent run starts with `get_session` and ends with `upsert_session` and `upsert_run`. agno's
`SqliteDb` and `PostgresDb` build these statements afresh on every call (`insert(...).values(**row)
.on_conflict_do_update(...)`, a RETURNING of every column, the read's two SELECTs), so SQLAlchemy
rebuilds and re-keys each statement tree before it can reuse the compiled SQL: about half of
agno's per-turn storage cost (py-spy over `python -m bench --only overhead`). `PreparedSessionDb`
runs the very same statements, built once per table with bound parameters, on the same tables,
engine and JSON serializer, and feeds agno's own run-object cache; `PreparedSqliteDb` and
`PreparedPostgresDb` differ only in the dialect's INSERT and PostgreSQL's string sanitising.

With `history_runs` set, the per-turn read attaches only the newest `history_runs` runs the
history can use (agno's own `runs_limit` filter: top-level runs of a status history replays), so a
sender's first turn reads and deserializes a handful of runs however many are stored, instead of
all of them. agno files a new run under its position in the loaded list; for a session read that
way the new run is filed after the newest stored one instead (agno's own backfill, in the INSERT).
Every other method, and the cases these do not cover (team and workflow sessions, raw reads, an
explicit runs limit, legacy rows), stay agno's own.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Optional, Union

from agno.db.base import SessionType
from agno.db.postgres import PostgresDb
from agno.db.sqlite import SqliteDb
from agno.db.utils import build_single_run_row, deserialize_session, deserialize_session_json_fields
from agno.run.base import HISTORY_SKIP_STATUSES, RunStatus
from agno.session import AgentSession, Session
from agno.utils.log import log_debug, log_error, log_warning
from agno.utils.string import sanitize_postgres_strings
from sqlalchemy import Index, Table, Text, bindparam, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Executable

_SESSION_VALUES = ("agent_id", "user_id", "agent_data", "session_data", "summary", "metadata")
_SKIPPED = [status.value for status in HISTORY_SKIP_STATUSES]
HELD = "runs_held_top"  # the extra column of a windowed session read: the session's highest run_index


def _binds(table: Table, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: bindparam(name, type_=table.c[name].type) for name in names}


def _next_index(runs: Table) -> Any:
    """agno's backfill of a run's index: one past the session's highest (SqliteDb.upsert_run)."""
    return (select(func.coalesce(func.max(runs.c.run_index) + 1, 0))
            .where(runs.c.session_id == bindparam("session_id")).scalar_subquery())


def session_select_statement(table: Table, by_user: bool, runs: Optional[Table] = None) -> Executable:
    """agno's read of one session row (get_session), optionally of one user only; with `runs`, plus
    the session's highest run_index (an index lookup) as column HELD."""
    columns = [table] if runs is None else [table, select(func.max(runs.c.run_index))
                                            .where(runs.c.session_id == bindparam("session_id"))
                                            .scalar_subquery().label(HELD)]
    stmt = select(*columns).where(table.c.session_id == bindparam("session_id"))
    return stmt.where(table.c.user_id == bindparam("user_id")) if by_user else stmt


def session_runs_statement(runs: Table) -> Executable:
    """agno's read of a session's runs as raw text, in their order (_get_session_run_rows)."""
    return (select(runs.c.run_id, runs.c.run_data.cast(Text)).where(runs.c.session_id == bindparam("session_id"))
            .order_by(runs.c.run_index.asc(), runs.c.created_at.asc(), runs.c.run_id.asc()))


def session_window_statement(runs: Table) -> Executable:
    """The newest `window` runs history can replay, as raw text, newest first (agno's runs_limit read)."""
    return (select(runs.c.run_id, runs.c.run_data.cast(Text))
            .where(runs.c.session_id == bindparam("session_id"), runs.c.parent_run_id.is_(None),
                   or_(runs.c.status.is_(None), runs.c.status.notin_(_SKIPPED)))
            .order_by(runs.c.run_index.desc(), runs.c.created_at.desc(), runs.c.run_id.desc())
            .limit(bindparam("window")))


def run_order_index(runs: Table) -> Index:
    """The index that serves every per-session read of runs in their order (and the trim)."""
    return Index(f"{runs.name}_session_order", runs.c.session_id, runs.c.run_index, runs.c.created_at,
                 runs.c.run_id)


def run_upsert_statement(insert: Callable, table: Table, names: tuple[str, ...], backfill: bool) -> Executable:
    """agno's run upsert (upsert_run) for rows with these keys, with bound parameters; `backfill`
    files a new run after the session's newest instead of at the given run_index."""
    values = _binds(table, names)
    if backfill:
        values["run_index"] = _next_index(table)
    stmt = insert(table).values(values)
    return stmt.on_conflict_do_update(
        index_elements=["run_id"],
        set_=dict(status=stmt.excluded.status, run_data=stmt.excluded.run_data, user_id=stmt.excluded.user_id,
                  parent_run_id=stmt.excluded.parent_run_id, updated_at=stmt.excluded.updated_at,
                  run_index=func.coalesce(table.c.run_index, stmt.excluded.run_index)))


def agent_session_upsert_statement(insert: Callable, table: Table) -> Executable:
    """agno's upsert of an agent session row (upsert_session), with bound parameters."""
    values = _binds(table, ("session_id", "created_at", "updated_at", "session_type", *_SESSION_VALUES))
    stmt = insert(table).values(values)
    return stmt.on_conflict_do_update(
        index_elements=["session_id"],
        set_={"updated_at": bindparam("now", type_=table.c.updated_at.type),
              **{name: values[name] for name in _SESSION_VALUES}},
        where=or_(table.c.user_id == bindparam("owner", type_=table.c.user_id.type), table.c.user_id.is_(None)),
    ).returning(*table.columns)


class PreparedSessionDb:
    """Mixin over agno's `SqliteDb` / `PostgresDb`: per-turn `get_session`, `upsert_session` and
    `upsert_run` on prepared statements, the per-turn read bounded to `history_runs` runs.

    With `approvals=False` (an agent none of whose tools asks for approval, so no approval row
    ever exists) the approval status update agno makes after every run is skipped: it was one
    more write transaction per turn, and it never matched a row."""

    insert: Callable = staticmethod(sqlite.insert)

    def __init__(self, *args: Any, approvals: bool = True, history_runs: Optional[int] = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.approvals = approvals
        self.history_runs = history_runs
        self._prepared: dict[tuple, tuple[Table, Executable]] = {}
        self._windowed: dict[str, int] = {}

    def clean(self, value: Any) -> Any:
        """A JSON value as this database stores it (PostgreSQL refuses NUL characters)."""
        return value

    def update_approval_run_status(self, run_id: str, run_status: RunStatus) -> int:
        """agno's update of the approvals of a finished run; 0 at once when approvals are off."""
        return super().update_approval_run_status(run_id, run_status) if self.approvals else 0

    def ensure_indexes(self) -> None:
        """Create the runs table (if new) and the index its ordered per-session reads use (if missing)."""
        runs = self._get_table(table_type="runs", create_table_if_not_found=True)
        if runs is not None:
            run_order_index(runs).create(self.db_engine, checkfirst=True)

    def runs_held(self, session_id: str) -> Optional[int]:
        """How many runs the session held when a turn last read it with a window (its highest
        run_index + 1, which the trim keeps dense); None when it was read whole or not at all."""
        return self._windowed.get(session_id)

    def _statement(self, key: tuple, table: Table, build: Callable[[], Executable]) -> Executable:
        cached = self._prepared.get(key)
        if cached is None or cached[0] is not table:
            cached = self._prepared[key] = (table, build())
        return cached[1]

    def get_session(self, session_id: str, session_type: Optional[SessionType] = None,
                    user_id: Optional[str] = None, deserialize: Optional[bool] = True,
                    runs_limit: Optional[int] = None) -> Optional[Union[Session, dict[str, Any]]]:
        """Read an agent session with its runs (the newest `history_runs` of them when set), as agno's
        per-turn path does (its run cache included); other reads are agno's."""
        table, runs = self._get_table(table_type="sessions"), self._get_table(table_type="runs")
        if (not deserialize or runs_limit is not None or session_type not in (None, SessionType.AGENT)
                or table is None or runs is None):
            return super().get_session(session_id, session_type, user_id, deserialize, runs_limit)
        by_user, window = user_id is not None, self.history_runs
        params = {"session_id": session_id, "user_id": user_id, "window": window}
        self._windowed.pop(session_id, None)
        try:
            with self.db_engine.connect() as conn:
                row = conn.execute(self._statement(
                    ("read", by_user, window is not None), table,
                    lambda: session_select_statement(table, by_user, runs if window is not None else None)),
                    params).fetchone()
                if row is None:
                    return None
                session_raw = deserialize_session_json_fields(dict(row._mapping))
                top = session_raw.pop(HELD, None)
                if session_raw.get("runs") or session_raw.get("session_type") != SessionType.AGENT.value:
                    return super().get_session(session_id, session_type, user_id, deserialize, runs_limit)
                if window is None:
                    found = conn.execute(self._statement(("runs",), runs, lambda: session_runs_statement(runs)),
                                         params).all()
                else:
                    found = conn.execute(self._statement(("window",), runs, lambda: session_window_statement(runs)),
                                         params).all()[::-1]
        except Exception as exc:
            log_debug(f"Exception reading from sessions table: {exc}")
            raise
        if window is not None:
            self._windowed[session_id] = 0 if top is None else top + 1
        session_raw["runs"] = None
        session_obj = deserialize_session(session_type, session_raw)
        session_obj.runs = self._run_object_cache.runs_from_rows(
            session_id, [(run_id, data if isinstance(data, str) else json.dumps(data)) for run_id, data in found])
        return session_obj

    def upsert_run(self, run: Any, session_id: str, user_id: Optional[str] = None,
                   run_index: Optional[int] = None) -> None:
        """Insert or update one run row, as agno's `upsert_run` does; after a windowed read, a new run
        is filed after the session's newest (its position in the window says nothing)."""
        row = build_single_run_row(run=run, session_id=session_id, user_id=user_id, run_index=run_index)
        backfill = self._windowed.pop(session_id, None) is not None
        if row.get("run_index") is None and not backfill:
            super().upsert_run(run, session_id, user_id=user_id, run_index=run_index)
            return
        row["run_data"] = self.clean(row["run_data"])
        if backfill:
            row.pop("run_index", None)
        try:
            table = self._get_table(table_type="runs", create_table_if_not_found=True)
            if table is None:
                return
            names = tuple(row)
            stmt = self._statement(("run", names, backfill), table,
                                   lambda: run_upsert_statement(self.insert, table, names, backfill))
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
            params.update({name: self.clean(params[name]) for name in _SESSION_VALUES[2:] if params[name]})
            params.update(session_id=data.get("session_id"), created_at=created, updated_at=created,
                          session_type=SessionType.AGENT.value, now=int(time.time()), owner=data.get("user_id"))
            stmt = self._statement(("session",), table, lambda: agent_session_upsert_statement(self.insert, table))
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


class PreparedSqliteDb(PreparedSessionDb, SqliteDb):
    """agno's `SqliteDb` with the prepared, bounded per-turn statements."""


class PreparedPostgresDb(PreparedSessionDb, PostgresDb):
    """agno's `PostgresDb` with the prepared, bounded per-turn statements."""

    insert: Callable = staticmethod(postgresql.insert)

    def clean(self, value: Any) -> Any:
        """A JSON value without the NUL characters PostgreSQL refuses (agno's own sanitising)."""
        return sanitize_postgres_strings(value)


SessionDb = Union[PreparedSqliteDb, PreparedPostgresDb]
