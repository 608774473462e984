"""Voice notes to text through the OpenAI audio API (`audio.transcriptions.create`)."""
from __future__ import annotations

import io
import logging

from openai import OpenAI, OpenAIError

log = logging.getLogger(__name__)
WHISPER_LIMIT = 25 * 1024 * 1024
EXTENSIONS = {"audio/ogg": "ogg", "audio/amr": "amr", "audio/aac": "aac", "audio/mp4": "m4a", "audio/mpeg": "mp3"}
FAILED_NOTICE = ("Não consegui transcrever seu áudio agora. Ele ficou guardado; "
                 "peça \"transcrever meu último áudio\" mais tarde ou escreva a mensagem.")


class TranscriptionFailed(RuntimeError):
    """Whisper is unavailable, refused the file, or the file is over its 25 MB limit."""


def transcribe(client: OpenAI | None, model: str, data: bytes, content_type: str) -> str:
    """The text spoken in `data`; raises TranscriptionFailed with a reason for operators."""
    if client is None:
        raise TranscriptionFailed("no transcription service configured (OPENAI_API_KEY)")
    if len(data) > WHISPER_LIMIT:
        raise TranscriptionFailed(f"audio of {len(data)} bytes is over Whisper's 25 MB limit")
    name = f"voice.{EXTENSIONS.get(content_type, 'ogg')}"
    try:
        result = client.audio.transcriptions.create(model=model, file=(name, io.BytesIO(data), content_type))
    except OpenAIError as exc:
        raise TranscriptionFailed(f"transcription service error: {type(exc).__name__}") from exc
    text = (getattr(result, "text", None) or "").strip()
    if not text:
        raise TranscriptionFailed("transcription came back empty")
    return text
