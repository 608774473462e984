"""The WhatsApp assistant: `create_app(config)` for WSGI servers, `python app.py` to serve (with its
worker process), `flask --app app worker` (same as `python -m worker`), and
`flask --app app chat --phone +55...` to talk to the assistant from the terminal."""
from __future__ import annotations

import logging
import signal
import socket
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import click
from flask import Flask
from flask.cli import with_appcontext

from common.process_setup import configure_logging, settle_heap
from config import Config, ConfigError

log = logging.getLogger("assistant")


def _warn_about(config: Config) -> None:
    if not config.twilio_validate_signature:
        log.warning("TWILIO_VALIDATE_SIGNATURE=false: anyone can post to /whatsapp. Use only for local development.")
    if not config.twilio_configured:
        log.warning("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_NUMBER): "
                    "replies cannot be delivered to WhatsApp; use the console chat (flask --app app chat).")
    if config.twilio_validate_signature and not config.twilio_auth_token:
        log.warning("No TWILIO_AUTH_TOKEN: every webhook will be refused with 403 until it is set.")
    if not config.openai_configured:
        log.warning("OPENAI_API_KEY is not set: the assistant answers plain commands only.")
    if not config.admin_token:
        log.warning("ADMIN_TOKEN is not set: operator routes answer only requests from this machine.")


def create_app(config: Config | None = None, start_worker: bool = True) -> Flask:
    """Build the Flask app with every store and client opened once. With WORKER_MODE=thread (or
    REPLY_MODE=twiml) the worker threads start here too; with WORKER_MODE=process the turns run in
    `python -m worker`: on SQLite this app nudges it after each ledger insert; on PostgreSQL each
    insert defers the sender's engine job in the same statement, for any worker to take."""
    from services import build_services
    from web import health, media, twilio_status, whatsapp
    from web.errors import register_error_handlers
    from worker.nudge import Nudger, socket_path
    from worker.runtime import AssistantRuntime

    config = config or Config.from_env()
    configure_logging(config.log_level)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=1024 * 1024)
    runtime = AssistantRuntime(build_services(config))
    app.extensions["assistant"] = runtime
    for blueprint in (whatsapp.bp, twilio_status.bp, media.bp, health.bp):
        app.register_blueprint(blueprint)
    _register_operator_routes(app)
    register_error_handlers(app)
    app.cli.add_command(chat_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(make_thumbnails_command)
    _warn_about(config)
    if config.turn_engine == "procrastinate":
        runtime.start_chores()  # this process's own spool and journal; the turns run on the workers
    elif config.separate_worker:
        app.extensions["worker_nudger"] = Nudger(socket_path(config.data_dir))
    elif start_worker:
        runtime.start()
    return app


def _register_operator_routes(app: Flask) -> None:
    try:
        from web import operator
    except ImportError:
        return
    operator.register(app)


@click.command("chat")
@with_appcontext
@click.option("--phone", required=True, help="The WhatsApp number to speak as, e.g. +5511999998888")
def chat_command(phone: str) -> None:
    """Talk to the assistant from the terminal, through the same ledger, worker and agent."""
    import uuid

    from channels.twilio_outbound import LocalSender
    from common.phones import normalize_phone
    from flask import current_app
    from storage import ledger

    runtime = current_app.extensions["assistant"]
    runtime.services.sender = console = LocalSender()
    phone = normalize_phone(phone)
    click.echo(f"Console chat as {phone}. Type a message; Ctrl-D to leave.")
    for line in sys.stdin:
        text = line.strip()
        if not text:
            continue
        entry_id = ledger.add_to_ledger(runtime.services.db, f"CONSOLE{uuid.uuid4().hex}", phone, text)
        runtime.dispatcher.enqueue(entry_id, phone, False)
        runtime.dispatcher.wait_idle(timeout=300)
        for out in console.take(phone):
            click.echo(f"🤖 {out.text}" + (f"\n   🖼  {out.media_url}" if out.media_url else ""))


@click.command("make-thumbnails")
@with_appcontext
def make_thumbnails_command() -> None:
    """Make the dashboard thumbnails of photos stored before thumbnails existed (safe to run again)."""
    from flask import current_app

    from worker.intake import backfill_thumbnails

    made, skipped = backfill_thumbnails(current_app.extensions["assistant"].services)
    click.echo(f"{made} thumbnail(s) made; {skipped} photo(s) skipped (file missing or unreadable).")


@click.command("worker")
def worker_command() -> None:
    """Run the worker process (the same as `python -m worker`)."""
    from worker.__main__ import run

    run(Config.from_env())


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 2048


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        logging.getLogger("assistant.http").info("%s %s", self.address_string(), format % args)


def serve(app: Flask, host: str, port: int) -> None:
    """Serve `app` with a thread per connection until KeyboardInterrupt (Ctrl-C, SIGTERM).

    The standard library's WSGI server rather than werkzeug's development server: werkzeug keeps
    every connection open 10 ms after its response to drain unread input, which was two thirds of
    an acknowledgement's time in the bench (python -m bench --only ack)."""
    _ThreadingServer.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    settle_heap()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _leave(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    """`python app.py`: serve on HOST:PORT with the embedded defaults of .env; with
    WORKER_MODE=process it also runs `python -m worker` as a child and restarts it if it dies."""
    from worker.supervisor import WorkerSupervisor

    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    from storage.db import SchemaTooNew

    try:
        app = create_app(config)  # migrates the schema before the worker opens the database
    except SchemaTooNew as exc:
        print(f"Refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(3)
    supervisor = WorkerSupervisor().start() if config.separate_worker else None
    signal.signal(signal.SIGTERM, _leave)  # stop like Ctrl-C, so the worker child is stopped too
    log.info("serving on http://%s:%s (webhook: POST /whatsapp)", config.host, config.port)
    try:
        serve(app, config.host, config.port)
    finally:
        if supervisor is not None:
            supervisor.stop()


if __name__ == "__main__":
    main()
