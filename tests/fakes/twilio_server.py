"""A fake Twilio REST API over HTTP: the Messages resource, authenticated media, scripted errors.

Point the real client at it with `client.api.base_url = server.api_base_url`. Media registered with
`add_media` is served like Twilio does: an authenticated GET on the API path answers a redirect to a
CDN path (here `/cdn/<token>` on the same server) that serves the bytes without auth. Every request
is recorded with whether it carried an Authorization header, so tests can prove where credentials went.
"""
from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from .http_base import BackgroundServer, QuietHandler

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
MEDIA_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid_path>[^/]+/Media/[^/]+)$")


@dataclass(frozen=True)
class SentMessage:
    """One message accepted by the Messages endpoint."""

    sid: str
    to: str
    from_: str
    body: str
    media_urls: list[str]
    received_at: datetime
    monotonic: float
    content_sid: str = ""
    content_variables: str = ""
    status_callback: str = ""

    @property
    def variables(self) -> dict:
        """ContentVariables as a dict (a Content API template's values)."""
        return json.loads(self.content_variables) if self.content_variables else {}


@dataclass(frozen=True)
class RecordedRequest:
    """Any request the server saw, with whether it carried credentials."""

    method: str
    path: str
    authorization: str | None


@dataclass
class _Media:
    data: bytes
    content_type: str
    token: str
    missing_left: int
    redirect_status: int
    chunked: bool
    hits: int = 0
    complete_sends: int = 0


@dataclass
class _Failure:
    remaining: int
    status: int
    code: int
    message: str


def error_body(status: int, code: int, message: str) -> bytes:
    """Twilio's legacy JSON error shape, which the client turns into TwilioRestException."""
    return json.dumps({"code": code, "message": message, "status": status,
                       "more_info": f"https://www.twilio.com/docs/errors/{code}"}).encode()


class FakeTwilio(BackgroundServer):
    """The fake Twilio API for one account; see the module docstring."""

    def __init__(self, account_sid: str, auth_token: str, port: int = 0) -> None:
        super().__init__(port)
        self.handler_class = _Handler
        self.account_sid, self.auth_token = account_sid, auth_token
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.reset()

    @property
    def api_base_url(self) -> str:
        """The value for `client.api.base_url` and for MediaDownloader's `api_base_url`."""
        return self.url

    def reset(self) -> None:
        """Forget messages, media, requests, scripted failures and latency."""
        with self.lock:
            self._messages: list[SentMessage] = []
            self._requests: list[RecordedRequest] = []
            self._media: dict[str, _Media] = {}
            self._cdn: dict[str, _Media] = {}
            self._failure: _Failure | None = None
            self._garbled = 0
            self.latency = 0.0
            self.on_message: Callable[[SentMessage], None] | None = None

    def set_latency(self, seconds: float) -> None:
        """Delay every answer by `seconds`."""
        with self.lock:
            self.latency = seconds

    def fail_next(self, n: int = 1, status: int = 500, code: int | None = None,
                  message: str = "Scripted failure") -> None:
        """Answer the next `n` message creations with `status` and Twilio's error JSON."""
        default_code = {429: 20429, 401: 20003, 400: 21211}.get(status, 20500)
        with self.lock:
            self._failure = _Failure(n, status, code or default_code, message)

    def garble_next(self, n: int = 1) -> None:
        """Accept the next `n` messages but cut their answer short: a 201 whose body is not JSON (a
        proxy or a network fault), so the sender cannot know the message went out."""
        with self.lock:
            self._garbled = n

    def take_garbled(self) -> bool:
        """Consume one scripted garbled answer, if any is pending."""
        with self.lock:
            if self._garbled <= 0:
                return False
            self._garbled -= 1
            return True

    def add_media(self, sid_path: str | None, data: bytes, content_type: str, *,
                  missing_first: int = 0, redirect_status: int = 307, chunked: bool = False) -> str:
        """Serve `data` at `.../Messages/<sid_path>` ("MM.../Media/ME...", made up if None); returns its URL.

        The first `missing_first` authenticated requests answer 404, as Twilio does while media lags.
        `chunked` sends the CDN body without Content-Length, so only a streaming size cap can stop it.
        """
        sid_path = sid_path or f"MM{secrets.token_hex(16)}/Media/ME{secrets.token_hex(16)}"
        item = _Media(data, content_type, secrets.token_urlsafe(16), missing_first, redirect_status, chunked)
        with self.lock:
            self._media[sid_path] = item
            self._cdn[item.token] = item
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages/{sid_path}"

    def messages(self, to: str | None = None) -> list[SentMessage]:
        """Messages received so far, oldest first, optionally only those sent to `to`."""
        with self.lock:
            return [m for m in self._messages if to is None or m.to == to]

    def wait_for(self, count: int, to: str | None = None, timeout: float = 10.0) -> list[SentMessage]:
        """Block until `count` messages (to `to`, if given) arrived; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                found = [m for m in self._messages if to is None or m.to == to]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} messages to {to or 'anyone'}, got {len(found)}")
                self.arrived.wait(left)

    def requests(self, path_prefix: str = "") -> list[RecordedRequest]:
        """Every request seen, oldest first, optionally only paths starting with `path_prefix`."""
        with self.lock:
            return [r for r in self._requests if r.path.startswith(path_prefix)]

    def media_hits(self, sid_path: str) -> int:
        """How many authenticated requests reached the API path of one media item."""
        with self.lock:
            return self._media[sid_path].hits

    def media_complete_sends(self, sid_path: str) -> int:
        """How many times the CDN sent one media item's body to the end (a capped reader stops early)."""
        with self.lock:
            return self._media[sid_path].complete_sends

    def authorized(self, header: str | None) -> bool:
        """Whether a Basic Authorization header carries this account's sid and token."""
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(f"{user}:{password}", f"{self.account_sid}:{self.auth_token}")

    def record(self, method: str, path: str, authorization: str | None) -> float:
        """Log one request; returns the latency to apply."""
        with self.lock:
            self._requests.append(RecordedRequest(method, path, authorization))
            return self.latency

    def take_failure(self) -> _Failure | None:
        """Consume one scripted failure, if any is pending."""
        with self.lock:
            failure = self._failure
            if failure is None:
                return None
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failure = None
            return failure

    def create_message(self, form: dict[str, list[str]], arrived: float | None = None) -> tuple[int, dict | bytes]:
        """Validate a Messages form like Twilio does; record and describe the message (`monotonic` is
        `arrived`, when its request reached the server, if given)."""
        to, sender = form.get("To", [""])[0], form.get("From", [""])[0]
        body, media = form.get("Body", [""])[0], form.get("MediaUrl", [])
        content_sid, variables = form.get("ContentSid", [""])[0], form.get("ContentVariables", [""])[0]
        if not to:
            return 400, error_body(400, 21604, "A 'To' phone number is required.")
        if not sender:
            return 400, error_body(400, 21603, "A 'From' phone number is required.")
        if content_sid and not content_sid.startswith("HX"):
            return 400, error_body(400, 21655, "The ContentSid is Invalid.")
        if variables:
            try:
                json.loads(variables)
            except ValueError:
                return 400, error_body(400, 21656, "The ContentVariables Parameter is invalid.")
        if not body and not media and not content_sid:
            return 400, error_body(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return 400, error_body(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        now = datetime.now(timezone.utc)
        message = SentMessage(f"SM{secrets.token_hex(16)}", to, sender, body, media, now, arrived or time.monotonic(),
                              content_sid, variables, form.get("StatusCallback", [""])[0])
        with self.arrived:
            self._messages.append(message)
            self.arrived.notify_all()
            hook = self.on_message
        if hook is not None:
            hook(message)  # before the sender hears back: a test can break something right after a send
        return 201, self.resource(message)

    def report_status(self, message: SentMessage, status: str, error_code: int | None = None,
                      signed: bool = True, post_to: str | None = None) -> int:
        """POST the status callback Twilio would send for `message`, signed for its StatusCallback URL
        with the auth token by twilio's RequestValidator (`signed=False`: a forged one), to that URL
        or to `post_to` (the app's real address behind a PUBLIC_BASE_URL); returns the HTTP status."""
        import requests
        from twilio.request_validator import RequestValidator

        target = message.status_callback
        assert target, "the message asked for no status callback"
        form = {"MessageSid": message.sid, "SmsSid": message.sid, "AccountSid": self.account_sid,
                "MessageStatus": status, "SmsStatus": status, "To": message.to, "From": message.from_,
                "ApiVersion": "2010-04-01"}
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        token = self.auth_token if signed else "not-the-auth-token-0000000000000"
        signature = RequestValidator(token).compute_signature(target, form)
        return requests.post(post_to or target, data=form, headers={"X-Twilio-Signature": signature},
                             timeout=10).status_code

    def resource(self, message: SentMessage) -> dict:
        """The Message resource JSON Twilio answers a creation with."""
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}"
        stamp = format_datetime(message.received_at, usegmt=True)
        return {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": message.body,
            "date_created": stamp, "date_updated": stamp, "date_sent": None, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": message.from_, "to": message.to,
            "messaging_service_sid": None, "num_media": str(len(message.media_urls)), "num_segments": "1",
            "price": None, "price_unit": "USD", "sid": message.sid, "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"}, "uri": f"{uri}.json",
        }

    def media_answer(self, sid_path: str) -> tuple[int, bytes, dict]:
        """(status, body, headers) for an authenticated GET of one media item's API path."""
        with self.lock:
            item = self._media.get(sid_path)
            if item is None:
                return 404, error_body(404, 20404, "The requested resource was not found"), {}
            item.hits += 1
            if item.missing_left > 0:
                item.missing_left -= 1
                return 404, error_body(404, 20404, "The requested resource was not found"), {}
        return item.redirect_status, b"", {"Location": f"{self.url}/cdn/{item.token}"}

    def cdn_item(self, token: str) -> _Media | None:
        """The media item behind a CDN token."""
        with self.lock:
            return self._cdn.get(token)


class _Handler(QuietHandler):
    server_owner: FakeTwilio

    def handle(self) -> None:
        """Serve the connection; a client hanging up mid-body (a capped reader does) is not an error."""
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _begin(self) -> tuple[FakeTwilio, str]:
        owner = self.server_owner
        path = urlsplit(self.path).path
        delay = owner.record(self.command, path, self.headers.get("Authorization"))
        if delay:
            time.sleep(delay)
        return owner, path

    def _json(self, status: int, payload: dict | bytes) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_bytes(status, body, "application/json")

    def _send_chunked(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(data), 64 * 1024):
            piece = data[start:start + 64 * 1024]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        raw = self.read_body()
        owner, path = self._begin()
        match = MESSAGES_PATH.match(path)
        if not match:
            return self._json(404, error_body(404, 20404, "The requested resource was not found"))
        if not owner.authorized(self.headers.get("Authorization")):
            return self._json(401, error_body(401, 20003, "Authenticate"))
        if match["account"] != owner.account_sid:
            return self._json(404, error_body(404, 20404, "The requested resource was not found"))
        failure = owner.take_failure()
        if failure:
            return self._json(failure.status, error_body(failure.status, failure.code, failure.message))
        status, payload = owner.create_message(parse_qs(raw.decode(), keep_blank_values=True), self.request_started)
        if status == 201 and owner.take_garbled():
            return self._json(status, json.dumps(payload).encode()[:25])
        self._json(status, payload)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.read_body()
        owner, path = self._begin()
        if path.startswith("/cdn/"):
            item = owner.cdn_item(path[len("/cdn/"):])
            if item is None:
                return self.send_bytes(404, b"not found", "text/plain")
            if item.chunked:
                self._send_chunked(item.data, item.content_type)
            else:
                self.send_bytes(200, item.data, item.content_type)
            with owner.lock:
                item.complete_sends += 1
            return None
        match = MEDIA_PATH.match(path)
        if not match:
            return self._json(404, error_body(404, 20404, "The requested resource was not found"))
        if not owner.authorized(self.headers.get("Authorization")) or match["account"] != owner.account_sid:
            return self._json(401, error_body(401, 20003, "Authenticate"))
        status, body, headers = owner.media_answer(match["sid_path"])
        self.send_bytes(status, body, "application/json" if body else "text/plain", headers)
