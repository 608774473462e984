"""The one check every route Twilio calls goes through: its X-Twilio-Signature, fail closed."""
from __future__ import annotations

import logging

from flask import Response, request

from channels.twilio_inbound import signature_is_valid, webhook_url

from .errors import error_response

log = logging.getLogger(__name__)


def refuse_unsigned(config, what: str) -> Response | None:
    """A 403 for a request to this route that Twilio did not sign (`what` names it in the log), or
    None when it is signed or TWILIO_VALIDATE_SIGNATURE=false switched the check off."""
    if not config.twilio_validate_signature:
        return None
    url = webhook_url(config.public_base_url, request.url, request.path, request.query_string.decode())
    if signature_is_valid(config.twilio_auth_token or "", url, request.form.to_dict(),
                          request.headers.get("X-Twilio-Signature")):
        return None
    log.warning("rejected %s with a bad or missing Twilio signature from %s", what, request.remote_addr)
    return error_response(403, "bad_signature", "Invalid or missing X-Twilio-Signature.")
