"""POST /twilio/status: Twilio's delivery receipts for the parts we sent (StatusCallback).

Signed like the webhook (a bad or missing signature: 403, nothing stored). A SID we never sent is
acknowledged and ignored. A part that failed with 21610 (the user blocked us) stops proactive
messages to that phone; a reminder that failed with 63016 (outside WhatsApp's 24-hour window) is
held for the user's next message (worker/reminders.py).
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from storage import deliveries

from .signature import refuse_unsigned

log = logging.getLogger(__name__)
bp = Blueprint("twilio_status", __name__)
STATUS_PATH = "/twilio/status"


def _code(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@bp.post(STATUS_PATH)
def status_callback():
    """Record one status callback from Twilio."""
    runtime = current_app.extensions["assistant"]
    config = runtime.services.config
    form = request.form
    refused = refuse_unsigned(config, "a status callback")
    if refused is not None:
        return refused
    sid, status = form.get("MessageSid", ""), (form.get("MessageStatus") or "").lower()
    if not sid or status not in deliveries.STATUSES:
        return Response(status=200)  # a status we do not track (accepted, sending, ...)
    record = deliveries.apply_status(runtime.services.db, sid, status, _code(form.get("ErrorCode")))
    if record is None:
        log.info("status callback for a message this assistant did not send: ignored")
        return Response(status=200)
    if status in deliveries.FAILED:
        _after_failure(runtime.services, record)
    return Response(status=200)


def _after_failure(services, record: deliveries.DeliveryRecord) -> None:
    """What a failed part changes: a block stops proactive sends; a reminder outside the window is held."""
    if record.error_code == deliveries.BLOCKED:
        deliveries.set_blocked(services.db, record.phone)
        log.warning("Twilio reports that %s blocked us (21610): no proactive message to it any more",
                    record.phone[-4:])
    elif record.error_code == deliveries.OUTSIDE_WINDOW and record.reminder_id is not None:
        from storage import reminders

        reminders.hold_after_window_error(services.db, record.reminder_id)
