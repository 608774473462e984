"""Delivery receipts through the real routes: every part asks for a status callback, signed callbacks
are stored and shown on the dashboard, forged ones refused, unknown SIDs ignored, 21610 blocks."""
from __future__ import annotations

import pytest
import requests

from storage import deliveries
from tests.e2e.backends import BACKENDS, store_overrides
from tests.e2e.conversation import Conversation
from tests.fixtures.app import wait_until

pytestmark = pytest.mark.slow
PUBLIC = "https://assistente.example.org"
ANA = "+5511999990201"
TOKEN = "receipts-admin-token"


@pytest.mark.parametrize("backend", BACKENDS)
def test_signed_receipts_are_stored_and_shown_forged_ones_refused(backend, request, make_live_app, twilio_server):
    live = make_live_app(with_model=False, PUBLIC_BASE_URL=PUBLIC, ADMIN_TOKEN=TOKEN,
                         **store_overrides(request, backend))
    db = live.services.db
    Conversation(live, twilio_server, ANA).say("ajuda")
    reply = twilio_server.messages(to=f"whatsapp:{ANA}")[-1]
    assert reply.status_callback == f"{PUBLIC}/twilio/status"
    assert wait_until(lambda: any(r.message_sid == reply.sid for r in deliveries.deliveries_of(db, ANA)), timeout=5)
    status_url = f"{live.url}/twilio/status"

    assert twilio_server.report_status(reply, "delivered", signed=False, post_to=status_url) == 403
    assert deliveries.counts_by_status(db) == {"queued": 1}  # a forged receipt changes nothing
    assert twilio_server.report_status(reply, "sent", post_to=status_url) == 200
    assert twilio_server.report_status(reply, "delivered", post_to=status_url) == 200
    assert twilio_server.report_status(reply, "read", post_to=status_url) == 200
    assert deliveries.counts_by_status(db) == {"read": 1}

    stranger = reply.__class__(**{**reply.__dict__, "sid": "SM" + "f" * 32})
    assert twilio_server.report_status(stranger, "failed", 30008, post_to=status_url) == 200
    assert deliveries.deliveries_of(db, ANA)[0].status == "read" and len(deliveries.deliveries_of(db, ANA)) == 1

    Conversation(live, twilio_server, ANA).say("ajuda")
    second = twilio_server.messages(to=f"whatsapp:{ANA}")[-1]
    assert wait_until(lambda: len(deliveries.deliveries_of(db, ANA)) == 2, timeout=5)
    assert twilio_server.report_status(second, "undelivered", 21610, post_to=status_url) == 200
    assert deliveries.prefs_of(db, ANA).blocked  # no proactive message to Ana any more

    headers = {"Authorization": f"Bearer {TOKEN}"}
    data = requests.get(f"{live.url}/get-report-data", headers=headers, timeout=10).json()["deliveries"]
    assert data["failures"] == [{"error_code": 21610, "count": 1,
                                 "meaning": "o usuário bloqueou o número ou pediu para sair"}]
    page = requests.get(f"{live.url}/report", headers=headers, timeout=10).text
    assert 'id="delivery-failures"' in page and "21610" in page


def test_without_public_base_url_no_part_asks_for_a_callback(make_live_app, twilio_server):
    live = make_live_app(with_model=False)
    Conversation(live, twilio_server, ANA).say("ajuda")
    assert twilio_server.messages(to=f"whatsapp:{ANA}")[-1].status_callback == ""
