"""The PostgreSQL pool on the machine's server: a connection is pinged on checkout only after idling
past the threshold, a dead idle one is replaced unseen, and the ledger insert outlives a backend
killed under a recently used connection. Statements are counted by a psycopg2 cursor factory, so
the pings SQLAlchemy sends on the raw DBAPI connection are seen too."""
from __future__ import annotations

import time

import psycopg2.extensions
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from storage import ledger
from storage.db import Database, make_engine
from storage.models import InboundMessage
from tests.fixtures.databases import admin_sql

THRESHOLD = 0.3  # seconds: short, so a test can wait past it


def counting_cursor(statements: list[str]) -> type:
    """A psycopg2 cursor class that records every statement it runs in `statements`."""

    class CountingCursor(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            statements.append(query.decode() if isinstance(query, bytes) else str(query))
            return super().execute(query, vars)

    return CountingCursor


def pings(statements: list[str]) -> int:
    return sum(1 for statement in statements if statement.strip() == "SELECT 1")


def backend_pid(engine: Engine) -> int:
    with engine.begin() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def kill_backend(pid: int) -> None:
    """Terminate a server process from an admin connection and wait until it is gone."""
    admin_sql(f"SELECT pg_terminate_backend({pid}, 5000)")


@pytest.fixture
def counted_engine(pg_url):
    """(engine with one pooled connection and a short idle threshold, the statements it ran)."""
    statements: list[str] = []
    engine = make_engine(pg_url, pool_size=1, ping_after_idle=THRESHOLD,
                         connect_args={"cursor_factory": counting_cursor(statements)})
    yield engine, statements
    engine.dispose()


def test_back_to_back_transactions_are_not_pinged_but_an_idle_connection_is(counted_engine):
    engine, statements = counted_engine
    pids = {backend_pid(engine) for _ in range(5)}
    assert len(pids) == 1, "one pooled connection, reused"
    assert pings(statements) == 0
    time.sleep(THRESHOLD + 0.1)
    assert backend_pid(engine) in pids
    assert pings(statements) == 1, "idle past the threshold: pinged once on checkout"
    backend_pid(engine)
    assert pings(statements) == 1, "just checked in again: no ping"


def test_a_connection_that_died_while_idle_is_replaced_unseen(counted_engine):
    engine, statements = counted_engine
    first = backend_pid(engine)
    kill_backend(first)
    time.sleep(THRESHOLD + 0.1)
    second = backend_pid(engine)
    assert second != first
    assert pings(statements) == 1, "the failed ping is what found it dead; the new one is not pinged"


def test_the_ledger_insert_outlives_a_backend_killed_under_a_recently_used_connection(pg_db):
    database = Database(pg_db.url, pool_size=1, ping_after_idle=60)
    try:
        pid = backend_pid(database.engine)
        kill_backend(pid)
        entry_id = ledger.add_to_ledger(database, "SMpool1", "+5511900000001", "oi")
        assert entry_id is not None
        assert backend_pid(database.engine) != pid
        assert ledger.get_entry(database, entry_id).body == "oi"
        with pg_db.session() as session:
            stored = session.scalar(select(func.count()).where(InboundMessage.message_sid == "SMpool1"))
        assert stored == 1
    finally:
        database.dispose()
