"""The turn engine on PostgreSQL: procrastinate, on the application database.

Each sender's turns are one job at a time (`answer_sender`, lock=<sender>, storage/turn_jobs.py);
any number of `python -m worker` processes on any number of machines fetch them (LISTEN/NOTIFY
wakes them). Workers beat a heartbeat every fifth of WORKER_FAILOVER_SECONDS; a job whose worker
has been silent longer is retried by the `retry_stalled_turns` chore on a live worker, and the
rows it left are answered (or, if they were mid-send, failed) by sender_turns.SenderTurns. The
chores are periodic jobs, deferred by every worker but run once per tick cluster-wide; among
them `fire_reminders` sends the reminders due.

`app` is also what procrastinate's own CLI loads for inspection:
`procrastinate --app=worker.engine.app shell` (list_jobs, list_locks, retry, cancel).
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Callable

import procrastinate
import psycopg
from procrastinate import exceptions as engine_errors
from procrastinate.worker import Worker
from sqlalchemy.engine import make_url

from common.errors import short_reason
from storage import turn_jobs
from storage.turn_jobs import CHORES_QUEUE, TURN_QUEUE, TURN_TASK

if TYPE_CHECKING:
    from procrastinate.manager import JobManager

    from storage.db import Database
    from worker.runtime import AssistantRuntime

log = logging.getLogger(__name__)
CHORE_PRIORITY = 100  # fetched before any waiting turn: a failover must not queue behind the backlog
# A taken-over sender has waited longest: their job goes ahead of the backlog (behind the chores).
TAKEOVER_PRIORITY = 50
ORPHAN_IDLE = timedelta(seconds=10)  # rows waiting this long with no job get one (sweep_orphan_rows)
REMINDER_SECONDS = 5  # the reminder chore's period; each run sends at most this many seconds' worth
RESTART_PAUSE = 2.0  # between the engine losing the database and its next start
# LISTEN/NOTIFY wakes a worker when a job is deferred, not when a sender's lock is released: a job
# deferred while its sender's previous one ran is fetched at the next poll (procrastinate's default: 5 s).
FETCH_POLL_SECONDS = 1.0
# How long the engine waits for one of its connections before it counts the database as away
# (psycopg_pool's default is 30 s, and a stop waits on two such waits: its fetch, then the worker's
# unregistration). A live database hands one out in milliseconds.
CONNECTION_WAIT_SECONDS = 5.0


def libpq_url(database_url: str) -> str:
    """The libpq form (postgresql://...) of a SQLAlchemy URL such as postgresql+psycopg2://..."""
    if not database_url.startswith("postgresql"):
        return ""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _url_from_environment() -> str:
    from dotenv import dotenv_values

    return os.environ.get("DATABASE_URL") or dotenv_values(".env").get("DATABASE_URL") or ""


async def autocommit(connection: psycopg.AsyncConnection) -> None:
    """Put each of the engine's pooled connections in autocommit. Each of procrastinate's calls is
    one statement, but psycopg's pool wraps it in a transaction committed after the result is
    read: a worker that stops there (SIGSTOP, a machine lost) stays idle in transaction holding its
    job's row lock, and the takeover of that job waits on it for as long as the connection lives."""
    await connection.set_autocommit(True)


def engine_connector(database_url: str, min_size: int = 1, max_size: int = 4) -> procrastinate.PsycopgConnector:
    """The engine's pool of connections to `database_url`: in autocommit, and counting the database
    as away after CONNECTION_WAIT_SECONDS without a connection."""
    return procrastinate.PsycopgConnector(conninfo=libpq_url(database_url), min_size=min_size, max_size=max_size,
                                          timeout=CONNECTION_WAIT_SECONDS, configure=autocommit)


app = procrastinate.App(connector=engine_connector(_url_from_environment()))
_bound: dict[str, "AssistantRuntime"] = {}


def bind(runtime: "AssistantRuntime") -> None:
    """Give the tasks of this process the runtime they answer with (the worker does it at start)."""
    _bound["runtime"] = runtime


def _runtime() -> "AssistantRuntime":
    runtime = _bound.get("runtime")
    if runtime is None:
        raise RuntimeError("this process runs no assistant runtime: start workers with `python -m worker`")
    return runtime


@app.task(name=TURN_TASK, queue=TURN_QUEUE, pass_context=True)
def answer_sender(context: procrastinate.JobContext, sender: str) -> int:
    """Answer the sender's waiting messages, oldest first, while procrastinate holds the sender's lock
    for this job (a job taken over from a silent worker no longer does)."""
    return _runtime().sender_turns.answer(sender, context.job.id)


@app.periodic(cron="* * * * * */5", periodic_id="stalled")  # seconds are the sixth field
@app.task(name="retry_stalled_turns", queue=CHORES_QUEUE, pass_context=True, priority=CHORE_PRIORITY)
async def retry_stalled_turns(context: procrastinate.JobContext, timestamp: int) -> int:
    """Put back the turn jobs of workers whose heartbeat stopped (killed, machine lost): another
    worker takes them. A sender with a newer job already waiting gets that one instead."""
    runtime = _runtime()
    return await take_over_stalled(context.app.job_manager, runtime.services.db,
                                   runtime.services.config.worker_failover_seconds)


async def take_over_stalled(manager: "JobManager", db: "Database", seconds: float) -> int:
    """Retry, ahead of every waiting turn, the turn jobs of workers silent for `seconds`; when the
    sender already has a job waiting, close the stalled one and move the waiting one ahead instead.
    Stalled chores are closed (they run again at their next tick). Returns the jobs put back."""
    retried = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=seconds):
        try:
            if job.queue != TURN_QUEUE:
                await manager.finish_job_by_id_async(job.id, procrastinate.jobs.Status.FAILED, delete_job=False)
                continue
            try:
                await manager.retry_job(job, priority=TAKEOVER_PRIORITY)
                retried += 1
            except engine_errors.UniqueViolation:  # a job of the same sender already waits: it takes the rows
                await manager.finish_job_by_id_async(job.id, procrastinate.jobs.Status.FAILED, delete_job=False)
                if job.lock:
                    await asyncio.to_thread(turn_jobs.hurry_waiting_job, db, job.lock, TAKEOVER_PRIORITY)
        except engine_errors.ConnectorException as exc:
            if not isinstance(exc.__cause__, psycopg.errors.RaiseException):
                raise
            # procrastinate found it no longer doing: its worker came back and finished it meanwhile
            log.info("stalled job %s changed before its takeover (%s); left as it is", job.id,
                     short_reason(exc.__cause__))
    if retried:
        log.warning("took over %d turn job(s) from worker(s) silent for over %.0f s", retried, seconds)
    return retried


@app.periodic(cron="* * * * * */10", periodic_id="orphans")
@app.task(name="sweep_orphan_rows", queue=CHORES_QUEUE, priority=CHORE_PRIORITY)
def sweep_orphan_rows(timestamp: int) -> int:
    """Give a job to senders whose waiting rows have none (a job that failed for good, rows left by
    a worker from before the engine): nothing waits in the ledger unanswered."""
    db = _runtime().services.db
    senders = turn_jobs.senders_without_job(db, ORPHAN_IDLE)
    for sender in senders:
        turn_jobs.defer_turn(db, sender)
    if senders:
        log.warning("the sweep gave a job to %d sender(s) whose waiting messages had none", len(senders))
    return len(senders)


@app.periodic(cron=f"* * * * * */{REMINDER_SECONDS}", periodic_id="reminders", lock="reminders",
              queueing_lock="reminders")
@app.task(name="fire_reminders", queue=CHORES_QUEUE, priority=CHORE_PRIORITY)
def fire_reminders(timestamp: int) -> int:
    """Send the reminders due (worker/reminders.py), at most TWILIO_SEND_RATE per second: the job's
    lock runs one at a time cluster-wide, so the rate holds for the whole deployment."""
    runtime = _runtime()
    return runtime.fire_reminders(budget=int(runtime.services.config.twilio_send_rate * REMINDER_SECONDS))


@app.periodic(cron="*/10 * * * *", periodic_id="exports")
@app.task(name="expire_exports", queue=CHORES_QUEUE, priority=CHORE_PRIORITY)
def expire_exports(timestamp: int) -> int:
    """Delete the LGPD exports whose links expired, once for the whole cluster."""
    from tools.privacy import expire_exports as expire

    removed = expire(_runtime().services.media)
    if removed:
        log.info("deleted %d expired export(s)", removed)
    return removed


def run_worker(runtime: "AssistantRuntime", parent_gone: Callable[[], bool] = lambda: False) -> None:
    """Serve turn and chore jobs until SIGTERM/SIGINT: running turns finish (a sender's job ends
    after its current turn and hands the sender's other messages to the next job, for any worker),
    nothing new is fetched. A second signal stops at once; what was running is then taken over by
    another worker like a killed one's. `parent_gone` (python app.py's child) also stops it."""
    config = runtime.services.config
    bind(runtime)
    threads = ThreadPoolExecutor(max_workers=config.worker_threads + 4, thread_name_prefix="turn")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(threads)  # where procrastinate runs sync tasks
        connector = engine_connector(config.database_url, min_size=2, max_size=max(4, min(config.worker_threads, 16)))
        current: list[Worker] = []
        attempts: list[asyncio.Task] = []

        def stop(signum: int) -> None:
            if runtime.stopping:
                log.warning("second signal: stopping now; running turns go to another worker")
                os._exit(1)
            log.info("signal %d: finishing the turns under way; the rest go to the other workers", signum)
            runtime.stop_taking_turns()
            if current:
                current[-1].stop()
            if attempts and (not current or current[-1].worker_id is None):  # still reaching the database:
                attempts[-1].cancel()                                       # no turn runs yet

        async def serve() -> None:
            async with app.open_async():
                current[:] = [Worker(app, queues=[TURN_QUEUE, CHORES_QUEUE], concurrency=config.worker_threads,
                                      delete_jobs="successful", install_signal_handlers=False,
                                      fetch_job_polling_interval=FETCH_POLL_SECONDS,
                                      update_heartbeat_interval=config.worker_failover_seconds / 5,
                                      stalled_worker_timeout=config.worker_failover_seconds)]
                await current[-1].run()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop, signum)
        watch = asyncio.create_task(_watch_parent(parent_gone, lambda: stop(signal.SIGTERM)))
        with app.replace_connector(connector):
            while not runtime.stopping:
                attempts[:] = [asyncio.ensure_future(serve())]  # the latest only: a long outage restarts often
                try:
                    await attempts[-1]
                except asyncio.CancelledError:  # stopped while the database was away
                    break
                except Exception as exc:  # the database went away under the engine: start it again
                    if runtime.stopping:
                        break
                    log.warning("the turn engine lost the database (%s); starting it again in %.0f s",
                                short_reason(exc), RESTART_PAUSE)
                    await asyncio.sleep(RESTART_PAUSE)
        watch.cancel()

    try:
        asyncio.run(main())
    finally:
        threads.shutdown(wait=True, cancel_futures=True)


async def _watch_parent(parent_gone: Callable[[], bool], stop: Callable[[], None]) -> None:
    while not parent_gone():
        await asyncio.sleep(1.0)
    log.error("the parent process is gone; stopping")
    stop()
