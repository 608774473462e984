"""A database blip right after a reply went out: the reply is not sent twice, nor followed by an
apology. PostgreSQL is reached through a TCP proxy the fake Twilio cuts the moment it accepts the
reply, before the worker hears back; the chat log is the SQL table in that same database."""
from __future__ import annotations

import logging
import threading
import time

import pytest
from sqlalchemy import text

from storage.db import Database
from tests.fakes.openai_server import say
from tests.fixtures.app import wait_until

pytestmark = pytest.mark.slow
ALICE = "+5511999990031"
TO = f"whatsapp:{ALICE}"


def ledger_and_log(direct_url: str) -> tuple[list[str], list[str]]:
    """(ledger statuses, chat log directions) read past the proxy."""
    db = Database(direct_url, pool_size=1)
    try:
        with db.engine.connect() as conn:
            statuses = conn.execute(text("SELECT status FROM inbound_messages ORDER BY id")).scalars().all()
            directions = conn.execute(text("SELECT direction FROM chat_log ORDER BY id")).scalars().all()
        return list(statuses), list(directions)
    finally:
        db.dispose()


def test_a_blip_after_the_send_is_waited_out_and_the_reply_goes_once(make_live_app, pg_behind_proxy,
                                                                      openai_server, twilio_server):
    proxy, url, direct = pg_behind_proxy
    live = make_live_app(DATABASE_URL=url)
    openai_server.on("bom dia", say("Bom dia! Em que posso ajudar?"))

    def blip(_message) -> None:
        proxy.pause()
        threading.Timer(1.2, proxy.resume).start()

    twilio_server.on_message = blip
    assert live.send(ALICE, "bom dia").status_code == 200
    assert [m.body for m in twilio_server.wait_for(1, to=TO, timeout=15)] == ["Bom dia! Em que posso ajudar?"]
    assert wait_until(lambda: ledger_and_log(direct)[0] == ["done"], timeout=15)
    time.sleep(1.5)  # long enough for a retry of the turn (1 s after a failure) to have sent again
    assert [m.body for m in twilio_server.messages(to=TO)] == ["Bom dia! Em que posso ajudar?"]
    assert len(openai_server.chat_requests()) == 1
    assert ledger_and_log(direct)[1] == ["in", "out"]


def test_an_outage_after_the_send_leaves_the_row_sending_without_a_second_reply(
        make_live_app, pg_behind_proxy, openai_server, twilio_server, caplog):
    """...and once the database is back, the worker records the turn on its own, with no other
    message needed: a sender who never writes again does not leave the row `sending`."""
    from worker.runtime import JOURNAL_RETRY_SECONDS

    proxy, url, direct = pg_behind_proxy
    live = make_live_app(DATABASE_URL=url)
    openai_server.on("boa noite", say("Boa noite!"))
    twilio_server.on_message = lambda _message: proxy.pause()
    with caplog.at_level(logging.WARNING, logger="worker"):
        assert live.send(ALICE, "boa noite").status_code == 200
        assert [m.body for m in twilio_server.wait_for(1, to=TO, timeout=15)] == ["Boa noite!"]
        assert wait_until(lambda: "could not be marked done" in caplog.text, timeout=30)
        # The turn's chat-log lines (inbound and outbound) are one write after the send, which the
        # outage took; the inbound message itself stays in the ledger row.
        assert ledger_and_log(direct) == (["sending"], [])
        assert "could not write the chat log" in caplog.text
        assert live.runtime.journal.pending, "what the turn owes is kept on disk"
        proxy.resume()
        # The row is marked before the paid entry leaves the file: wait for both.
        assert wait_until(lambda: ledger_and_log(direct) == (["done"], ["in", "out"])
                          and not live.runtime.journal.pending, timeout=JOURNAL_RETRY_SECONDS + 10, interval=0.5)
    assert [m.body for m in twilio_server.messages(to=TO)] == ["Boa noite!"], "no second reply, no apology"
    assert len(openai_server.chat_requests()) == 1
    assert "Boa noite" not in caplog.text and "boa noite" not in caplog.text, "no message text in the logs"


def test_a_restart_after_such_an_outage_records_the_turn_without_answering_it_again(
        make_live_app, pg_behind_proxy, openai_server, twilio_server):
    proxy, url, direct = pg_behind_proxy
    live = make_live_app(DATABASE_URL=url)
    openai_server.on("boa noite", say("Boa noite!"))
    twilio_server.on_message = lambda _message: proxy.pause()
    assert live.send(ALICE, "boa noite").status_code == 200
    assert [m.body for m in twilio_server.wait_for(1, to=TO, timeout=15)] == ["Boa noite!"]
    assert wait_until(lambda: live.runtime.journal.pending, timeout=30)
    twilio_server.on_message = None
    live.server.shutdown()
    live.runtime.stop()
    proxy.resume()
    assert ledger_and_log(direct) == (["sending"], [])
    again = make_live_app(DATABASE_URL=url)
    assert ledger_and_log(direct) == (["done"], ["in", "out"]), "recorded at start, before the leftovers are queued"
    assert not again.runtime.journal.pending and not again.runtime.journal.path.exists()
    time.sleep(1.5)
    assert [m.body for m in twilio_server.messages(to=TO)] == ["Boa noite!"], "not answered again after the restart"
    assert len(openai_server.chat_requests()) == 1


def test_the_next_turn_after_the_outage_records_what_the_last_one_owed(make_live_app, pg_behind_proxy,
                                                                        openai_server, twilio_server):
    proxy, url, direct = pg_behind_proxy
    live = make_live_app(DATABASE_URL=url)
    openai_server.on("boa noite", say("Boa noite!"))
    openai_server.on("bom dia", say("Bom dia!"))
    twilio_server.on_message = lambda _message: proxy.pause()
    assert live.send(ALICE, "boa noite").status_code == 200
    twilio_server.wait_for(1, to=TO, timeout=15)
    assert wait_until(lambda: live.runtime.journal.pending, timeout=30)
    twilio_server.on_message = None
    proxy.resume()
    assert live.send(ALICE, "bom dia").status_code == 200
    assert [m.body for m in twilio_server.wait_for(2, to=TO, timeout=15)] == ["Boa noite!", "Bom dia!"]
    assert wait_until(lambda: ledger_and_log(direct) == (["done", "done"], ["in", "out", "in", "out"])
                      and not live.runtime.journal.pending, timeout=15)


def test_a_reply_cut_off_while_the_database_is_down_is_recorded_failed_and_never_sent_again(
        make_live_app, pg_behind_proxy, openai_server, twilio_server, caplog):
    """Twilio takes the first chunk of a long reply and refuses the second, and the database goes away
    at that moment: the turn is owed a `failed` mark and the line of what went out, both recorded
    after a restart, and the first chunk is not sent again by a retry of the turn."""
    proxy, url, direct = pg_behind_proxy
    live = make_live_app(DATABASE_URL=url)
    first, second = "Primeira parte da resposta. " * 40, "Segunda parte da resposta. " * 40
    openai_server.on("resposta longa", say(f"{first.strip()}\n{second.strip()}"))

    def cut(_message) -> None:
        proxy.pause()
        twilio_server.fail_next(5, status=400)

    twilio_server.on_message = cut
    with caplog.at_level(logging.WARNING, logger="worker"):
        assert live.send(ALICE, "resposta longa").status_code == 200
        assert [m.body for m in twilio_server.wait_for(1, to=TO, timeout=15)] == [first.strip()]
        assert wait_until(lambda: live.runtime.journal.pending, timeout=40), "what the turn owes is kept on disk"
    assert "could not be marked failed" in caplog.text
    twilio_server.on_message = None
    live.server.shutdown()
    live.runtime.stop()
    proxy.resume()
    assert ledger_and_log(direct) == (["sending"], [])
    make_live_app(DATABASE_URL=url)
    assert ledger_and_log(direct) == (["failed"], ["in", "out"]), "recorded at start, not queued again"
    db = Database(direct, pool_size=1)
    try:
        with db.engine.connect() as conn:
            error = conn.execute(text("SELECT error FROM inbound_messages")).scalar_one()
            logged_out = conn.execute(text("SELECT body FROM chat_log WHERE direction = 'out'")).scalar_one()
    finally:
        db.dispose()
    assert error.startswith("reply not delivered: Twilio answered 400")
    assert logged_out == first.strip(), "the chat log holds the part that went out"
    time.sleep(1.5)
    assert [m.body for m in twilio_server.messages(to=TO)] == [first.strip()], "the first part went out once"
    assert len(openai_server.chat_requests()) == 1
