"""A scripted WhatsApp conversation through the real webhook: send a message, read the reply."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Conversation:
    """One user talking to a live assistant; `transcript` keeps (who, text) in order."""

    live: object
    twilio: object
    phone: str
    transcript: list[tuple[str, str]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"whatsapp:{self.phone}"

    def say(self, text: str, timeout: float = 40, media=None) -> str:
        """Send `text` as the user and return every message the assistant sent back for it."""
        before = len(self.twilio.messages(to=self.address))
        assert self.live.send(self.phone, text, media=media).status_code == 200
        self.twilio.wait_for(before + 1, to=self.address, timeout=timeout)
        self.live.wait_idle(timeout)
        reply = "\n".join(m.body for m in self.twilio.messages(to=self.address)[before:])
        self.transcript += [("usuário", text), ("assistente", reply)]
        return reply

    def render(self) -> str:
        """The transcript as a WhatsApp-like chat."""
        return "\n".join(f"{who}: {text}" for who, text in self.transcript)
