"""`Database.statement()`: on PostgreSQL a single statement runs outside any transaction block (no
BEGIN, no COMMIT round trips) and its pooled connection comes back transactional; on SQLite it is
an ordinary transaction. Checked against the machine's PostgreSQL and a SQLite file."""
from __future__ import annotations

import pytest
from psycopg2.extensions import TRANSACTION_STATUS_IDLE, TRANSACTION_STATUS_INTRANS
from sqlalchemy import event, func, select

from storage import ledger
from storage.db import Database
from storage.models import InboundMessage

_LEDGER = InboundMessage.__table__


class Boom(Exception):
    pass


def _row(sid: str) -> dict:
    return {"message_sid": sid, "sender": "+5511900000001", "body": "oi", "media": [], "status": "queued",
            "attempts": 0}


def _stored(database: Database, sid: str) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).where(InboundMessage.message_sid == sid))


@pytest.fixture
def one_connection(pg_db):
    """A Database over the test PostgreSQL with a single pooled connection, so every block reuses it."""
    database = Database(pg_db.url, pool_size=1)
    yield database
    database.dispose()


def test_a_statement_is_committed_by_itself_before_the_block_ends(one_connection, pg_db):
    with one_connection.statement() as conn:
        conn.execute(_LEDGER.insert(), _row("SMst1"))
        assert conn.connection.dbapi_connection.get_transaction_status() == TRANSACTION_STATUS_IDLE, \
            "no transaction block is open after the statement"
        assert _stored(pg_db, "SMst1") == 1, "another connection already sees the row"


def test_a_transaction_on_the_same_pooled_connection_is_a_real_transaction_again(one_connection, pg_db):
    with one_connection.statement() as conn:
        conn.execute(_LEDGER.insert(), _row("SMst2"))
        first = conn.connection.dbapi_connection
    assert first.autocommit is False
    with pytest.raises(Boom):
        with one_connection.transaction() as conn:
            assert conn.connection.dbapi_connection is first, "the one pooled connection"
            conn.execute(_LEDGER.insert(), _row("SMst3"))
            assert first.get_transaction_status() == TRANSACTION_STATUS_INTRANS
            raise Boom
    assert _stored(pg_db, "SMst3") == 0, "rolled back"


def test_a_failed_statement_leaves_the_connection_usable_and_transactional(one_connection, pg_db):
    assert ledger.add_to_ledger(one_connection, "SMst4", "+5511900000001", "oi") is not None
    assert ledger.add_to_ledger(one_connection, "SMst4", "+5511900000001", "oi") is None, "duplicate sid"
    with pytest.raises(Boom):
        with one_connection.transaction() as conn:
            conn.execute(_LEDGER.insert(), _row("SMst5"))
            raise Boom
    assert _stored(pg_db, "SMst5") == 0
    assert ledger.add_to_ledger(one_connection, "SMst6", "+5511900000001", "oi") is not None


def test_an_error_raised_inside_the_block_still_returns_the_connection_transactional(one_connection):
    with pytest.raises(Boom):
        with one_connection.statement() as conn:
            dbapi_connection = conn.connection.dbapi_connection
            raise Boom
    assert dbapi_connection.autocommit is False


def test_on_sqlite_a_statement_block_is_an_ordinary_transaction(sqlite_db):
    with pytest.raises(Boom):
        with sqlite_db.statement() as conn:
            conn.execute(_LEDGER.insert(), _row("SMst7"))
            raise Boom
    assert _stored(sqlite_db, "SMst7") == 0
    with sqlite_db.statement() as conn:
        conn.execute(_LEDGER.insert(), _row("SMst8"))
    assert _stored(sqlite_db, "SMst8") == 1


@pytest.fixture
def traced_sqlite(sqlite_db):
    """(Database over the test SQLite file, list of every SQL its connections send to SQLite)."""
    sent: list[str] = []
    database = Database(sqlite_db.url, pool_size=1)
    event.listen(database.engine, "connect", lambda dbapi, _record: dbapi.set_trace_callback(sent.append))
    yield database, sent
    database.dispose()


def _synchronous(database: Database) -> int:
    with database.statement() as conn:
        return conn.exec_driver_sql("PRAGMA synchronous").scalar_one()


def test_the_ledger_insert_commits_with_sqlite_syncing_the_wal_and_other_writes_do_not(traced_sqlite):
    database, sent = traced_sqlite
    assert _synchronous(database) == 1, "NORMAL for ordinary writes"
    sent.clear()
    entry_id = ledger.add_to_ledger(database, "SMdurable0001", "+5511900000001", "oi")
    steps = [s for s in sent if s.startswith(("PRAGMA", "INSERT", "COMMIT"))]
    assert steps[0] == "PRAGMA synchronous=FULL" and steps[1].startswith("INSERT INTO inbound_messages")
    assert steps[2:] == ["COMMIT", "PRAGMA synchronous=NORMAL"], "synced at its commit, then back to NORMAL"
    assert _synchronous(database) == 1 and ledger.get_entry(database, entry_id).message_sid == "SMdurable0001"


def test_a_refused_durable_insert_leaves_its_connection_normal(traced_sqlite):
    database, _sent = traced_sqlite
    assert ledger.add_to_ledger(database, "SMdurable0002", "+5511900000001", "oi") is not None
    assert ledger.add_to_ledger(database, "SMdurable0002", "+5511900000001", "de novo") is None
    assert _synchronous(database) == 1


def test_postgresql_commits_durably_by_itself(one_connection):
    with one_connection.durable_statement() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
        conn.execute(_LEDGER.insert().values(**_row("SMdurable0003")))
    assert _stored(one_connection, "SMdurable0003") == 1
