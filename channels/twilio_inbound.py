"""Inbound side of Twilio's WhatsApp webhook: signature check and form parsing."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from common.phones import normalize_phone

# The ledger's profile_name column; WhatsApp's own limit is far below it.
PROFILE_NAME_MAX = 200


class BadInbound(ValueError):
    """The form lacks what every Twilio message has (MessageSid, From)."""


@dataclass(frozen=True)
class IncomingMessage:
    """One WhatsApp message as Twilio posted it, with the sender in canonical form."""

    message_sid: str
    sender: str
    body: str
    media: list[dict[str, Any]] = field(default_factory=list)
    profile_name: str | None = None


def _text(value: str | None) -> str:
    """A form value as the stores can keep it: PostgreSQL's text cannot hold a NUL character."""
    return (value or "").replace("\x00", "").strip()


def parse_form(form: Mapping[str, str]) -> IncomingMessage:
    """Build an IncomingMessage from Twilio's form fields (From, Body, NumMedia, MediaUrl{i}, ...),
    cleaned so that every store can hold it (a value the database refuses would lose the message)."""
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    if not sid or len(sid) > 64 or not sid.isprintable():
        raise BadInbound("MessageSid is missing or malformed")
    try:
        sender = normalize_phone(form.get("From", ""))
    except ValueError as exc:
        raise BadInbound("From is missing or not a phone number") from exc
    try:
        count = min(int(form.get("NumMedia") or 0), 10)
    except ValueError:
        count = 0
    media = [{"url": form.get(f"MediaUrl{i}", ""), "content_type": form.get(f"MediaContentType{i}", "")}
             for i in range(count) if form.get(f"MediaUrl{i}")]
    return IncomingMessage(sid, sender, _text(form.get("Body")), media,
                           _text(form.get("ProfileName"))[:PROFILE_NAME_MAX] or None)


def signature_is_valid(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    """Twilio's own RequestValidator over the public URL and the posted form; missing = invalid."""
    if not signature or not auth_token:
        return False
    return RequestValidator(auth_token).validate(url, dict(params), signature)


def webhook_url(public_base_url: str | None, request_url: str, path: str, query: str = "") -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL + path when set (ngrok, proxies), else the request's own."""
    if public_base_url:
        return public_base_url.rstrip("/") + path + (f"?{query}" if query else "")
    return request_url


def twiml(texts: list[str] | None = None, media: list[tuple[str, str]] | None = None) -> str:
    """A TwiML document: empty (plain acknowledgement) or carrying reply messages and images."""
    response = MessagingResponse()
    for text in texts or []:
        response.message(text)
    for url, caption in media or []:
        message = response.message(caption)
        message.media(url)
    return str(response)
