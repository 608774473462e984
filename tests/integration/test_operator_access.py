"""Who may reach the operator routes: the real app through Flask's test client, whose REMOTE_ADDR
stands in for a client on another machine (203.0.113.5) without any network tricks."""
from __future__ import annotations

import re

import pytest

from app import create_app
from config import build_config
from tests.fixtures.app import app_environment

TOKEN = "operator-token-0123456789abcdef"
REMOTE = {"REMOTE_ADDR": "203.0.113.5"}
ROUTES = [("POST", "/clear-memory"), ("POST", "/clear-user-memory/whatsapp:+5511999990001"),
          ("GET", "/memory-status/+5511999990001"), ("GET", "/memory-content"), ("GET", "/agent-messages"),
          ("GET", "/report"), ("GET", "/get-report-data")]


@pytest.fixture
def make_app(tmp_path):
    """Factory: the real app (worker not started) with extra environment variables."""
    apps = []

    def make(**env: str):
        app = create_app(build_config(app_environment(tmp_path / "data", **env)), start_worker=False)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["assistant"].stop()


def csrf_of(html: str) -> str:
    """The CSRF token a rendered form carries."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def call(client, method: str, path: str, **kwargs):
    return client.open(path, method=method, **kwargs)


@pytest.mark.parametrize("method, path", ROUTES)
def test_token_mode_refuses_missing_and_wrong_tokens(make_app, method, path):
    client = make_app(ADMIN_TOKEN=TOKEN).test_client()
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}):
        response = call(client, method, path, headers=headers, environ_base=REMOTE)
        assert response.status_code == 401, (headers, response.data)
        assert response.json["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method, path", ROUTES)
def test_token_mode_accepts_the_token_from_any_address(make_app, method, path):
    client = make_app(ADMIN_TOKEN=TOKEN).test_client()
    response = call(client, method, path, headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=REMOTE)
    expected = 404 if path.startswith("/clear-user-memory") else 200
    assert response.status_code == expected, response.data


@pytest.mark.parametrize("method, path", ROUTES)
def test_without_a_token_only_loopback_answers(make_app, method, path):
    client = make_app().test_client()
    response = call(client, method, path, environ_base=REMOTE)
    assert response.status_code == 403
    assert "loopback" in response.json["error"]["message"]
    assert call(client, method, path).status_code in (200, 404)


@pytest.mark.parametrize("headers", [{"X-Forwarded-For": "203.0.113.5"}, {"Forwarded": "for=203.0.113.5"},
                                     {"X-Real-IP": "203.0.113.5"}, {"Host": "evil.example:5000"}])
def test_without_a_token_proxied_or_rebound_requests_are_refused(make_app, headers):
    client = make_app().test_client()
    response = client.get("/memory-content", headers=headers)
    assert response.status_code == 403
    assert client.get("/memory-content", headers={"Host": "localhost:5000"}).status_code == 200


def test_without_a_token_a_browser_post_needs_the_csrf_token(make_app):
    client = make_app().test_client()
    browser = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert client.post("/clear-memory", headers=browser).status_code == 403
    token = csrf_of(client.get("/report").get_data(as_text=True))
    response = client.post("/clear-memory", data={"csrf_token": token}, headers={"Origin": "http://localhost"})
    assert response.status_code == 200
    assert client.post("/clear-memory").status_code == 200


def test_repeated_wrong_tokens_are_slowed_down(make_app):
    client = make_app(ADMIN_TOKEN=TOKEN).test_client()
    wrong = {"Authorization": "Bearer guess"}
    statuses = [client.get("/memory-content", headers=wrong, environ_base=REMOTE).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    refused = client.get("/memory-content", headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=REMOTE)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.json["error"]["code"] == "too_many_failures"
    other = client.get("/memory-content", headers={"Authorization": f"Bearer {TOKEN}"},
                       environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 200


def test_dashboard_login_sets_a_strict_http_only_cookie_and_forms_need_csrf(make_app):
    client = make_app(ADMIN_TOKEN=TOKEN).test_client()
    page = client.get("/report", headers={"Accept": "text/html"}, environ_base=REMOTE)
    assert page.status_code == 401 and b'name="token"' in page.data
    form = client.get("/login", environ_base=REMOTE)
    csrf = csrf_of(form.get_data(as_text=True))
    wrong = client.post("/login", data={"token": "nope", "csrf_token": csrf}, environ_base=REMOTE)
    assert wrong.status_code == 401 and "Token incorreto" in wrong.get_data(as_text=True)
    assert client.post("/login", data={"token": TOKEN}, environ_base=REMOTE).status_code == 400
    ok = client.post("/login", data={"token": TOKEN, "csrf_token": csrf, "next": "//evil.example/x"},
                     environ_base=REMOTE)
    assert ok.status_code == 303 and ok.headers["Location"] == "/report"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    report = client.get("/report", environ_base=REMOTE)
    assert report.status_code == 200 and "default-src 'none'" in report.headers["Content-Security-Policy"]
    assert client.post("/clear-memory", environ_base=REMOTE).status_code == 403
    csrf = csrf_of(report.get_data(as_text=True))
    cleared = client.post("/clear-memory", data={"csrf_token": csrf, "return_to": "report"}, environ_base=REMOTE)
    assert cleared.status_code == 303 and cleared.headers["Location"] == "/report"
    client.post("/logout", data={"csrf_token": csrf}, environ_base=REMOTE)
    assert client.get("/get-report-data", environ_base=REMOTE).status_code == 401


def test_the_cookie_is_secure_over_https(make_app):
    client = make_app(ADMIN_TOKEN=TOKEN).test_client()
    form = client.get("/login", base_url="https://localhost")
    ok = client.post("/login", data={"token": TOKEN, "csrf_token": csrf_of(form.get_data(as_text=True))},
                     base_url="https://localhost")
    assert "Secure" in ok.headers["Set-Cookie"]


def test_open_routes_stay_open(make_app):
    client = make_app(ADMIN_TOKEN=TOKEN).test_client()
    assert client.get("/healthz", environ_base=REMOTE).status_code == 200
    assert client.get("/readyz", environ_base=REMOTE).status_code == 200
    assert client.get("/static/dashboard.css", environ_base=REMOTE).status_code == 200
    webhook = client.post("/whatsapp", data={"From": "whatsapp:+5511999990001"}, environ_base=REMOTE)
    assert webhook.status_code == 403 and webhook.json["error"]["code"] == "bad_signature"
    media = client.get("/media/images/5511999990001/x.png?exp=1&sig=x", environ_base=REMOTE)
    assert media.status_code in (403, 404) and media.json["error"]["code"] != "unauthorized"


@pytest.mark.parametrize("method, path, status, code", [
    ("GET", "/memory-status/abc", 400, "bad_request"),
    ("POST", "/clear-user-memory/12", 400, "bad_request"),
    ("POST", "/clear-user-memory/+5511999990009", 404, "unknown_session"),
    ("GET", "/agent-messages?since=ontem", 400, "bad_request"),
    ("GET", "/agent-messages?since=2026-11-02&until=2026-11-01", 400, "bad_request"),
    ("GET", "/agent-messages?page=3", 400, "page_out_of_range"),
    ("GET", "/agent-messages?per_page=0", 400, "bad_request"),
    ("GET", "/memory-content?page=2", 400, "page_out_of_range"),
    ("GET", "/memory-content?user=xyz", 400, "bad_request"),
    ("GET", "/get-report-data?page=2", 400, "page_out_of_range"),
    ("GET", "/get-report-data?users_page=abc", 400, "bad_request"),
    ("GET", "/report?user=nobody", 400, "bad_request"),
    ("GET", "/no-such-route", 404, "not_found"),
    ("GET", "/clear-memory", 405, "method_not_allowed"),
])
def test_bad_input_gets_a_clear_4xx_in_the_one_error_shape(make_app, method, path, status, code):
    client = make_app(ADMIN_TOKEN=TOKEN).test_client()
    response = call(client, method, path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == status, response.data
    assert set(response.json) == {"error"} and response.json["error"]["code"] == code
    assert response.json["error"]["message"]
