"""The application database away when messages arrive: the webhook still answers 200 (Twilio never
retries a failed webhook), keeps the messages in the spool, and they are answered, in order, once
PostgreSQL (reached through a TCP proxy the test cuts) answers again."""
from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import text

from storage import ledger
from storage.db import Database
from tests.fakes.openai_server import say
from tests.fixtures.app import wait_until

pytestmark = pytest.mark.slow
ALICE = "+5511999990041"
TO = f"whatsapp:{ALICE}"


def ledger_rows(direct_url: str) -> list[tuple[str, str]]:
    """(MessageSid, status) of every ledger row, in id order, read past the proxy."""
    db = Database(direct_url, pool_size=1)
    try:
        with db.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT message_sid, status FROM inbound_messages ORDER BY id"))]
    finally:
        db.dispose()


def test_messages_arriving_while_the_database_is_down_are_kept_and_answered_in_order(
        make_live_app, pg_behind_proxy, openai_server, twilio_server):
    proxy, url, direct = pg_behind_proxy
    live = make_live_app(DATABASE_URL=url, BURST_WINDOW_SECONDS="0")
    for word in ("um", "dois", "três"):
        openai_server.on(f"^{word}$", say(f"Resposta {word}."))
    proxy.pause()
    before = time.monotonic()
    assert live.send(ALICE, "um", sid="SMdown0001").status_code == 200
    assert live.send(ALICE, "dois", sid="SMdown0002").status_code == 200
    assert time.monotonic() - before < 10, "answered within Twilio's 15 s"
    assert live.runtime.spool.pending()
    time.sleep(1.5)  # the drain tries and keeps them while the database is away
    assert live.runtime.spool.pending() and twilio_server.messages(to=TO) == []
    ready = requests.get(f"{live.url}/readyz", timeout=15)
    assert ready.status_code == 503 and ready.json()["inbound_spool"] == {"waiting": 2, "set_aside": 0}
    proxy.resume()
    assert [m.body for m in twilio_server.wait_for(2, to=TO, timeout=20)] == ["Resposta um.", "Resposta dois."]
    assert not live.runtime.spool.pending()
    assert live.send(ALICE, "três", sid="SMdown0003").status_code == 200
    assert [m.body for m in twilio_server.wait_for(3, to=TO, timeout=15)][-1] == "Resposta três."
    assert wait_until(lambda: [s for _sid, s in ledger_rows(direct)] == ["done"] * 3, timeout=15)
    assert [sid for sid, _status in ledger_rows(direct)] == ["SMdown0001", "SMdown0002", "SMdown0003"]


def test_values_postgresql_cannot_hold_are_cleaned_at_the_webhook_not_spooled_forever(
        make_live_app, pg_behind_proxy, openai_server, twilio_server):
    """A profile name longer than its column and a NUL character (PostgreSQL's text cannot hold
    one) once made the insert fail with the database up: the message went to the spool, which
    could never move it, and every later message queued behind it."""
    _proxy, _url, direct = pg_behind_proxy
    live = make_live_app(DATABASE_URL=direct, BURST_WINDOW_SECONDS="0")
    openai_server.on("^nome$", say("Oi!"))
    openai_server.on("^depois$", say("Oi de novo!"))
    assert live.send(ALICE, "no\x00me", sid="SMclean0001", profile="N" * 300).status_code == 200
    assert live.send(ALICE, "depois", sid="SMclean0002").status_code == 200
    assert [m.body for m in twilio_server.wait_for(2, to=TO, timeout=20)] == ["Oi!", "Oi de novo!"]
    assert not live.runtime.spool.pending()
    entry = ledger.get_by_sid(live.services.db, "SMclean0001")
    assert (entry.body, entry.profile_name) == ("nome", "N" * 200)
