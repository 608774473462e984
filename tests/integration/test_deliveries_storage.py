"""Delivery receipts and contact preferences in storage, on SQLite and PostgreSQL."""
from __future__ import annotations

from storage import deliveries
from storage.deliveries import ReceiptBuffer, SentPart

PHONE = "+5511999990101"


def test_a_status_moves_forward_never_back_and_keeps_its_error_code(db):
    deliveries.record_sent(db, [SentPart("SM1", PHONE, "reply"), SentPart("SM2", PHONE, "reminder", 7)])
    assert deliveries.apply_status(db, "SM1", "delivered", None).status == "delivered"
    assert deliveries.apply_status(db, "SM1", "sent", None).status == "delivered"  # late, older news
    assert deliveries.apply_status(db, "SM1", "read", None).status == "read"
    failed = deliveries.apply_status(db, "SM2", "undelivered", 63016)
    assert (failed.status, failed.error_code, failed.reminder_id) == ("undelivered", 63016, 7)
    assert deliveries.apply_status(db, "SMunknown", "delivered", None) is None
    assert deliveries.counts_by_status(db) == {"read": 1, "undelivered": 1}
    assert deliveries.failures_by_code(db) == [(63016, 1)]


def test_recording_a_sid_twice_keeps_the_first_and_the_others(db):
    deliveries.record_sent(db, [SentPart("SM1", PHONE, "reply")])
    deliveries.apply_status(db, "SM1", "delivered", None)
    assert deliveries.record_sent(db, [SentPart("SM1", PHONE, "reply"), SentPart("SM3", PHONE, "image")]) == 2
    assert {(r.message_sid, r.status) for r in deliveries.deliveries_of(db, PHONE)} == {("SM1", "delivered"),
                                                                                       ("SM3", "queued")}


def test_the_buffer_writes_what_it_kept_in_one_flush(db):
    buffer = ReceiptBuffer(db)
    for n in range(5):
        buffer.add(SentPart(f"SM{n}", PHONE, "reply"))
    assert buffer.flush() == 5 and buffer.flush() == 0
    assert len(deliveries.deliveries_of(db, PHONE)) == 5


def test_opt_out_block_and_time_zone_and_erasure(db):
    assert deliveries.prefs_of(db, PHONE).proactive_allowed
    deliveries.set_opted_out(db, PHONE, True)
    assert deliveries.prefs_of(db, PHONE).opted_out and not deliveries.prefs_of(db, PHONE).proactive_allowed
    deliveries.set_opted_out(db, PHONE, False)
    deliveries.set_blocked(db, PHONE)
    deliveries.set_time_zone(db, PHONE, "America/Manaus")
    prefs = deliveries.prefs_of(db, PHONE)
    assert (prefs.blocked, prefs.opted_out, prefs.time_zone) == (True, False, "America/Manaus")
    deliveries.set_opted_out(db, PHONE, False)  # VOLTAR lifts a block too
    assert deliveries.prefs_of(db, PHONE).proactive_allowed
    deliveries.record_sent(db, [SentPart("SM9", PHONE, "reply"), SentPart("SM10", "+5511999990102", "reply")])
    assert deliveries.delete_phone(db, PHONE) == 1
    assert deliveries.prefs_of(db, PHONE) == deliveries.Prefs()
    assert deliveries.deliveries_of(db, PHONE) == []
