"""Opens the agent's session memory where the config says: a SQLite file or a PostgreSQL database.

`Config.session_store_url` resolves SESSION_DB_URL's default (the application's PostgreSQL, else the
SQLite file SESSION_DB). Either way the engine is storage/db.make_engine's, so SQLite runs in WAL
mode with a long busy wait and PostgreSQL connections are pinged after idling and time out on
connect like the application's, with agno's JSON serializer.
"""
from __future__ import annotations

import logging

from agno.db.utils import json_serializer
from sqlalchemy.engine import make_url

from storage.db import make_engine, schema_lock

from .session_db import PreparedPostgresDb, PreparedSqliteDb, SessionDb

log = logging.getLogger(__name__)
SESSION_SCHEMA = "ai"  # agno's default schema: its tables stay apart from the application's in one database


def engine_url(url: str) -> str:
    """`url` as the engine opens it: a PostgreSQL URL without a driver gets psycopg2, the application's."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return url


def open_session_db(url: str, pool_size: int, history_runs: int | None, schema: str = SESSION_SCHEMA) -> SessionDb:
    """agno's session storage at `url`, its per-turn statements prepared and its read bounded to
    `history_runs` runs; the runs table and the index of its ordered reads are created if missing."""
    engine = make_engine(engine_url(url), pool_size=pool_size, json_serializer=json_serializer)
    # No tool of ours asks for approval (tests/integration/test_session_db.py checks): no approval rows.
    if engine.dialect.name == "postgresql":
        db: SessionDb = PreparedPostgresDb(db_engine=engine, db_schema=schema, approvals=False,
                                           history_runs=history_runs)
    else:
        db = PreparedSqliteDb(db_engine=engine, approvals=False, history_runs=history_runs)
    try:
        with schema_lock(engine):  # web and worker processes started together on PostgreSQL
            db.ensure_indexes()
    except Exception:
        # Unreachable at start: turns then fail (and retry) until it answers; the index comes next start.
        log.warning("could not check the session database's tables and indexes", exc_info=True)
    return db
