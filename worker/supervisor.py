"""`python app.py` keeps its worker process alive: starts it, restarts it if it dies, stops it.

Production runs the web and `python -m worker` under a process manager (systemd, a Procfile);
`python app.py` is the one-command way, so it plays that manager for its one child.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger("assistant")
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0
STOP_TIMEOUT = 10.0
PARENT_ENV = "ASSISTANT_WORKER_PARENT"
"""Carries the supervisor's pid to the child: a worker whose parent is gone stops instead of lingering."""


class WorkerSupervisor:
    """Runs `python -m worker` as a child with this process's environment and working folder."""

    def __init__(self, env: dict[str, str] | None = None, cwd: Path | None = None,
                 command: list[str] | None = None) -> None:
        self.command = command or [sys.executable, "-m", "worker"]
        self.env = {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}
        self.cwd = cwd or Path.cwd()
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The current child's pid (it changes after a restart)."""
        proc = self.proc
        return proc.pid if proc is not None else None

    def start(self) -> "WorkerSupervisor":
        """Start the child and a thread that restarts it when it exits unexpectedly."""
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self._watcher.start()
        return self

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env)
            log.info("started the worker process (pid %d)", self.proc.pid)

    def _watch(self) -> None:
        backoff = FIRST_BACKOFF
        while not self._stopping.is_set():
            proc, started = self.proc, time.monotonic()
            code = proc.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > STABLE_AFTER:
                backoff = FIRST_BACKOFF
            log.error("the worker process (pid %d) exited with %s; restarting it in %.0f s", proc.pid, code, backoff)
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF)
            self._spawn()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the child, wait up to `timeout` seconds for its turns to finish, then kill it."""
        with self._lock:
            self._stopping.set()
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the worker process did not stop within %.0f s; killing it", timeout)
            proc.kill()
            proc.wait()
