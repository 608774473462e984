"""Contract tests every chat log backend must pass: SQL on SQLite and PostgreSQL, and MongoDB."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pymongo
import pytest

from common.textfold import fold
from storage.chatlog import LoggedMessage, open_chat_log
from storage.chatlog.mongo import MongoChatLog
from storage.chatlog.sql import SqlChatLog

ALICE, BOB = "+5511999990001", "+5511999990002"
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    """A whole-second UTC time `minutes` after T0 (MongoDB keeps milliseconds only)."""
    return T0 + timedelta(minutes=minutes)


def bodies(messages) -> list[str]:
    return [message.body for message in messages]


def test_fold_drops_accents_and_case():
    assert fold("Coração ÁGUA Pão") == "coracao agua pao"
    assert fold("") == ""


def test_append_then_list_gives_everything_back_in_utc(chat_log):
    chat_log.append(ALICE, "Olá!", "in", "SM1", created_at=at(0))
    chat_log.append(ALICE, "Oi, como posso ajudar?", "out", None, created_at=at(1))
    page = chat_log.list(ALICE)
    assert page.total == 2 and page.page == 1
    newest, oldest = page.items
    assert (newest.body, newest.direction, newest.message_id, newest.created_at) == (
        "Oi, como posso ajudar?", "out", None, at(1))
    assert (oldest.phone, oldest.message_id) == (ALICE, "SM1")
    assert oldest.created_at.utcoffset() == timedelta(0)


def test_append_many_stores_a_turn_in_order_in_one_write(chat_log):
    same_time = at(2)
    chat_log.append_many([LoggedMessage(ALICE, "Olá", "in", "SM1", at(0)),
                          LoggedMessage(ALICE, "Oi! Tudo bem?", "out", "SM2", same_time),
                          LoggedMessage(ALICE, "[imagem] praia", "out", "SM3", same_time)])
    chat_log.append_many([])
    page = chat_log.list(ALICE)
    assert page.total == 3
    assert [(m.body, m.direction, m.message_id) for m in page.items] == [
        ("[imagem] praia", "out", "SM3"), ("Oi! Tudo bem?", "out", "SM2"), ("Olá", "in", "SM1")]
    assert bodies(chat_log.search(ALICE, "tudo")) == ["Oi! Tudo bem?"]


def test_append_without_time_uses_now(chat_log):
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    chat_log.append(ALICE, "agora", "in")
    (message,) = chat_log.search(ALICE, "agora")
    assert before <= message.created_at <= datetime.now(timezone.utc) + timedelta(seconds=1)


@pytest.mark.parametrize("words", ["coracao", "coração", "CORAÇÃO", "Coracao"])
def test_search_ignores_accents_and_case(chat_log, words):
    chat_log.append(ALICE, "Meu coração está feliz", "in", created_at=at(0))
    chat_log.append(ALICE, "coracao sem acento", "in", created_at=at(1))
    chat_log.append(ALICE, "nada a ver", "in", created_at=at(2))
    assert bodies(chat_log.search(ALICE, words)) == ["coracao sem acento", "Meu coração está feliz"]


def test_search_needs_every_word_in_any_order(chat_log):
    chat_log.append(ALICE, "reunião amanhã às dez", "in", created_at=at(0))
    chat_log.append(ALICE, "reunião cancelada", "in", created_at=at(1))
    chat_log.append(ALICE, "amanhã tem feira", "in", created_at=at(2))
    assert bodies(chat_log.search(ALICE, "AMANHA reuniao")) == ["reunião amanhã às dez"]
    assert bodies(chat_log.search(ALICE, "  ")) == ["amanhã tem feira", "reunião cancelada", "reunião amanhã às dez"]


def test_search_treats_wildcards_and_regex_characters_literally(chat_log):
    chat_log.append(ALICE, "desconto de 50% hoje", "in", created_at=at(0))
    chat_log.append(ALICE, "desconto de 500 hoje", "in", created_at=at(1))
    chat_log.append(ALICE, "arquivo a_b.txt (final)", "in", created_at=at(2))
    chat_log.append(ALICE, "arquivo axb txt final", "in", created_at=at(3))
    assert bodies(chat_log.search(ALICE, "50%")) == ["desconto de 50% hoje"]
    assert bodies(chat_log.search(ALICE, "a_b.txt")) == ["arquivo a_b.txt (final)"]
    assert bodies(chat_log.search(ALICE, "(final)")) == ["arquivo a_b.txt (final)"]


def test_search_never_returns_another_phone(chat_log):
    chat_log.append(BOB, "segredo do Bob", "in", created_at=at(0))
    chat_log.append(ALICE, "oi", "in", created_at=at(1))
    assert chat_log.search(ALICE, "segredo") == []
    assert bodies(chat_log.search(ALICE)) == ["oi"]
    assert bodies(chat_log.search(BOB, "segredo")) == ["segredo do Bob"]


def test_search_by_date_range_is_inclusive(chat_log):
    for minute in range(5):
        chat_log.append(ALICE, f"mensagem {minute}", "in", created_at=at(minute))
    found = chat_log.search(ALICE, "mensagem", since=at(1), until=at(3))
    assert bodies(found) == ["mensagem 3", "mensagem 2", "mensagem 1"]
    assert bodies(chat_log.search(ALICE, since=at(4))) == ["mensagem 4"]
    assert bodies(chat_log.search(ALICE, until=at(0))) == ["mensagem 0"]


def test_search_accepts_other_time_zones(chat_log):
    chat_log.append(ALICE, "meio-dia UTC", "in", created_at=at(0))
    brasilia = timezone(timedelta(hours=-3))
    assert bodies(chat_log.search(ALICE, since=datetime(2026, 3, 10, 9, 0, tzinfo=brasilia))) == ["meio-dia UTC"]
    assert chat_log.search(ALICE, since=datetime(2026, 3, 10, 9, 1, tzinfo=brasilia)) == []


def test_search_limit_and_before_latest_skip_the_newest_of_the_phone(chat_log):
    for minute in range(6):
        chat_log.append(ALICE, f"pedido {minute}", "in", created_at=at(minute))
    chat_log.append(ALICE, "outra coisa", "out", created_at=at(10))
    chat_log.append(BOB, "pedido do bob", "in", created_at=at(20))
    assert bodies(chat_log.search(ALICE, "pedido", limit=2)) == ["pedido 5", "pedido 4"]
    assert bodies(chat_log.search(ALICE, "pedido", before_latest=3)) == ["pedido 3", "pedido 2", "pedido 1",
                                                                       "pedido 0"]
    assert bodies(chat_log.search(ALICE, "pedido", before_latest=2, limit=2)) == ["pedido 4", "pedido 3"]
    assert chat_log.search(ALICE, "pedido", before_latest=100) == []
    assert chat_log.search(ALICE, "pedido", limit=0) == []


def test_list_paginates_with_totals(chat_log):
    for minute in range(7):
        chat_log.append(ALICE, f"m{minute}", "in", created_at=at(minute))
    chat_log.append(BOB, "b0", "in", created_at=at(30))
    first, last = chat_log.list(ALICE, per_page=3), chat_log.list(ALICE, page=3, per_page=3)
    assert (bodies(first.items), first.total, first.per_page) == (["m6", "m5", "m4"], 7, 3)
    assert (bodies(last.items), last.total, last.page) == (["m0"], 7, 3)
    assert chat_log.list(ALICE, page=4, per_page=3).items == []
    everyone = chat_log.list(per_page=2)
    assert (bodies(everyone.items), everyone.total) == (["b0", "m6"], 8)
    ranged = chat_log.list(ALICE, since=at(2), until=at(4))
    assert (bodies(ranged.items), ranged.total) == (["m4", "m3", "m2"], 3)


def test_count(chat_log):
    assert chat_log.count() == 0
    chat_log.append(ALICE, "a", "in", created_at=at(0))
    chat_log.append(ALICE, "b", "out", created_at=at(1))
    chat_log.append(BOB, "c", "in", created_at=at(2))
    assert (chat_log.count(), chat_log.count(ALICE), chat_log.count(BOB), chat_log.count("+550000")) == (3, 2, 1, 0)


def test_count_by_day_is_zero_filled_in_utc(chat_log):
    now = datetime(2026, 3, 10, 1, 30, tzinfo=timezone.utc)
    chat_log.append(ALICE, "hoje cedo", "in", created_at=datetime(2026, 3, 10, 0, 0, tzinfo=timezone.utc))
    chat_log.append(BOB, "ontem à noite", "in", created_at=datetime(2026, 3, 9, 23, 59, 59, tzinfo=timezone.utc))
    chat_log.append(BOB, "ontem", "in", created_at=datetime(2026, 3, 9, 10, 0, tzinfo=timezone.utc))
    chat_log.append(ALICE, "velha demais", "in", created_at=datetime(2026, 3, 6, 23, 0, tzinfo=timezone.utc))
    chat_log.append(ALICE, "amanhã (relógio adiantado)", "in",
                    created_at=datetime(2026, 3, 11, 0, 0, tzinfo=timezone.utc))
    assert chat_log.count_by_day(days=4, now=now) == {"2026-03-07": 0, "2026-03-08": 0, "2026-03-09": 2,
                                                      "2026-03-10": 1}
    assert list(chat_log.count_by_day(now=now))[-1] == "2026-03-10"
    assert len(chat_log.count_by_day(now=now)) == 30
    assert chat_log.count_by_day(days=0, now=now) == {}


def test_delete_phone_removes_only_that_phone(chat_log):
    chat_log.append(ALICE, "a", "in", created_at=at(0))
    chat_log.append(ALICE, "b", "out", created_at=at(1))
    chat_log.append(BOB, "c", "in", created_at=at(2))
    assert chat_log.delete_phone(ALICE) == 2
    assert chat_log.delete_phone(ALICE) == 0
    assert (chat_log.count(ALICE), bodies(chat_log.list().items)) == (0, ["c"])


def test_ping(chat_log):
    chat_log.ping()


def test_open_chat_log_picks_sql_without_a_mongo_uri(sqlite_db):
    assert isinstance(open_chat_log(sqlite_db), SqlChatLog)
    assert isinstance(open_chat_log(sqlite_db, mongodb_uri=""), SqlChatLog)


def test_open_chat_log_picks_mongo_with_a_uri(sqlite_db, mongo_client):
    if not isinstance(mongo_client, pymongo.MongoClient):
        pytest.skip("no MongoDB wire server here (mongomock in use)")
    host, port = mongo_client.address
    log = open_chat_log(sqlite_db, f"mongodb://{host}:{port}/?directConnection=true", "chatlog_factory_test")
    try:
        assert isinstance(log, MongoChatLog)
        log.append(ALICE, "pelo fio", "in", created_at=at(0))
        assert bodies(log.search(ALICE, "FIO")) == ["pelo fio"]
        assert SqlChatLog(sqlite_db).count() == 0
    finally:
        log.client.drop_database("chatlog_factory_test")
        log.close()
