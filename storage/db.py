"""The application database: one engine and session factory per process, migrated by Alembic."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# PostgreSQL connections are pinged on checkout only after sitting idle in the pool this long (s).
# pool_pre_ping pinged on every checkout: a round trip more per transaction, ~0.7 ms of each turn's
# ~9 transactions. A connection checked in moments ago is as alive as a pinged one (the server can
# die between ping and statement either way); a statement that still meets a dead one fails once
# and invalidates the pool, and work that must not be lost goes through Database.retry_on_disconnect.
PING_AFTER_IDLE = 1.0
CONNECT_TIMEOUT = 5  # seconds for a new PostgreSQL connection, unless the URL sets connect_timeout
_IDLE_SINCE = "idle_since"
T = TypeVar("T")


class Database:
    """Holds the engine and hands out short transactions with `db.session()`."""

    def __init__(self, url: str, pool_size: int = 10, ping_after_idle: float = PING_AFTER_IDLE,
                 **engine_options: Any) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size, ping_after_idle, **engine_options)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit_statements = self.engine.dialect.driver == "psycopg2"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def rows_per_statement(self) -> int:
        """How many rows an executemany INSERT sends in one statement (SQLAlchemy's insertmanyvalues
        batch): up to this many fit `statement()`, more need `transaction()`."""
        return self.engine.dialect.insertmanyvalues_page_size

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as session:
            with session.begin():
                yield session

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A Core connection in one transaction, for the per-message hot paths: a prepared statement
        costs a fraction of the ORM's unit of work (python -m bench --only overhead)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def statement(self) -> Iterator[Connection]:
        """A Core connection for work that is a single SQL statement, which is then its own transaction.

        On PostgreSQL (psycopg2) the statement runs in the driver's autocommit mode, switched on the
        DBAPI connection for the block as SQLAlchemy's own psycopg2 ping does: no BEGIN and no
        COMMIT, two round trips fewer than `transaction()` (about 0.1 ms of CPU and 0.2 ms of wall
        each time, and a turn has several). The statement is atomic by itself; a block that
        runs more than one statement must use `transaction()`, or each one commits on its own.
        Other databases get `transaction()`: SQLite has no round trips to save."""
        if not self._autocommit_statements:
            with self.transaction() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            dbapi_connection = conn.connection.dbapi_connection
            dbapi_connection.autocommit = True
            try:
                yield conn
                conn.commit()
            finally:
                _leave_autocommit(conn, dbapi_connection)

    @contextmanager
    def durable_statement(self) -> Iterator[Connection]:
        """`statement()` whose commit is on disk when the block ends, power loss included: for what
        must never be lost once acknowledged (the webhook's ledger insert, answered 200 to Twilio,
        which then never sends it again). PostgreSQL commits that way already (synchronous_commit
        is on by default). SQLite runs in WAL mode with synchronous=NORMAL, which survives a crash
        of the process but not of the machine, and stays so for every other write (a lost status
        update only means a turn answered again); this block switches its connection to
        synchronous=FULL, which syncs the WAL at the commit (about 0.6 ms of wall here)."""
        if self.dialect != "sqlite":
            with self.statement() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA synchronous=FULL")
            try:
                yield conn
                conn.commit()
            finally:
                try:
                    conn.rollback()  # nothing left after the commit; the block's work if it raised
                    conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                    conn.commit()
                except Exception:
                    conn.invalidate()  # never pooled in the slower mode, nor with its error pending

    def retry_on_disconnect(self, work: Callable[[], T], retries: int = 1) -> T:
        """Call `work`, again (up to `retries` times) when it failed because its connection was dead:
        SQLAlchemy has then invalidated the pool, so the next try connects afresh. For work that
        should not fail on a server restart (a recently used connection is not pinged) and is safe
        to repeat: a transaction whose connection died rolled back, unless it died between the
        server's commit and its answer."""
        retries_left = retries
        while True:
            try:
                return work()
            except DBAPIError as exc:
                if not exc.connection_invalidated or retries_left <= 0:
                    raise
                retries_left -= 1

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (safe to call at every start)."""
        upgrade(self.engine)

    def checkpoint(self) -> bool:
        """Empty SQLite's WAL file into the database file (see `checkpoint_wal`); True when done."""
        return checkpoint_wal(self.engine)

    def ping(self) -> None:
        """Raise if the database does not answer a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str, pool_size: int = 10, ping_after_idle: float = PING_AFTER_IDLE,
                **options: Any) -> Engine:
    """An engine tuned for the dialect: SQLite in WAL mode with a busy timeout, foreign keys on;
    PostgreSQL connections pinged on checkout once idle longer than `ping_after_idle` seconds.

    `options` go on to SQLAlchemy's `create_engine` (e.g. the json_serializer a library needs)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=pool_size, max_overflow=20, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql") and "connect_timeout" not in url:
        # libpq waits on a host that drops packets for as long as TCP does (minutes): the webhook
        # must learn within Twilio's 15 s that the database is away, to keep the message elsewhere.
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT, **options.get("connect_args", {})}
    engine = create_engine(url, pool_size=pool_size, max_overflow=20, **options)
    _ping_when_idle(engine, ping_after_idle)
    return engine


def checkpoint_wal(engine: Engine) -> bool:
    """On SQLite, copy every page version in the WAL back into the database file and truncate the
    WAL to zero bytes (`PRAGMA wal_checkpoint(TRUNCATE)`), waiting out readers and writers for as
    long as the busy timeout allows. The WAL keeps the old versions of every page written since the
    last checkpoint, so a deleted row's text stays there, secure_delete or not, until this runs.
    Returns False when the database stayed busy and some of the WAL is left; other databases have
    nothing to do here (True)."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as conn:
        busy, _log_frames, _checkpointed = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    return not busy


def _leave_autocommit(conn: Connection, dbapi_connection: Any) -> None:
    """Put a psycopg2 connection back in transaction mode before the pool takes it back; one
    whose mode cannot be set (closed under us) is invalidated, never pooled in autocommit."""
    if dbapi_connection.closed:
        return
    try:
        dbapi_connection.autocommit = False
    except Exception:
        conn.invalidate()


def _ping_when_idle(engine: Engine, threshold: float) -> None:
    """Pessimistic disconnect handling for connections idle over `threshold` seconds (SQLAlchemy's
    custom checkout-event recipe): a failed ping raises DisconnectionError, and the pool replaces
    that connection with a new one before handing it out."""
    dialect = engine.dialect

    def idle_from_now(_dbapi_connection, record) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) <= threshold:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("an idle pooled connection did not answer a ping") from exc

    event.listen(engine, "connect", idle_from_now)
    event.listen(engine, "checkin", idle_from_now)
    event.listen(engine, "checkout", ping_if_idle)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA secure_delete=ON")  # overwritten text (a redacted password) leaves no bytes behind
    cursor.close()


def alembic_config(engine: Engine | None = None) -> AlembicConfig:
    """An Alembic config pointing at our migrations, bound to `engine` when given."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


class SchemaTooNew(RuntimeError):
    """The database was migrated by newer code than this process runs: it must not touch it."""


# Any number of web and worker processes may start at once on a fresh PostgreSQL database; each
# runs the upgrade, so it is serialized with a session-level advisory lock (an arbitrary constant
# key): the first migrates, the rest wait, then find the schema at head and do nothing.
MIGRATION_LOCK_KEY = 0x77A_5C4E


@contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Hold the cluster-wide schema lock for the block on PostgreSQL (a no-op elsewhere): for every
    start-up step that creates tables, so processes started together do not race to create them."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as lock_conn:
        lock_conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
        try:
            yield
        finally:
            lock_conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
            lock_conn.rollback()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to `revision` on `engine`, one process at a time on PostgreSQL;
    raises SchemaTooNew when the database is at a revision this code does not know."""
    cfg = alembic_config(engine)
    with schema_lock(engine):
        _refuse_newer_schema(engine, cfg)
        command.upgrade(cfg, revision)


def _refuse_newer_schema(engine: Engine, cfg: AlembicConfig) -> None:
    """Stop before a process of older code runs on (or "upgrades") a schema it does not know."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    script = ScriptDirectory.from_config(cfg)
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        raise SchemaTooNew(f"the database schema is at revision {', '.join(unknown)}, newer than this code knows "
                           f"(its newest is {script.get_current_head()}): deploy the newer code on this machine too")
