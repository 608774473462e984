"""The one OpenAI client of a process: chat completions and Whisper share its connections.

Every exchange, body included, runs inside `io_wait()` so the worker's CPU gate steps aside while
the model answers (worker/gate.py). The wrap is on the HTTP client's `send`, not on a transport of
our own: httpx then builds its transports itself, and with them the standard proxy variables
(HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY) keep working. TLS trusts REQUESTS_CA_BUNDLE or
CURL_CA_BUNDLE when set, the same bundle replies to Twilio trust; else httpx's own choice
(SSL_CERT_FILE or SSL_CERT_DIR, else certifi's bundle).
"""
from __future__ import annotations

import ssl
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Callable

import httpx2
from openai import DefaultHttpxClient, OpenAI

from common.trust import ca_bundle_override, verify_locations

IoWait = Callable[[], AbstractContextManager]


class WaitingHttpxClient(DefaultHttpxClient):
    """The SDK's default HTTP client, with each request sent and read inside `io_wait()`."""

    def __init__(self, io_wait: IoWait = nullcontext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.io_wait = io_wait

    def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        """httpx's send (which reads the body unless streaming), with the gate stepped aside."""
        with self.io_wait():
            return super().send(request, **kwargs)


def _verify() -> ssl.SSLContext | bool:
    bundle = ca_bundle_override()
    return ssl.create_default_context(**verify_locations(bundle)) if bundle else True


def make_openai_client(api_key: str, base_url: str | None, timeout: float, keepalive: int,
                       io_wait: IoWait = nullcontext) -> OpenAI:
    """An OpenAI client that keeps `keepalive` idle connections (one per worker thread: the SDK's
    100 made the capacity run open a new TLS connection for most model calls) and honours the
    machine's proxy and CA settings, read once here."""
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=max(100, keepalive))
    return OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=2,
                  http_client=WaitingHttpxClient(io_wait, limits=limits, verify=_verify()))
