"""POST /whatsapp: verify Twilio's signature, write the ledger, acknowledge at once.

The path to the 200 holds only the signature check and one ledger insert; the model runs later in
a worker: on PostgreSQL the insert also defers the sender's engine job (one statement, any worker
machine takes it); on SQLite the worker process (WORKER_MODE=process) gets a nudge, and worker
threads in this process (WORKER_MODE=thread) get the row. In REPLY_MODE=twiml the reply is computed here and returned as
TwiML instead. In REPLY_MODE=rest a database that refuses the insert does not cost the message
(Twilio never retries a failed webhook): it goes to the spool (storage/spool.py), and so do the
messages after it until the worker has moved them into the ledger. In REPLY_MODE=twiml there is
no later answer to give: the message is spooled for the record (it enters the ledger as failed)
and the user is asked, in the response, to send it again.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import DBAPIError

from channels.twilio_inbound import BadInbound, parse_form, twiml
from common.clock import utcnow
from storage import ledger
from storage.spool import SpooledMessage
from worker.nudge import Nudge

from .errors import error_response
from .signature import refuse_unsigned

log = logging.getLogger(__name__)
bp = Blueprint("whatsapp", __name__)
NOT_KEPT = ("Desculpe, estou com uma instabilidade e não consegui registrar sua mensagem. "
            "Por favor, envie de novo em alguns minutos.")


def _twiml_response(body: str) -> Response:
    return Response(body, status=200, mimetype="application/xml")


@bp.post("/whatsapp")
def whatsapp_webhook():
    """Twilio's webhook for incoming WhatsApp messages."""
    runtime = current_app.extensions["assistant"]
    config = runtime.services.config
    form = request.form
    refused = refuse_unsigned(config, "a webhook")
    if refused is not None:
        return refused
    try:
        message = parse_form(form)
    except BadInbound as exc:
        return error_response(400, "bad_request", str(exc))
    if not config.public_base_url:
        runtime.services.public_url.remember(request.host_url)
    rest = config.reply_mode == "rest"
    if rest and runtime.spool.pending():
        return _spool(runtime, message)  # behind the messages already waiting there, in order
    try:
        entry_id = ledger.add_to_ledger(runtime.services.db, message.message_sid, message.sender, message.body,
                                        message.media, message.profile_name, with_job=runtime.engine_jobs)
    except DBAPIError as exc:
        if rest:
            log.warning("the database refused a new message (%s); keeping it in %s", type(exc).__name__,
                        runtime.spool.path)
            return _spool(runtime, message)
        log.error("the database refused a new message (%s); REPLY_MODE=twiml cannot answer it later: "
                  "kept in %s for the record, the sender asked to send it again", type(exc).__name__,
                  runtime.spool.path)
        return _spool(runtime, message, asked_to_resend=True)
    if entry_id is None:
        log.info("duplicate MessageSid acknowledged without processing")
        return _twiml_response(twiml())
    if config.reply_mode == "twiml":
        return _twiml_response(runtime.answer_inline(entry_id, message.sender))
    if runtime.engine_jobs:  # the insert deferred the sender's job: nothing more to do here
        return _twiml_response(twiml())
    if config.separate_worker:
        current_app.extensions["worker_nudger"].send(Nudge(entry_id, message.sender, bool(message.media)))
    else:
        runtime.dispatcher.enqueue(entry_id, message.sender, bool(message.media))
    return _twiml_response(twiml())


def _spool(runtime, message, asked_to_resend: bool = False) -> Response:
    """Keep the message on disk for the worker to move into the ledger; then it is safe to say 200
    (in twiml mode with a plea to send it again)."""
    runtime.spool.append(SpooledMessage(message.message_sid, message.sender, message.body, list(message.media),
                                        message.profile_name, utcnow().isoformat(), asked_to_resend))
    return _twiml_response(twiml([NOT_KEPT] if asked_to_resend else None))
