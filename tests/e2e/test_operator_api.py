"""The memory API and the report data over real HTTP on 127.0.0.1: sessions made by real turns
(webhook -> worker -> agno agent -> scripted model), chat log rows written by the same pipeline."""
from __future__ import annotations

import pytest
import requests

from tests.e2e.operator_data import ANA, BETO, CAIO, XSS_DESCRIPTION, seed_operator_data

pytestmark = pytest.mark.slow
TOKEN = "operator-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def api(live, method: str, path: str, **kwargs) -> requests.Response:
    """One request to the live assistant with the admin token."""
    return requests.request(method, f"{live.url}{path}", headers=AUTH, timeout=30, **kwargs)


def chat(live, phone: str, *texts: str) -> None:
    """Send each text as its own turn and wait for the worker to finish it."""
    for text in texts:
        assert live.send(phone, text).status_code == 200
        live.wait_idle()


def whole_chat_log(live) -> list[tuple]:
    """Every chat log row, as comparable tuples."""
    body = api(live, "GET", "/agent-messages?per_page=200").json()
    assert body["total"] == len(body["items"])
    return sorted((m["phone"], m["direction"], m["body"], m["created_at"]) for m in body["items"])


@pytest.fixture
def live(make_live_app):
    """An assistant with ADMIN_TOKEN, the fake model and the fake Twilio; Ana and Beto have talked."""
    live = make_live_app(ADMIN_TOKEN=TOKEN)
    chat(live, ANA, "oi, tudo bem?", "quero organizar meus estudos")
    chat(live, BETO, "bom dia")
    return live


def test_memory_status_and_content(live):
    status = api(live, "GET", "/memory-status/whatsapp:+5511999990001").json()
    assert status["session"] == ANA and status["exists"] is True
    assert status["runs"] == 2 and status["messages"] >= 4 and status["updated_at"].endswith("Z")
    assert status["runs_in_context"] == 2
    assert api(live, "GET", "/memory-status/5531977770003").json()["exists"] is False
    content = api(live, "GET", "/memory-content?per_page=1").json()
    assert content["total"] == 2 and content["pages"] == 2 and len(content["items"]) == 1
    ana = api(live, "GET", f"/memory-content?user={ANA}").json()["items"][0]
    texts = [m["content"] for m in ana["recent_messages"] if m["role"] == "user"]
    assert any("oi, tudo bem?" in text for text in texts) and any("estudos" in text for text in texts)
    assert {m["role"] for m in ana["recent_messages"]} >= {"user", "assistant"}
    assert all(m["role"] != "system" for m in ana["recent_messages"])


def test_clearing_one_user_keeps_other_sessions_and_every_chat_log_row(live):
    chat_before = whole_chat_log(live)
    beto_before = api(live, "GET", f"/memory-status/{BETO}").json()
    assert len(chat_before) >= 6
    cleared = api(live, "POST", "/clear-user-memory/whatsapp:+55 11 99999-0001")
    assert cleared.status_code == 200
    body = cleared.json()
    assert body["cleared"] == ANA and body["removed"]["sessions"] == 1 and body["removed"]["runs"] == 2
    assert body["removed"]["messages"] >= 4 and "chat_log" in body["kept"]
    assert api(live, "GET", f"/memory-status/{ANA}").json()["exists"] is False
    assert api(live, "GET", f"/memory-status/{BETO}").json() == beto_before
    assert whole_chat_log(live) == chat_before
    again = api(live, "POST", f"/clear-user-memory/{ANA}")
    assert again.status_code == 404 and again.json()["error"]["code"] == "unknown_session"
    chat(live, ANA, "voltei")
    assert api(live, "GET", f"/memory-status/{ANA}").json()["runs"] == 1


def test_clearing_all_memory_keeps_the_chat_log_and_users(live):
    seed_operator_data(live.services)
    chat_before = whole_chat_log(live)
    users_before = api(live, "GET", "/get-report-data").json()["users"]
    body = api(live, "POST", "/clear-memory").json()
    assert body["cleared"] == "all" and body["removed"]["sessions"] == 2 and body["removed"]["runs"] == 3
    assert api(live, "GET", "/memory-content").json()["total"] == 0
    assert whole_chat_log(live) == chat_before
    assert api(live, "GET", "/get-report-data").json()["users"] == users_before


def test_agent_messages_filters_by_user_and_dates(live):
    everyone = api(live, "GET", "/agent-messages").json()
    ana = api(live, "GET", "/agent-messages", params={"user": "whatsapp:+5511999990001"}).json()
    assert 0 < ana["total"] < everyone["total"] and {m["phone"] for m in ana["items"]} == {ANA}
    assert {m["direction"] for m in ana["items"]} == {"in", "out"}
    newest = everyone["items"][0]["created_at"]
    assert everyone["items"] == sorted(everyone["items"], key=lambda m: m["created_at"], reverse=True)
    today = newest[:10]
    assert api(live, "GET", "/agent-messages", params={"since": today, "until": today}).json()["total"] \
        == everyone["total"]
    assert api(live, "GET", "/agent-messages", params={"until": "2020-01-01"}).json()["total"] == 0
    assert api(live, "GET", "/agent-messages", params={"since": newest}).json()["total"] >= 1
    paged = api(live, "GET", "/agent-messages", params={"per_page": 2, "page": 2}).json()
    assert paged["items"] == everyone["items"][2:4]
    bad = api(live, "GET", "/agent-messages", params={"since": "31/12/2026"})
    assert bad.status_code == 400 and "since must be an ISO 8601" in bad.json()["error"]["message"]


def test_report_data(live):
    seeded = seed_operator_data(live.services)
    data = api(live, "GET", "/get-report-data").json()
    assert data["totals"]["users"] == 3 and data["totals"]["images"] == len(seeded.image_keys)
    descriptions = [item["description"] for item in data["images"]["items"]]
    assert descriptions[0] == "Praias do Nordeste nas férias" and XSS_DESCRIPTION in descriptions
    for item in data["images"]["items"]:
        for image in item["images"]:
            fetched = requests.get(live.url + image["url"], timeout=10)
            assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")
    users = {user["phone"]: user for user in data["users"]["items"]}
    assert users[ANA]["cpf"] == "***.982.247-**" and "52998224725" not in str(data)
    assert users[ANA]["messages"] >= seeded.messages[ANA] and users[BETO]["last_login_at"] is None
    todos = {todo["title"]: todo for todo in data["todo_lists"]["items"]}
    assert (todos["Plano de estudos"]["done"], todos["Plano de estudos"]["total"]) == (2, 3)
    assert todos["Plano de estudos"]["percent"] == 67
    assert len(data["messages_per_day"]) == 30 and sum(d["count"] for d in data["messages_per_day"]) \
        == data["totals"]["messages"]
    found = api(live, "GET", "/get-report-data", params={"q": "praia"}).json()["images"]
    assert found["search"]["mode"] == "portuguese_full_text"
    assert {item["description"] for item in found["items"]} == {"Praia de Copacabana ao pôr do sol",
                                                                "Praias do Nordeste nas férias", XSS_DESCRIPTION}
    mine = api(live, "GET", "/get-report-data", params={"q": "praias", "user": CAIO}).json()
    assert [item["owner"] for item in mine["images"]["items"]] == [CAIO]
    assert [todo["owner"] for todo in mine["todo_lists"]["items"]] == []
    paged = api(live, "GET", "/get-report-data", params={"per_page": 2, "page": 3}).json()["images"]
    assert paged["pages"] == 3 and len(paged["items"]) == 1
    assert api(live, "GET", "/get-report-data", params={"page": 4, "per_page": 2}).status_code == 400


def test_report_thumbnails_from_s3_are_presigned_and_allowed_by_the_csp(make_live_app, s3_server, s3_bucket):
    from tests.fixtures.stores import S3_KEY, S3_SECRET

    live = make_live_app(with_model=False, ADMIN_TOKEN=TOKEN, BUCKET_NAME=s3_bucket, S3_ENDPOINT=s3_server,
                         AWS_ACCESS_KEY_ID=S3_KEY, AWS_SECRET_ACCESS_KEY=S3_SECRET)
    seeded = seed_operator_data(live.services)
    urls = [image["url"] for item in api(live, "GET", "/get-report-data").json()["images"]["items"]
            for image in item["images"]]
    assert len(urls) == len(seeded.image_keys) and all(url.startswith(s3_server) for url in urls)
    assert all("X-Amz-Signature=" in url for url in urls)
    assert all(requests.get(url, timeout=10).content.startswith(b"\x89PNG") for url in urls)
    page = api(live, "GET", "/report")
    assert f"img-src 'self' data: {s3_server};" in page.headers["Content-Security-Policy"]


def test_a_stuck_queue_shows_in_the_report(live):
    from datetime import timedelta

    from sqlalchemy import update

    from common.clock import utcnow
    from storage import ledger
    from storage.models import InboundMessage

    data = api(live, "GET", "/get-report-data").json()["ledger"]
    assert (data["queued"], data["done"], data["stalled"], data["oldest_queued_seconds"]) == (0, 3, False, None)
    assert 'id="ledger-stalled"' not in api(live, "GET", "/report").text
    # A row nobody enqueued, as if the worker process had been down for two minutes.
    waiting = ledger.add_to_ledger(live.services.db, "SMstuck0001", ANA, "alguém aí?")
    with live.services.db.session() as session:
        session.execute(update(InboundMessage).where(InboundMessage.id == waiting)
                        .values(received_at=utcnow() - timedelta(minutes=2)))
    data = api(live, "GET", "/get-report-data").json()["ledger"]
    assert data["queued"] == 1 and data["stalled"] is True and data["oldest_queued_seconds"] >= 120
    page = api(live, "GET", "/report").text
    assert 'id="ledger-stalled"' in page and "python -m worker" in page


def test_the_report_counts_the_spool_and_alerts_on_a_message_set_aside(make_live_app):
    """A worker side that is not running leaves spooled messages waiting: the report counts them.
    Once drained, a message the database could never take stays visible as an alert."""
    from storage import ledger
    from storage.spool import SpooledMessage

    live = make_live_app(ADMIN_TOKEN=TOKEN, start_worker=False)
    spool = live.runtime.spool
    spool.append(SpooledMessage("SMspooled0001", ANA, "estou aqui", [], "Ana", "2026-12-03T12:00:00+00:00"))
    with open(spool.path, "a", encoding="utf-8") as file:
        file.write('{"message_sid": "SMbroken", "not_a_field": true}\n')
    data = api(live, "GET", "/get-report-data").json()["ledger"]
    assert (data["spooled"], data["spool_set_aside"]) == (2, 0)
    assert '<span id="ledger-spooled">2</span>' in api(live, "GET", "/report").text
    assert live.runtime.drain_spool() == 1
    data = api(live, "GET", "/get-report-data").json()["ledger"]
    assert (data["spooled"], data["spool_set_aside"]) == (0, 1)
    assert ledger.get_by_sid(live.services.db, "SMspooled0001") is not None
    assert data["spool_set_aside_file"].endswith("inbound-spool.rejected.jsonl")
    page = api(live, "GET", "/report").text
    assert 'id="spool-set-aside"' in page and 'id="ledger-spooled"' not in page
