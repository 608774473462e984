"""REPLY_MODE=twiml: the reply travels in the webhook's own response, as the original documents did."""
from __future__ import annotations

import threading
import xml.etree.ElementTree as ET

import pytest

from storage import ledger
from tests.factories import make_user
from tests.fakes.openai_server import say, tool
from tests.fixtures.app import wait_until
from tests.fixtures.media import make_jpeg

pytestmark = pytest.mark.slow
ALICE = "+5511999990001"


def _messages(response) -> list[tuple[str, list[str]]]:
    root = ET.fromstring(response.text)
    return [((m.findtext("Body") or m.text or "").strip(), [x.text for x in m.findall("Media")])
            for m in root.findall("Message")]


def test_the_reply_is_in_the_webhook_response_and_recorded(make_live_app, openai_server, twilio_server):
    live = make_live_app(REPLY_MODE="twiml")
    response = live.send(ALICE, "olá inline")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/xml")
    assert _messages(response) == [("Eco: olá inline", [])]
    assert twilio_server.messages() == []
    assert ledger.backlog(live.services.db).counts == {"done": 1}
    assert {(m.direction, m.body) for m in live.services.chatlog.list(phone=ALICE).items} == \
        {("in", "olá inline"), ("out", "Eco: olá inline")}


def test_a_password_typed_unasked_is_redacted_in_twiml_mode_too(make_live_app, openai_server, twilio_server):
    live = make_live_app(REPLY_MODE="twiml")
    make_user(live.services.db, ALICE, cpf="52998224725", password="girassol-azul-2024", logged_in=False)
    text = "\n".join(body for body, _media in _messages(live.send(ALICE, "login 529.982.247-25 girassol-azul-2024")))
    assert "Login feito" in text and "não foi para a IA" in text
    assert openai_server.chat_requests() == []
    assert [e.body for e in ledger.list_waiting(live.services.db, with_processing=True)] == []
    assert ("in", "[senha]") in {(m.direction, m.body) for m in live.services.chatlog.list(phone=ALICE).items}
    with live.services.db.session() as session:
        from storage.models import InboundMessage
        assert [row.body for row in session.query(InboundMessage)] == ["[senha]"]


def test_one_sender_stays_in_order_and_duplicates_are_not_reanswered(make_live_app, openai_server):
    live = make_live_app(REPLY_MODE="twiml")
    openai_server.on("^primeira$", say("resposta 1"), delay=0.8)
    openai_server.on("^segunda$", say("resposta 2"))
    finished: list[str] = []

    def send(text: str, sid: str | None = None) -> None:
        finished.append(_messages(live.send(ALICE, text, sid=sid))[0][0])

    first = threading.Thread(target=send, args=("primeira", "SMtwimlfirst"))
    first.start()
    # The second message must reach the ledger after the first, however busy the machine is.
    assert wait_until(lambda: ledger.get_by_sid(live.services.db, "SMtwimlfirst") is not None)
    send("segunda")
    first.join()
    assert finished == ["resposta 1", "resposta 2"]
    again = live.send(ALICE, "segunda", sid="SMtwimldup")
    assert _messages(live.send(ALICE, "segunda", sid="SMtwimldup")) == []
    assert _messages(again) == [("resposta 2", [])]


def test_found_images_ride_in_the_twiml(make_live_app, openai_server, twilio_server):
    live = make_live_app(REPLY_MODE="twiml")
    make_user(live.services.db, ALICE)
    openai_server.on(r"1 foto.*farol", tool("save_image", description="farol ao entardecer"))
    openai_server.on(r"mostre fotos de farol", tool("search_images", query="farol"))
    live.send(ALICE, "farol ao entardecer", media=[(twilio_server.add_media(None, make_jpeg(), "image/jpeg"),
                                                   "image/jpeg")])
    messages = _messages(live.send(ALICE, "mostre fotos de farol"))
    assert messages[0][0].startswith("Encontrei 1 foto")
    assert messages[1][0] == "farol ao entardecer" and len(messages[1][1]) == 1


def _rows(direct_url: str) -> list[tuple[str, str, str | None]]:
    """(MessageSid, status, error) of every ledger row, read past the proxy."""
    from sqlalchemy import text

    from storage.db import Database

    db = Database(direct_url, pool_size=1)
    try:
        with db.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                text("SELECT message_sid, status, error FROM inbound_messages ORDER BY id"))]
    finally:
        db.dispose()


def test_with_the_database_down_the_sender_is_asked_to_resend_and_the_message_is_kept(
        make_live_app, pg_behind_proxy, openai_server, twilio_server):
    """No later answer exists in twiml mode: the response asks for the message again (it was a 500,
    and the user heard nothing), and the message still reaches the ledger, failed, once it answers."""
    from web.whatsapp import NOT_KEPT

    proxy, url, direct = pg_behind_proxy
    live = make_live_app(REPLY_MODE="twiml", DATABASE_URL=url)
    proxy.pause()
    response = live.send(ALICE, "você está aí?", sid="SMtwimldown01")
    assert response.status_code == 200 and _messages(response) == [(NOT_KEPT, [])]
    proxy.resume()
    assert wait_until(lambda: _rows(direct) != [], timeout=15)
    ((sid, status, error),) = _rows(direct)
    assert (sid, status) == ("SMtwimldown01", "failed") and "asked to send it again" in error
    assert openai_server.chat_requests() == [] and twilio_server.messages() == []
    assert _messages(live.send(ALICE, "olá de novo")) == [("Eco: olá de novo", [])]


def _reply_while_the_database_is_cut(live, proxy, openai_server, sid: str):
    """Send "devagar" and cut the database (the proxy stays paused) while the model thinks; the response."""
    openai_server.on("^devagar$", say("Resposta demorada."), delay=1.5)
    result: list = []
    sending = threading.Thread(target=lambda: result.append(live.send(ALICE, "devagar", sid=sid)))
    sending.start()
    assert wait_until(lambda: len(openai_server.chat_requests()) == 1, timeout=10), "the model is thinking"
    proxy.pause()
    sending.join(timeout=30)
    return result[0]


def test_a_database_cut_during_the_model_call_does_not_cost_the_reply(
        make_live_app, pg_behind_proxy, openai_server, twilio_server):
    """The reply was made; the chat log and the ledger refuse it: the reply still leaves in the
    response (it was a 500), and the bookkeeping is paid once the stores answer (here by the next
    turn, or by the runtime's own payment if it comes first)."""
    proxy, url, direct = pg_behind_proxy
    live = make_live_app(REPLY_MODE="twiml", DATABASE_URL=url)
    response = _reply_while_the_database_is_cut(live, proxy, openai_server, "SMtwimlcut01")
    assert response.status_code == 200 and _messages(response) == [("Resposta demorada.", [])]
    assert live.runtime.journal.pending
    proxy.resume()
    assert _messages(live.send(ALICE, "depois", sid="SMtwimlcut02")) == [("Eco: depois", [])]
    assert [(sid, status) for sid, status, _e in _rows(direct)] == [("SMtwimlcut01", "done"), ("SMtwimlcut02", "done")]
    assert not live.runtime.journal.pending
    assert [(m.direction, m.body) for m in reversed(live.services.chatlog.list(phone=ALICE).items)] == [
        ("in", "devagar"), ("out", "Resposta demorada."), ("in", "depois"), ("out", "Eco: depois")]


def test_a_claim_the_database_refuses_answers_with_the_apology_and_a_failed_row(
        make_live_app, fresh_pg_url, openai_server, twilio_server):
    """The insert went in, the claim right after it failed (a blip): the user hears the apology in
    the response (it was a 500, and silence), the row is failed with the reason, nothing is sent."""
    from tests.fixtures.databases import blips, fail_once
    from worker.turns import APOLOGY

    live = make_live_app(REPLY_MODE="twiml", DATABASE_URL=fresh_pg_url)
    fail_once(live, "inbound_messages", "UPDATE", "NEW.status = 'processing'")
    response = live.send(ALICE, "olá", sid="SMtwimlclaim1")
    assert response.status_code == 200 and _messages(response) == [(APOLOGY, [])]
    assert blips(live) >= 1 and openai_server.chat_requests() == []
    entry = ledger.get_by_sid(live.services.db, "SMtwimlclaim1")
    assert entry.status == "failed" and "scripted blip" in entry.error
    assert _messages(live.send(ALICE, "de novo")) == [("Eco: de novo", [])]


def test_a_redaction_refused_inside_the_webhook_is_owed_not_waited_for(make_live_app, fresh_pg_url, openai_server,
                                                                       twilio_server, caplog):
    """Twilio waits 15 s for a twiml response: a redaction the database refuses is not tried again
    over seconds inside it, but owed, and paid once the turn's own bookkeeping went through."""
    import logging

    from tests.fixtures.databases import blips, fail_once

    caplog.set_level(logging.INFO, logger="worker")
    live = make_live_app(REPLY_MODE="twiml", DATABASE_URL=fresh_pg_url)
    make_user(live.services.db, ALICE, cpf="52998224725", password="girassol-azul-2024", logged_in=False)
    fail_once(live, "inbound_messages", "UPDATE", "NEW.body IS DISTINCT FROM OLD.body")
    text = "\n".join(body for body, _media in _messages(live.send(ALICE, "login 529.982.247-25 girassol-azul-2024")))
    assert "Login feito" in text and blips(live) >= 2
    assert "trying again" not in caplog.text, "no pauses inside the webhook"
    assert "could not redact a password from the ledger" in caplog.text and "girassol" not in caplog.text
    assert not live.runtime.journal.pending
    with live.services.db.session() as session:
        from storage.models import InboundMessage
        assert [(row.body, row.status) for row in session.query(InboundMessage)] == [("[senha]", "done")]


def _leave_unfinished(make_live_app, **env: str) -> list[int]:
    """What a twiml process killed mid-turn leaves: a row taken (processing) and one not yet (queued)."""
    crashed = make_live_app(REPLY_MODE="twiml", start_worker=False, **env)
    taken = ledger.add_to_ledger(crashed.services.db, "SMtwimlcrash1", ALICE, "primeira antes da queda")
    waiting = ledger.add_to_ledger(crashed.services.db, "SMtwimlcrash2", ALICE, "segunda antes da queda")
    assert [e.id for e in ledger.claim(crashed.services.db, [taken])] == [taken]
    return [taken, waiting]


def test_without_twilio_credentials_a_restart_marks_leftovers_failed_instead_of_answering_nobody(
        make_live_app, openai_server, twilio_server):
    """A twiml deployment that cannot send through the Messages API has no way to answer once its
    webhook is gone: running the model for a reply nobody receives, and calling the row done (reply
    "kept locally"), hid the loss."""
    from worker.runtime import CANNOT_ANSWER_LATER

    ids = _leave_unfinished(make_live_app, TWILIO_WHATSAPP_NUMBER="")
    live = make_live_app(REPLY_MODE="twiml", TWILIO_WHATSAPP_NUMBER="")  # the auth token still checks signatures
    entries = [ledger.get_entry(live.services.db, entry_id) for entry_id in ids]
    assert [(e.status, e.error) for e in entries] == [("failed", CANNOT_ANSWER_LATER)] * 2
    assert openai_server.chat_requests() == [] and live.services.sender.can_deliver is False
    assert _messages(live.send(ALICE, "voltei")) == [("Eco: voltei", [])], "the next message is answered"
    assert twilio_server.messages() == []


def test_with_twilio_credentials_a_restart_answers_leftovers_through_the_messages_api(
        make_live_app, openai_server, twilio_server):
    ids = _leave_unfinished(make_live_app)
    live = make_live_app(REPLY_MODE="twiml")
    assert wait_until(lambda: [ledger.get_entry(live.services.db, i).status for i in ids] == ["done", "done"])
    assert [m.body for m in twilio_server.messages()] == ["Eco: primeira antes da queda", "Eco: segunda antes da queda"]


def test_what_a_sent_reply_owes_is_paid_once_the_database_is_back_without_another_message(
        make_live_app, pg_behind_proxy, openai_server, twilio_server):
    """A sender who never writes again must not leave their row `processing` until a restart: the
    runtime pays the after-send journal on its own every few seconds once the stores answer."""
    from worker.runtime import JOURNAL_RETRY_SECONDS

    proxy, url, direct = pg_behind_proxy
    live = make_live_app(REPLY_MODE="twiml", DATABASE_URL=url)
    response = _reply_while_the_database_is_cut(live, proxy, openai_server, "SMtwimlpay01")
    assert _messages(response) == [("Resposta demorada.", [])] and live.runtime.journal.pending
    proxy.resume()
    # The row is marked before the paid entry leaves the file: wait for both.
    assert wait_until(lambda: [(sid, status) for sid, status, _e in _rows(direct)] == [("SMtwimlpay01", "done")]
                      and not live.runtime.journal.pending, timeout=JOURNAL_RETRY_SECONDS + 10, interval=0.5)
    assert [(m.direction, m.body) for m in reversed(live.services.chatlog.list(phone=ALICE).items)] == [
        ("in", "devagar"), ("out", "Resposta demorada.")]
