"""Users, login attempts, the lockout window and to-do lists, on SQLite and PostgreSQL."""
from datetime import timedelta, timezone

import pytest
from sqlalchemy import event

from common.clock import utcnow
from storage import todos, users
from storage.db import Database
from tests.factories import make_user, valid_cpf

ALICE, BOB = "+5511999990001", "+5511999990002"


def test_one_phone_one_account_and_unique_cpf(db):
    ana = make_user(db, ALICE, cpf=valid_cpf(1, formatted=True))
    assert ana.cpf == valid_cpf(1) and ana.masked_cpf.startswith("***.") and ana.is_logged_in()
    with pytest.raises(users.AccountExists) as same_phone:
        users.create_user(db, ALICE, "Outra", valid_cpf(2), "hash")
    assert same_phone.value.field == "phone"
    with pytest.raises(users.AccountExists) as same_cpf:
        users.create_user(db, BOB, "Bob", valid_cpf(1), "hash")
    assert same_cpf.value.field == "cpf"


def test_a_lookup_by_phone_or_cpf_gives_the_record_registration_and_login_gave(db):
    created = users.create_user(db, ALICE, "Ana", valid_cpf(1), "hash")
    assert users.get_user_by_phone(db, ALICE) == created == users.get_user_by_cpf(db, valid_cpf(1))
    logged = users.mark_logged_in(db, created.id, timedelta(hours=2))
    found = users.get_user_by_phone(db, ALICE)
    assert found == logged == users.get_user_by_cpf(db, valid_cpf(1))
    assert all(at.tzinfo is timezone.utc for at in (found.created_at, found.last_login_at, found.logged_in_until))
    assert users.get_user_by_phone(db, BOB) is None and users.get_user_by_cpf(db, valid_cpf(2)) is None


def test_times_come_back_in_utc_whatever_the_postgresql_session_zone(pg_db):
    created = users.create_user(pg_db, ALICE, "Ana", valid_cpf(1), "hash")
    made = todos.create_list(pg_db, ALICE, "Semana", ["correr"])
    elsewhere = Database(pg_db.url + "?options=-ctimezone%3DAmerica/Sao_Paulo")
    try:
        found, listed = users.get_user_by_phone(elsewhere, ALICE), todos.get_list(elsewhere, ALICE)
    finally:
        elsewhere.dispose()
    assert found == created and found.created_at.tzinfo is timezone.utc
    assert listed == made and listed.created_at.tzinfo is timezone.utc


def test_login_session_expires_and_logout_ends_it(db):
    ana = make_user(db, ALICE, logged_in=False)
    assert not ana.is_logged_in() and ana.last_login_at is None
    now = utcnow()
    ana = users.mark_logged_in(db, ana.id, timedelta(hours=2), now=now)
    assert ana.last_login_at == now and ana.is_logged_in(now + timedelta(hours=1))
    assert not ana.is_logged_in(now + timedelta(hours=2, seconds=1))
    assert users.log_out(db, ALICE) and not users.get_user_by_phone(db, ALICE).is_logged_in()
    assert not users.log_out(db, ALICE)


def _fail(db, n, at, phone=ALICE, cpf=None):
    for i in range(n):
        users.record_login_attempt(db, phone, cpf or valid_cpf(1), False, now=at + timedelta(seconds=i))


def test_five_failures_in_fifteen_minutes_lock_the_phone_until_the_oldest_leaves_the_window(db):
    start = utcnow() - timedelta(hours=1)
    _fail(db, 4, start)
    assert users.locked_until(db, ALICE, now=start + timedelta(minutes=1)) is None
    _fail(db, 1, start + timedelta(minutes=2))
    until = users.locked_until(db, ALICE, now=start + timedelta(minutes=3))
    assert until == start + timedelta(minutes=15)
    assert users.locked_until(db, ALICE, now=start + timedelta(minutes=14, seconds=59)) == until
    assert users.locked_until(db, ALICE, now=start + timedelta(minutes=15, seconds=1)) is None


def test_failures_spread_over_more_than_the_window_do_not_lock(db):
    start = utcnow() - timedelta(hours=2)
    for i in range(6):
        users.record_login_attempt(db, ALICE, valid_cpf(1), False, now=start + timedelta(minutes=4 * i))
    assert users.locked_until(db, ALICE, now=start + timedelta(minutes=21)) is None


def test_the_lock_also_follows_the_cpf_across_phones(db):
    start = utcnow() - timedelta(minutes=5)
    for i, phone in enumerate([ALICE, BOB, "+5511999990003", "+5511999990004", "+5511999990005"]):
        users.record_login_attempt(db, phone, valid_cpf(1), False, now=start + timedelta(seconds=i))
    assert users.locked_until(db, "+5511999990009", now=start + timedelta(minutes=1)) is None
    assert users.locked_until(db, "+5511999990009", valid_cpf(1), now=start + timedelta(minutes=1)) is not None
    assert users.locked_until(db, ALICE, valid_cpf(2), now=start + timedelta(minutes=1)) is None


def test_a_success_resets_the_count(db):
    start = utcnow() - timedelta(minutes=10)
    _fail(db, 4, start)
    users.record_login_attempt(db, ALICE, valid_cpf(1), True, now=start + timedelta(minutes=1))
    _fail(db, 4, start + timedelta(minutes=2))
    assert users.locked_until(db, ALICE, valid_cpf(1), now=start + timedelta(minutes=3)) is None
    _fail(db, 1, start + timedelta(minutes=4))
    assert users.locked_until(db, ALICE, valid_cpf(1), now=start + timedelta(minutes=5)) is not None
    assert [ok for _, ok in users.login_attempts(db, ALICE)].count(True) == 1


def test_lists_are_numbered_per_owner_and_ticked_state_is_stored(db):
    first = todos.create_list(db, ALICE, "Semana", ["correr", " ", "ler"], "Vai!")
    todos.create_list(db, BOB, "Do Bob", ["segredo do Bob"])
    second = todos.create_list(db, ALICE, "Mercado", ["pão", "leite", "café"])
    assert (first.number, second.number) == (1, 2) and [i.text for i in first.items] == ["correr", "ler"]
    updated, unknown = todos.set_items_done(db, ALICE, None, [2, 9])
    assert unknown == [9] and [i.done for i in updated.items] == [False, True, False]
    assert updated.items[1].done_at is not None and updated.number == 2
    assert [t.title for t in todos.lists_of(db, ALICE)] == ["Mercado", "Semana"]
    assert todos.get_list(db, ALICE, 1).title == "Semana" and todos.get_list(db, ALICE, 3) is None
    undone, _ = todos.set_items_done(db, ALICE, 2, [2], done=False)
    assert not undone.items[1].done and undone.items[1].done_at is None
    assert todos.set_items_done(db, BOB, 2, [1]) == (None, [1])


def test_a_new_list_is_the_record_get_list_reads_back(db):
    todos.create_list(db, BOB, "Do Bob", ["algo"])
    made = todos.create_list(db, ALICE, "  " + "T" * 250, [" correr ", "", "  ", "ler"], "  Vai!  ")
    assert made == todos.get_list(db, ALICE, 1) == todos.get_list(db, ALICE) == todos.lists_of(db, ALICE)[0]
    assert (made.number, made.title, made.motivation) == (1, "T" * todos.TITLE_LIMIT, "Vai!")
    assert [(i.position, i.text, i.done, i.done_at) for i in made.items] == [(1, "correr", False, None),
                                                                             (2, "ler", False, None)]
    assert made.created_at.tzinfo is timezone.utc
    second = todos.create_list(db, ALICE, "Mercado", ["pão"], "   ")
    assert second.number == 2 and second.motivation is None and second == todos.get_list(db, ALICE, 2)
    with pytest.raises(ValueError):
        todos.create_list(db, ALICE, "Vazia", ["", "  "])
    assert todos.count_lists(db, ALICE) == 2


def test_erasure_removes_a_users_lists_account_and_logins(db):
    make_user(db, ALICE)
    todos.create_list(db, ALICE, "Semana", ["correr"])
    todos.create_list(db, BOB, "Do Bob", ["algo"])
    users.record_login_attempt(db, ALICE, valid_cpf(1), False)
    assert todos.delete_lists_of(db, ALICE) == 1 and users.delete_user(db, ALICE) == 1
    assert todos.count_lists(db, ALICE) == 0 and todos.count_lists(db) == 1
    assert users.get_user_by_phone(db, ALICE) is None and users.login_attempts(db, ALICE) == []


def test_on_postgresql_a_list_is_created_in_one_statement_with_its_items_in_order(pg_db):
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    todos.create_list(pg_db, ALICE, "Semana", ["correr"])
    event.listen(pg_db.engine, "before_cursor_execute", record)
    try:
        texts = [f"item {n}" for n in range(1, 13)]
        made = todos.create_list(pg_db, ALICE, "Doze", texts, "Vai!")
    finally:
        event.remove(pg_db.engine, "before_cursor_execute", record)
    assert len(statements) == 1, statements
    assert made.number == 2 and made == todos.get_list(pg_db, ALICE, 2)
    assert [(i.position, i.text) for i in todos.get_list(pg_db, ALICE, 2).items] == list(enumerate(texts, start=1))
