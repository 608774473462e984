"""Slows down token guessing: per-address failure counts in memory, with a lock-out that doubles.

After `free_failures` wrong tokens within `window` seconds, an address is refused (429) for
`base_delay` seconds, then twice as long after each further failure, up to `max_delay`. A correct
token clears the address. The table is bounded, oldest entries first out, so a flood of addresses
cannot exhaust memory. Per process: with several gunicorn workers each keeps its own count.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable


@dataclass
class _Record:
    failures: int
    first_at: float
    blocked_until: float


class FailureThrottle:
    """Counts failed admin-token attempts per client address."""

    def __init__(self, free_failures: int = 5, window: float = 900.0, base_delay: float = 2.0,
                 max_delay: float = 900.0, max_addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_addresses = max_addresses
        self.clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Seconds this address must still wait (0: it may try now)."""
        with self._lock:
            record = self._records.get(address)
            if record is None:
                return 0
            left = record.blocked_until - self.clock()
            return math.ceil(left) if left > 0 else 0

    def fail(self, address: str) -> None:
        """Record one wrong token from `address`."""
        now = self.clock()
        with self._lock:
            record = self._records.pop(address, None)
            if record is None or now - record.first_at > self.window and record.blocked_until <= now:
                record = _Record(0, now, 0.0)
            record.failures += 1
            over = record.failures - self.free_failures
            if over >= 0:
                record.blocked_until = now + min(self.max_delay, self.base_delay * (2 ** min(over, 30)))
            self._records[address] = record
            while len(self._records) > self.max_addresses:
                self._records.popitem(last=False)

    def succeed(self, address: str) -> None:
        """A correct token: forget this address's failures."""
        with self._lock:
            self._records.pop(address, None)
