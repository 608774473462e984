"""TwilioSender over its own urllib3 HTTP layer, against the fake Twilio API: auth and forms, retries,
failures as OSError, pooled connections, proxies from the environment, nothing secret in the logs."""
from __future__ import annotations

import base64
import logging
import socket
import threading
from contextlib import contextmanager
from typing import Iterator

import pytest
import urllib3

from channels.twilio_outbound import SendFailed, TwilioSender, WaitingHttpClient
from tests.fixtures.twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_WHATSAPP_FROM

PHONE = "+5511999990000"
TO = f"whatsapp:{PHONE}"
MESSAGES = f"/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages.json"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


class CountingWait:
    """An `io_wait` that counts how often TwilioSender stepped aside (exchanges and backoff sleeps)."""

    def __init__(self) -> None:
        self.entered = 0
        self.lock = threading.Lock()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self.lock:
            self.entered += 1
        yield


@pytest.fixture
def make_sender(monkeypatch):
    """Build TwilioSenders against a base URL with no edge, region or proxy from the machine's env."""
    for name in ("TWILIO_EDGE", "TWILIO_REGION") + PROXY_VARS + tuple(v.lower() for v in PROXY_VARS):
        monkeypatch.delenv(name, raising=False)

    def make(api_base_url: str, **kwargs) -> TwilioSender:
        kwargs.setdefault("backoff", 0.01)
        return TwilioSender(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_WHATSAPP_FROM, api_base_url, **kwargs)

    return make


def http_of(sender: TwilioSender) -> WaitingHttpClient:
    """The HTTP layer under a sender's twilio client."""
    http = sender.client.http_client
    assert isinstance(http, WaitingHttpClient)
    return http


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_text_send_arrives_with_basic_auth_and_the_form_fields(twilio_server, make_sender):
    waits = CountingWait()
    sender = make_sender(twilio_server.api_base_url, io_wait=waits)
    ids = sender.send_text(PHONE, "Olá, tudo bem? ç & = +")
    [message] = twilio_server.wait_for(1, to=TO)
    assert ids == [message.sid]
    assert (message.from_, message.body, message.media_urls) == (TEST_WHATSAPP_FROM, "Olá, tudo bem? ç & = +", [])
    [request] = twilio_server.requests(MESSAGES)
    assert request.method == "POST" and twilio_server.authorized(request.authorization)
    assert waits.entered == 1
    http = http_of(sender)
    assert http._test_only_last_request.data == {"To": TO, "From": TEST_WHATSAPP_FROM, "Body": "Olá, tudo bem? ç & = +"}
    assert http._test_only_last_response.status_code == 201


def test_an_image_send_carries_media_url_and_repeated_keys_are_all_sent(twilio_server, make_sender):
    sender = make_sender(twilio_server.api_base_url)
    sid = sender.send_image(PHONE, "https://example.com/gato.jpg?w=1&h=2", "um gato")
    [message] = twilio_server.wait_for(1, to=TO)
    assert (message.sid, message.body, message.media_urls) == (sid, "um gato", ["https://example.com/gato.jpg?w=1&h=2"])
    both = ["https://example.com/a.jpg", "https://example.com/b.jpg"]
    sender.client.messages.create(to=TO, from_=TEST_WHATSAPP_FROM, media_url=both)
    assert twilio_server.wait_for(2, to=TO)[1].media_urls == both


def test_a_server_error_is_retried_and_the_message_delivered_once(twilio_server, make_sender, caplog):
    waits = CountingWait()
    sender = make_sender(twilio_server.api_base_url, io_wait=waits)
    twilio_server.fail_next(1, status=500)
    [sid] = sender.send_text(PHONE, "segunda tentativa")
    assert [m.sid for m in twilio_server.wait_for(1, to=TO)] == [sid]
    assert len(twilio_server.requests(MESSAGES)) == 2
    assert waits.entered == 3
    assert "failed with 500, retrying (attempt 1)" in caplog.text


def test_a_client_error_fails_at_once_without_retry(twilio_server, make_sender):
    sender = make_sender(twilio_server.api_base_url)
    twilio_server.fail_next(1, status=400)
    with pytest.raises(SendFailed, match=r"answered 400 \(code 21211\)"):
        sender.send_text(PHONE, "número inválido")
    assert len(twilio_server.requests(MESSAGES)) == 1
    assert twilio_server.messages() == []


def test_a_long_text_refused_partway_names_the_chunks_that_went_out(twilio_server, make_sender):
    sender = make_sender(twilio_server.api_base_url)
    first, second = "Parte um. " * 120, "Parte dois. " * 120
    twilio_server.on_message = lambda _message: twilio_server.fail_next(1, status=400)
    with pytest.raises(SendFailed, match=r"answered 400") as caught:
        sender.send_text(PHONE, f"{first.strip()}\n{second.strip()}")
    [message] = twilio_server.messages(to=TO)
    assert caught.value.delivered == [(message.sid, first.strip())]


def test_an_answer_cut_short_fails_at_once_without_sending_again(twilio_server, make_sender):
    sender = make_sender(twilio_server.api_base_url)
    twilio_server.garble_next(1)
    with pytest.raises(SendFailed, match="answer could not be read: JSONDecodeError"):
        sender.send_text(PHONE, "foi ou não foi?")
    assert [m.body for m in twilio_server.messages(to=TO)] == ["foi ou não foi?"]
    assert len(twilio_server.requests(MESSAGES)) == 1


def test_a_refused_connection_is_retried_then_fails(make_sender, caplog):
    sender = make_sender(f"http://127.0.0.1:{closed_port()}", retries=3)
    with pytest.raises(SendFailed, match="unreachable: ConnectionError") as caught:
        sender.send_text(PHONE, "alguém aí?")
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert caplog.text.count("Twilio unreachable (ConnectionError), retrying") == 2


def test_a_silent_server_times_out_as_timeout_error(make_sender):
    with socket.create_server(("127.0.0.1", 0)) as silent:
        sender = make_sender(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.2, retries=2)
        with pytest.raises(SendFailed, match="unreachable: TimeoutError") as caught:
            sender.send_text(PHONE, "alô")
    assert isinstance(caught.value.__cause__, TimeoutError)


def test_connections_are_reused_across_sends(twilio_server, make_sender):
    sender = make_sender(twilio_server.api_base_url, pool_size=2)
    for n in range(5):
        sender.send_text(PHONE, f"mensagem {n}")
    assert len(twilio_server.wait_for(5, to=TO)) == 5
    pool = http_of(sender).direct.connection_from_url(twilio_server.api_base_url)
    assert (pool.num_connections, pool.num_requests) == (1, 5)


def test_a_burst_beyond_the_pool_opens_extra_connections_and_keeps_pool_size(twilio_server, make_sender):
    sender = make_sender(twilio_server.api_base_url, pool_size=2)
    twilio_server.set_latency(0.2)
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            sender.send_text(PHONE, f"rajada {n}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == [] and len(twilio_server.wait_for(6, to=TO)) == 6
    pool = http_of(sender).direct.connection_from_url(twilio_server.api_base_url)
    assert pool.num_connections > 2 and pool.pool.qsize() == 2


def test_http_proxy_from_the_environment_is_read_once_and_used(twilio_server, make_sender, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", twilio_server.url)
    sender = make_sender("http://api.twilio.invalid")
    monkeypatch.delenv("HTTP_PROXY")
    sender.send_text(PHONE, "via proxy")
    assert [m.body for m in twilio_server.wait_for(1, to=TO)] == ["via proxy"]
    assert isinstance(http_of(sender).manager_for("http://api.twilio.invalid/x"), urllib3.ProxyManager)


def test_no_proxy_sends_direct_and_a_dead_proxy_otherwise_fails(twilio_server, make_sender, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    make_sender(twilio_server.api_base_url).send_text(PHONE, "direto")
    assert [m.body for m in twilio_server.wait_for(1, to=TO)] == ["direto"]
    monkeypatch.delenv("NO_PROXY")
    with pytest.raises(SendFailed, match="unreachable: ConnectionError"):
        make_sender(twilio_server.api_base_url, retries=1).send_text(PHONE, "pelo proxy morto")


def test_proxy_credentials_become_proxy_authorization(make_sender, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "ana:p%40ss@proxy.corp.example:3128")
    manager = http_of(make_sender("https://api.twilio.com")).manager_for("https://api.twilio.com/2010-04-01")
    assert isinstance(manager, urllib3.ProxyManager)
    assert (manager.proxy.host, manager.proxy.port) == ("proxy.corp.example", 3128)
    assert manager.proxy_headers == {"proxy-authorization": "Basic " + base64.b64encode(b"ana:p@ss").decode()}


def test_neither_credentials_nor_bodies_reach_the_logs(twilio_server, make_sender, caplog):
    caplog.set_level(logging.DEBUG)
    sender = make_sender(twilio_server.api_base_url)
    twilio_server.fail_next(1, status=503)
    sender.send_text(PHONE, "conteúdo secreto do usuário")
    twilio_server.wait_for(1, to=TO)
    basic = base64.b64encode(f"{TEST_ACCOUNT_SID}:{TEST_AUTH_TOKEN}".encode()).decode()
    for secret in (TEST_AUTH_TOKEN, basic, "secreto", "conte%C3%BAdo"):
        assert secret not in caplog.text
