"""Starting the assistant the way an operator does (`python app.py` or gunicorn) and watching it.

The app runs in its own process with its own data directory; its log goes to a file beside the
data. `AppProcess` waits for /healthz, samples the resident memory of the serving process and reads
its CPU clock with nanosecond resolution (Linux's per-process CPU clock, dead threads included).
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

import psutil

from .fakes import ROOT

GUNICORN_THREADS = 8
WORKER_THREADS = 256


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(port: int, threads: int = GUNICORN_THREADS) -> list[str]:
    """The production command the README recommends: one process (the dispatcher keeps per-sender
    order in memory), a few HTTP threads for the acknowledgements."""
    return [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", str(threads), "-b", f"127.0.0.1:{port}",
            "--backlog", "2048", "app:create_app()"]


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
    proc: subprocess.Popen | None = None
    profiler: subprocess.Popen | None = None
    peak_rss: int = 0
    _sampling: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "AppProcess":
        """Start the server and wait until /healthz answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "DATA_DIR": str(self.data_dir), "HOST": "127.0.0.1", "PORT": str(self.port)}
        if self.server == "gunicorn":
            command = gunicorn_command(self.port, self.gunicorn_threads)
        else:
            command = [sys.executable, "app.py"]
        log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab")
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.server} exited with {self.proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        self._start_profiler()
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.server} did not answer /healthz within {timeout:.0f} s")

    def _start_profiler(self) -> None:
        """With `profile_to`, sample the GIL-holding stacks of the serving process with py-spy."""
        if self.profile_to is None:
            return
        self.profile_to.parent.mkdir(parents=True, exist_ok=True)
        spy = Path(sys.executable).with_name("py-spy")
        self.profiler = subprocess.Popen([str(spy) if spy.exists() else "py-spy", "record", "--pid", str(self.serving_pid()), "--gil",
                                          "--nonblocking", "--rate", "250", "--format", "raw",
                                          "--output", str(self.profile_to)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _stop_profiler(self) -> None:
        if self.profiler is not None and self.profiler.poll() is None:
            self.profiler.send_signal(signal.SIGINT)
            try:
                self.profiler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.profiler.kill()

    def serving_pid(self) -> int:
        """The process that runs the app: gunicorn's worker, or python app.py itself."""
        parent = psutil.Process(self.proc.pid)
        children = parent.children()
        return children[0].pid if self.server == "gunicorn" and children else parent.pid

    def cpu_seconds(self) -> float:
        """CPU time used so far by the serving process."""
        return process_cpu_seconds(self.serving_pid())

    def rss(self) -> int:
        """Resident memory of the serving process, in bytes."""
        return psutil.Process(self.serving_pid()).memory_info().rss

    def sample_memory(self, interval: float = 0.1) -> None:
        """Keep `peak_rss` up to date from a background thread until `stop_sampling()`."""
        self._sampling = True

        def loop() -> None:
            while self._sampling:
                try:
                    self.peak_rss = max(self.peak_rss, self.rss())
                except psutil.Error:
                    return
                time.sleep(interval)

        threading.Thread(target=loop, daemon=True, name="rss-sampler").start()

    def stop_sampling(self) -> int:
        """Stop sampling; returns the peak resident memory seen, in bytes."""
        self._sampling = False
        return self.peak_rss

    def stop(self) -> None:
        """Stop at once (the ledger is durable), then SIGKILL whatever lingers."""
        self._sampling = False
        self._stop_profiler()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT if self.server == "gunicorn" else signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                child.kill()
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "AppProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
