"""The real twilio Client, pointed at the fake API by `client.api.base_url`, sends and fails as Twilio's."""
from __future__ import annotations

import time

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.fixtures.twilio import TEST_ACCOUNT_SID, TEST_WHATSAPP_FROM

TO = "whatsapp:+5511999990000"


def test_a_message_is_sent_with_basic_auth_and_recorded(twilio_server, twilio_rest_client):
    sent = twilio_rest_client.messages.create(to=TO, from_=TEST_WHATSAPP_FROM, body="Olá!",
                                              media_url=["https://example.com/a.jpg"])
    assert sent.sid.startswith("SM") and len(sent.sid) == 34
    assert (sent.status, sent.to, sent.from_, sent.account_sid) == ("queued", TO, TEST_WHATSAPP_FROM,
                                                                    TEST_ACCOUNT_SID)
    [recorded] = twilio_server.wait_for(1, to=TO)
    assert (recorded.sid, recorded.body, recorded.media_urls) == (sent.sid, "Olá!", ["https://example.com/a.jpg"])
    [request] = twilio_server.requests(f"/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages.json")
    assert request.method == "POST" and twilio_server.authorized(request.authorization)


def test_a_server_error_surfaces_as_twilio_rest_exception(twilio_server, twilio_rest_client):
    twilio_server.fail_next(1, status=500)
    with pytest.raises(TwilioRestException) as caught:
        twilio_rest_client.messages.create(to=TO, from_=TEST_WHATSAPP_FROM, body="primeira")
    assert (caught.value.status, caught.value.code) == (500, 20500)
    assert twilio_server.messages() == []
    twilio_rest_client.messages.create(to=TO, from_=TEST_WHATSAPP_FROM, body="segunda")
    assert [m.body for m in twilio_server.wait_for(1)] == ["segunda"]


def test_rate_limiting_carries_twilio_error_code(twilio_server, twilio_rest_client):
    twilio_server.fail_next(2, status=429)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            twilio_rest_client.messages.create(to=TO, from_=TEST_WHATSAPP_FROM, body="oi")
        assert (caught.value.status, caught.value.code) == (429, 20429)


def test_wrong_credentials_are_refused(twilio_server, monkeypatch):
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    client = Client(TEST_ACCOUNT_SID, "not-the-token")
    client.api.base_url = twilio_server.api_base_url
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=TO, from_=TEST_WHATSAPP_FROM, body="oi")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert twilio_server.messages() == []


def test_a_body_over_1600_characters_is_refused_like_twilio(twilio_server, twilio_rest_client):
    with pytest.raises(TwilioRestException) as caught:
        twilio_rest_client.messages.create(to=TO, from_=TEST_WHATSAPP_FROM, body="a" * 1601)
    assert (caught.value.status, caught.value.code) == (400, 21617)


def test_wait_for_times_out_with_a_clear_message(twilio_server):
    with pytest.raises(AssertionError, match="expected 1 messages"):
        twilio_server.wait_for(1, to=TO, timeout=0.1)


def test_scripted_latency_delays_the_answer(twilio_server, twilio_rest_client):
    twilio_server.set_latency(0.2)
    started = time.monotonic()
    twilio_rest_client.messages.create(to=TO, from_=TEST_WHATSAPP_FROM, body="devagar")
    assert time.monotonic() - started >= 0.2
