"""The inbound spool (storage/spool.py): messages the webhook could not put in the ledger wait in a
file, sealed, and move into the ledger in order, with their arrival time, once it answers."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from storage import ledger, sealing
from storage.spool import InboundSpool, SpooledMessage

ALICE = "+5511999990001"
AT = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def _message(n: int, body: str = "") -> SpooledMessage:
    return SpooledMessage(f"SMspool{n:04d}", ALICE, body or f"mensagem {n}", [], "Ana",
                          (AT + timedelta(seconds=n)).isoformat())


@pytest.fixture
def sealed():
    sealing.configure("a-test-secret-key-for-sealing")


def test_bodies_are_sealed_in_the_file_and_come_back_whole(tmp_path, sealed):
    spool = InboundSpool(tmp_path)
    assert not spool.pending()
    spool.append(_message(1, "minha-senha-super-secreta"))
    assert spool.pending() and "secreta" not in spool.path.read_text()
    moved: list[SpooledMessage] = []
    assert spool.drain(moved.append) == 1
    assert moved == [_message(1, "minha-senha-super-secreta")] and not spool.pending()


def test_a_failing_move_keeps_that_message_and_the_rest_in_order(tmp_path):
    spool = InboundSpool(tmp_path)
    for n in (1, 2, 3):
        spool.append(_message(n))
    moved: list[str] = []

    def refuse_the_second(message: SpooledMessage) -> None:
        if message.message_sid == "SMspool0002":
            raise ConnectionError("database still away")
        moved.append(message.message_sid)

    assert spool.drain(refuse_the_second) == 1
    assert spool.drain(lambda m: moved.append(m.message_sid)) == 2
    assert moved == ["SMspool0001", "SMspool0002", "SMspool0003"] and not spool.path.exists()


def test_a_line_torn_by_a_crash_is_set_aside(tmp_path):
    spool = InboundSpool(tmp_path)
    spool.append(_message(1))
    with open(spool.path, "a", encoding="utf-8") as torn:
        torn.write('{"message_sid": "SMto')
    moved: list[str] = []
    assert spool.drain(lambda m: moved.append(m.message_sid)) == 1 and moved == ["SMspool0001"]
    assert spool.counts() == (0, 1)


def test_drained_into_the_ledger_with_the_arrival_time_and_only_once(db, tmp_path):
    spool = InboundSpool(tmp_path)
    spool.append(_message(1))
    spool.append(_message(1))  # the same MessageSid twice (a crash mid-drain, say): one row

    def move(message: SpooledMessage) -> None:
        ledger.add_to_ledger(db, message.message_sid, message.sender, message.body, message.media,
                             message.profile_name, message.arrived)

    assert spool.drain(move) == 2
    entry = ledger.get_by_sid(db, "SMspool0001")
    assert (entry.body, entry.status, entry.received_at) == ("mensagem 1", "queued", AT + timedelta(seconds=1))


def _warnings(caplog) -> int:
    return sum(1 for r in caplog.records if r.levelno >= logging.WARNING and "still refuses" in r.getMessage())


def test_a_refusing_database_is_reported_once_per_outage(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="storage.spool")
    spool = InboundSpool(tmp_path)
    spool.append(_message(1))

    def refuse(_message: SpooledMessage) -> None:
        raise ConnectionError("database away")

    for _ in range(3):
        spool.drain(refuse)
    assert _warnings(caplog) == 1 and caplog.text.count("still refuses") == 3, "later tries at debug level"
    spool.drain(lambda _m: None)
    spool.append(_message(2))
    spool.drain(refuse)
    assert _warnings(caplog) == 2, "a new outage is reported again"


def test_a_message_the_database_refuses_for_good_is_set_aside_and_the_rest_move_on(pg_db, tmp_path, caplog):
    """A spool written before the webhook cleaned its input (a 300-character profile name, which
    PostgreSQL's column refuses with DataError) must not hold every later message back."""
    spool = InboundSpool(tmp_path)
    too_long = SpooledMessage("SMspool0002", ALICE, "mensagem 2", [], "N" * 300, (AT + timedelta(seconds=2)).isoformat())
    for message in (_message(1), too_long, _message(3)):
        spool.append(message)
    assert spool.counts() == (3, 0)

    def move(message: SpooledMessage) -> None:
        ledger.add_to_ledger(pg_db, message.message_sid, message.sender, message.body, message.media,
                             message.profile_name, message.arrived)

    assert spool.drain(move) == 2
    assert ledger.get_by_sid(pg_db, "SMspool0001") and ledger.get_by_sid(pg_db, "SMspool0003")
    assert ledger.get_by_sid(pg_db, "SMspool0002") is None
    assert spool.counts() == (0, 1) and not spool.pending()
    kept = json.loads(spool.rejected_path.read_text().splitlines()[0])
    assert kept["reason"].startswith("DataError") and SpooledMessage.from_json(kept["line"]) == too_long
    assert "N" * 300 not in kept["reason"], "the reason carries the driver's message, not the values"
    assert any(r.levelno == logging.ERROR and "set aside" in r.getMessage() for r in caplog.records)


def test_an_unreadable_line_is_set_aside_not_dropped(tmp_path):
    spool = InboundSpool(tmp_path)
    spool.append(_message(1))
    with open(spool.path, "a", encoding="utf-8") as file:
        file.write('{"message_sid": "SModd", "sender": "+5511999990001", "unknown_field": 1}\n')
    spool.append(_message(3))
    moved: list[str] = []
    assert spool.drain(lambda m: moved.append(m.message_sid)) == 2
    assert moved == ["SMspool0001", "SMspool0003"] and spool.counts() == (0, 1)
    assert "unknown_field" in json.loads(spool.rejected_path.read_text())["line"]
