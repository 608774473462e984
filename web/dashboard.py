"""The operator's dashboard: `/report` (HTML), `/get-report-data` (the same data as JSON), the
login page that trades the admin token for a session cookie, and `/`, which points at `/report`.

Pages are rendered by Jinja with autoescaping on and served with a strict Content-Security-Policy:
no inline script, nothing from another origin except the S3 store's signed image links.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, session, url_for

from .admin import csrf_ok, token_fingerprint
from .report_data import build_report, chart_bars

bp = Blueprint("dashboard", __name__)


def _services():
    return current_app.extensions["assistant"].services


def _spool():
    return current_app.extensions["assistant"].spool


def _image_sources() -> str:
    config = _services().config
    if config.s3_endpoint:
        parts = urlsplit(config.s3_endpoint)
        return f"'self' data: {parts.scheme}://{parts.netloc}"
    if config.bucket_name:
        return "'self' data: https://*.amazonaws.com"
    return "'self' data:"


@bp.after_request
def _security_headers(response: Response) -> Response:
    """Strict headers on every dashboard response (the guard's 401 login page included)."""
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; img-src {_image_sources()}; style-src 'self'; script-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _page_url(**changes: object) -> str:
    """This report's URL with some query parameters changed (pagination and filter links)."""
    args = {key: value for key, value in request.args.items() if value != ""}
    args.update({key: value for key, value in changes.items() if value is not None})
    return url_for("dashboard.report", **args)


@bp.get("/")
def home() -> Response:
    """Send whoever opens the server's root to the dashboard, which asks for the admin token itself."""
    return redirect(url_for("dashboard.report"), 302)


@bp.get("/report")
def report():
    """The HTML dashboard."""
    data = build_report(_services(), request.args, _spool())
    return render_template("report.html", report=data, chart=chart_bars(data["messages_per_day"]),
                           page_url=_page_url, token_mode=bool(_services().config.admin_token))


@bp.get("/get-report-data")
def report_data():
    """The report as JSON (same query parameters as /report)."""
    return jsonify(build_report(_services(), request.args, _spool()))


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.report")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with the admin token once; the session cookie then opens the dashboard."""
    guard = current_app.extensions["admin_guard"]
    if not guard.token:
        return redirect(url_for("dashboard.report"), 303)
    next_url = request.values.get("next")
    if request.method == "GET":
        return render_template("login.html", error=None, next_url=next_url)
    refused = guard.refused_for_throttle()
    if refused is not None:
        return render_template("login.html", error="Muitas tentativas erradas; aguarde e tente de novo.",
                               next_url=next_url), 429, {"Retry-After": refused.headers["Retry-After"]}
    if not csrf_ok():
        return render_template("login.html", error="A página expirou; tente de novo.", next_url=next_url), 400
    if not guard.token_matches(request.form.get("token", "")):
        guard.throttle.fail(request.remote_addr or "")
        return render_template("login.html", error="Token incorreto.", next_url=next_url), 401
    guard.throttle.succeed(request.remote_addr or "")
    session.clear()
    session["admin"] = token_fingerprint(guard.token)
    session.permanent = True
    return redirect(_safe_next(next_url), 303)


@bp.post("/logout")
def logout():
    """Forget the dashboard session."""
    if csrf_ok():
        session.clear()
    return redirect(url_for("dashboard.login"), 303)
