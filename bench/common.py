"""What several scenarios share: the app's environment, throwaway databases, the context of a run."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import psycopg2

from .appproc import WORKER_THREADS
from .fakes import FakesProcess

if TYPE_CHECKING:
    from storage.db import Database

PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/{name}")


@dataclass
class Run:
    """The context handed to every scenario: options, a scratch folder, the fakes, a progress hook."""

    quick: bool
    workdir: Path
    fakes: FakesProcess
    progress: Callable[[str, int], Any]
    options: dict[str, Any] = field(default_factory=dict)

    def profile_path(self, label: str) -> Path | None:
        """Where py-spy writes the app's stacks for `label`, when --profile was given."""
        folder = self.options.get("profile")
        return Path(folder) / f"{label}.txt" if folder else None

    def folder(self, name: str) -> Path:
        """A fresh data directory for one app start."""
        path = self.workdir / f"{name}-{uuid.uuid4().hex[:6]}"
        path.mkdir(parents=True)
        return path / "data"


def app_env(fakes: FakesProcess, database_url: str | None = None, **extra: Any) -> dict[str, str]:
    """The production environment the README recommends, pointed at the fakes. On PostgreSQL every
    process shares one SECRET_KEY (set here for every database) and, since the bench runs every
    process on one machine, one media folder (LOCAL_MEDIA_SHARED=true instead of BUCKET_NAME)."""
    env = {"SECRET_KEY": "bench-secret-key-0123456789", "LOG_LEVEL": "INFO", "REPLY_MODE": "rest",
           "WORKER_THREADS": str(WORKER_THREADS), "AGNO_TELEMETRY": "false", "TWILIO_VALIDATE_SIGNATURE": "true"}
    env.update(fakes.app_env())
    if database_url:
        env["DATABASE_URL"] = database_url
        if database_url.startswith("postgresql"):
            env["LOCAL_MEDIA_SHARED"] = "true"
    env.update({key: str(value) for key, value in extra.items()})
    return env


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A new empty PostgreSQL database for the duration of the block; dropped afterwards."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield PG_URL.format(name=name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def pg_connections(database_url: str) -> int:
    """How many connections are open to the database of `database_url` right now."""
    name = database_url.rsplit("/", 1)[-1]
    with psycopg2.connect(PG_ADMIN_DSN) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,))
        return cursor.fetchone()[0]


@contextmanager
def scratch_dir(keep: bool = False) -> Iterator[Path]:
    """A temporary folder for data directories and app logs, removed at the end unless `keep`."""
    path = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def wait_done(db: "Database", sid: str, timeout: float = 30.0, interval: float = 0.001) -> str:
    """Poll the ledger until the message `sid` is done or failed; its status, or "timeout"."""
    from storage import ledger

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = ledger.get_by_sid(db, sid)
        if entry is not None and entry.status in ("done", "failed"):
            return entry.status
        time.sleep(interval)
    return "timeout"


def sqlite_url(data_dir: Path) -> str:
    """The embedded default database of an app whose DATA_DIR is `data_dir`."""
    return f"sqlite:///{(data_dir / 'app.db').as_posix()}"


def seed_users(database_url: str, phones: list[str]) -> None:
    """Migrate the app's database and register each phone, logged in (tools that need a login work)."""
    from storage.db import Database
    from tests.factories import make_user

    db = Database(database_url, pool_size=2)
    try:
        db.migrate()
        for phone in phones:
            make_user(db, phone, name="Bench User")
    finally:
        db.dispose()
