"""The worker process's ledger feed on SQLite and PostgreSQL: new rows once, late commits at once,
no row twice while it runs, nudges that wake it, and a webhook side that never fails for want of one."""
from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event

from storage import ledger
from storage.models import InboundMessage
from tests.fixtures.app import wait_until
from worker.dispatcher import Dispatcher
from worker.feed import LedgerFeed
from worker.nudge import Nudge, Nudger, NudgeListener


class Recorder:
    """A turn processor that records each row id it ran and marks it done, optionally slowly."""

    def __init__(self, db, delay: float = 0.0) -> None:
        self.db, self.delay = db, delay
        self.ran: list[int] = []
        self.lock = threading.Lock()

    def process(self, entries) -> None:
        time.sleep(self.delay)
        with self.lock:
            self.ran.extend(e.id for e in entries)
        ledger.mark_done(self.db, [e.id for e in entries])

    def give_up(self, entries, reason) -> None:
        raise AssertionError(f"no turn should fail here: {reason}")


@pytest.fixture
def sock_dir():
    """A short folder for Unix sockets (their paths are limited to about 100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="nudge-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def worker(db):
    """A dispatcher over `db` with a recording processor; stopped after the test."""
    recorder = Recorder(db, delay=0.2)
    dispatcher = Dispatcher(db, recorder.process, recorder.give_up, threads=4, burst_window=0.1, retry_delay=0.01)
    yield recorder, dispatcher
    dispatcher.stop()


def add(db, n: int, sender: str = "+5511900000001") -> int:
    return ledger.add_to_ledger(db, f"SMfeed{n}", sender, f"mensagem {n}")


def test_new_rows_are_enqueued_once_however_often_the_feed_looks(db, worker):
    recorder, dispatcher = worker
    ids = [add(db, n, sender=f"+55119000000{n % 2}") for n in range(4)]
    feed = LedgerFeed(db, dispatcher)
    assert feed.feed_new() == 4 and feed.cursor == ids[-1]
    assert feed.feed_new() == 0 and feed.sweep() == 0  # all four are in flight
    assert dispatcher.wait_idle(10)
    assert sorted(recorder.ran) == ids
    assert feed.feed_new() == 0 and feed.sweep() == 0 and dispatcher.in_flight() == 0
    assert ledger.backlog(db).counts == {"done": 4}


def _hide_then_commit_late(db, feed) -> tuple[list[int], int]:
    """Rows 1-3 where 2 becomes visible only after the feed has read 1 and 3 (a late commit)."""
    first, late_id, third = add(db, 1), add(db, 2), add(db, 3)
    with db.session() as session:
        session.execute(InboundMessage.__table__.delete().where(InboundMessage.id == late_id))
    assert feed.feed_new() == 2 and feed.cursor == third
    with db.session() as session:
        session.add(InboundMessage(id=late_id, message_sid="SMlate", sender="+5511900000009", body="atrasada",
                                   media=[], status="queued", attempts=0))
    return [first, late_id, third], late_id


def test_a_lower_id_committed_after_the_cursor_passed_it_is_found_at_the_next_look(db, worker):
    recorder, dispatcher = worker
    feed = LedgerFeed(db, dispatcher)
    ids, late_id = _hide_then_commit_late(db, feed)
    assert feed.gaps.keys() == {late_id}
    assert feed.feed_new() == 1 and feed.gaps == {}
    assert dispatcher.wait_idle(10)
    assert sorted(recorder.ran) == ids


def test_a_row_later_than_its_gap_is_found_by_the_sweep(db, worker):
    recorder, dispatcher = worker
    feed = LedgerFeed(db, dispatcher, gap_seconds=0)
    ids, _late_id = _hide_then_commit_late(db, feed)
    assert feed.feed_new() == 0
    assert feed.sweep() == 1
    assert dispatcher.wait_idle(10)
    assert sorted(recorder.ran) == ids


def test_postgresql_ids_committed_out_of_order_are_not_lost(pg_db):
    recorder = Recorder(pg_db)
    dispatcher = Dispatcher(pg_db, recorder.process, recorder.give_up, threads=2, retry_delay=0.01)
    feed = LedgerFeed(pg_db, dispatcher)
    with pg_db.session() as slow:  # takes an id first and commits last, as a slow webhook would
        slow.add(InboundMessage(message_sid="SMslow", sender="+5511900000001", body="lenta", media=[],
                                status="queued", attempts=0))
        slow.flush()
        fast_id = add(pg_db, 1, sender="+5511900000002")
        assert feed.feed_new() == 1 and feed.cursor == fast_id and len(feed.gaps) == 1
    assert feed.feed_new() == 1 and feed.gaps == {}  # the late row's own nudge finds it at once
    assert feed.sweep() == 0
    assert dispatcher.wait_idle(10)
    assert len(recorder.ran) == 2 and ledger.backlog(pg_db).counts == {"done": 2}
    dispatcher.stop()


def test_an_id_in_flight_is_not_enqueued_twice(db, worker):
    recorder, dispatcher = worker
    entry_id = add(db, 1)
    assert dispatcher.enqueue(entry_id, "+5511900000001") is True
    assert dispatcher.enqueue(entry_id, "+5511900000001") is False
    assert wait_until(lambda: ledger.get_entry(db, entry_id).status == "processing", timeout=5)
    assert dispatcher.enqueue(entry_id, "+5511900000001") is False
    assert dispatcher.wait_idle(10)
    assert recorder.ran == [entry_id]
    assert dispatcher.enqueue(entry_id, "+5511900000001") is True  # a late duplicate: the ledger refuses it
    assert dispatcher.wait_idle(10) and recorder.ran == [entry_id]


def test_the_feed_recovers_leftovers_and_a_nudge_wakes_it_at_once(db, worker, sock_dir):
    recorder, dispatcher = worker
    queued, stuck = add(db, 1), add(db, 2, sender="+5511900000002")
    ledger.claim(db, [stuck])  # left "processing" by a crash
    path = sock_dir / "worker.sock"
    feed = LedgerFeed(db, dispatcher, NudgeListener(path), poll_interval=30, sweep_interval=60).start()
    try:
        assert wait_until(lambda: sorted(recorder.ran) == [queued, stuck], timeout=10)
        nudger = Nudger(path)
        new_id = add(db, 3, sender="+5511900000003")
        sent = time.monotonic()
        nudger.send()
        assert wait_until(lambda: new_id in recorder.ran, timeout=5)
        assert time.monotonic() - sent < recorder.delay + 1.0  # woken by the nudge, not the 30 s poll
        burst = [add(db, n, sender=f"+55119000001{n}") for n in range(10, 20)]
        for _ in burst:
            nudger.send()
        assert wait_until(lambda: set(burst) <= set(recorder.ran), timeout=5)
        assert sorted(recorder.ran) == sorted([queued, stuck, new_id, *burst])
    finally:
        feed.stop()
        feed.listener.close()
    assert not path.exists()


def test_without_a_listener_the_feed_still_finds_rows_by_polling(db, worker):
    recorder, dispatcher = worker
    feed = LedgerFeed(db, dispatcher, None, poll_interval=0.1).start()
    try:
        entry_id = add(db, 1)
        assert wait_until(lambda: recorder.ran == [entry_id], timeout=5)
    finally:
        feed.stop()


def test_a_nudge_with_nobody_listening_is_silently_dropped(sock_dir):
    Nudger(sock_dir / "missing.sock").send()  # ENOENT
    stale = sock_dir / "stale.sock"
    bound = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    bound.bind(str(stale))
    bound.close()  # the file stays, nobody reads it: ECONNREFUSED
    Nudger(stale).send()
    listener = NudgeListener(sock_dir / "full.sock")  # listening but never reading: the buffer fills
    nudger = Nudger(sock_dir / "full.sock")
    started = time.monotonic()
    for _ in range(5000):
        nudger.send()
    assert time.monotonic() - started < 2.0  # EAGAIN, never a blocked webhook
    assert listener.wait(0) == [] and listener.wait(0) is None  # one wake-up drains them all
    listener.close()


def test_a_nudge_names_its_row_and_malformed_datagrams_are_bare_wake_ups(sock_dir):
    listener = NudgeListener(sock_dir / "named.sock")
    nudger = Nudger(sock_dir / "named.sock")
    try:
        nudger.send(Nudge(41, "+5511900000041", False))
        nudger.send(Nudge(42, "+5511900000042", True))
        nudger.send()
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for junk in (b"43 +5511900000043", b"x +5511900000043 0", b"44 +5511900000044 2", b"\xff\xfe"):
            raw.sendto(junk, str(sock_dir / "named.sock"))
        raw.close()
        assert listener.wait(1) == [Nudge(41, "+5511900000041", False), Nudge(42, "+5511900000042", True)]
        assert listener.wait(0) is None
    finally:
        listener.close()


class LedgerReads:
    """Counts the statements that read the ledger's waiting rows (SQLAlchemy's cursor event)."""

    def __init__(self, db) -> None:
        self.engine, self.count = db.engine, 0
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "inbound_messages" in statement:
            self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def test_nudged_rows_right_above_the_cursor_are_taken_without_reading_the_ledger(db, worker):
    recorder, dispatcher = worker
    feed = LedgerFeed(db, dispatcher)
    first, second = add(db, 1), add(db, 2, sender="+5511900000002")
    reads = LedgerReads(db)
    try:
        assert feed.take_nudged([Nudge(second, "+5511900000002", False), Nudge(first, "+5511900000001", False)])
        assert reads.count == 0 and feed.cursor == second
        assert feed.take_nudged([Nudge(first, "+5511900000001", False)]), "a row the cursor passed: nothing to do"
        assert dispatcher.wait_idle(10) and sorted(recorder.ran) == [first, second]
        assert reads.count == 0
    finally:
        reads.close()


def test_a_nudge_past_an_unseen_id_or_with_gaps_outstanding_reads_the_ledger(db, worker):
    recorder, dispatcher = worker
    feed = LedgerFeed(db, dispatcher)
    first, second, third = add(db, 1), add(db, 2), add(db, 3)
    assert not feed.take_nudged([Nudge(second, "+5511900000001", False)]), "the first row's nudge has not come"
    assert feed.cursor == 0 and dispatcher.in_flight() == 0
    feed.feed_new()
    assert feed.cursor == third
    feed.gaps[third - 5] = time.monotonic()
    fourth = add(db, 4)
    assert not feed.take_nudged([Nudge(fourth, "+5511900000001", False)])
    assert feed.cursor == third
    assert dispatcher.wait_idle(10) and recorder.ran == [first, second, third]


def test_the_feed_answers_nudged_rows_in_order_through_the_socket(db, worker, sock_dir):
    recorder, dispatcher = worker
    path = sock_dir / "worker.sock"
    feed = LedgerFeed(db, dispatcher, NudgeListener(path), poll_interval=30, sweep_interval=60).start()
    try:
        nudger = Nudger(path)
        ids = []
        for n in range(1, 6):
            ids.append(add(db, n))
            nudger.send(Nudge(ids[-1], "+5511900000001", False))
        assert wait_until(lambda: recorder.ran == ids, timeout=10), recorder.ran
    finally:
        feed.stop()
        feed.listener.close()
