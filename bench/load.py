"""The load generator: signed Twilio webhooks over loopback, at a fixed rate or per-sender chains.

Requests are built and signed (twilio's own RequestValidator) before any clock starts, then sent
by one asyncio loop over fresh connections, as Twilio does. Latency is measured from the moment a
request was due, so a generator that falls behind shows up in the figures instead of hiding.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from .fakes import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

TWILIO_TIMEOUT = 15.0


@dataclass
class Webhook:
    """One signed webhook ready to send, and what happened to it."""

    sender: str
    body: str
    sid: str
    raw: bytes
    due: float = 0.0
    sent: float = 0.0
    done: float = 0.0
    status: int = 0
    response: bytes = b""
    error: str = ""

    @property
    def latency(self) -> float:
        """Seconds from when the request was due to its complete answer."""
        return self.done - (self.due or self.sent)

    @property
    def ok(self) -> bool:
        return self.status == 200


def sender_phone(index: int) -> str:
    """A distinct Brazilian mobile number per simulated user."""
    return f"+55119{index:08d}"


def webhook(port: int, sender: str, body: str, media: list[tuple[str, str]] | None = None) -> Webhook:
    """Build and sign the form Twilio posts for one WhatsApp message to the app on `port`."""
    sid = f"SM{uuid.uuid4().hex}"
    form = {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": ACCOUNT_SID, "From": f"whatsapp:{sender}",
            "To": FROM_NUMBER, "Body": body, "NumMedia": str(len(media or [])), "ProfileName": "Bench",
            "WaId": sender.lstrip("+"), "SmsStatus": "received", "NumSegments": "1", "ApiVersion": "2010-04-01"}
    for i, (url, content_type) in enumerate(media or []):
        form[f"MediaUrl{i}"], form[f"MediaContentType{i}"] = url, content_type
    url = f"http://127.0.0.1:{port}/whatsapp"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    data = urlencode(form).encode()
    head = (f"POST /whatsapp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: TwilioProxy/1.1\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(data)}\r\n"
            f"X-Twilio-Signature: {signature}\r\nConnection: close\r\n\r\n")
    return Webhook(sender, body, sid, head.encode() + data)


async def _exchange(port: int, hook: Webhook) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(hook.raw)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    status_line = answer.split(b"\r\n", 1)[0].split()
    hook.status = int(status_line[1]) if len(status_line) > 1 else 0
    hook.response = answer.partition(b"\r\n\r\n")[2]


async def send(port: int, hook: Webhook, timeout: float = TWILIO_TIMEOUT) -> Webhook:
    """POST one webhook; like Twilio, give up after `timeout` seconds (status stays 0)."""
    hook.sent = time.monotonic()
    try:
        await asyncio.wait_for(_exchange(port, hook), timeout)
    except asyncio.TimeoutError:
        hook.error = "timeout"
    except OSError as exc:
        hook.error = type(exc).__name__
    hook.done = time.monotonic()
    return hook


async def _at_rate(port: int, hooks: list[Webhook], rate: float, on_done: Callable[[], None]) -> None:
    start = time.monotonic() + 0.05
    tasks = []
    for i, hook in enumerate(hooks):
        hook.due = start + i / rate
        delay = hook.due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(port, hook))
        task.add_done_callback(lambda _t: on_done())
        tasks.append(task)
    await asyncio.gather(*tasks)


def send_at_rate(port: int, hooks: list[Webhook], rate: float, on_done: Callable[[], None] = lambda: None) -> None:
    """Send `hooks` open-loop at `rate` per second, whatever the answers take."""
    asyncio.run(_at_rate(port, hooks, rate, on_done))


async def _chains(port: int, chains: list[list[Webhook]], on_done: Callable[[], None]) -> None:
    async def one_sender(chain: list[Webhook]) -> None:
        for hook in chain:
            await send(port, hook)
            on_done()

    await asyncio.gather(*(one_sender(chain) for chain in chains))


def send_chains(port: int, chains: list[list[Webhook]], on_done: Callable[[], None] = lambda: None) -> None:
    """Every sender at once; each sends its next message as soon as the previous webhook was
    answered or Twilio's 15 s ran out, so 'the order the user sent' is well defined."""
    asyncio.run(_chains(port, chains, on_done))
