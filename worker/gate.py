"""A gate that keeps acknowledgements quick while the worker is busy.

CPython runs one thread's Python at a time. A turn costs the worker 20-30 ms of CPU, so at 100
messages a second the worker wants more than the whole interpreter, and with hundreds of worker
threads ready to run, a webhook thread queued behind all of them for the interpreter lock: acks
took seconds and thousands passed Twilio's 15 s (bench/, ack scenario). The gate lets `slots`
worker threads run at once; a thread steps out while it waits on the network (the model, Twilio,
media), so a slow call never holds a slot, and webhook threads, which never take the gate,
compete with `slots` threads instead of hundreds.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator


class CpuGate:
    """At most `slots` holders at a time; a holder lends its slot out while it waits on I/O."""

    def __init__(self, slots: int = 1) -> None:
        self._slots = threading.Semaphore(slots)
        self._local = threading.local()

    @property
    def holding(self) -> bool:
        """Whether the calling thread holds a slot."""
        return getattr(self._local, "held", False)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold a slot for the block (the worker, around a turn)."""
        self._slots.acquire()
        self._local.held = True
        try:
            yield
        finally:
            self._local.held = False
            self._slots.release()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Give the slot back while the block waits on I/O; a no-op for threads holding none."""
        if not self.holding:
            yield
            return
        self._local.held = False
        self._slots.release()
        try:
            yield
        finally:
            self._slots.acquire()
            self._local.held = True

    def sleep(self, seconds: float) -> None:
        """time.sleep without keeping a slot."""
        with self.waiting():
            time.sleep(seconds)
