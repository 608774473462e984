"""Starting the assistant the way an operator does (`python app.py` or gunicorn) and watching it.

The app runs in its own processes with its own data directory; its log goes to a file beside the
data. With WORKER_MODE=process (the default) the turns run in `python -m worker`: `python app.py`
starts it as its child, and beside gunicorn `AppProcess` starts it itself, as the README says to.
On PostgreSQL the turns are the engine's jobs (procrastinate) and `workers` says how many
`python -m worker` processes take them, each with a DATA_DIR of its own as on its own machine.
`AppProcess` waits for /healthz and the workers (SQLite: the nudge socket; PostgreSQL: each worker
registered with the engine), and reads CPU and memory over every process of the deployment: the
CPU clocks have nanosecond resolution (Linux's per-process CPU clock, dead threads included), and
the resident memory is the sum over the processes, or per process (`peak_rss_by_role`).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

from .fakes import ROOT

GUNICORN_THREADS = 8
GUNICORN_WORKERS = 2
WORKER_THREADS = 256


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(port: int, threads: int = GUNICORN_THREADS, workers: int = GUNICORN_WORKERS) -> list[str]:
    """The production web command the README recommends: a few processes with a few HTTP threads
    each for the acknowledgements (the turns run in the separate worker process)."""
    return [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads),
            "-b", f"127.0.0.1:{port}", "--backlog", "2048", "app:create_app()"]


def worker_command() -> list[str]:
    """The worker process the README runs beside gunicorn."""
    return [sys.executable, "-m", "worker"]


def separate_worker(env: dict[str, str]) -> bool:
    """Whether this environment runs turns in `python -m worker` (config.Config.separate_worker)."""
    mode = env.get("WORKER_MODE", "process").strip().lower() or "process"
    return mode == "process" and env.get("REPLY_MODE", "rest").strip().lower() != "twiml"


def engine_workers(env: dict[str, str]) -> bool:
    """Whether this environment's turns are procrastinate jobs (config.Config.turn_engine): PostgreSQL
    and a worker process of its own."""
    return separate_worker(env) and env.get("DATABASE_URL", "").startswith("postgresql")


def libpq_dsn(database_url: str) -> str:
    """The psycopg2 DSN of a SQLAlchemy URL such as postgresql+psycopg2://user@host:port/name."""
    from sqlalchemy.engine import make_url

    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def registered_workers(database_url: str, within_s: float = 60.0) -> int:
    """How many engine workers beat their heartbeat within `within_s` (0 before the schema exists)."""
    import psycopg2

    try:
        with psycopg2.connect(libpq_dsn(database_url)) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM procrastinate_workers "
                           "WHERE last_heartbeat > now() - make_interval(secs => %s)", (within_s,))
            return cursor.fetchone()[0]
    except psycopg2.Error:
        return 0


def process_cpu_seconds(pid: int) -> float:
    """CPU time of a whole process (every thread, live or exited), in seconds, ns resolution."""
    return time.clock_gettime(((~pid) << 3) | 2)


@dataclass
class AppProcess:
    """One running assistant; `server` is "app.py" or "gunicorn"."""

    server: str
    env: dict[str, str]
    data_dir: Path
    gunicorn_threads: int = GUNICORN_THREADS
    port: int = field(default_factory=free_port)
    profile_to: Path | None = None
    workers: int = 1
    proc: subprocess.Popen | None = None
    worker_procs: list[subprocess.Popen] = field(default_factory=list)
    profilers: list[subprocess.Popen] = field(default_factory=list)
    peak_rss: int = 0
    peak_rss_by_role: dict[str, int] = field(default_factory=dict)
    _sampling: bool = False

    @property
    def worker(self) -> subprocess.Popen | None:
        """The first worker process started here (beside gunicorn), if any."""
        return self.worker_procs[0] if self.worker_procs else None

    @property
    def engine(self) -> bool:
        """Whether the turns are the engine's jobs (PostgreSQL, worker processes of their own)."""
        return engine_workers(self.env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def separate_worker(self) -> bool:
        """Whether the turns run in a `python -m worker` process of their own."""
        return separate_worker(self.env)

    def start(self, timeout: float = 60.0) -> "AppProcess":
        """Start the server (and, beside gunicorn, the worker) and wait until both are up."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> "AppProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "DATA_DIR": str(self.data_dir), "HOST": "127.0.0.1", "PORT": str(self.port)}
        deadline = time.monotonic() + timeout
        log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab")
        try:
            if self.server == "gunicorn":
                if self.separate_worker:
                    # First, so that they migrate a fresh database before the web processes open it.
                    for index in range(self.workers if self.engine else 1):
                        own = env if index == 0 or not self.engine else {
                            **env, "DATA_DIR": str(self.worker_data_dir(index))}
                        Path(own["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
                        self.worker_procs.append(
                            subprocess.Popen(worker_command(), cwd=ROOT, env=own, stdout=log, stderr=log))
                    self._wait_for_worker(deadline, log.name)
                workers = GUNICORN_WORKERS if self.separate_worker else 1
                command = gunicorn_command(self.port, self.gunicorn_threads, workers)
            else:
                command = [sys.executable, "app.py"]
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        finally:
            log.close()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.server} exited with {self.proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        if self.separate_worker:
                            self._wait_for_worker(deadline, log.name)
                        self._start_profilers()
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.server} did not answer /healthz within {timeout:.0f} s")

    def worker_data_dir(self, index: int) -> Path:
        """The DATA_DIR of engine worker `index` (0 shares the web's): one folder per 'machine'."""
        return self.data_dir if index == 0 else self.data_dir.with_name(f"{self.data_dir.name}-worker{index}")

    def _worker_ready(self) -> bool:
        """SQLite: the worker binds its nudge socket once its services are built and it reads the
        ledger. PostgreSQL: every worker registered with the engine (its first heartbeat row)."""
        if self.engine:
            return registered_workers(self.env["DATABASE_URL"]) >= len(self.worker_procs)
        from worker.nudge import socket_path

        return socket_path(self.data_dir).exists()

    def _wait_for_worker(self, deadline: float, log_name: str) -> None:
        while not self._worker_ready():
            for worker in self.worker_procs:
                if worker.poll() is not None:
                    raise RuntimeError(f"a worker exited with {worker.returncode}; see {log_name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker process did not start; see {log_name}")
            time.sleep(0.05)

    def _start_profilers(self) -> None:
        """With `profile_to`, sample the GIL-holding stacks of the web process with py-spy, and those
        of the worker process into `<name>-worker.txt`."""
        if self.profile_to is None:
            return
        self.profile_to.parent.mkdir(parents=True, exist_ok=True)
        targets = [(self.serving_pid(), self.profile_to)]
        for index, worker in enumerate(self.worker_pids()):
            suffix = "-worker" if index == 0 else f"-worker{index}"
            targets.append((worker, self.profile_to.with_name(f"{self.profile_to.stem}{suffix}{self.profile_to.suffix}")))
        spy = Path(sys.executable).with_name("py-spy")
        for pid, output in targets:
            self.profilers.append(subprocess.Popen(
                [str(spy) if spy.exists() else "py-spy", "record", "--pid", str(pid), "--gil", "--nonblocking",
                 "--rate", os.environ.get("BENCH_SPY_RATE", "250"), "--format", "raw", "--output", str(output)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def _stop_profilers(self) -> None:
        for profiler in self.profilers:
            if profiler.poll() is None:
                profiler.send_signal(signal.SIGINT)
        for profiler in self.profilers:
            try:
                profiler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                profiler.kill()
        self.profilers.clear()

    def serving_pid(self) -> int:
        """The process that serves the webhook: gunicorn's (first) worker, or python app.py itself."""
        parent = psutil.Process(self.proc.pid)
        children = parent.children()
        return children[0].pid if self.server == "gunicorn" and children else parent.pid

    def worker_pid(self) -> int | None:
        """The `python -m worker` process: started here beside gunicorn, or python app.py's child."""
        if self.worker is not None:
            return self.worker.pid
        if self.server == "gunicorn" or not self.separate_worker:
            return None
        children = psutil.Process(self.proc.pid).children()
        return children[0].pid if children else None

    def worker_pids(self) -> list[int]:
        """Every `python -m worker` process: those started here, or python app.py's child."""
        if self.worker_procs:
            return [worker.pid for worker in self.worker_procs]
        found = self.worker_pid()
        return [found] if found is not None else []

    def web_processes(self) -> list[psutil.Process]:
        """The web tier: gunicorn's master and its workers, or python app.py without its worker child."""
        try:
            parent = psutil.Process(self.proc.pid)
            found = [parent, *parent.children(recursive=True)]
        except psutil.Error:
            return []
        workers = set(self.worker_pids())
        return [process for process in found if process.pid not in workers]

    def roles(self) -> dict[str, int]:
        """pid of each process by role: web (app.py, or gunicorn's master and web-N), worker-N."""
        found: dict[str, int] = {}
        web = self.web_processes()
        if self.server == "gunicorn":
            if web:
                found["gunicorn-master"] = web[0].pid
            for index, process in enumerate(web[1:], 1):
                found[f"web-{index}"] = process.pid
        elif web:
            found["web"] = web[0].pid
        for index, pid in enumerate(self.worker_pids(), 1):
            found[f"worker-{index}"] = pid
        return found

    def tier_cpu_meter(self) -> Callable[[], dict[str, float]]:
        """CPU seconds so far of the web tier and of the workers (summed), over the processes alive now."""
        web = [process.pid for process in self.web_processes()]
        workers = self.worker_pids()

        def read() -> dict[str, float]:
            def total(pids: list[int]) -> float:
                seconds = 0.0
                for pid in pids:
                    try:
                        seconds += process_cpu_seconds(pid)
                    except OSError:
                        continue
                return seconds

            return {"web": total(web), "workers": total(workers)}

        return read

    def processes(self) -> list[psutil.Process]:
        """Every process of the deployment: the server, its children (app.py's worker, gunicorn's
        workers) and the workers started beside gunicorn."""
        found = []
        for root in (self.proc, *self.worker_procs):
            if root is None:
                continue
            try:
                parent = psutil.Process(root.pid)
                found += [parent, *parent.children(recursive=True)]
            except psutil.Error:
                continue
        return found

    def cpu_seconds(self) -> float:
        """CPU time used so far by the web and the worker processes together (the processes alive now)."""
        total = 0.0
        for process in self.processes():
            try:
                total += process_cpu_seconds(process.pid)
            except OSError:
                continue
        return total

    def cpu_meter(self) -> Callable[[], float]:
        """A cheap CPU clock over the processes alive now: `cpu_seconds()` without enumerating them
        again on every read (psutil walks /proc for the children), for per-message windows."""
        pids = [process.pid for process in self.processes()]

        def read() -> float:
            total = 0.0
            for pid in pids:
                try:
                    total += process_cpu_seconds(pid)
                except OSError:
                    continue
            return total

        return read

    def rss(self) -> int:
        """Resident memory, in bytes, summed over the deployment's processes (web and worker; with
        gunicorn its master too). Pages forked processes share are counted once per process."""
        total = 0
        for process in self.processes():
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        return total

    def sample_memory(self, interval: float = 0.1) -> None:
        """Keep `peak_rss` (the sum) and `peak_rss_by_role` (each process) up to date from a
        background thread until `stop_sampling()`."""
        self._sampling = True
        roles = self.roles()

        def loop() -> None:
            while self._sampling:
                try:
                    self.peak_rss = max(self.peak_rss, self.rss())
                except psutil.Error:
                    return
                update_peaks(self.peak_rss_by_role, roles)
                time.sleep(interval)

        threading.Thread(target=loop, daemon=True, name="rss-sampler").start()

    def stop_sampling(self) -> int:
        """Stop sampling; returns the peak resident memory seen, in bytes."""
        self._sampling = False
        return self.peak_rss

    def stop(self) -> None:
        """Stop at once (the ledger is durable), then SIGKILL whatever lingers."""
        self._sampling = False
        self._stop_profilers()
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGQUIT if self.server == "gunicorn" else signal.SIGTERM)
        for worker in self.worker_procs:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.worker_procs:
            _stop_process(worker, signal.SIGTERM)

    def __enter__(self) -> "AppProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def update_peaks(peaks: dict[str, int], roles: dict[str, int],
                 read: Callable[[int], int] = lambda pid: psutil.Process(pid).memory_info().rss) -> dict[str, int]:
    """Raise each role's peak resident memory (bytes) to what `read(pid)` gives now; a process that
    is gone keeps its peak."""
    for role, pid in roles.items():
        try:
            peaks[role] = max(peaks.get(role, 0), read(pid))
        except (psutil.Error, OSError):
            continue
    return peaks


def mib(peaks: dict[str, int]) -> dict[str, float]:
    """Bytes per role as MiB, rounded to 0.1."""
    return {role: round(value / 2**20, 1) for role, value in peaks.items()}


def _stop_process(proc: subprocess.Popen, signum: int, timeout: float = 15.0) -> None:
    """Signal `proc`, wait, then SIGKILL it and its children if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(signum)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()
