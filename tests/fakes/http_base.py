"""A threaded HTTP server base shared by the fake OpenAI and Twilio servers."""
from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """Request handler that keeps the test output clean and speaks HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    # http.server writes headers and body in two sends; with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (~40 ms on Linux), a stall real APIs do not add to every call.
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:  # noqa: D401 - silence the default access log
        pass

    def parse_request(self) -> bool:
        """Note when the request line arrived (`request_started`, time.monotonic()), before the
        headers are parsed: the moment the request reached this server."""
        self.request_started = time.monotonic()
        return super().parse_request()

    def read_body(self) -> bytes:
        """Read the request body according to Content-Length."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_bytes(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        """Send a complete response with a body."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client that hung up mid-answer (an app stopped while its model call waited) is not an
        error of the fake; anything else still prints its traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class BackgroundServer:
    """Runs a ThreadingHTTPServer on 127.0.0.1 in a daemon thread."""

    handler_class: type[QuietHandler]

    def __init__(self, port: int = 0) -> None:
        self._requested_port = port
        self.httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "BackgroundServer":
        """Bind and serve in the background; returns self for chaining."""
        owner = self
        handler = type("BoundHandler", (self.handler_class,), {"server_owner": owner})
        self.httpd = _Server(("127.0.0.1", self._requested_port), handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 1024
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @property
    def port(self) -> int:
        assert self.httpd is not None
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
