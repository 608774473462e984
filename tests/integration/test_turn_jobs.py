"""The PostgreSQL turn engine's rows and one sender's job, against the real PostgreSQL: a ledger row
and its sender's job in one statement, at most one waiting job per sender, the sweep for rows
without one, and SenderTurns answering the oldest turn (photo bursts, leftovers of a dead worker)."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage import ledger, turn_jobs
from worker.attempts import RUNNING_JOB, TurnRunner
from worker.gate import CpuGate
from worker.sender_turns import SenderTurns

ANA, BIA = "+5511900000001", "+5511900000002"
PHOTO = [{"url": "https://api.twilio.com/x", "content_type": "image/jpeg"}]


@pytest.fixture
def engine_db(pg_db):
    """The PostgreSQL database with procrastinate's job table emptied too."""
    with pg_db.engine.begin() as conn:
        conn.execute(text("TRUNCATE procrastinate_jobs RESTART IDENTITY CASCADE"))
    return pg_db


def _jobs(db) -> list[tuple[str, str, str, str]]:
    with db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(
            "SELECT task_name, lock, queueing_lock, status::text FROM procrastinate_jobs ORDER BY id"))]


def test_a_row_and_its_senders_job_are_written_together_one_waiting_job_per_sender(engine_db):
    first = ledger.add_to_ledger(engine_db, "SM1", ANA, "oi", with_job=True)
    ledger.add_to_ledger(engine_db, "SM2", ANA, "tudo bem?", with_job=True)
    ledger.add_to_ledger(engine_db, "SM3", BIA, "olá", with_job=True)
    assert ledger.get_entry(engine_db, first).body == "oi"  # sealed and opened like any ledger row
    assert _jobs(engine_db) == [("answer_sender", ANA, ANA, "todo"), ("answer_sender", BIA, BIA, "todo")]
    assert ledger.add_to_ledger(engine_db, "SM1", ANA, "oi", with_job=True) is None  # Twilio's retry
    ledger.add_to_ledger(engine_db, "SM4", BIA, "x", failed="kept for the record", with_job=True)
    assert len(_jobs(engine_db)) == 2, "a duplicate or a row kept failed adds no job"


def test_a_refused_row_leaves_no_job_behind(engine_db):
    with pytest.raises(IntegrityError):
        turn_jobs.insert_row_with_job(engine_db, {"message_sid": None, "sender": ANA, "body": "", "media": [],
                                                  "profile_name": None, "status": "queued", "attempts": 0,
                                                  "error": None})
    assert _jobs(engine_db) == []


def test_the_sweep_finds_senders_whose_waiting_rows_have_no_job(engine_db):
    ledger.add_to_ledger(engine_db, "SM1", ANA, "sem job")  # as a worker from before the engine left it
    ledger.add_to_ledger(engine_db, "SM2", BIA, "com job", with_job=True)
    assert turn_jobs.senders_without_job(engine_db, timedelta(seconds=10)) == []  # too recent yet
    assert turn_jobs.senders_without_job(engine_db, timedelta(seconds=-1)) == [ANA]
    turn_jobs.defer_turn(engine_db, ANA)
    turn_jobs.defer_turn(engine_db, ANA)
    assert turn_jobs.senders_without_job(engine_db, timedelta(seconds=-1)) == []
    counts = turn_jobs.job_counts(engine_db)
    assert counts.total("todo") == 2 and counts.by_queue == {"turns": {"todo": 2}}


class Turns:
    """What a turn processor would do, recorded: the bodies of each turn, rows marked done."""

    def __init__(self, db) -> None:
        self.db, self.turns = db, []

    def process(self, entries) -> None:
        ledger.mark_sending(self.db, [e.id for e in entries], RUNNING_JOB.get())  # as worker/turns.py does
        self.turns.append([e.body for e in entries])
        ledger.mark_done(self.db, [e.id for e in entries])

    def give_up(self, entries, reason) -> None:
        self.turns.append(("gave up", reason))


def _sender_turns(db, burst_window: float = 0.3) -> tuple[SenderTurns, Turns]:
    turns = Turns(db)
    gate = CpuGate(4)
    runner = TurnRunner(db, turns.process, turns.give_up, gate, max_attempts=2, retry_delay=0.01)
    return SenderTurns(db, runner, gate, burst_window), turns


def test_a_job_answers_the_senders_turns_in_order_then_hands_a_backlog_to_their_next_job(engine_db):
    from worker.sender_turns import MAX_TURNS_PER_JOB

    for n in range(MAX_TURNS_PER_JOB + 2):
        ledger.add_to_ledger(engine_db, f"SM{n}", ANA, f"m{n}", with_job=True)
    with engine_db.engine.begin() as conn:  # the waiting job is now running, as the engine would have it
        conn.execute(text("UPDATE procrastinate_jobs SET status = 'doing'"))
    sender_turns, turns = _sender_turns(engine_db)
    assert sender_turns.answer(ANA) == MAX_TURNS_PER_JOB
    assert turns.turns == [[f"m{n}"] for n in range(MAX_TURNS_PER_JOB)]
    assert [status for *_, status in _jobs(engine_db)] == ["doing", "todo"], "the rest wait for the sender's lock"
    assert sender_turns.answer(ANA) == 2 and sender_turns.answer(ANA) == 0
    assert turns.turns[-2:] == [[f"m{MAX_TURNS_PER_JOB}"], [f"m{MAX_TURNS_PER_JOB + 1}"]]


def test_photos_sent_together_are_one_turn_and_a_text_after_them_is_the_next(engine_db):
    sender_turns, turns = _sender_turns(engine_db, burst_window=0.5)
    ledger.add_to_ledger(engine_db, "SMp0", ANA, "praia", PHOTO, with_job=True)

    def more_photos() -> None:
        for n in (1, 2):
            time.sleep(0.3)
            ledger.add_to_ledger(engine_db, f"SMp{n}", ANA, "", PHOTO, with_job=True)
        ledger.add_to_ledger(engine_db, "SMt", ANA, "e agora?", with_job=True)

    arriving = threading.Thread(target=more_photos)
    arriving.start()
    started = time.monotonic()
    assert sender_turns.answer(ANA) == 2  # the burst, then the text that came after it
    arriving.join()
    assert turns.turns == [["praia", "", ""], ["e agora?"]] and time.monotonic() - started >= 1.1


def test_rows_a_dead_worker_left_are_answered_again_unless_their_reply_was_leaving(engine_db):
    taken = ledger.add_to_ledger(engine_db, "SM1", ANA, "no meio do modelo")
    leaving = ledger.add_to_ledger(engine_db, "SM0", BIA, "no meio do envio")
    ledger.claim(engine_db, [taken, leaving])
    ledger.mark_sending(engine_db, [leaving])
    sender_turns, turns = _sender_turns(engine_db)
    assert sender_turns.answer(ANA) == 1 and turns.turns == [["no meio do modelo"]]
    assert sender_turns.answer(BIA) == 0, "never sent twice"
    assert (ledger.get_entry(engine_db, leaving).status, ledger.get_entry(engine_db, leaving).error) == \
        ("failed", ledger.INTERRUPTED_WHILE_SENDING)


def _stalled_worker(db) -> int:
    """A procrastinate worker row whose heartbeat stopped a minute ago (its process was killed)."""
    with db.engine.begin() as conn:
        return conn.execute(text("INSERT INTO procrastinate_workers (last_heartbeat) "
                                 "VALUES (now() - interval '1 minute') RETURNING id")).scalar_one()


def _run_doing(db, sender: str, worker_id: int) -> None:
    """The sender's waiting job, taken by `worker_id` (status doing), as a fetch would leave it."""
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :worker "
                          "WHERE queueing_lock = :sender AND status = 'todo'"), {"worker": worker_id, "sender": sender})


def test_a_dead_workers_turns_are_taken_over_ahead_of_the_backlog(engine_db):
    import asyncio

    import procrastinate

    from worker.engine import TAKEOVER_PRIORITY, libpq_url, take_over_stalled

    dead = _stalled_worker(engine_db)
    for sender in (ANA, BIA):  # both were being answered by the worker that died
        ledger.add_to_ledger(engine_db, f"SM-{sender}", sender, "oi")
        turn_jobs.defer_turn(engine_db, sender)
        _run_doing(engine_db, sender, dead)
    backlog = [f"+55119100000{index:02d}" for index in range(20)]
    for sender in backlog:  # others wrote meanwhile
        turn_jobs.defer_turn(engine_db, sender)
    turn_jobs.defer_turn(engine_db, BIA)  # then Bia again: her next job waits, behind the backlog by its id

    async def take_over_then_fetch() -> tuple[int, list[str]]:
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_url(engine_db.url)))
        async with app.open_async():
            retried = await take_over_stalled(app.job_manager, engine_db, seconds=5)
            live = await app.job_manager.register_worker()
            fetched = [await app.job_manager.fetch_job(queues=[turn_jobs.TURN_QUEUE], worker_id=live)
                       for _ in range(2)]
            return retried, sorted(job.lock for job in fetched)

    retried, first_two = asyncio.run(take_over_then_fetch())
    assert retried == 1  # Ana's job went back; Bia's stalled one was closed and her waiting one moved up
    assert first_two == sorted([ANA, BIA])
    with engine_db.engine.connect() as conn:
        stalled = conn.execute(text("SELECT status::text FROM procrastinate_jobs WHERE worker_id = :dead"),
                               {"dead": dead}).scalars().all()
        priorities = dict(conn.execute(text(
            "SELECT lock, max(priority) FROM procrastinate_jobs GROUP BY lock")).all())
    assert stalled == ["failed"]
    assert priorities[ANA] == priorities[BIA] == TAKEOVER_PRIORITY
    assert {priorities[sender] for sender in backlog} == {0}


def _backend_state(db, pid: int) -> str:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar_one()


def test_the_engines_connections_hold_no_transaction_between_its_calls(engine_db):
    """A worker that stops after one of procrastinate's calls (SIGSTOP, a machine lost) must leave no
    transaction open: its job's row lock would hold the takeover of that job for as long as the
    connection lives (seen in tests/e2e/test_engine_workers.py: a takeover waiting 10 s and more)."""
    import asyncio

    from worker.engine import engine_connector

    ledger.add_to_ledger(engine_db, "SM1", ANA, "oi", with_job=True)

    async def state_after_a_call() -> str:
        connector = engine_connector(engine_db.url)
        await connector.open_async()
        try:
            async with connector.pool.connection() as conn:
                await conn.execute("SELECT id FROM procrastinate_jobs WHERE lock = %s FOR UPDATE", [ANA])
                return await asyncio.to_thread(_backend_state, engine_db, conn.info.backend_pid)
        finally:
            await connector.close_async()

    assert asyncio.run(state_after_a_call()) == "idle"  # not "idle in transaction", holding the row


def test_a_stalled_job_finished_by_its_returning_worker_is_left_alone(engine_db):
    """Between the chore's list of stalled jobs and its retry, the silent worker may come back and
    finish its job: the chore leaves that one and still takes over the others."""
    import asyncio

    import procrastinate
    from procrastinate.manager import JobManager

    from worker.engine import libpq_url, take_over_stalled

    dead = _stalled_worker(engine_db)
    for sender in (ANA, BIA):
        turn_jobs.defer_turn(engine_db, sender)
        _run_doing(engine_db, sender, dead)

    class WorkerComesBack(JobManager):
        async def get_stalled_jobs(self, *args, **kwargs):
            stalled = sorted(await super().get_stalled_jobs(*args, **kwargs), key=lambda job: job.lock != ANA)
            await self.finish_job_by_id_async(stalled[0].id, procrastinate.jobs.Status.SUCCEEDED, delete_job=True)
            return stalled

    async def take_over() -> int:
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_url(engine_db.url)))
        async with app.open_async():
            return await take_over_stalled(WorkerComesBack(app.connector), engine_db, seconds=5)

    assert asyncio.run(take_over()) == 1
    assert [(lock, status) for _task, lock, _queueing, status in _jobs(engine_db)] == [(BIA, "todo")]


def test_a_job_taken_over_from_its_silent_worker_answers_no_further_turn(engine_db):
    """The worker was paused (SIGSTOP, a VM frozen) long enough for its job to be taken over; when it
    runs again it must not go on with the sender's next turns beside the worker that now has them
    (tests/e2e/test_engine_workers.py saw such a worker answer a turn the other was answering: a
    reply twice)."""
    ledger.add_to_ledger(engine_db, "SM1", ANA, "primeira", with_job=True)
    second = ledger.add_to_ledger(engine_db, "SM2", ANA, "segunda")
    with engine_db.engine.begin() as conn:
        job = conn.execute(text("UPDATE procrastinate_jobs SET status = 'doing' RETURNING id")).scalar_one()

    class TakenOverDuringTheFirstTurn(Turns):
        def process(self, entries) -> None:
            super().process(entries)
            with engine_db.engine.begin() as conn:  # meanwhile the chore on another worker failed this job
                conn.execute(text("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = :job"), {"job": job})

    turns, gate = TakenOverDuringTheFirstTurn(engine_db), CpuGate(4)
    runner = TurnRunner(engine_db, turns.process, turns.give_up, gate, max_attempts=2, retry_delay=0.01)
    assert SenderTurns(engine_db, runner, gate, 0.3).answer(ANA, job) == 1
    assert turns.turns == [["primeira"]]
    assert ledger.get_entry(engine_db, second).status == "queued", "left to the worker that has the sender now"


def test_a_turn_under_way_when_its_job_is_taken_over_sends_nothing(engine_db):
    """Paused mid-turn (after the claim, before the reply's `sending` stamp) until its job was taken
    over: the stamp is fenced by the job, so the turn stops there and leaves the rows to the worker
    that has the sender now, unmarked and unanswered."""
    entry = ledger.add_to_ledger(engine_db, "SM1", ANA, "oi", with_job=True)
    with engine_db.engine.begin() as conn:
        job = conn.execute(text("UPDATE procrastinate_jobs SET status = 'doing' RETURNING id")).scalar_one()

    class TakenOverBeforeTheSend(Turns):
        def process(self, entries) -> None:
            with engine_db.engine.begin() as conn:
                conn.execute(text("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = :job"), {"job": job})
            super().process(entries)

    turns, gate = TakenOverBeforeTheSend(engine_db), CpuGate(4)
    runner = TurnRunner(engine_db, turns.process, turns.give_up, gate, max_attempts=2, retry_delay=0.01)
    SenderTurns(engine_db, runner, gate, 0.3).answer(ANA, job)
    assert turns.turns == [], "nothing sent, nothing given up"
    assert ledger.get_entry(engine_db, entry).status == "processing", "the other worker's to answer"
    with pytest.raises(ledger.SenderTakenOver):
        ledger.mark_sending(engine_db, [entry], job)
    ledger.mark_sending(engine_db, [entry])  # unfenced, as on SQLite
    assert ledger.get_entry(engine_db, entry).status == ledger.SENDING
