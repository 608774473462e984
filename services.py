"""The long-lived clients of one process, created once at start-up and shared by every thread.

Creating the OpenAI and Twilio clients once matters: building an HTTP client (and its SSL
context) per call is what caps naive assistants at a handful of messages per second.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from openai import OpenAI

from agent.openai_client import make_openai_client
from agent.session_db import SessionDb
from agent.session_store import open_session_db
from channels.media import MediaDownloader
from channels.twilio_outbound import LocalSender, ReplySender, TwilioSender
from config import Config
from storage.chatlog import ChatLog, open_chat_log
from storage import sealing
from storage.db import Database
from storage.media import MediaStore, open_media_store
from worker.gate import CpuGate

log = logging.getLogger(__name__)


class PublicUrl:
    """The base URL users' phones can reach: PUBLIC_BASE_URL, else the latest webhook's host."""

    def __init__(self, configured: str | None, fallback: str) -> None:
        self._configured = configured
        self._seen = fallback
        self._lock = threading.Lock()

    def remember(self, request_base: str) -> None:
        """Note the base URL a request came in on (used only when PUBLIC_BASE_URL is unset)."""
        with self._lock:
            self._seen = request_base.rstrip("/")

    def get(self) -> str:
        """The base URL to put in links sent to users."""
        if self._configured:
            return self._configured
        with self._lock:
            return self._seen


@dataclass
class Services:
    """Everything a turn needs, built once per process by `build_services`."""

    config: Config
    db: Database
    chatlog: ChatLog
    media: MediaStore
    sender: ReplySender
    openai: OpenAI | None
    downloader: MediaDownloader | None
    public_url: PublicUrl
    session_db: SessionDb
    gate: CpuGate = field(default_factory=CpuGate)

    def close(self) -> None:
        """Release connections (tests and clean shutdown)."""
        self.db.dispose()
        self.session_db.db_engine.dispose()


def build_services(config: Config) -> Services:
    """Open every store and client named by the config; the database is migrated here."""
    sealing.configure(config.secret_key)
    # Turns hold a connection only for short transactions; a capped pool keeps many worker threads
    # from exhausting PostgreSQL's connection limit (100 by default).
    pool_size = min(max(5, config.worker_threads + 2), 20)
    db = Database(config.database_url, pool_size=pool_size)
    db.migrate()
    public_url = PublicUrl(config.public_base_url, f"http://{config.host}:{config.port}")
    media = open_media_store(bucket_name=config.bucket_name, prefix=config.prefix,
                             s3_endpoint=config.s3_endpoint, aws_access_key_id=config.aws_access_key_id,
                             aws_secret_access_key=config.aws_secret_access_key, aws_region=config.aws_region,
                             media_dir=config.media_dir, secret_key=config.secret_key,
                             base_url_getter=public_url.get)
    chatlog = open_chat_log(db, config.mongodb_uri, config.mongodb_db)
    gate = CpuGate()
    openai_client = None
    if config.openai_configured:
        openai_client = make_openai_client(config.openai_api_key, config.openai_base_url, config.openai_timeout,
                                           keepalive=config.worker_threads, io_wait=gate.waiting)
    sender: ReplySender
    downloader = None
    if config.twilio_configured:
        sender = TwilioSender(config.twilio_account_sid, config.twilio_auth_token, config.twilio_whatsapp_number,
                              config.twilio_api_base_url, io_wait=gate.waiting, pool_size=max(10, config.worker_threads),
                              status_callback=config.status_callback_url)
        downloader = MediaDownloader(config.twilio_account_sid, config.twilio_auth_token,
                                     config.twilio_api_base_url)
    else:
        sender = LocalSender()
    # SQLite: agno's own engine kept the rollback journal and a 5 s lock wait, and with a couple of
    # hundred senders at once session writes failed with "database is locked". PostgreSQL: capped
    # like the application's pool, since both count against the server's connection limit.
    session_url = config.session_store_url
    pool = config.worker_threads + 2 if session_url.startswith("sqlite") else pool_size
    session_db = open_session_db(session_url, pool_size=pool, history_runs=config.history_runs)
    return Services(config, db, chatlog, media, sender, openai_client, downloader, public_url, session_db, gate)
