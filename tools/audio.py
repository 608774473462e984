"""Voice-note tool: transcribe a stored voice note of the sender on request (the latest by default)."""
from __future__ import annotations

import re

from agno.run import RunContext

from agent.context import TurnContext, turn_context
from agent.transcription import TranscriptionFailed, transcribe
from storage import images

from .auth import require_login
from .errors import ToolRefusal, tool_errors


def transcribe_latest(ctx: TurnContext) -> str:
    """The transcript of the sender's latest voice note, transcribing it now if needed."""
    require_login(ctx)
    record = images.latest_audio(ctx.services.db, ctx.sender)
    if record is None:
        raise ToolRefusal("Não encontrei nenhum áudio seu guardado.")
    if record.transcript:
        return f"Transcrição do seu último áudio: “{record.transcript}”"
    services = ctx.services
    try:
        text = transcribe(services.openai, services.config.whisper_model, services.media.get(record.key),
                          record.content_type)
    except TranscriptionFailed as exc:
        images.set_transcript(services.db, record.id, error=str(exc))
        raise ToolRefusal("Ainda não consegui transcrever o áudio; ele continua guardado para outra tentativa.")
    images.set_transcript(services.db, record.id, text=text)
    return f"Transcrição do seu último áudio: “{text}”"


@tool_errors
def transcribe_audio(run_context: RunContext) -> str:
    """Transcreve o último áudio (mensagem de voz) que o usuário enviou e devolve o texto."""
    return transcribe_latest(turn_context(run_context))


def _transcribe_command(ctx: TurnContext, match: re.Match) -> str:
    try:
        return transcribe_latest(ctx)
    except ToolRefusal as refusal:
        return str(refusal)


TOOLS = [transcribe_audio]
COMMANDS = [(r"^\s*(?:transcrever|transcreva|transcrição)\b.*$", _transcribe_command)]
