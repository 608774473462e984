"""Reminders on the PostgreSQL engine with real `python -m worker` processes: a worker SIGKILLed
between set and due loses nothing and doubles nothing, and 500 reminders due at once all go out,
once each, at no more than TWILIO_SEND_RATE for the whole cluster (two workers)."""
from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from common.clock import utcnow
from storage import reminders
from storage.db import Database
from storage.models import Reminder
from tests.factories import make_user
from tests.fixtures.app import wait_until
from tests.fixtures.cluster import post_message

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ANA = "+5511999990401"
TEMPLATE = "HX" + "b2" * 16


def _start(cluster, names, **extra):
    workers = [cluster.worker(name, **extra).start() for name in names]
    assert wait_until(lambda: all("started on the turn engine" in w.log() for w in workers), timeout=60), \
        "\n".join(w.log()[-2000:] for w in workers)
    return workers


def _move_due(db: Database) -> None:
    with db.session() as session:
        session.execute(update(Reminder).values(due_at=utcnow() - timedelta(seconds=1)))


def test_a_worker_killed_between_set_and_due_delays_the_reminder_but_never_loses_or_doubles_it(
        cluster, twilio_server):
    web = cluster.web("web").start()
    cluster.wait_up(web)
    (first,) = _start(cluster, ["worker1"], OPENAI_API_KEY="")  # command mode: the command sets it
    db = Database(cluster.database_url, pool_size=1)
    make_user(db, ANA)
    assert post_message(web.env["URL"], ANA, "me lembre amanhã às 9h de levar o cachorro ao veterinário")[0] == 200
    confirmation = twilio_server.wait_for(1, to=f"whatsapp:{ANA}", timeout=60)[0]
    assert "Lembrete 1 marcado" in confirmation.body
    first.signal(signal.SIGKILL)
    first.proc.wait(10)
    _move_due(db)  # its time comes while no worker runs
    time.sleep(3)
    assert len(twilio_server.messages(to=f"whatsapp:{ANA}")) == 1
    _start(cluster, ["worker2"], OPENAI_API_KEY="")
    found = twilio_server.wait_for(2, to=f"whatsapp:{ANA}", timeout=60)
    assert found[-1].body == "⏰ Lembrete: levar o cachorro ao veterinário"
    time.sleep(12)  # two more chore periods: nothing more
    assert len(twilio_server.messages(to=f"whatsapp:{ANA}")) == 2
    assert [r.status for r in reminders.all_of(db, ANA)] == ["sent"]


def test_500_reminders_due_at_once_all_go_out_once_within_the_rate(cluster, twilio_server):
    rate = 50
    web = cluster.web("web").start()
    cluster.wait_up(web)
    db = Database(cluster.database_url, pool_size=2)
    soon = utcnow() + timedelta(days=1)
    owners = [f"+55119{n:08d}" for n in range(500)]
    for n, owner in enumerate(owners):  # nobody wrote in 24 h: they go as the Content API template
        reminders.create(db, owner, f"lembrete {n}", soon, "09:00", "America/Sao_Paulo")
    _move_due(db)
    _start(cluster, ["worker1", "worker2"], TWILIO_SEND_RATE=str(rate), REMINDER_TEMPLATE_SID=TEMPLATE)
    sent = twilio_server.wait_for(500, timeout=120)
    time.sleep(6)  # one more chore period: nothing more
    sent = twilio_server.messages()
    assert len(sent) == 500
    assert sorted(m.variables["1"] for m in sent) == sorted(f"lembrete {n}" for n in range(500))
    assert all(m.content_sid == TEMPLATE for m in sent)
    stamps = sorted(m.monotonic for m in sent)
    busiest = max(sum(1 for t in stamps[i:i + rate + 5] if t - start < 1.0) for i, start in enumerate(stamps))
    assert busiest <= rate + 1, f"{busiest} sends within one second at TWILIO_SEND_RATE={rate}"
    assert stamps[-1] - stamps[0] >= (500 - rate - 1) / rate
    assert reminders.counts(db) == {"sent": 500}
