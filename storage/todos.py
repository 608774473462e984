"""To-do lists of one phone: create, read, tick items off. Every function is scoped to an owner.

Lists are numbered per owner in creation order (1 = the owner's first list), so "lista 2" keeps
meaning the same list when new ones are added.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, Text, bindparam, delete, false, func, insert, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, selectinload

from common.clock import as_utc, utcnow

from .db import Database
from .models import TodoItem, TodoList

TITLE_LIMIT = 200
# A list is created on a tool turn: Core statements prepared once (one INSERT ... RETURNING id, one
# executemany for the items, one count; on PostgreSQL the three as one statement) instead of the
# ORM's unit of work (1.5 -> 0.3 ms on SQLite, 3.0 -> 1.3 ms on PostgreSQL).
_LISTS = TodoList.__table__
_INSERT_LIST = insert(_LISTS).returning(_LISTS.c.id)
_ITEMS = TodoItem.__table__
_INSERT_ITEMS = insert(_ITEMS)
_NUMBER = (select(func.count()).select_from(_LISTS)
           .where(_LISTS.c.owner == bindparam("owner"), _LISTS.c.id <= bindparam("list_id")))


def _create_in_one_statement() -> Select:
    """PostgreSQL: the list, its items and its number in one statement (data-modifying CTEs), one
    round trip where the transaction took five (BEGIN, three statements, COMMIT). The items come as
    one text array, numbered by WITH ORDINALITY; the count runs on the statement's snapshot, which
    does not hold the new list yet, hence the + 1."""
    new_list = (insert(_LISTS).values(owner=bindparam("owner"), title=bindparam("title"),
                                      motivation=bindparam("motivation"), created_at=bindparam("created_at"))
                .returning(_LISTS.c.id).cte("new_list"))
    texts = (func.unnest(bindparam("texts", type_=postgresql.ARRAY(Text)))
             .table_valued("text", with_ordinality="position").render_derived())
    new_items = insert(_ITEMS).from_select(
        ["list_id", "position", "text", "done"],
        select(new_list.c.id, texts.c.position, texts.c.text, false()).select_from(new_list.join(texts, true())),
    ).cte("new_items")
    earlier = select(func.count()).select_from(_LISTS).where(_LISTS.c.owner == bindparam("owner")).scalar_subquery()
    return select(new_list.c.id, earlier + 1).add_cte(new_items)


_CREATE_POSTGRESQL = _create_in_one_statement()


@dataclass(frozen=True)
class TodoItemRecord:
    """One item: its 1-based position, text and ticked state."""

    position: int
    text: str
    done: bool
    done_at: datetime | None


@dataclass(frozen=True)
class TodoListRecord:
    """A list with its items in order; `number` is the owner's ordinal of the list."""

    id: int
    number: int
    owner: str
    title: str
    motivation: str | None
    created_at: datetime
    items: list[TodoItemRecord]

    @property
    def done_count(self) -> int:
        return sum(1 for item in self.items if item.done)


def _record(row: TodoList, number: int) -> TodoListRecord:
    items = [TodoItemRecord(i.position, i.text, i.done, as_utc(i.done_at) if i.done_at else None) for i in row.items]
    return TodoListRecord(row.id, number, row.owner, row.title, row.motivation, as_utc(row.created_at), items)


def _number_of(executor: Session | Connection, owner: str, list_id: int) -> int:
    return executor.scalar(_NUMBER, {"owner": owner, "list_id": list_id}) or 0


def create_list(db: Database, owner: str, title: str, items: list[str], motivation: str | None = None) -> TodoListRecord:
    """Store a titled list of items (positions 1..n) for `owner`; empty items are dropped.

    Core statements, not the ORM: lists are created on tool turns. On PostgreSQL one statement
    does it all; elsewhere three run in one transaction."""
    texts = [text.strip() for text in items if text and text.strip()]
    if not texts:
        raise ValueError("a to-do list needs at least one item")
    title, motivation, created_at = title.strip()[:TITLE_LIMIT], (motivation or "").strip() or None, utcnow()
    values = {"owner": owner, "title": title, "motivation": motivation, "created_at": created_at}
    if db.dialect == "postgresql":
        with db.statement() as conn:
            list_id, number = conn.execute(_CREATE_POSTGRESQL, {**values, "texts": texts}).one()
    else:
        with db.transaction() as conn:
            list_id = conn.execute(_INSERT_LIST, values).scalar_one()
            conn.execute(_INSERT_ITEMS, [{"list_id": list_id, "position": n, "text": text, "done": False}
                                         for n, text in enumerate(texts, start=1)])
            number = _number_of(conn, owner, list_id)
    records = [TodoItemRecord(n, text, False, None) for n, text in enumerate(texts, start=1)]
    return TodoListRecord(list_id, number, owner, title, motivation, as_utc(created_at), records)


def lists_of(db: Database, owner: str, limit: int = 10) -> list[TodoListRecord]:
    """The owner's most recent lists, newest first."""
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(TodoList).where(TodoList.owner == owner)) or 0
        rows = session.scalars(select(TodoList).where(TodoList.owner == owner).order_by(TodoList.id.desc())
                               .limit(limit).options(selectinload(TodoList.items))).all()
        return [_record(row, total - index) for index, row in enumerate(rows)]


def get_list(db: Database, owner: str, number: int | None = None) -> TodoListRecord | None:
    """The owner's list with this ordinal, or the newest when `number` is None; None when absent."""
    with db.session() as session:
        query = select(TodoList).where(TodoList.owner == owner).options(selectinload(TodoList.items))
        if number is None:
            row = session.scalar(query.order_by(TodoList.id.desc()).limit(1))
        elif number < 1:
            row = None
        else:
            row = session.scalar(query.order_by(TodoList.id).offset(number - 1).limit(1))
        return _record(row, _number_of(session, owner, row.id)) if row else None


def set_items_done(db: Database, owner: str, list_number: int | None, positions: list[int],
                   done: bool = True) -> tuple[TodoListRecord | None, list[int]]:
    """Tick (or untick) items of one of the owner's lists; returns the updated list and unknown positions."""
    target = get_list(db, owner, list_number)
    if target is None:
        return None, positions
    wanted = set(positions)
    with db.session() as session:
        items = session.scalars(select(TodoItem).where(TodoItem.list_id == target.id,
                                                       TodoItem.position.in_(wanted))).all()
        for item in items:
            item.done, item.done_at = done, (utcnow() if done else None)
        found = {item.position for item in items}
    return get_list(db, owner, target.number), sorted(wanted - found)


def item_id(db: Database, list_id: int, position: int) -> int | None:
    """The row id of one item of a list (a reminder points at it)."""
    with db.session() as session:
        return session.scalar(select(TodoItem.id).where(TodoItem.list_id == list_id, TodoItem.position == position))


def count_lists(db: Database, owner: str | None = None) -> int:
    """How many lists are stored (of one owner, or all)."""
    with db.session() as session:
        query = select(func.count()).select_from(TodoList)
        if owner is not None:
            query = query.where(TodoList.owner == owner)
        return session.scalar(query) or 0


def delete_lists_of(db: Database, owner: str) -> int:
    """LGPD erasure: remove every list (and its items) of the owner; returns how many lists."""
    with db.session() as session:
        ids = session.scalars(select(TodoList.id).where(TodoList.owner == owner)).all()
        if ids:
            session.execute(delete(TodoItem).where(TodoItem.list_id.in_(ids)))
            session.execute(delete(TodoList).where(TodoList.id.in_(ids)))
        return len(ids)
