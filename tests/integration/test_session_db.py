"""agent.session_db's prepared storage writes exactly the rows agno's own SqliteDb / PostgresDb writes.

The same sequence of session and run upserts goes to a stock `SqliteDb` file and to a
`PreparedSqliteDb` file, and to a stock `PostgresDb` and a `PreparedPostgresDb` (each in a schema of
its own on the real PostgreSQL); the stored rows (timestamps aside) and the returned sessions must match,
including the cases agno's statements handle specially: a run updated after insert keeps its
run_index, a session owned by another user is not overwritten, a run without an index is filed
after the others.
"""
from __future__ import annotations

import uuid

import pytest
from agno.db.postgres import PostgresDb
from agno.db.sqlite import SqliteDb
from agno.models.message import Message
from agno.run.agent import RunOutput
from agno.run.base import RunStatus
from agno.session import AgentSession
from sqlalchemy import select, text

from agent.session_db import PreparedPostgresDb, PreparedSqliteDb
from agent.session_store import open_session_db

ALICE, BOB = "+5511999990001", "+5511999990002"
MOVING = {"created_at", "updated_at"}


def drop_schemas(url: str, *schemas: str) -> None:
    """Drop the test's own PostgreSQL schemas (agno's tables in them)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    """(stock agno class, prepared class, kwargs of a fresh store by name) on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield SqliteDb, PreparedSqliteDb, lambda name: {"db_file": str(tmp_path / f"{name}.db")}
        return
    url, schemas = request.getfixturevalue("pg_url"), []

    def fresh(name: str) -> dict:
        schemas.append(f"t_{name}_{uuid.uuid4().hex[:8]}")
        return {"db_url": url, "db_schema": schemas[-1]}

    yield PostgresDb, PreparedPostgresDb, fresh
    drop_schemas(url, *schemas)


@pytest.fixture
def pair(backend):
    stock_class, prepared_class, fresh = backend
    stock, prepared = stock_class(**fresh("stock")), prepared_class(**fresh("prepared"))
    yield stock, prepared
    for db in (stock, prepared):
        db.db_engine.dispose()


def rows(db: SqliteDb, table_type: str) -> list[dict]:
    table = db._get_table(table_type=table_type)
    key = table.c.session_id if table_type == "sessions" else table.c.run_id
    with db.db_engine.connect() as conn:
        found = [dict(row._mapping) for row in conn.execute(select(table).order_by(key))]
    for row in found:
        for name in MOVING:
            row.pop(name, None)
        if isinstance(row.get("run_data"), dict):
            row["run_data"] = {k: v for k, v in row["run_data"].items() if k not in MOVING}
    return found


def session(user: str, owner: str | None = None, **data) -> AgentSession:
    return AgentSession(session_id=user, agent_id="assistente", user_id=owner or user,
                        session_data={"session_state": {}, **data}, agent_data={"name": "Assistente"},
                        metadata={"canal": "whatsapp"}, created_at=1_700_000_000)


def run(user: str, number: int, status: RunStatus = RunStatus.completed) -> RunOutput:
    return RunOutput(run_id=f"{user}-{number}", agent_id="assistente", session_id=user, user_id=user,
                     status=status, content=f"resposta {number}", created_at=1_700_000_000 + number,
                     messages=[Message(role="user", content=f"pergunta {number}"),
                               Message(role="assistant", content=f"resposta {number}")])


def both(pair, method: str, *args, **kwargs) -> list:
    return [getattr(db, method)(*args, **kwargs) for db in pair]


def test_session_and_run_rows_equal_agnos_own(pair):
    for user in (ALICE, BOB):
        both(pair, "upsert_session", session(user))
        for number in range(3):
            both(pair, "upsert_run", run(user, number), session_id=user, user_id=user, run_index=number)
    both(pair, "upsert_session", session(ALICE, resumo="novo estado"))
    stock, prepared = pair
    assert rows(prepared, "sessions") == rows(stock, "sessions")
    assert rows(prepared, "runs") == rows(stock, "runs")
    assert len(rows(prepared, "runs")) == 6


def test_an_updated_run_keeps_its_index_and_takes_the_new_status(pair):
    both(pair, "upsert_session", session(ALICE))
    both(pair, "upsert_run", run(ALICE, 0, RunStatus.running), session_id=ALICE, user_id=ALICE, run_index=4)
    both(pair, "upsert_run", run(ALICE, 0), session_id=ALICE, user_id=ALICE, run_index=9)
    stock, prepared = pair
    [stored] = rows(prepared, "runs")
    assert (stored["run_index"], stored["status"]) == (4, RunStatus.completed.value)
    assert rows(prepared, "runs") == rows(stock, "runs")


def test_a_run_without_an_index_is_filed_after_the_others(pair):
    both(pair, "upsert_session", session(ALICE))
    both(pair, "upsert_run", run(ALICE, 0), session_id=ALICE, user_id=ALICE, run_index=0)
    both(pair, "upsert_run", run(ALICE, 1), session_id=ALICE, user_id=ALICE)
    stock, prepared = pair
    assert [r["run_index"] for r in rows(prepared, "runs")] == [0, 1]
    assert rows(prepared, "runs") == rows(stock, "runs")


def test_another_owners_session_is_not_overwritten(pair):
    both(pair, "upsert_session", session(ALICE))
    stock_result, prepared_result = both(pair, "upsert_session", session(ALICE, owner=BOB, intruso=True))
    assert stock_result is None and prepared_result is None
    stock, prepared = pair
    assert rows(prepared, "sessions") == rows(stock, "sessions")
    assert "intruso" not in rows(prepared, "sessions")[0]["session_data"]


def test_the_returned_session_matches_agnos(pair):
    both(pair, "upsert_session", session(ALICE))
    stock_session, prepared_session = both(pair, "upsert_session", session(ALICE, passo=2))
    assert isinstance(prepared_session, AgentSession)
    assert prepared_session.session_data == stock_session.session_data == {"session_state": {}, "passo": 2}
    assert (prepared_session.agent_data, prepared_session.metadata) == (stock_session.agent_data,
                                                                       stock_session.metadata)
    stock_raw, prepared_raw = both(pair, "upsert_session", session(ALICE), deserialize=False)
    assert {k: v for k, v in prepared_raw.items() if k not in MOVING} == \
        {k: v for k, v in stock_raw.items() if k not in MOVING}


def test_agno_reads_back_what_was_written(pair):
    _, prepared = pair
    prepared.upsert_session(session(ALICE))
    for number in range(3):
        prepared.upsert_run(run(ALICE, number), session_id=ALICE, user_id=ALICE, run_index=number)
    loaded = prepared.get_session(ALICE, session_type=None)
    assert [r.content for r in loaded.runs] == ["resposta 0", "resposta 1", "resposta 2"]


def test_no_tool_asks_for_approval_so_the_assistant_skips_the_approval_update(backend):
    from agno.tools.function import Function

    from tools import all_tools

    for tool in all_tools():
        function = Function.from_callable(tool)
        assert not function.requires_confirmation and function.approval_type is None, function.name
    _, prepared_class, fresh = backend
    assert prepared_class(**fresh("approvals"), approvals=False).update_approval_run_status(
        "run", RunStatus.completed) == 0


def loaded(db: SqliteDb, *args, **kwargs):
    found = db.get_session(*args, **kwargs)
    if found is None:
        return None
    return (found.session_id, found.user_id, found.session_data, found.agent_data, found.metadata,
            [(r.run_id, r.content, r.status) for r in found.runs or []])


def test_the_session_read_equals_agnos_own(pair):
    from agno.db.base import SessionType

    for user in (ALICE, BOB):
        both(pair, "upsert_session", session(user))
        for number in (2, 0, 1):
            both(pair, "upsert_run", run(user, number), session_id=user, user_id=user, run_index=number)
    stock, prepared = pair
    for args, kwargs in [((ALICE,), {"session_type": SessionType.AGENT, "user_id": ALICE}),
                         ((ALICE,), {"session_type": None}), ((BOB,), {"user_id": ALICE}),
                         (("+5511000000000",), {}), ((ALICE,), {"runs_limit": 2})]:
        assert loaded(prepared, *args, **kwargs) == loaded(stock, *args, **kwargs), (args, kwargs)
    assert [r[1] for r in loaded(prepared, ALICE)[-1]] == ["resposta 0", "resposta 1", "resposta 2"]
    assert loaded(prepared, BOB, user_id=ALICE) is None


def test_a_run_changed_after_a_read_is_read_anew(pair):
    _, prepared = pair
    prepared.upsert_session(session(ALICE))
    prepared.upsert_run(run(ALICE, 0, RunStatus.running), session_id=ALICE, user_id=ALICE, run_index=0)
    assert loaded(prepared, ALICE)[-1][0][2] == RunStatus.running
    prepared.upsert_run(run(ALICE, 0), session_id=ALICE, user_id=ALICE, run_index=0)
    assert loaded(prepared, ALICE)[-1][0][2] == RunStatus.completed
