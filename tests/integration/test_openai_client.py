"""agent.openai_client: the worker's gate steps aside during model calls, and the machine's proxy
settings reach OpenAI the way they reach Twilio."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from agent.openai_client import make_openai_client
from tests.fakes.openai_server import ScriptedOpenAI
from tests.fixtures.tls import self_signed, serve_tls
from worker.gate import CpuGate

MACHINE_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY",
                "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")
ASK = [{"role": "user", "content": "oi"}]


@pytest.fixture(autouse=True)
def no_proxy_or_ca_from_the_machine(monkeypatch):
    for name in MACHINE_VARS:
        monkeypatch.delenv(name, raising=False)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ask(client) -> str:
    return client.chat.completions.create(model="gpt-4o", messages=ASK).choices[0].message.content


def test_a_turn_waiting_on_the_model_lends_its_slot_out(openai_server):
    gate = CpuGate(1)
    client = make_openai_client("sk-test", openai_server.base_url, timeout=10, keepalive=4, io_wait=gate.waiting)
    openai_server.latency = 0.6
    answers, other_ran_at = [], []

    def turn() -> None:
        with gate.held():
            answers.append((ask(client), time.monotonic()))

    def other_turn() -> None:
        with gate.held():
            other_ran_at.append(time.monotonic())

    first = threading.Thread(target=turn)
    first.start()
    time.sleep(0.2)
    second = threading.Thread(target=other_turn)
    second.start()
    second.join(5)
    first.join(5)
    assert answers and other_ran_at, "both turns finished"
    assert other_ran_at[0] < answers[0][1] - 0.2, "the second turn ran while the first waited on the model"


def test_the_body_is_read_before_the_slot_is_taken_back(openai_server):
    inside: list[bool] = []

    class Recording:
        def __call__(self):
            return self

        def __enter__(self):
            inside.append(True)

        def __exit__(self, *exc):
            inside.append(False)

    client = make_openai_client("sk-test", openai_server.base_url, timeout=10, keepalive=4, io_wait=Recording())
    response = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=ASK)
    assert inside == [True, False]
    assert response.http_response.is_stream_consumed and response.parse().choices[0].message.content


def test_the_proxy_from_the_environment_carries_model_calls(openai_server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", openai_server.url)
    client = make_openai_client("sk-test", "http://api.openai.invalid/v1", timeout=10, keepalive=4)
    monkeypatch.delenv("HTTP_PROXY")
    assert ask(client) and len(openai_server.chat_requests()) == 1


def test_no_proxy_goes_direct_and_a_dead_proxy_otherwise_fails(openai_server, monkeypatch):
    from openai import APIConnectionError

    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert ask(make_openai_client("sk-test", openai_server.base_url, timeout=5, keepalive=4))
    monkeypatch.delenv("NO_PROXY")
    dead = make_openai_client("sk-test", openai_server.base_url, timeout=5, keepalive=4).with_options(max_retries=0)
    with pytest.raises(APIConnectionError):
        ask(dead)
    assert len(openai_server.chat_requests()) == 1


@pytest.fixture
def https_model(tmp_path):
    """(base URL, CA file) of a scripted model server of this test's own that speaks HTTPS."""
    cert, key = self_signed(tmp_path)
    server = ScriptedOpenAI().start()
    yield serve_tls(server, cert, key) + "/v1", cert
    server.stop()


def test_tls_trusts_the_ca_bundle_replies_to_twilio_trust(https_model, monkeypatch):
    from openai import APIConnectionError

    base_url, ca_file = https_model
    untrusted = make_openai_client("sk-test", base_url, timeout=5, keepalive=4).with_options(max_retries=0)
    with pytest.raises(APIConnectionError):
        ask(untrusted)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    assert ask(make_openai_client("sk-test", base_url, timeout=5, keepalive=4))
