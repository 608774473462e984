"""Outbound side: replies through Twilio's Messages API, one client per process, retried sends."""
from __future__ import annotations

import base64
import functools
import json
import logging
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol
from urllib.parse import unquote, urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass_environment

import certifi
import urllib3
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.request import Request as TwilioRequest
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import HTTPError, LocationValueError, MaxRetryError, NewConnectionError
from urllib3.util import Retry, Timeout, create_urllib3_context, make_headers

from common.phones import whatsapp_address
from common.trust import ca_bundle_override, verify_locations

from .chunking import split_message

log = logging.getLogger(__name__)
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
JSON_TYPES = {"application/json", "application/scim+json"}
MAX_REDIRECTS = 30


class SendFailed(RuntimeError):
    """A reply could not be delivered to Twilio after the retries. `delivered` holds the (message id,
    chunk) pairs of a long text that did go out before the chunk that failed, so they are logged."""

    def __init__(self, message: str, delivered: list[tuple[str, str]] | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.delivered = list(delivered or [])
        self.code = code  # Twilio's error code (21610: the user blocked us; 63016: outside the 24-hour window)


class ReplySender(Protocol):
    """Anything that can deliver a text or an image to a phone."""

    can_deliver: bool

    def send_text(self, phone: str, text: str) -> list[str]:
        """Send text (chunked as needed); returns the message ids."""

    def send_image(self, phone: str, url: str, caption: str = "") -> str:
        """Send one image by URL with a caption; returns the message id."""

    def send_template(self, phone: str, content_sid: str, variables: Mapping[str, str]) -> str:
        """Send an approved template (Content API) with its variables; returns the message id."""


IoWait = Callable[[], AbstractContextManager]


@functools.lru_cache(maxsize=8)
def _basic_auth(username: str, password: str) -> str:
    """The Authorization header value for HTTP basic auth (latin-1, as requests encodes it)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode("latin1")).decode("ascii")


def _charset(content_type: str | None) -> str:
    """The charset named in a Content-Type header, else UTF-8 (what JSON is)."""
    if content_type:
        for part in content_type.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("\"' ")
    return "utf-8"


def _decode(body: bytes, content_type: str | None) -> str:
    """A response body as text, undecodable bytes replaced (as requests' `text` does)."""
    try:
        return body.decode(_charset(content_type), errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _as_os_error(exc: HTTPError) -> OSError:
    """urllib3's network failure as the OSError TwilioSender retries: TimeoutError or ConnectionError."""
    reason = exc.reason if isinstance(exc, MaxRetryError) and exc.reason is not None else exc
    if isinstance(reason, urllib3.exceptions.TimeoutError) and not isinstance(reason, NewConnectionError):
        return TimeoutError(str(reason))
    return ConnectionError(str(reason))


class WaitingHttpClient(HttpClient):
    """twilio's HttpClient on urllib3 pools; each exchange, body included, runs inside `io_wait()`.

    Connections are kept for reuse, `pool_size` per host; a burst beyond that opens extra ones
    (never blocks) that are closed after use. `timeout` bounds both the connect and each read.
    urllib3 never retries and follows redirects only when a caller asks (`allow_redirects`):
    TwilioSender retries, so a network failure surfaces as an OSError, TimeoutError for a timeout
    and ConnectionError for the rest (refused, reset, TLS, proxy).

    Proxies: HTTPS_PROXY, HTTP_PROXY and NO_PROXY (either case) are read once, here, with
    urllib.request.getproxies(). A request goes through a urllib3.ProxyManager for its scheme's
    proxy (a CONNECT tunnel for https URLs) unless NO_PROXY exempts its host, as urllib's
    proxy_bypass_environment decides; `user:password@` in a proxy URL is sent as Proxy-Authorization.
    ALL_PROXY and SOCKS proxies are not supported. TLS is verified against REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE when set (also read once), else certifi's bundle, as requests did.

    `direct` is the PoolManager of every host no proxy applies to. Nothing is logged: neither
    headers (Authorization included) nor bodies.
    """

    def __init__(self, io_wait: IoWait = nullcontext, pool_size: int = 10, timeout: float | None = None) -> None:
        super().__init__(log, False, timeout)
        self.io_wait = io_wait
        ssl_context = create_urllib3_context()
        ssl_context.load_verify_locations(**verify_locations(ca_bundle_override() or certifi.where()))
        self._pool_kw = {"maxsize": pool_size, "block": False, "retries": False, "ssl_context": ssl_context}
        self.direct = urllib3.PoolManager(**self._pool_kw)
        self.proxies = {k: v for k, v in getproxies().items() if k in ("http", "https", "no")}
        self._routes: dict[tuple[str, str], urllib3.PoolManager] = {}
        self._proxy_managers: dict[str, urllib3.ProxyManager] = {}
        self._lock = threading.Lock()
        self._timeouts = {timeout: Timeout(connect=timeout, read=timeout)}
        self._follow = Retry(total=None, connect=0, read=0, other=0, redirect=MAX_REDIRECTS,
                             raise_on_redirect=False, raise_on_status=False)

    def manager_for(self, url: str) -> urllib3.PoolManager:
        """The pool manager requests to `url` go through: a proxy's, or `direct`."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        manager = self._routes.get(key)
        if manager is None:
            with self._lock:
                manager = self._routes.get(key) or self._route(parts.scheme, parts.netloc.rpartition("@")[2])
                self._routes[key] = manager
        return manager

    def _route(self, scheme: str, host: str) -> urllib3.PoolManager:
        """The scheme's proxy manager unless there is none or NO_PROXY exempts `host`; else `direct`."""
        proxy = self.proxies.get(scheme)
        if not proxy or proxy_bypass_environment(host, self.proxies):
            return self.direct
        if proxy not in self._proxy_managers:
            self._proxy_managers[proxy] = self._proxy_manager(proxy)
        return self._proxy_managers[proxy]

    def _proxy_manager(self, proxy: str) -> urllib3.ProxyManager:
        """A ProxyManager for one proxy URL (scheme-less means http://, as requests reads it)."""
        url = proxy if "://" in proxy else f"http://{proxy}"
        parts = urlsplit(url)
        headers = None
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers = make_headers(proxy_basic_auth=credentials)
        return urllib3.ProxyManager(url, proxy_headers=headers, **self._pool_kw)

    def request(self, method: str, uri: str, params: Mapping[str, object] | None = None,
                data: Mapping[str, object] | None = None, headers: Mapping[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        """Send one request and read its whole answer, inside `io_wait()`; see the class docstring."""
        if timeout is None:
            timeout = self.timeout
        elif timeout <= 0:
            raise ValueError(timeout)
        method = method.upper()
        self._test_only_last_response = None
        self._test_only_last_request = TwilioRequest(method=method, url=uri, auth=auth, params=params,
                                                     data=data, headers=headers)
        url = f"{uri}{'&' if '?' in uri else '?'}{urlencode(params, doseq=True)}" if params else uri
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = _basic_auth(*auth)
        body: bytes | None = None
        if sent.get("Content-Type") in JSON_TYPES:
            if data is not None:
                body = json.dumps(data, allow_nan=False).encode()
        elif data:
            body = urlencode(data, doseq=True).encode()
            if "Content-Type" not in sent and "content-type" not in sent:
                sent["Content-Type"] = "application/x-www-form-urlencoded"
        limits = self._timeouts.get(timeout) or Timeout(connect=timeout, read=timeout)
        manager = self.manager_for(url)
        try:
            with self.io_wait():
                answer = manager.urlopen(method, url, body=body, headers=sent, timeout=limits,
                                         retries=self._follow if allow_redirects else False,
                                         redirect=allow_redirects)
        except LocationValueError:  # a malformed URL is a bug to surface, not an outage to retry
            raise
        except HTTPError as exc:
            raise _as_os_error(exc) from exc
        text = _decode(answer.data, answer.headers.get("Content-Type"))
        self._test_only_last_response = Response(answer.status, text, answer.headers)
        return self._test_only_last_response


class TwilioSender:
    """Sends through the real twilio client pointed at `api_base_url`; retries 429/5xx with backoff.

    Every wait on Twilio (a request, a backoff sleep) runs inside `io_wait()`: the worker's CPU gate
    (worker/gate.py) steps aside meanwhile. HTTP goes through WaitingHttpClient (urllib3, proxies
    from the environment), which keeps `pool_size` connections for reuse.
    """

    can_deliver = True

    def __init__(self, account_sid: str, auth_token: str, from_number: str,
                 api_base_url: str = "https://api.twilio.com", timeout: float = 15.0,
                 retries: int = 3, backoff: float = 0.5, io_wait: IoWait = nullcontext, pool_size: int = 10,
                 status_callback: str | None = None) -> None:
        self.client = Client(account_sid, auth_token, http_client=WaitingHttpClient(io_wait, pool_size, timeout))
        self.client.api.base_url = api_base_url.rstrip("/")
        self.from_number = from_number
        self.retries, self.backoff, self.io_wait = retries, backoff, io_wait
        self.extra = {"status_callback": status_callback} if status_callback else {}

    def _create(self, **kwargs) -> str:
        delay = self.backoff
        kwargs.update(self.extra)
        for attempt in range(1, self.retries + 1):
            try:
                return self.client.messages.create(from_=self.from_number, **kwargs).sid
            except TwilioRestException as exc:
                if exc.status not in RETRYABLE_STATUS or attempt == self.retries:
                    raise SendFailed(f"Twilio answered {exc.status} (code {exc.code})", code=exc.code) from exc
                log.warning("Twilio send failed with %s, retrying (attempt %d)", exc.status, attempt)
            except OSError as exc:
                if attempt == self.retries:
                    raise SendFailed(f"Twilio unreachable: {type(exc).__name__}") from exc
                log.warning("Twilio unreachable (%s), retrying (attempt %d)", type(exc).__name__, attempt)
            except Exception as exc:
                # Anything else (a 2xx whose body is not Twilio's JSON, cut short on the way back):
                # the message may have gone out, so it is neither retried here nor by the worker.
                raise SendFailed(f"Twilio's answer could not be read: {type(exc).__name__}") from exc
            with self.io_wait():
                time.sleep(delay)
            delay *= 2
        raise SendFailed("unreachable")

    def send_text(self, phone: str, text: str) -> list[str]:
        """Send `text` in chunks of at most 1,600 characters, in order; a failure names the chunks
        that had gone out."""
        delivered: list[tuple[str, str]] = []
        for chunk in split_message(text):
            try:
                delivered.append((self._create(to=whatsapp_address(phone), body=chunk), chunk))
            except SendFailed as exc:
                raise SendFailed(str(exc), delivered, exc.code) from exc.__cause__
        return [sid for sid, _chunk in delivered]

    def send_image(self, phone: str, url: str, caption: str = "") -> str:
        """Send one image (Twilio fetches `url`) with its caption."""
        return self._create(to=whatsapp_address(phone), body=caption[:1600], media_url=[url])

    def send_template(self, phone: str, content_sid: str, variables: Mapping[str, str]) -> str:
        """Send an approved WhatsApp template through Twilio's Content API (outside the 24-hour window)."""
        return self._create(to=whatsapp_address(phone), content_sid=content_sid,
                            content_variables=json.dumps(dict(variables), ensure_ascii=False))


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

    def send_template(self, phone: str, content_sid: str, variables: Mapping[str, str]) -> str:
        """Record a template message as its variables."""
        with self.lock:
            self.sent.append(Outbox(phone, " | ".join(variables.values())))
        return "local-template"

    def take(self, phone: str) -> list[Outbox]:
        """Remove and return the replies recorded for a phone."""
        with self.lock:
            mine = [o for o in self.sent if o.phone == phone]
            self.sent = [o for o in self.sent if o.phone != phone]
        return mine
