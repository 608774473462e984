"""The assistant without a model, without Twilio, and the console chat."""
from __future__ import annotations

import logging

import pytest

from tests.fixtures.app import wait_until

pytestmark = pytest.mark.slow
ALICE = "+5511999990001"


def test_without_openai_key_it_still_answers_and_lists_what_it_can_do(make_live_app, twilio_server):
    live = make_live_app(with_model=False)
    live.send(ALICE, "oi, tudo bem?")
    sent = twilio_server.wait_for(1, timeout=10)
    body = sent[0].body
    assert "não está configurada" in body
    assert "mostre fotos de" in body and "cadastro" in body


def test_without_twilio_the_app_starts_and_says_replies_cannot_be_delivered(make_live_app, caplog):
    with caplog.at_level(logging.WARNING):
        live = make_live_app(with_twilio=False, TWILIO_VALIDATE_SIGNATURE="false")
    assert "replies cannot be delivered to WhatsApp" in caplog.text
    assert "TWILIO_VALIDATE_SIGNATURE=false" in caplog.text
    assert live.send(ALICE, "oi", signature=False).status_code == 200
    assert wait_until(lambda: live.services.sender.sent)
    assert live.services.sender.sent[0].text == "Eco: oi"


def test_console_chat_talks_through_the_same_pipeline(make_live_app):
    live = make_live_app(with_twilio=False)
    result = live.app.test_cli_runner().invoke(args=["chat", "--phone", "+55 11 99999-0001"],
                                               input="olá console\n")
    assert result.exit_code == 0, result.output
    assert "Eco: olá console" in result.output
    assert live.services.chatlog.count(ALICE) == 2
