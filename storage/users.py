"""Users and login attempts: accounts keyed by phone, CPF unique, soft lockout after failed logins.

Functions that depend on the time take `now`, so the lockout window can be tested without waiting.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from common.clock import as_utc, utcnow
from common.cpf import mask_cpf

from .db import Database
from .models import Login, User

LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
# Accounts are looked up by phone or CPF with a Core select prepared once, not the ORM's unit of
# work (0.35 -> 0.11 ms on SQLite, 0.74 -> 0.41 ms on PostgreSQL); a turn's own read of its sender
# (turn_state.py) takes the same columns. The password hash is not selected: it stays inside storage.
_USERS = User.__table__
ACCOUNT_COLUMNS = ("id", "phone", "name", "cpf", "created_at", "last_login_at", "logged_in_until")  # never the hash
_SELECT_USER = select(*(_USERS.c[name] for name in ACCOUNT_COLUMNS))
_BY_PHONE = _SELECT_USER.where(_USERS.c.phone == bindparam("value"))
_BY_CPF = _SELECT_USER.where(_USERS.c.cpf == bindparam("value"))


class AccountExists(Exception):
    """Registration refused: the phone (`field="phone"`) or the CPF (`field="cpf"`) has an account."""

    def __init__(self, field: str) -> None:
        super().__init__(f"an account with this {field} already exists")
        self.field = field


@dataclass(frozen=True)
class UserRecord:
    """A user as tools see it; the password hash stays inside storage."""

    id: int
    phone: str
    name: str
    cpf: str
    created_at: datetime
    last_login_at: datetime | None
    logged_in_until: datetime | None

    @property
    def masked_cpf(self) -> str:
        return mask_cpf(self.cpf)

    def is_logged_in(self, now: datetime | None = None) -> bool:
        """True while the last login is still valid."""
        return self.logged_in_until is not None and self.logged_in_until > (now or utcnow())


def user_record(row: User | Row) -> UserRecord:
    """A UserRecord from an ORM row or a Core row with the user columns."""
    return UserRecord(row.id, row.phone, row.name, row.cpf, as_utc(row.created_at),
                      as_utc(row.last_login_at) if row.last_login_at else None,
                      as_utc(row.logged_in_until) if row.logged_in_until else None)


def create_user(db: Database, phone: str, name: str, cpf: str, password_hash: str) -> UserRecord:
    """Store a new user (CPF normalised by the caller); raises AccountExists for a taken phone or CPF."""
    if get_user_by_phone(db, phone) is not None:
        raise AccountExists("phone")
    if get_user_by_cpf(db, cpf) is not None:
        raise AccountExists("cpf")
    try:
        with db.session() as session:
            row = User(phone=phone, name=name, cpf=cpf, password_hash=password_hash, created_at=utcnow())
            session.add(row)
            session.flush()
            return user_record(row)
    except IntegrityError:
        raise AccountExists("phone" if get_user_by_phone(db, phone) else "cpf") from None


def _one_user(db: Database, statement: Select, value: str) -> UserRecord | None:
    with db.statement() as conn:
        row = conn.execute(statement, {"value": value}).first()
    return user_record(row) if row else None


def get_user_by_phone(db: Database, phone: str) -> UserRecord | None:
    """The account of a phone, or None (a prepared Core select: every tool turn pays for it)."""
    return _one_user(db, _BY_PHONE, phone)


def get_user_by_cpf(db: Database, cpf: str) -> UserRecord | None:
    """The account of a normalised CPF, or None."""
    return _one_user(db, _BY_CPF, cpf)


def password_hash_of(db: Database, user_id: int) -> str | None:
    """The stored argon2id hash of a user (for verification only)."""
    with db.session() as session:
        return session.scalar(select(User.password_hash).where(User.id == user_id))


def set_password_hash(db: Database, user_id: int, password_hash: str) -> None:
    """Replace a user's hash (rehash with newer parameters at login)."""
    with db.session() as session:
        session.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


def mark_logged_in(db: Database, user_id: int, ttl: timedelta, now: datetime | None = None) -> UserRecord:
    """Start a login session of `ttl` and note the time of this login."""
    now = now or utcnow()
    with db.session() as session:
        row = session.get(User, user_id)
        row.last_login_at, row.logged_in_until = now, now + ttl
        return user_record(row)


def log_out(db: Database, phone: str) -> bool:
    """End the phone's login session; True when there was one."""
    with db.session() as session:
        result = session.execute(update(User).where(User.phone == phone, User.logged_in_until.is_not(None))
                                 .values(logged_in_until=None))
        return bool(result.rowcount)


def record_login_attempt(db: Database, phone: str, cpf: str, success: bool, user_id: int | None = None,
                         now: datetime | None = None) -> None:
    """Write one login attempt (every attempt, successful or not, is kept)."""
    with db.session() as session:
        session.add(Login(user_id=user_id, phone=phone, cpf=cpf[:11], success=success, created_at=now or utcnow()))


def _recent_failures(session, column, value: str, now: datetime) -> list[datetime]:
    """Failure times of one phone or CPF within the window and after its latest success, newest first."""
    start = now - LOCKOUT_WINDOW
    last_success = session.scalar(select(func.max(Login.created_at))
                                  .where(column == value, Login.success.is_(True), Login.created_at > start,
                                         Login.created_at <= now))
    if last_success is not None:
        start = as_utc(last_success)
    rows = session.scalars(select(Login.created_at)
                           .where(column == value, Login.success.is_(False), Login.created_at > start,
                                  Login.created_at <= now)
                           .order_by(Login.created_at.desc())).all()
    return [as_utc(r) for r in rows]


def locked_until(db: Database, phone: str, cpf: str | None = None, now: datetime | None = None) -> datetime | None:
    """When the lockout of this phone or CPF ends, or None when attempts are allowed now.

    Locked while there are LOCKOUT_FAILURES failures within LOCKOUT_WINDOW (after the latest
    success); the lock lifts when the oldest of those failures leaves the window.
    """
    now = now or utcnow()
    ends: list[datetime] = []
    with db.session() as session:
        keys = [(Login.phone, phone)] + ([(Login.cpf, cpf)] if cpf else [])
        for column, value in keys:
            failures = _recent_failures(session, column, value, now)
            if len(failures) >= LOCKOUT_FAILURES:
                ends.append(failures[LOCKOUT_FAILURES - 1] + LOCKOUT_WINDOW)
    return max(ends) if ends else None


def login_attempts(db: Database, phone: str) -> list[tuple[datetime, bool]]:
    """(time, success) of a phone's login attempts, oldest first."""
    with db.session() as session:
        rows = session.execute(select(Login.created_at, Login.success).where(Login.phone == phone)
                               .order_by(Login.id)).all()
        return [(as_utc(at), ok) for at, ok in rows]


def delete_user(db: Database, phone: str) -> int:
    """LGPD erasure: remove the phone's account and every login attempt of the phone or its CPF."""
    user = get_user_by_phone(db, phone)
    with db.session() as session:
        conditions = [Login.phone == phone] + ([Login.cpf == user.cpf] if user else [])
        for condition in conditions:
            session.execute(delete(Login).where(condition))
        result = session.execute(delete(User).where(User.phone == phone))
        return result.rowcount or 0
