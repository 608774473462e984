"""The PostgreSQL turn engine as operators run it: gunicorn web processes and several `python -m
worker` processes (real OS processes, each with its own DATA_DIR, i.e. its own machine) on one
fresh PostgreSQL database, through signed webhooks, with the scripted model and Twilio servers."""
from __future__ import annotations

import re
import signal
import time
from collections import defaultdict

import pytest
from sqlalchemy import text

from storage import ledger
from storage.db import Database
from tests.fixtures.app import wait_until
from tests.fixtures.cluster import post_message, send_rounds

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
MESSAGE = re.compile(r"^Eco: msg (\d+) de (\+\d+)$")


def _senders(count: int) -> list[str]:
    return [f"+55119{index:08d}" for index in range(count)]


def _replies_by_sender(twilio_server) -> dict[str, list[int]]:
    """The numbers of the messages each sender was answered for, in the order Twilio got them."""
    replies: dict[str, list[int]] = defaultdict(list)
    for message in sorted(twilio_server.messages(), key=lambda m: m.monotonic):
        found = MESSAGE.match(message.body)
        assert found, f"unexpected reply {message.body!r}"
        replies[found.group(2)].append(int(found.group(1)))
    return replies


def _statuses(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return dict(conn.execute(text("SELECT status, count(*) FROM inbound_messages GROUP BY status")).all())


def _wait_all_finished(db: Database, total: int, timeout: float) -> dict[str, int]:
    wait_until(lambda: sum(v for k, v in _statuses(db).items() if k in ("done", "failed")) >= total,
               timeout=timeout, interval=0.5)
    return _statuses(db)


def _start_workers(cluster, count: int, **extra: str):
    workers = [cluster.worker(f"worker{i}", **extra).start() for i in range(1, count + 1)]
    assert wait_until(lambda: all("started on the turn engine" in w.log() for w in workers), timeout=60), \
        "\n".join(w.log()[-2000:] for w in workers)
    return workers


def test_three_workers_answer_every_message_once_and_in_order(cluster, twilio_server, openai_server):
    openai_server.latency, openai_server.jitter = 0.5, 1.5
    web = cluster.web("web").start()
    cluster.wait_up(web)
    _start_workers(cluster, 3)
    senders = _senders(200)
    statuses = send_rounds([web.env["URL"]], senders, rounds=5)
    assert statuses == [200] * 1000
    db = Database(cluster.database_url, pool_size=1)
    final = _wait_all_finished(db, 1000, timeout=240)
    assert final == {"done": 1000}, final
    replies = _replies_by_sender(twilio_server)
    assert {sender: replies[sender] for sender in senders} == {sender: [1, 2, 3, 4, 5] for sender in senders}
    assert len(twilio_server.messages()) == 1000  # exactly once each


def test_a_killed_and_a_stopped_worker_lose_nothing_and_send_nothing_twice(cluster, twilio_server, openai_server):
    openai_server.latency, openai_server.jitter = 0.5, 1.5
    web = cluster.web("web").start()
    cluster.wait_up(web)
    killed, stopped, survivor = _start_workers(cluster, 3)
    db = Database(cluster.database_url, pool_size=1)
    senders = _senders(200)
    urls = [web.env["URL"]]
    statuses = send_rounds(urls, senders, rounds=2)
    assert wait_until(lambda: _statuses(db).get("done", 0) >= 150, timeout=60)
    killed.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    stopped.signal(signal.SIGTERM)
    with db.engine.connect() as conn:
        held = conn.execute(text("SELECT id FROM inbound_messages WHERE status = 'processing'")).scalars().all()
    statuses += send_rounds(urls, senders, rounds=3, first=3)
    assert statuses == [200] * 1000
    assert stopped.proc.wait(60) == 0, stopped.log()[-3000:]  # its running turns finished, then it left
    assert "finishing the turns under way" in stopped.log()
    assert wait_until(lambda: all(ledger.get_entry(db, row).status in ("done", "failed") for row in held),
                      timeout=60, interval=0.25)
    took_over = time.monotonic() - killed_at
    assert took_over < 30, f"the killed worker's turns were answered {took_over:.1f} s after the kill"
    final = _wait_all_finished(db, 1000, timeout=240)
    with db.engine.connect() as conn:
        failed = conn.execute(text("SELECT error FROM inbound_messages WHERE status = 'failed'")).scalars().all()
    # A turn killed between its first reply part and its ledger mark is failed, never sent twice.
    assert all(reason == ledger.INTERRUPTED_WHILE_SENDING for reason in failed), failed
    assert final.get("done", 0) + len(failed) == 1000 and len(failed) <= 32, final
    replies = _replies_by_sender(twilio_server)
    bodies = [m.body for m in twilio_server.messages()]
    assert len(bodies) == len(set(bodies)), "a reply went out twice"
    for sender in senders:
        assert replies[sender] == sorted(replies[sender]), f"{sender} answered out of order: {replies[sender]}"
    assert sum(len(numbers) for numbers in replies.values()) >= 1000 - len(failed)
    assert survivor.alive()


def test_web_and_worker_processes_started_at_once_on_an_empty_database_all_come_up(cluster, twilio_server):
    webs = [cluster.web(f"web{i}") for i in (1, 2)]
    workers = [cluster.worker(f"worker{i}") for i in (1, 2, 3)]
    for machine in webs + workers:  # together, on a database with no schema yet
        machine.start()
    for web in webs:
        cluster.wait_up(web)
    assert wait_until(lambda: all("started on the turn engine" in w.log() for w in workers), timeout=60), \
        "\n".join(w.log()[-3000:] for w in workers)
    assert all(machine.alive() for machine in webs + workers)
    for index, web in enumerate(webs):
        assert post_message(web.env["URL"], f"+551198765432{index}", "oi")[0] == 200
    assert len(twilio_server.wait_for(2, timeout=30)) == 2

    db = Database(cluster.database_url, pool_size=1)
    with db.engine.begin() as conn:  # as if newer code had migrated the database further
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    older = cluster.worker("older-worker").start()
    assert older.proc.wait(60) == 3
    assert "newer than this code knows" in older.log()


def test_a_senders_turns_alternate_between_two_machines_and_memory_follows(cluster, twilio_server, openai_server):
    web = cluster.web("web").start()
    cluster.wait_up(web)
    first, second = _start_workers(cluster, 2)
    sender = "+5511912345678"
    for number in range(1, 9):
        idle, busy = (second, first) if number % 2 else (first, second)
        idle.signal(signal.SIGSTOP)  # this machine is away: the other must take the turn
        try:
            assert post_message(web.env["URL"], sender, f"msg {number} de {sender}")[0] == 200
            if len(twilio_server.messages()) < number and not wait_until(lambda: len(twilio_server.messages()) >= number, timeout=30):
                raise AssertionError(f"message {number} unanswered\n" + first.log()[-2500:] + "\n-----\n" + second.log()[-2500:])
        finally:
            idle.signal(signal.SIGCONT)
    assert _replies_by_sender(twilio_server)[sender] == list(range(1, 9))
    for request in openai_server.chat_requests()[1:]:
        users = [m["content"] if isinstance(m["content"], str) else str(m["content"])
                 for m in request["messages"] if m.get("role") == "user"]
        numbers = [int(n) for text_ in users for n in re.findall(r"msg (\d+) de", text_)]
        current = numbers[-1]
        assert numbers == list(range(max(1, current - 5), current + 1)), numbers  # the last five exchanges


def test_postgresql_away_for_five_seconds_loses_nothing(cluster, twilio_server, openai_server, tcp_proxy_to_pg):
    proxy, through_proxy = tcp_proxy_to_pg(cluster)
    openai_server.latency, openai_server.jitter = 0.2, 0.5
    web = cluster.web("web", DATABASE_URL=through_proxy).start()
    cluster.wait_up(web)
    _start_workers(cluster, 2, DATABASE_URL=through_proxy)
    db = Database(cluster.database_url, pool_size=1)
    senders = _senders(50)
    statuses = send_rounds([web.env["URL"]], senders, rounds=2)
    proxy.pause()
    try:
        statuses += send_rounds([web.env["URL"]], senders, rounds=2, first=3)  # kept in the web's spool
        time.sleep(5.0)
    finally:
        proxy.resume()
    statuses += send_rounds([web.env["URL"]], senders, rounds=1, first=5)
    assert statuses == [200] * 250
    final = _wait_all_finished(db, 250, timeout=180)
    with db.engine.connect() as conn:
        failed = conn.execute(text("SELECT error FROM inbound_messages WHERE status = 'failed'")).scalars().all()
    assert final.get("done", 0) + len(failed) == 250, final
    assert all(reason == ledger.INTERRUPTED_WHILE_SENDING for reason in failed), failed
    replies = _replies_by_sender(twilio_server)
    for sender in senders:
        assert replies[sender] == sorted(replies[sender]), f"{sender} answered out of order: {replies[sender]}"
    assert len(twilio_server.messages()) >= 250 - len(failed)


@pytest.mark.parametrize("away_for", [0.0, 3.0], ids=["just-gone", "gone-a-while"])
def test_a_worker_told_to_stop_while_postgresql_is_away_leaves_within_seconds(cluster, tcp_proxy_to_pg, away_for):
    proxy, through_proxy = tcp_proxy_to_pg(cluster)
    (worker,) = _start_workers(cluster, 1, DATABASE_URL=through_proxy)
    proxy.stop()  # PostgreSQL gone for this machine: connections cut, new ones refused
    time.sleep(away_for)
    told_at = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.proc.wait(30) == 0, worker.log()[-3000:]
    took = time.monotonic() - told_at
    # Each wait for a connection ends after CONNECTION_WAIT_SECONDS (5 s); it was psycopg_pool's 30 s,
    # twice (the fetch, then the unregistration), or the pool's 30 s first opening.
    assert took < 12, f"the worker took {took:.1f} s to leave"


def test_a_worker_with_another_secret_key_fails_the_message_visibly_and_never_answers_it(
        cluster, twilio_server, openai_server):
    import subprocess
    import sys

    import requests

    from storage.sealing import UNREADABLE_REASON
    from worker.turns import APOLOGY

    web = cluster.web("web").start()
    cluster.wait_up(web)
    [worker] = _start_workers(cluster, 1, SECRET_KEY="another-machine-another-key-0123")
    sender = "+5511955554444"
    assert post_message(web.env["URL"], sender, "olá, tudo bem?")[0] == 200
    assert [m.body for m in twilio_server.wait_for(1, timeout=30)] == [APOLOGY]
    assert openai_server.chat_requests() == [], "nothing unreadable reaches the model"
    db = Database(cluster.database_url, pool_size=1)
    [row] = [ledger.get_entry(db, 1)]
    assert (row.status, row.error) == ("failed", UNREADABLE_REASON)
    assert requests.get(web.env["URL"] + "/readyz", timeout=10).json()["turns"]["unreadable"] == 1
    report = requests.get(web.env["URL"] + "/get-report-data", timeout=10).json()["ledger"]
    assert report["unreadable"] == 1 and report["engine"]["failed"] == 0
    assert 'id="ledger-unreadable"' in requests.get(web.env["URL"] + "/report", timeout=10).text

    worker.stop()  # with no worker up, the next message's job waits where the engine's own tools see it
    assert post_message(web.env["URL"], sender, "ainda aí?")[0] == 200
    assert requests.get(web.env["URL"] + "/readyz", timeout=10).json()["turns"]["engine"]["todo"] == 1
    env = {**worker.env, "DATABASE_URL": cluster.database_url}
    cli = [sys.executable, "-m", "procrastinate", "--app=worker.engine.app"]
    checks = subprocess.run(cli + ["healthchecks"], env=env, capture_output=True, text=True, timeout=60)
    assert "DB connection: OK" in checks.stdout and "procrastinate_jobs table: OK" in checks.stdout, checks.stderr
    shell = subprocess.run(cli + ["shell"], env=env, input="list_jobs\nexit\n", capture_output=True, text=True,
                           timeout=60)
    assert "answer_sender" in shell.stdout and "todo" in shell.stdout, shell.stdout + shell.stderr
