"""Vision: the model looks at a turn's photos once and writes a short Portuguese description of each.

Each photo goes as its stored small copy (the thumbnail, at most 320 px) in a base64 data URL with
`detail: low`, so a photo costs a bounded number of prompt tokens and the model server never needs
to reach our media store. A photo without a small copy (not an image Pillow reads: corrupt, or too
many pixels) is never sent. Every failure (an HTTP error, a timeout, a refusal, an empty answer)
leaves that photo without a description: vision only ever adds a suggestion, it never costs the user
their photo or their question.
"""
from __future__ import annotations

import base64
import logging
import re
from typing import TYPE_CHECKING

from agno.media import Image

from common.thumbnails import THUMBNAIL_TYPE
from storage.vision import PhotoToShow, photos_to_show, set_model_description

from .prompts import load_prompt

if TYPE_CHECKING:
    from services import Services

    from .context import TurnContext

log = logging.getLogger(__name__)
DETAIL = "low"
MAX_PHOTOS = 10  # shown per turn; a bigger burst's others keep only the user's description
MAX_THUMBNAIL_BYTES = 512 * 1024  # a thumbnail is ~20 KB; anything larger is not ours to send
MAX_WORDS = 20
TOKENS_PER_PHOTO = 60
_NUMBERED = re.compile(r"^\s*(\d{1,2})\s*[:.)\-–]\s*(.+)$")


def vision_enabled(ctx: "TurnContext") -> bool:
    """Whether this turn's photos may be shown to the model: VISION on, a model configured, and the
    sender logged in (a stranger's photos never leave the server)."""
    services = ctx.services
    user = ctx.account() if services.config.vision and services.openai is not None else None
    return user is not None and user.is_logged_in()


def _thumbnail(services: "Services", photo: PhotoToShow) -> bytes | None:
    if photo.thumb_key is None:
        return None
    try:
        with services.gate.waiting():
            data = services.media.get(photo.thumb_key)
    except Exception:
        log.warning("the small copy of photo %s could not be read; not shown to the model", photo.id, exc_info=True)
        return None
    return data if 0 < len(data) <= MAX_THUMBNAIL_BYTES else None


def data_url(data: bytes) -> str:
    """A base64 data URL of a JPEG thumbnail."""
    return f"data:{THUMBNAIL_TYPE};base64,{base64.b64encode(data).decode('ascii')}"


def clean(text: str) -> str | None:
    """A description as the model wrote it, trimmed to one short line; None when nothing is left."""
    text = " ".join(text.split()).strip(" \"'“”*.")
    words = text.split()
    return " ".join(words[:MAX_WORDS]) or None


def parse_descriptions(content: str, count: int) -> list[str | None]:
    """One description per photo from the model's answer ("1: ..." lines; the whole answer for one photo)."""
    if count == 1:
        line = next((line for line in content.splitlines() if line.strip()), "")
        match = _NUMBERED.match(line)
        return [clean(match.group(2) if match else line)]
    found: dict[int, str | None] = {}
    for line in content.splitlines():
        match = _NUMBERED.match(line)
        if match and 1 <= int(match.group(1)) <= count:
            found.setdefault(int(match.group(1)), clean(match.group(2)))
    return [found.get(n) for n in range(1, count + 1)]


def _ask_model(services: "Services", thumbnails: list[bytes]) -> list[str | None]:
    """One chat completion with the photos as image parts; their descriptions, None for each on failure."""
    parts = [{"type": "image_url", "image_url": {"url": data_url(data), "detail": DETAIL}} for data in thumbnails]
    messages = [{"role": "system", "content": load_prompt("vision")},
                {"role": "user", "content": [{"type": "text", "text": "Descreva as fotos."}, *parts]}]
    try:
        answer = services.openai.with_options(max_retries=1).chat.completions.create(
            model=services.config.openai_model, messages=messages,
            max_tokens=TOKENS_PER_PHOTO * len(thumbnails))
    except Exception as exc:
        log.warning("vision failed for %d photo(s): %s", len(thumbnails), type(exc).__name__)
        return [None] * len(thumbnails)
    choice = answer.choices[0] if answer.choices else None
    message = choice.message if choice else None
    if message is None or getattr(message, "refusal", None) or not (message.content or "").strip():
        log.warning("vision gave no description for %d photo(s) (refused or empty)", len(thumbnails))
        return [None] * len(thumbnails)
    return parse_descriptions(message.content, len(thumbnails))


def describe_turn_photos(ctx: "TurnContext") -> list[tuple[int, bytes, str | None]]:
    """Show the turn's photos to the model once (those not described before: a retried turn does not
    ask again) and store what it saw; (media id, thumbnail, description or None) of each photo shown
    or described before, for the agent to attach. [] when vision is off for this turn."""
    if not ctx.turn.image_ids or not vision_enabled(ctx):
        return []
    services = ctx.services
    shown, new = [], []
    for photo in photos_to_show(services.db, ctx.sender, ctx.turn.image_ids)[:MAX_PHOTOS]:
        data = _thumbnail(services, photo)
        if data is None:
            continue
        shown.append([photo.id, data, photo.model_description])
        if photo.model_description is None:
            new.append(shown[-1])
    if new:
        for item, description in zip(new, _ask_model(services, [item[1] for item in new])):
            item[2] = description
            if description:
                set_model_description(services.db, item[0], description)
    return [(media_id, data, description) for media_id, data, description in shown]


def agno_images(shown: list[tuple[int, bytes, str | None]]) -> list[Image]:
    """The shown photos as agno images for the agent's run (the same small copies, detail low)."""
    return [Image(content=data, format="jpeg", mime_type=THUMBNAIL_TYPE, detail=DETAIL) for _, data, _ in shown]
