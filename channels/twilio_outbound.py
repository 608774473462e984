"""Outbound side: replies through Twilio's Messages API, one client per process, retried sends."""
from __future__ import annotations

import logging
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Callable, Protocol

from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from common.phones import whatsapp_address

from .chunking import split_message

log = logging.getLogger(__name__)
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class SendFailed(RuntimeError):
    """A reply could not be delivered to Twilio after the retries."""


class ReplySender(Protocol):
    """Anything that can deliver a text or an image to a phone."""

    can_deliver: bool

    def send_text(self, phone: str, text: str) -> list[str]:
        """Send text (chunked as needed); returns the message ids."""

    def send_image(self, phone: str, url: str, caption: str = "") -> str:
        """Send one image by URL with a caption; returns the message id."""


IoWait = Callable[[], AbstractContextManager]


class _WaitingAdapter(HTTPAdapter):
    """A requests adapter that runs each exchange inside `io_wait()`."""

    def __init__(self, io_wait: IoWait, pool_size: int) -> None:
        super().__init__(pool_maxsize=pool_size)
        self.io_wait = io_wait

    def send(self, request, **kwargs):
        with self.io_wait():
            return super().send(request, **kwargs)


class TwilioSender:
    """Sends through the real twilio client pointed at `api_base_url`; retries 429/5xx with backoff.

    Every wait on Twilio (a request, a backoff sleep) runs inside `io_wait()`: the worker's CPU gate
    (worker/gate.py) steps aside meanwhile. `pool_size` connections are kept for reuse.
    """

    can_deliver = True

    def __init__(self, account_sid: str, auth_token: str, from_number: str,
                 api_base_url: str = "https://api.twilio.com", timeout: float = 15.0,
                 retries: int = 3, backoff: float = 0.5, io_wait: IoWait = nullcontext, pool_size: int = 10) -> None:
        http_client = TwilioHttpClient(pool_connections=True, timeout=timeout)
        for prefix in ("http://", "https://"):
            http_client.session.mount(prefix, _WaitingAdapter(io_wait, pool_size))
        self.client = Client(account_sid, auth_token, http_client=http_client)
        self.client.api.base_url = api_base_url.rstrip("/")
        self.from_number = from_number
        self.retries, self.backoff, self.io_wait = retries, backoff, io_wait

    def _create(self, **kwargs) -> str:
        delay = self.backoff
        for attempt in range(1, self.retries + 1):
            try:
                return self.client.messages.create(from_=self.from_number, **kwargs).sid
            except TwilioRestException as exc:
                if exc.status not in RETRYABLE_STATUS or attempt == self.retries:
                    raise SendFailed(f"Twilio answered {exc.status} (code {exc.code})") from exc
                log.warning("Twilio send failed with %s, retrying (attempt %d)", exc.status, attempt)
            except OSError as exc:
                if attempt == self.retries:
                    raise SendFailed(f"Twilio unreachable: {type(exc).__name__}") from exc
                log.warning("Twilio unreachable (%s), retrying (attempt %d)", type(exc).__name__, attempt)
            with self.io_wait():
                time.sleep(delay)
            delay *= 2
        raise SendFailed("unreachable")

    def send_text(self, phone: str, text: str) -> list[str]:
        """Send `text` in chunks of at most 1,600 characters, in order."""
        return [self._create(to=whatsapp_address(phone), body=chunk) for chunk in split_message(text)]

    def send_image(self, phone: str, url: str, caption: str = "") -> str:
        """Send one image (Twilio fetches `url`) with its caption."""
        return self._create(to=whatsapp_address(phone), body=caption[:1600], media_url=[url])


@dataclass
class Outbox:
    """One reply kept in memory by a sender that cannot deliver to WhatsApp."""

    phone: str
    text: str
    media_url: str | None = None


@dataclass
class LocalSender:
    """Used when Twilio is not configured: keeps replies for the console and the logs."""

    can_deliver = False
    sent: list[Outbox] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_text(self, phone: str, text: str) -> list[str]:
        """Record the chunks as they would have been sent."""
        chunks = split_message(text)
        with self.lock:
            self.sent.extend(Outbox(phone, chunk) for chunk in chunks)
        return [f"local-{i}" for i, _ in enumerate(chunks)]

    def send_image(self, phone: str, url: str, caption: str = "") -> str:
        """Record the image as it would have been sent."""
        with self.lock:
            self.sent.append(Outbox(phone, caption, url))
        return "local-media"

    def take(self, phone: str) -> list[Outbox]:
        """Remove and return the replies recorded for a phone."""
        with self.lock:
            mine = [o for o in self.sent if o.phone == phone]
            self.sent = [o for o in self.sent if o.phone != phone]
        return mine
