"""storage/reports.py on SQLite and PostgreSQL: masked CPFs, to-do progress, one page per query."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import event

from storage import reports
from storage.models import TodoItem, TodoList, User

T0 = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)


def add_users(db, count: int) -> None:
    with db.session() as session:
        for i in range(count):
            session.add(User(phone=f"+55119999900{i:02d}", name=f"Pessoa {i}", cpf=f"{i:03d}45678909",
                             password_hash="argon2id$not-a-real-hash", created_at=T0 + timedelta(minutes=i),
                             last_login_at=T0 + timedelta(hours=i) if i % 2 == 0 else None))


def add_list(db, owner: str, title: str, done: list[bool], when: datetime) -> None:
    with db.session() as session:
        session.add(TodoList(owner=owner, title=title, created_at=when,
                             items=[TodoItem(position=n, text=f"passo {n}", done=d)
                                    for n, d in enumerate(done, start=1)]))


class StatementCounter:
    """Counts SQL statements sent through an engine."""

    def __init__(self, engine) -> None:
        self.count = 0
        self.engine = engine

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, *args):
        self.count += 1


def test_users_newest_first_with_masked_cpf(db):
    add_users(db, 5)
    rows, total = reports.list_users(db, page=1, per_page=2)
    assert total == 5
    assert [row.phone for row in rows] == ["+5511999990004", "+5511999990003"]
    assert rows[0].cpf_masked == "***.456.789-**"
    assert rows[0].last_login_at == T0 + timedelta(hours=4)
    assert rows[1].last_login_at is None
    assert all("45678909" not in repr(row) for row in rows)
    rows, total = reports.list_users(db, page=3, per_page=2)
    assert [row.phone for row in rows] == ["+5511999990000"] and total == 5
    assert reports.list_users(db, phone="+5511999990002")[1] == 1
    assert reports.count_users(db) == 5


def test_todo_lists_with_progress_and_owner_filter(db):
    add_list(db, "+5511999990001", "Estudar", [True, False, True, False], T0)
    add_list(db, "+5511999990002", "Correr", [True], T0 + timedelta(hours=1))
    add_list(db, "+5511999990001", "Vazia", [], T0 + timedelta(hours=2))
    rows, total = reports.list_todo_lists(db, 1, 10)
    assert total == 3
    assert [(r.title, r.done, r.total) for r in rows] == [("Vazia", 0, 0), ("Correr", 1, 1), ("Estudar", 2, 4)]
    assert rows[2].items == (("passo 1", True), ("passo 2", False), ("passo 3", True), ("passo 4", False))
    rows, total = reports.list_todo_lists(db, 1, 10, owner="+5511999990001")
    assert total == 2 and {r.title for r in rows} == {"Estudar", "Vazia"}
    assert reports.list_todo_lists(db, 1, 1, max_items=2)[0][0].items == ()
    assert reports.list_todo_lists(db, 3, 1, max_items=2)[0][0].items == (("passo 1", True), ("passo 2", False))


def test_a_page_costs_the_same_queries_whatever_its_size(db):
    add_users(db, 40)
    for i in range(40):
        add_list(db, f"+55119999900{i:02d}", f"Lista {i}", [i % 2 == 0, True, False], T0 + timedelta(minutes=i))
    counts = []
    for per_page in (2, 40):
        with StatementCounter(db.engine) as counter:
            reports.list_users(db, 1, per_page)
            reports.list_todo_lists(db, 1, per_page)
        counts.append(counter.count)
    assert counts[0] == counts[1] <= 6
