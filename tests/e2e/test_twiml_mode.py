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
