"""A best-effort wake-up call from the web process to the worker process.

After writing a ledger row the webhook sends one empty datagram to `DATA_DIR/worker.sock`; the
worker, blocked on that socket, wakes and reads the new rows at once instead of at its next poll.
Nothing here is needed for correctness: a lost nudge (no worker yet, a full buffer) only means the
row is found by the poll a fraction of a second later. This module is the only part of `worker/`
the web imports, and it imports nothing of ours.
"""
from __future__ import annotations

import os
import select
import socket
from pathlib import Path

SOCKET_NAME = "worker.sock"


def socket_path(data_dir: Path) -> Path:
    """Where the worker listens for nudges: inside DATA_DIR, which web and worker share."""
    return data_dir / SOCKET_NAME


class Nudger:
    """The web's side: `send()` never blocks and never raises."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def send(self) -> None:
        """Tell the worker there is a new ledger row; silently does nothing when nobody listens."""
        try:
            self._sock.sendto(b"!", self.path)
        except OSError:
            pass  # no worker (ENOENT, ECONNREFUSED) or its buffer is full (EAGAIN): the poll covers it

    def close(self) -> None:
        """Release the socket."""
        self._sock.close()


class NudgeListener:
    """The worker's side: binds the socket and waits for nudges, or for a timeout."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        try:
            path.unlink(missing_ok=True)  # a socket file left by a worker that died
            self._sock.bind(str(path))
            self._inode = os.stat(path).st_ino
        except OSError:
            self._sock.close()
            raise

    def wait(self, timeout: float) -> bool:
        """Block until a nudge arrives or `timeout` seconds pass; True when nudged. Every pending
        nudge is consumed, so a burst of webhooks costs the worker one wake-up."""
        readable, _, _ = select.select([self._sock], [], [], timeout)
        if not readable:
            return False
        while True:
            try:
                self._sock.recv(64)
            except OSError:  # BlockingIOError: drained
                return True

    def close(self) -> None:
        """Stop listening and remove the socket file (only if it is still ours)."""
        try:
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        except OSError:
            pass
        self._sock.close()
