"""The inbound ledger on SQLite and PostgreSQL: dedupe, claim, states, recovery, redaction."""
import pytest

from storage import ledger


def test_a_message_sid_is_stored_once(db):
    first = ledger.add_to_ledger(db, "SM1", "+5511900000001", "oi")
    assert first is not None
    assert ledger.add_to_ledger(db, "SM1", "+5511900000001", "oi") is None
    assert ledger.backlog(db).counts == {"queued": 1}


def test_claim_counts_attempts_and_states_move(db):
    entry_id = ledger.add_to_ledger(db, "SM2", "+5511900000001", "oi", [{"url": "u", "content_type": "image/jpeg"}])
    claimed = ledger.claim(db, [entry_id])
    assert [(e.status, e.attempts, e.has_media) for e in claimed] == [("processing", 1, True)]
    ledger.requeue(db, [entry_id], "boom")
    assert ledger.get_entry(db, entry_id).status == "queued"
    assert ledger.claim(db, [entry_id])[0].attempts == 2
    ledger.mark_failed(db, [entry_id], "gave up")
    assert ledger.claim(db, [entry_id]) == []
    assert ledger.backlog(db).counts == {"failed": 1}


def test_unfinished_rows_come_back_oldest_first(db):
    ids = [ledger.add_to_ledger(db, f"SM{i}", "+5511900000001", str(i)) for i in range(3)]
    ledger.claim(db, [ids[1]])
    ledger.mark_done(db, [ids[2]])
    assert [row.id for row in ledger.list_waiting(db, with_processing=True)] == ids[:2]


def test_secret_bodies_are_redacted_and_erasure_keeps_the_sid(db):
    entry_id = ledger.add_to_ledger(db, "SM9", "+5511900000001", "minha senha secreta")
    ledger.redact_body(db, [entry_id])
    assert ledger.get_entry(db, entry_id).body == "[senha]"
    ledger.delete_sender_bodies(db, "+5511900000001")
    entry = ledger.get_by_sid(db, "SM9")
    assert entry.body == "" and entry.media == []


def test_bodies_are_sealed_at_rest_and_read_back(db):
    from sqlalchemy import text

    from storage import sealing
    sealing.configure("a-test-secret-key-for-sealing")
    entry_id = ledger.add_to_ledger(db, "SMseal", "+5511900000001", "minha-senha-super-secreta")
    with db.engine.connect() as conn:
        raw = conn.execute(text("SELECT body FROM inbound_messages WHERE id = :id"), {"id": entry_id}).scalar()
    assert raw.startswith("sealed:") and "secreta" not in raw
    assert ledger.get_entry(db, entry_id).body == "minha-senha-super-secreta"
    ledger.redact_body(db, [entry_id])
    assert ledger.get_entry(db, entry_id).body == "[senha]"


def test_backlog_counts_states_and_ages_the_oldest_queued_row(db):
    from datetime import timedelta

    from sqlalchemy import update

    from common.clock import utcnow
    from storage.models import InboundMessage

    assert ledger.backlog(db).oldest_queued_at is None
    ids = [ledger.add_to_ledger(db, f"SMB{i}", "+5511900000001", str(i)) for i in range(4)]
    ledger.mark_done(db, [ids[0]])
    ledger.claim(db, [ids[1]])
    with db.session() as session:
        session.execute(update(InboundMessage).where(InboundMessage.id == ids[2])
                        .values(received_at=utcnow() - timedelta(minutes=5)))
    state = ledger.backlog(db)
    assert state.counts == {"done": 1, "processing": 1, "queued": 2}
    assert 299 <= state.oldest_queued_seconds(utcnow()) < 330


def test_status_changes_keep_the_reason_and_the_finish_time(db):
    from sqlalchemy import select

    from storage.models import InboundMessage

    ids = [ledger.add_to_ledger(db, f"SMst{i}", "+5511900000001", str(i)) for i in range(3)]

    def row(entry_id):
        with db.session() as session:
            found = session.scalar(select(InboundMessage).where(InboundMessage.id == entry_id))
            return found.status, found.error, found.processed_at is not None, found.updated_at is not None

    ledger.requeue(db, [ids[0]], "modelo fora do ar")
    ledger.mark_done(db, [ids[1]], "Twilio not configured")
    ledger.mark_failed(db, [ids[2]], "x" * 3000)
    assert row(ids[0]) == ("queued", "modelo fora do ar", False, True)
    assert row(ids[1]) == ("done", "Twilio not configured", True, True)
    status, error, finished, _ = row(ids[2])
    assert (status, len(error), finished) == ("failed", 2000, True)


def test_only_a_known_message_sid_counts_as_a_duplicate(fresh_pg_url):
    """Another constraint refusing the row raises (the webhook then keeps the message in the spool,
    which sets it aside where operators see it) instead of passing for a redelivery and vanishing."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from storage.db import Database

    db = Database(fresh_pg_url, pool_size=1)
    try:
        db.migrate()
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE inbound_messages ADD CONSTRAINT no_blocked CHECK (sender <> '+5511999990099')"))
        assert ledger.add_to_ledger(db, "SMcheck0001", "+5511999990001", "oi") is not None
        assert ledger.add_to_ledger(db, "SMcheck0001", "+5511999990001", "oi") is None
        with pytest.raises(IntegrityError):
            ledger.add_to_ledger(db, "SMcheck0002", "+5511999990099", "oi")
    finally:
        db.dispose()
