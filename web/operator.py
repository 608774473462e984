"""Wires the operator's side into the app: the admin guard, the memory API, the dashboard, the session
cookie's settings and the handler that turns bad input into a 4xx in the one JSON error shape.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, flash, has_request_context, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface

from . import dashboard, memory_api
from .admin import install_guard
from .errors import error_response
from .params import BadParam

SESSION_HOURS = 12


class OperatorSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the browser reached us over HTTPS: directly, or
    through the HTTPS proxy named by PUBLIC_BASE_URL (whose Host header the request then carries)."""

    def __init__(self, https_host: str | None) -> None:
        self.https_host = https_host

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure for HTTPS requests and for requests to the public HTTPS host."""
        if not has_request_context():
            return bool(app.config["SESSION_COOKIE_SECURE"])
        return request.is_secure or (self.https_host is not None and request.host == self.https_host)


def _bad_param(exc: BadParam):
    if exc.status < 500 and request.method == "POST" and request.form.get("return_to") == "report":
        flash(str(exc))
        return redirect(url_for("dashboard.report"), 303)
    return error_response(exc.status, exc.code, str(exc))


def register(app: Flask) -> None:
    """Register the guard first, then the operator blueprints and their error handler."""
    runtime = app.extensions["assistant"]
    config = runtime.services.config
    public = urlsplit(config.public_base_url or "")
    app.config.update(SESSION_COOKIE_NAME="operator_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS))
    app.session_interface = OperatorSessionInterface(public.netloc if public.scheme == "https" else None)
    install_guard(app, config.admin_token)
    app.register_blueprint(memory_api.bp)
    app.register_blueprint(dashboard.bp)
    app.register_error_handler(BadParam, _bad_param)
