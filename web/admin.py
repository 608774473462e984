"""The one admin guard of the operator routes: a bearer token, a dashboard session, or loopback.

Rules, checked before every request except the open endpoints (webhook, health, signed media,
static files, the login page, and `/`, a redirect to the dashboard):
- `ADMIN_TOKEN` set: `Authorization: Bearer <token>` (constant-time compare) or the session cookie
  the login page set; a state-changing request on the cookie must carry the CSRF token. Missing or
  wrong token: 401. Repeated failures from one address: 429 with Retry-After, doubling each time.
- `ADMIN_TOKEN` unset: only the loopback address, never through a proxy (X-Forwarded-For and kin
  are not trusted: a request carrying them is refused), only with a loopback Host header (no DNS
  rebinding), and a browser's state-changing request needs the CSRF token.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets

from flask import Flask, current_app, g, render_template, request, session

from .errors import error_response
from .throttle import FailureThrottle

OPEN_BLUEPRINTS = {"whatsapp", "twilio_status", "health", "media"}
OPEN_ENDPOINTS = {"static", "dashboard.home", "dashboard.login", "dashboard.logout"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PROXY_HEADERS = ("X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "X-Real-IP")
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1 (and IPv4-mapped loopback)."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _host_is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.lower() in LOOPBACK_HOSTS or name.startswith("127.")


def token_fingerprint(token: str) -> str:
    """What the session cookie keeps instead of the token: an HMAC under SECRET_KEY."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def csrf_token() -> str:
    """The session's CSRF token (created on first use); templates put it in every form."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_ok() -> bool:
    """True when the request carries the session's CSRF token (form field or X-CSRF-Token header)."""
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, '' for another scheme, None if absent."""
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.method == "GET"


def _unauthorized(message: str):
    if _wants_html():
        return render_template("login.html", error=None, next_url=request.full_path), 401
    response = error_response(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="operator"'
    return response


class AdminGuard:
    """Decides, per request, whether the operator routes may answer."""

    def __init__(self, token: str | None, throttle: FailureThrottle | None = None) -> None:
        self.token = token
        self.throttle = throttle or FailureThrottle()

    def token_matches(self, candidate: str) -> bool:
        """Constant-time comparison with ADMIN_TOKEN."""
        return bool(self.token) and hmac.compare_digest(candidate.encode(), self.token.encode())

    def refused_for_throttle(self):
        """A 429 when this address failed too often lately, else None."""
        wait = self.throttle.retry_after(request.remote_addr or "")
        if wait <= 0:
            return None
        response = error_response(429, "too_many_failures",
                                  f"Too many failed attempts from this address; retry in {wait} s.")
        response.headers["Retry-After"] = str(wait)
        return response

    def check(self):
        """The before-request hook: None lets the request through, else the refusal response."""
        if request.endpoint is None or request.endpoint in OPEN_ENDPOINTS \
                or request.blueprint in OPEN_BLUEPRINTS:
            return None
        return self._check_token() if self.token else self._check_loopback()

    def _check_token(self):
        presented = bearer(request.headers.get("Authorization"))
        if presented is not None:
            refused = self.refused_for_throttle()
            if refused is not None:
                return refused
            if not self.token_matches(presented):
                self.throttle.fail(request.remote_addr or "")
                return _unauthorized("Wrong admin token.")
            self.throttle.succeed(request.remote_addr or "")
            g.operator_via = "bearer"
            return None
        if hmac.compare_digest(str(session.get("admin", "")), token_fingerprint(self.token)):
            if request.method in UNSAFE_METHODS and not csrf_ok():
                return error_response(403, "csrf_failed", "Missing or wrong CSRF token; reload the dashboard.")
            g.operator_via = "session"
            return None
        return _unauthorized("Send Authorization: Bearer <ADMIN_TOKEN> (or log in at /login).")

    def _check_loopback(self):
        if not is_loopback(request.remote_addr):
            return error_response(403, "forbidden", "ADMIN_TOKEN is not set, so operator routes answer only "
                                                    "requests from this machine (loopback).")
        if any(name in request.headers for name in PROXY_HEADERS):
            return error_response(403, "forbidden", "This request came through a proxy; set ADMIN_TOKEN to "
                                                    "use operator routes from another machine.")
        if not _host_is_loopback(request.host):
            return error_response(403, "forbidden", "Without ADMIN_TOKEN the Host must be localhost or a "
                                                    "loopback address.")
        browser = "Origin" in request.headers or "Sec-Fetch-Site" in request.headers
        if request.method in UNSAFE_METHODS and browser and not csrf_ok():
            return error_response(403, "csrf_failed", "Missing or wrong CSRF token; reload the dashboard.")
        g.operator_via = "loopback"
        return None


def install_guard(app: Flask, token: str | None) -> AdminGuard:
    """Guard every non-open route of `app` and expose `csrf_token()` to templates."""
    guard = AdminGuard(token)
    app.extensions["admin_guard"] = guard
    app.before_request(guard.check)
    app.jinja_env.globals["csrf_token"] = csrf_token
    return guard
