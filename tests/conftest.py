"""Shared fixtures. Each module under tests/fixtures starts one kind of real server, once per session."""
import os

os.environ.setdefault("AGNO_TELEMETRY", "false")

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.stores",
    "tests.fixtures.twilio",
    "tests.fixtures.media",
    "tests.fixtures.app",
    "tests.fixtures.cluster",
]
