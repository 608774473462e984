"""`/` over real HTTP: a newcomer who opens the server's root lands on the dashboard, which still asks
for the admin token (or answers only this machine when there is none)."""
from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.slow
TOKEN = "operator-token-0123456789abcdef"


def test_root_redirects_to_the_dashboard_which_asks_for_the_token(make_live_app):
    live = make_live_app(ADMIN_TOKEN=TOKEN)
    bare = requests.get(f"{live.url}/", allow_redirects=False, timeout=10)
    assert bare.status_code == 302 and bare.headers["Location"] in ("/report", f"{live.url}/report")
    login_page = requests.get(f"{live.url}/", headers={"Accept": "text/html"}, timeout=10)
    assert login_page.url == f"{live.url}/report" and login_page.status_code == 401
    assert 'name="token"' in login_page.text, "the dashboard's guard asks for the admin token"
    dashboard = requests.get(f"{live.url}/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert dashboard.url == f"{live.url}/report" and dashboard.status_code == 200
    assert dashboard.headers["Content-Type"].startswith("text/html")


def test_without_a_token_root_leads_to_the_dashboard_on_this_machine(make_live_app):
    live = make_live_app()
    dashboard = requests.get(f"{live.url}/", timeout=10)
    assert [r.status_code for r in dashboard.history] == [302]
    assert dashboard.url == f"{live.url}/report" and dashboard.status_code == 200
    proxied = requests.get(f"{live.url}/", headers={"X-Forwarded-For": "203.0.113.5"}, timeout=10)
    assert proxied.url == f"{live.url}/report" and proxied.status_code == 403, "the guard still decides"
