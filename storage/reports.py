"""Read-only queries for the operator's report: users (CPF masked here, never returned raw) and to-do
lists with their progress. Each listing is one page (LIMIT/OFFSET) plus one cheap count, however
many rows the tables hold: no query per row.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, case, func, select

from common.clock import as_utc
from common.cpf import mask_cpf
from storage.db import Database
from storage.models import TodoItem, TodoList, User


@dataclass(frozen=True)
class UserRow:
    """A registered user as the operator sees it: the CPF is already masked."""

    phone: str
    name: str
    cpf_masked: str
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class TodoRow:
    """A to-do list with its progress."""

    id: int
    owner: str
    title: str
    created_at: datetime
    done: int
    total: int
    items: tuple[tuple[str, bool], ...]


def _maybe_utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def list_users(db: Database, page: int = 1, per_page: int = 20,
               phone: str | None = None) -> tuple[list[UserRow], int]:
    """One page of users, newest first, and how many there are."""
    rows = select(User.phone, User.name, User.cpf, User.created_at, User.last_login_at)
    total = select(func.count(User.id))
    if phone is not None:
        rows, total = rows.where(User.phone == phone), total.where(User.phone == phone)
    rows = rows.order_by(User.created_at.desc(), User.id.desc()).offset((page - 1) * per_page).limit(per_page)
    with db.session() as session:
        found = session.execute(rows).all()
        count = session.scalar(total) or 0
    return [UserRow(r.phone, r.name, mask_cpf(r.cpf), as_utc(r.created_at), _maybe_utc(r.last_login_at))
            for r in found], count


def list_todo_lists(db: Database, page: int = 1, per_page: int = 20, owner: str | None = None,
                    max_items: int = 20) -> tuple[list[TodoRow], int]:
    """One page of to-do lists, newest first, with done/total counts and their first items."""
    done = func.coalesce(func.sum(case((TodoItem.done.is_(True), 1), else_=0)), 0).cast(Integer)
    rows = (select(TodoList.id, TodoList.owner, TodoList.title, TodoList.created_at,
                   done.label("done"), func.count(TodoItem.id).label("total"))
            .outerjoin(TodoItem, TodoItem.list_id == TodoList.id)
            .group_by(TodoList.id, TodoList.owner, TodoList.title, TodoList.created_at))
    total = select(func.count(TodoList.id))
    if owner is not None:
        rows, total = rows.where(TodoList.owner == owner), total.where(TodoList.owner == owner)
    rows = rows.order_by(TodoList.created_at.desc(), TodoList.id.desc()).offset((page - 1) * per_page)
    with db.session() as session:
        found = session.execute(rows.limit(per_page)).all()
        count = session.scalar(total) or 0
        items: dict[int, list[tuple[str, bool]]] = {row.id: [] for row in found}
        if found:
            listed = (select(TodoItem.list_id, TodoItem.text, TodoItem.done)
                      .where(TodoItem.list_id.in_(list(items)), TodoItem.position <= max_items)
                      .order_by(TodoItem.list_id, TodoItem.position))
            for list_id, text, is_done in session.execute(listed):
                items[list_id].append((text, bool(is_done)))
    return [TodoRow(r.id, r.owner, r.title, as_utc(r.created_at), int(r.done), int(r.total),
                    tuple(items[r.id])) for r in found], count


def count_users(db: Database) -> int:
    """How many users are registered."""
    with db.session() as session:
        return session.scalar(select(func.count(User.id))) or 0

