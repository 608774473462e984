"""The after-send journal (worker/after_send.py) against real databases: what a sent turn still owes
survives a restart in its file and is paid, in order, once the stores answer."""
from __future__ import annotations

import multiprocessing
from datetime import datetime, timezone
from pathlib import Path

from storage import ledger
from storage.chatlog import LoggedMessage
from storage.chatlog.sql import SqlChatLog
from storage.db import Database
from worker.after_send import AfterSendJournal, Owed

ALICE = "+5511999990001"
AT = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def _turn(db: Database, body: str) -> tuple[int, list[LoggedMessage]]:
    entry_id = ledger.add_to_ledger(db, f"SM{body.replace(' ', '')}", ALICE, body)
    ledger.claim(db, [entry_id])
    return entry_id, [LoggedMessage(ALICE, body, "in", f"SM{body}", AT), LoggedMessage(ALICE, "ok", "out", None, AT)]


def _status(db: Database, entry_id: int) -> str:
    return ledger.get_entry(db, entry_id).status


def test_what_is_owed_survives_a_restart_and_is_paid_once_the_stores_answer(db, tmp_path):
    chatlog = SqlChatLog(db)
    first, lines = _turn(db, "primeira mensagem")
    second, _ = _turn(db, "segunda mensagem")
    path = tmp_path / "after-send.jsonl"
    AfterSendJournal(path, db, chatlog).owe(Owed([first], None, lines))
    AfterSendJournal(path, db, chatlog).owe(Owed([second], "nota", []))
    restarted = AfterSendJournal(path, db, chatlog)
    assert restarted.pending and restarted.owed_ids() == {first, second}
    assert restarted.owed()[0].lines == lines, "the lines come back exactly, times included"
    assert restarted.settle() == 2
    assert (_status(db, first), _status(db, second)) == ("done", "done")
    assert ledger.get_entry(db, second).error == "nota"
    assert [m.body for m in chatlog.list(ALICE).items] == ["ok", "primeira mensagem"]
    assert not restarted.pending and not path.exists() and restarted.settle() == 0


def test_a_turn_whose_send_broke_off_is_owed_a_failed_mark_with_its_reason(db, tmp_path):
    chatlog = SqlChatLog(db)
    entry_id, lines = _turn(db, "resposta cortada")
    path = tmp_path / "after-send.jsonl"
    AfterSendJournal(path, db, chatlog).owe(Owed([entry_id], None, lines, failure="reply not delivered: 400"))
    restarted = AfterSendJournal(path, db, chatlog)
    assert restarted.owed()[0].failure == "reply not delivered: 400"
    assert restarted.settle() == 1
    entry = ledger.get_entry(db, entry_id)
    assert (entry.status, entry.error) == ("failed", "reply not delivered: 400")
    assert [m.body for m in chatlog.list(ALICE).items] == ["ok", "resposta cortada"]


def test_an_owed_redaction_is_paid_before_the_rest_of_the_turn(db, tmp_path):
    chatlog = SqlChatLog(db)
    entry_id, lines = _turn(db, "Segredo-123-senha")
    path = tmp_path / "after-send.jsonl"
    journal = AfterSendJournal(path, db, chatlog)
    journal.owe(Owed(redact_ids=[entry_id]))
    journal.owe(Owed([entry_id], None, []))
    assert AfterSendJournal(path, db, chatlog).owed()[0].redact_ids == [entry_id]
    assert journal.owed_ids() == {entry_id}
    assert AfterSendJournal(path, db, chatlog).settle() == 2
    entry = ledger.get_entry(db, entry_id)
    assert (entry.body, entry.status) == (ledger.REDACTED, "done")


def test_a_store_still_down_keeps_everything_owed_in_order(sqlite_db, tmp_path):
    down = Database("postgresql+psycopg2://postgres@127.0.0.1:1/nowhere", pool_size=1)
    entry_id, lines = _turn(sqlite_db, "ainda fora do ar")
    later, _ = _turn(sqlite_db, "depois")
    path = tmp_path / "after-send.jsonl"
    journal = AfterSendJournal(path, down, SqlChatLog(sqlite_db))
    journal.owe(Owed([entry_id], None, lines))
    journal.owe(Owed([later], None, []))
    assert journal.settle() == 0
    kept = journal.owed()
    assert [owed.ledger_ids for owed in kept] == [[entry_id], [later]]
    assert kept[0].lines == [], "the chat log took its lines; they are not written twice"
    assert [m.body for m in SqlChatLog(sqlite_db).list(ALICE).items] == ["ok", "ainda fora do ar"]
    down.dispose()
    assert AfterSendJournal(path, sqlite_db, SqlChatLog(sqlite_db)).settle() == 2
    assert (_status(sqlite_db, entry_id), _status(sqlite_db, later)) == ("done", "done")


def test_a_line_torn_by_a_crash_is_skipped(sqlite_db, tmp_path):
    entry_id, _ = _turn(sqlite_db, "antes do corte")
    path = tmp_path / "after-send.jsonl"
    journal = AfterSendJournal(path, sqlite_db, SqlChatLog(sqlite_db))
    journal.owe(Owed([entry_id], None, []))
    with open(path, "a", encoding="utf-8") as torn:
        torn.write('{"ledger_ids": [99')
    assert AfterSendJournal(path, sqlite_db, SqlChatLog(sqlite_db)).owed_ids() == {entry_id}


def _owe_from_another_process(url: str, path: str, ids: list[int]) -> None:
    """A web process answering inline (REPLY_MODE=twiml): its own journal on the shared file."""
    db = Database(url, pool_size=1)
    journal = AfterSendJournal(Path(path), db, SqlChatLog(db))
    for entry_id in ids:
        journal.owe(Owed([entry_id], "inline", []))
    db.dispose()


def test_processes_sharing_the_file_lose_nothing_while_one_settles(pg_db, pg_url, tmp_path):
    """Another process appends while this one settles (reads, pays, rewrites): without the file lock
    a line appended between the read and the rewrite was lost, and its row never marked."""
    ids = [_turn(pg_db, f"mensagem {n}")[0] for n in range(60)]
    path = tmp_path / "after-send.jsonl"
    journal = AfterSendJournal(path, pg_db, SqlChatLog(pg_db))
    assert not journal.pending
    others = [multiprocessing.get_context("fork").Process(target=_owe_from_another_process,
                                                          args=(pg_url, str(path), ids[k::2])) for k in (0, 1)]
    for other in others:
        other.start()
    paid = 0
    while any(other.is_alive() for other in others):
        paid += journal.settle()
    for other in others:
        other.join()
        assert other.exitcode == 0
    paid += journal.settle()
    assert paid == 60 and not journal.pending, "what another process owed is seen here (one stat, no memo)"
    assert {_status(pg_db, entry_id) for entry_id in ids} == {"done"}
