"""Bounded session memory: agent.memory.trim_session on a real agno SqliteDb file."""
from __future__ import annotations

import pytest
from agno.db.sqlite import SqliteDb
from agno.models.message import Message
from agno.run.agent import RunOutput
from agno.session import AgentSession

from agent.memory import trim_session

ALICE, BOB = "+5511999990001", "+5511999990002"


@pytest.fixture
def session_db(tmp_path) -> SqliteDb:
    db = SqliteDb(db_file=str(tmp_path / "sessions.db"))
    yield db
    db.db_engine.dispose()


def add_runs(db: SqliteDb, session_id: str, count: int) -> None:
    db.upsert_session(AgentSession(session_id=session_id, agent_id="a", user_id=session_id, session_data={},
                                   created_at=1))
    for index in range(count):
        run = RunOutput(run_id=f"{session_id}-{index}", agent_id="a", session_id=session_id, user_id=session_id,
                        messages=[Message(role="user", content=f"pergunta {index}")])
        db.upsert_run(run, session_id=session_id, user_id=session_id, run_index=index)


def stored(db: SqliteDb, session_id: str) -> list[tuple[int, str]]:
    runs, _ = db.get_runs(session_id=session_id, deserialize=False)
    return [(run["run_index"], run["run_id"]) for run in runs]


@pytest.mark.parametrize("runs, most", [(4, 4), (9, 0)], ids=["within the bound", "0 keeps every run"])
def test_nothing_is_trimmed_within_the_bound_or_with_zero(session_db, runs, most):
    add_runs(session_db, ALICE, runs)
    assert trim_session(session_db, ALICE, most=most, keep=2) == 0
    assert len(stored(session_db, ALICE)) == runs


def test_past_the_bound_the_newest_stay_renumbered_in_order(session_db):
    add_runs(session_db, ALICE, 7)
    add_runs(session_db, BOB, 7)
    assert trim_session(session_db, ALICE, most=6, keep=3) == 4
    assert stored(session_db, ALICE) == [(0, f"{ALICE}-4"), (1, f"{ALICE}-5"), (2, f"{ALICE}-6")]
    assert len(stored(session_db, BOB)) == 7, "another sender's memory is untouched"
    session = session_db.get_session(ALICE, session_type=None)
    assert [run.messages[0].content for run in session.runs] == ["pergunta 4", "pergunta 5", "pergunta 6"]


def test_an_unknown_session_is_nothing_to_trim(session_db):
    add_runs(session_db, ALICE, 1)
    assert trim_session(session_db, BOB, most=2, keep=1) == 0
