"""A turn reads only the runs its history needs, on SQLite and on PostgreSQL, from any machine.

`open_session_db(..., history_runs=N)` attaches the newest N runs history can replay (agno's own
`runs_limit` filter) and files the turn's new run after the newest stored one; the memory API
still counts every run, the reads are index-served, and two `Services` on one PostgreSQL (two
worker machines) share one memory.
"""
from __future__ import annotations

import uuid

import pytest
from agno.models.message import Message
from agno.run.agent import RunOutput
from agno.run.base import RunStatus
from agno.session import AgentSession
from sqlalchemy import text

from agent.memory import clear_all, memory_status, session_messages, trim_session
from agent.runtime import Assistant
from agent.session_db import PreparedPostgresDb, PreparedSqliteDb
from agent.session_store import open_session_db
from agent.turn import Turn
from config import build_config
from services import build_services
from tests.fixtures.app import app_environment
from tests.integration.test_session_db import drop_schemas

ALICE, BOB = "+5511999990001", "+5511999990002"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A factory of prepared session stores (same file or schema each call) on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'sessions.db'}", "ai"
    else:
        url, schema = request.getfixturevalue("pg_url"), f"t_window_{uuid.uuid4().hex[:8]}"
    opened = []

    def make(history_runs: int | None = 3):
        opened.append(open_session_db(url, pool_size=2, history_runs=history_runs, schema=schema))
        return opened[-1]

    yield make
    for db in opened:
        db.db_engine.dispose()
    if request.param == "postgresql":
        drop_schemas(url, schema)


def run(user: str, number: int, status: RunStatus = RunStatus.completed, parent: str | None = None) -> RunOutput:
    return RunOutput(run_id=f"{user}-{number}", agent_id="a", session_id=user, user_id=user, status=status,
                     parent_run_id=parent, content=f"resposta {number}", created_at=1_700_000_000 + number,
                     messages=[Message(role="user", content=f"pergunta {number}"),
                               Message(role="assistant", content=f"resposta {number}")])


def fill(db, user: str, count: int, **special: dict) -> None:
    db.upsert_session(AgentSession(session_id=user, agent_id="a", user_id=user, session_data={}, created_at=1))
    for number in range(count):
        db.upsert_run(run(user, number, **special.get(str(number), {})), session_id=user, user_id=user,
                      run_index=number)


def test_a_turn_reads_the_newest_runs_history_replays_like_agnos_runs_limit(store):
    whole, windowed = store(None), store(3)
    fill(whole, ALICE, 12, **{"11": {"status": RunStatus.error}, "10": {"parent": f"{ALICE}-9"}})
    fill(whole, BOB, 2)
    read = windowed.get_session(ALICE, session_type=None)
    expected = whole.get_session(ALICE, runs_limit=3)
    assert [r.run_id for r in read.runs] == [r.run_id for r in expected.runs] == [f"{ALICE}-{n}" for n in (7, 8, 9)]
    assert [m.content for m in read.get_messages(last_n_runs=3)] == \
        [m.content for m in whole.get_session(ALICE).get_messages(last_n_runs=3)]
    assert windowed.runs_held(ALICE) == 12, "the session's true size, for the trim"
    assert [r.run_id for r in windowed.get_session(BOB).runs] == [f"{BOB}-0", f"{BOB}-1"]
    assert windowed.get_session("+5511000000000") is None


def test_after_a_windowed_read_the_new_run_is_filed_after_the_newest(store):
    db = store(3)
    fill(db, ALICE, 8)
    session = db.get_session(ALICE)
    new = run(ALICE, 8)
    session.upsert_run(new)
    db.upsert_run(new, session_id=ALICE, user_id=ALICE, run_index=3)  # agno: its position in the window
    db.upsert_run(new, session_id=ALICE, user_id=ALICE, run_index=3)  # an update keeps the index
    runs, total = db.get_runs(session_id=ALICE, deserialize=False)
    assert total == 9 and [(r["run_index"], r["run_id"]) for r in runs][-2:] == [(7, f"{ALICE}-7"), (8, f"{ALICE}-8")]
    assert [r.run_id for r in db.get_session(ALICE).runs] == [f"{ALICE}-{n}" for n in (6, 7, 8)]


def test_the_memory_api_still_sees_every_run(store):
    db = store(2)
    fill(db, ALICE, 7)
    db.get_session(ALICE)
    status = memory_status(db, ALICE)
    assert (status.runs, status.messages) == (7, 14)
    assert [m.content for m in session_messages(db, ALICE)][:2] == ["pergunta 0", "resposta 0"]
    assert trim_session(db, ALICE, most=6, keep=3) == 4
    assert [r.run_id for r in db.get_session(ALICE).runs] == [f"{ALICE}-5", f"{ALICE}-6"]
    assert db.runs_held(ALICE) == 3
    assert clear_all(db).runs == 3 and memory_status(db, ALICE) is None


def plan(db, sql: str) -> str:
    with db.db_engine.connect() as conn:
        if db.db_engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
            rows = conn.execute(text(f"EXPLAIN {sql}")).scalars().all()
        else:
            rows = [row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
    return "\n".join(rows)


def test_the_runs_of_a_session_are_read_in_order_through_an_index(store):
    db = store(3)
    fill(db, ALICE, 3)
    runs = db._get_table(table_type="runs")
    name = f"{runs.schema}.{runs.name}" if runs.schema else runs.name
    newest = plan(db, f"SELECT run_id FROM {name} WHERE session_id = 'x' "
                      "ORDER BY run_index DESC, created_at DESC, run_id DESC LIMIT 3")
    top = plan(db, f"SELECT max(run_index) FROM {name} WHERE session_id = 'x'")
    for found in (newest, top):  # ours, or agno's own (session_id, run_index) for the max
        assert f"{runs.name}_session_order" in found or "session_id_run_index" in found, found
        assert "TEMP B-TREE" not in found and "Sort" not in found and "Seq Scan" not in found, found
    assert f"{runs.name}_session_order" in newest, newest


def test_a_store_opened_before_the_index_existed_gets_it(store):
    db = store(3)
    runs = db._get_table(table_type="runs")
    with db.db_engine.begin() as conn:
        conn.execute(text(f'DROP INDEX {runs.schema + "." if runs.schema else ""}"{runs.name}_session_order"'))
    again = store(3)
    assert isinstance(again, (PreparedSqliteDb, PreparedPostgresDb))
    assert f"{runs.name}_session_order" in plan(again, f"SELECT run_id FROM "
                                                      f"{runs.schema + '.' if runs.schema else ''}{runs.name} "
                                                      "WHERE session_id = 'x' ORDER BY run_index, created_at, run_id")


@pytest.fixture
def machines(tmp_path, pg_db, pg_url, openai_server):
    """Two assistants, each with its own DATA_DIR (own SESSION_DB file), on one PostgreSQL database."""
    built = []
    for name in ("a", "b"):
        env = app_environment(tmp_path / name, openai_server=openai_server, DATABASE_URL=pg_url,
                              HISTORY_RUNS="2", WORKER_THREADS="2")
        built.append(build_services(build_config(env)))
    yield [Assistant(services) for services in built]
    for services in built:
        services.close()


def test_two_machines_share_one_memory_on_postgresql(machines, openai_server):
    first, second = machines
    assert isinstance(first.session_db, PreparedPostgresDb) and first.session_db.db_schema == "ai"
    for number in range(3):
        assert first.respond(Turn(sender=ALICE, text=f"mensagem {number} na máquina A")).texts
    reply = second.respond(Turn(sender=ALICE, text="e agora na máquina B?"))
    assert reply.texts == ["Eco: e agora na máquina B?"]
    sent = [m.get("content") for m in openai_server.chat_requests()[-1]["messages"]
            if m["role"] in ("user", "assistant")]
    assert sent == ["mensagem 1 na máquina A", "Eco: mensagem 1 na máquina A", "mensagem 2 na máquina A",
                    "Eco: mensagem 2 na máquina A", "e agora na máquina B?"], "the last HISTORY_RUNS=2 exchanges"
    assert memory_status(first.session_db, ALICE).runs == 4
    runs, _ = second.session_db.get_runs(session_id=ALICE, deserialize=False)
    assert [r["run_index"] for r in runs] == [0, 1, 2, 3]
    assert not (first.services.config.session_db.exists() or second.services.config.session_db.exists())
