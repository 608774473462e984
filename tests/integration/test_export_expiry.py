"""LGPD exports live only as long as their link: tools.privacy.expire_exports on both media stores."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tools.privacy import EXPORT_TTL, export_key, expire_exports

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
ALICE, BOB = "+5511999990001", "+5511999990002"


def test_exports_older_than_their_link_are_deleted_and_fresh_ones_kept(media_store):
    fresh = export_key(ALICE, NOW - timedelta(seconds=EXPORT_TTL - 60))
    stale = export_key(ALICE, NOW - timedelta(seconds=EXPORT_TTL + 60))
    other = export_key(BOB, NOW - timedelta(days=3))
    legacy = "exports/5511999990002/meus-dados.json"
    photo = "images/5511999990001/2026/12/foto.jpg"
    for key in (fresh, stale, other, legacy, photo):
        media_store.put(key, b"{}", "application/json")
    assert expire_exports(media_store, NOW) == 3
    assert media_store.keys("exports/") == [fresh]
    assert media_store.get(photo) == b"{}", "only exports are looked at"
    assert expire_exports(media_store, NOW) == 0


def test_export_keys_carry_their_time_and_cannot_be_guessed():
    first, second = export_key(ALICE, NOW), export_key(ALICE, NOW)
    assert first.startswith("exports/5511999990001/20261203T120000Z-") and first.endswith(".json")
    assert first != second
