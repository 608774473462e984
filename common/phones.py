"""WhatsApp numbers: one canonical form (E.164, `+5511999998888`) for keys, sessions and lookups."""
from __future__ import annotations

import re

_DIGITS = re.compile(r"\D+")


def normalize_phone(raw: str) -> str:
    """`whatsapp:+55 (11) 99999-8888`, `+5511999998888` or `5511999998888` -> `+5511999998888`.

    Raises ValueError when no plausible number (8 to 15 digits) is present.
    """
    text = (raw or "").strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:"):]
    digits = _DIGITS.sub("", text)
    if not 8 <= len(digits) <= 15:
        raise ValueError(f"not a phone number: {raw!r}")
    return f"+{digits}"


def whatsapp_address(phone: str) -> str:
    """The Twilio address of a phone: `whatsapp:+55...`."""
    return f"whatsapp:{normalize_phone(phone)}"


def mask_phone(phone: str) -> str:
    """Show only the last four digits: `+55*******8888`."""
    if len(phone) <= 7:
        return phone
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
