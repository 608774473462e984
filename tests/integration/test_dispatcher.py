"""The dispatcher against a real database: per-sender order, parallel senders, bursts, retries."""
import threading
import time

from storage import ledger
from worker.dispatcher import Dispatcher


class Recorder:
    """A turn processor that records what it was given (and can fail on demand)."""

    def __init__(self, delay=0.0, fail_times=0):
        self.turns, self.delay, self.fail_times = [], delay, fail_times
        self.lock = threading.Lock()
        self.given_up = []

    def process(self, entries):
        with self.lock:
            if self.fail_times:
                self.fail_times -= 1
                raise RuntimeError("database blip")
        time.sleep(self.delay)
        with self.lock:
            self.turns.append(([e.body for e in entries], time.monotonic()))
        ledger.mark_done(DB[0], [e.id for e in entries])

    def give_up(self, entries, reason):
        self.given_up.append((entries, reason))


DB = [None]


def _dispatcher(db, recorder, **kw):
    DB[0] = db
    return Dispatcher(db, recorder.process, recorder.give_up, threads=4, retry_delay=0.01, **kw)


def test_one_sender_in_order_others_in_parallel(sqlite_db):
    recorder = Recorder(delay=0.2)
    dispatcher = _dispatcher(sqlite_db, recorder, burst_window=0.1)
    for n in range(3):
        dispatcher.enqueue(ledger.add_to_ledger(sqlite_db, f"A{n}", "+551", f"a{n}"), "+551")
    dispatcher.enqueue(ledger.add_to_ledger(sqlite_db, "B0", "+552", "b0"), "+552")
    assert dispatcher.wait_idle(5)
    order = [t[0][0] for t in recorder.turns]
    assert [b for b in order if b.startswith("a")] == ["a0", "a1", "a2"]
    assert order.index("b0") < order.index("a1")
    dispatcher.stop()


def test_a_burst_of_photos_is_one_turn_and_a_text_is_not_held(sqlite_db):
    recorder = Recorder()
    dispatcher = _dispatcher(sqlite_db, recorder, burst_window=0.5)
    media = [{"url": "u", "content_type": "image/jpeg"}]
    started = time.monotonic()
    for n in range(3):
        entry_id = ledger.add_to_ledger(sqlite_db, f"P{n}", "+551", "praia" if n == 0 else "", media)
        dispatcher.enqueue(entry_id, "+551", True)
        time.sleep(0.2)
    text_sent = time.monotonic()
    dispatcher.enqueue(ledger.add_to_ledger(sqlite_db, "T0", "+552", "só texto"), "+552")
    assert dispatcher.wait_idle(5)
    turns = {tuple(t[0]): t[1] for t in recorder.turns}
    assert turns[("praia", "", "")] - started >= 0.4 + 0.5
    assert turns[("só texto",)] - text_sent < 0.2
    dispatcher.stop()


def test_failures_are_retried_then_fail_visibly(pg_db):
    recorder = Recorder(fail_times=1)
    dispatcher = _dispatcher(pg_db, recorder, max_attempts=3)
    entry_id = ledger.add_to_ledger(pg_db, "R0", "+551", "retry me")
    dispatcher.enqueue(entry_id, "+551")
    assert dispatcher.wait_idle(5)
    assert recorder.turns and ledger.get_entry(pg_db, entry_id).status == "done"

    always = Recorder(fail_times=99)
    dispatcher2 = _dispatcher(pg_db, always, max_attempts=2)
    failing_id = ledger.add_to_ledger(pg_db, "R1", "+551", "never works")
    dispatcher2.enqueue(failing_id, "+551")
    assert dispatcher2.wait_idle(5)
    entry = ledger.get_entry(pg_db, failing_id)
    assert entry.status == "failed" and "database blip" in entry.error
    assert always.given_up and always.given_up[0][0][0].id == failing_id
    dispatcher.stop()
    dispatcher2.stop()
