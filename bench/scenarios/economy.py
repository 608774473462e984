"""Model economy: model calls and prompt size per scripted turn type as history grows 0 -> 21 turns.

Each turn type gets its own logged-in sender and TURN_COUNT turns through the real pipeline (webhook,
worker, agno, tools). The scripted model server records every request body; a turn's requests are
those it received while that turn ran. Prompt size counts the characters of every message sent
(system, history, the turn, tool calls and results); the tools' JSON schemas are reported apart
because they are the same on every call. Tokens come from tiktoken when its encoding loads
offline, else characters / 4; an image part counts as the 85 tokens OpenAI bills for `detail: low`
(its base64 is not text the model reads). The main series runs with VISION=off so it stays
comparable with earlier runs; photo turns are then measured with vision on and off, side by side.
"""
from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path

from storage.db import Database
from tests.fixtures.media import make_jpeg

from ..appproc import AppProcess
from ..common import Run, app_env, seed_users, sqlite_url, wait_done
from ..load import send, sender_phone, webhook

TITLE = "Model economy"
VOICE_NOTE = Path(__file__).resolve().parents[2] / "tests" / "data" / "voice_note.ogg"
HISTORY_RUNS = 5
TURN_COUNT = 22  # 0..10 as the issue asks, then on until tools whose output grows with the chat log level off
IMAGE_TOKENS = 85  # one image part at detail low, whatever its size
VISION_SEEN = "um gato dormindo no sofá"
PHOTO_TURNS = {  # photo turns measured with VISION=on and off: (text, steps of the agent's rule)
    "photo_alone": ("", []),
    "photo_answer_sim": ("sim", []),
    "photo_caption": ("legenda {i}: gato no sofá",
                      [{"tool": "save_image", "args": {"description": "gato no sofá"}}, {"text": "Foto salva!"}]),
}
TURNS = {
    "chat": ("papo {i}: me dá uma dica para estudar melhor", None, []),
    "save_photo": ("guarde {i}: praia com a família", "image/jpeg",
                   [{"tool": "save_image", "args": {"description": "praia com a família"}}, {"text": "Foto salva!"}]),
    "search_photos": ("procure {i}: fotos da praia", None,
                      [{"tool": "search_images", "args": {"query": "praia"}}, {"text": "Aqui estão suas fotos."}]),
    "todo_list": ("planeje {i}: minha semana de estudos", None,
                  [{"tool": "make_todo_list", "args": {"title": "Semana de estudos", "items": [
                      "Revisar matemática por 30 minutos", "Ler um capítulo", "Fazer 10 exercícios"],
                      "motivation": "Um passo por dia!"}}, {"text": "Sua lista está pronta."}]),
    "recall_history": ("relembre {i}: o que eu falei sobre estudar", None,
                       [{"tool": "recall_history", "args": {"words": "estudar"}}, {"text": "Foi isso que você disse."}]),
    "voice_note": ("", "audio/ogg", []),
}


def token_counter() -> tuple[str, callable]:
    """('tiktoken o200k_base', count) when the encoding loads without the network, else chars / 4."""
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("o200k_base")
        return "tiktoken o200k_base", lambda text: len(encoding.encode(text))
    except Exception:
        return "characters / 4", lambda text: round(len(text) / 4)


def prompt_text(body: dict) -> str:
    """Everything a chat request carries to the model besides the tool schemas."""
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            parts += [part.get("text", "") for part in content if part.get("type") == "text"]
            continue
        parts.append(content if isinstance(content, str) else json.dumps(content or "", ensure_ascii=False))
        if message.get("tool_calls"):
            parts.append(json.dumps(message["tool_calls"], ensure_ascii=False))
    return "".join(parts)


def image_count(body: dict) -> int:
    """How many image parts a chat request carries."""
    return sum(1 for message in body.get("messages", []) if isinstance(message.get("content"), list)
               for part in message["content"] if part.get("type") == "image_url")


def _send_and_read(ctx: Run, app: AppProcess, db: Database, sender: str, text: str, media: list) -> list[dict]:
    before = ctx.fakes.call("count")
    hook = webhook(app.port, sender, text, media)
    asyncio.run(send(app.port, hook))
    wait_done(db, hook.sid, interval=0.01)
    return ctx.fakes.call("model_requests", since=before["model_calls"])["requests"]


def _photo_turns(ctx: Run, tokens: callable, vision: str, turns: int) -> dict:
    """Photo turns on an app with VISION=`vision`: a lone photo, its 'sim', a captioned photo."""
    data_dir = ctx.folder(f"economy-vision-{vision}")
    url = sqlite_url(data_dir)
    sender = sender_phone(7900 if vision == "on" else 7950)
    seed_users(url, [sender])
    env = app_env(ctx.fakes, url, BURST_WINDOW_SECONDS="0.2", HISTORY_RUNS=HISTORY_RUNS, VISION=vision)
    rows: dict[str, list[dict]] = {kind: [] for kind in PHOTO_TURNS}
    with AppProcess("app.py", env, data_dir) as app:
        db = Database(url, pool_size=1)
        for i in range(turns):
            for kind, (text, _steps) in PHOTO_TURNS.items():
                media = []
                if kind != "photo_answer_sim":
                    photo = base64.b64encode(make_jpeg(f"gato {i}", size=(1280, 960))).decode()
                    media = [(ctx.fakes.call("add_media", data_b64=photo, content_type="image/jpeg")["url"],
                              "image/jpeg")]
                requests = _send_and_read(ctx, app, db, sender, text.format(i=i), media)
                images = sum(image_count(r) for r in requests)
                rows[kind].append({"model_calls": len(requests), "image_parts": images,
                                   "prompt_tokens": sum(tokens(prompt_text(r)) for r in requests)
                                   + IMAGE_TOKENS * images})
        db.dispose()
    return {kind: {"model_calls": max(r["model_calls"] for r in runs), "image_parts": max(r["image_parts"] for r in runs),
                   "prompt_tokens_median": sorted(r["prompt_tokens"] for r in runs)[len(runs) // 2]}
            for kind, runs in rows.items()}


def vision_side_by_side(ctx: Run, tokens: callable, turns: int) -> dict:
    """Model calls, image parts and prompt tokens of photo turns, VISION=on beside VISION=off."""
    ctx.fakes.call("reset")
    ctx.fakes.call("script", rules=[{"pattern": r"^Descreva as fotos", "steps": [{"text": VISION_SEEN}]}]
                   + [{"pattern": re.escape(text.split(" {i}")[0]) + r" \d+:", "steps": steps}
                      for text, steps in PHOTO_TURNS.values() if steps])
    return {vision: _photo_turns(ctx, tokens, vision, turns) for vision in ("on", "off")}


def _turn(ctx: Run, app: AppProcess, db: Database, kind: str, sender: str, i: int) -> tuple[list[dict], int, str]:
    text, media_type, _steps = TURNS[kind]
    media = []
    if media_type == "image/jpeg":
        data = make_jpeg(f"praia {i}")
    elif media_type == "audio/ogg":
        data = VOICE_NOTE.read_bytes()
        ctx.fakes.call("transcript", text=f"voz {i}: me dá uma dica para dormir melhor")
    if media_type:
        url = ctx.fakes.call("add_media", data_b64=base64.b64encode(data).decode(), content_type=media_type)["url"]
        media = [(url, media_type)]
    before = ctx.fakes.call("count")
    hook = webhook(app.port, sender, text.format(i=i), media)
    asyncio.run(send(app.port, hook))
    status = wait_done(db, hook.sid, interval=0.01)
    after = ctx.fakes.call("model_requests", since=before["model_calls"])
    return after["requests"], after["transcriptions"] - before["transcriptions"], status


def run(ctx: Run) -> dict:
    """Every turn type, 11 turns each, on python app.py with the embedded defaults."""
    method, tokens = token_counter()
    turns = 4 if ctx.quick else TURN_COUNT
    ctx.fakes.call("reset")
    ctx.fakes.call("script", rules=[{"pattern": re.escape(text.split(" {i}")[0]) + r" \d+:", "steps": steps}
                                    for text, _media, steps in TURNS.values() if steps])
    data_dir = ctx.folder("economy")
    url = sqlite_url(data_dir)
    senders = {kind: sender_phone(7000 + n) for n, kind in enumerate(TURNS)}
    seed_users(url, list(senders.values()))
    env = app_env(ctx.fakes, url, BURST_WINDOW_SECONDS="0.2", HISTORY_RUNS=HISTORY_RUNS, VISION="off")
    results, bar = {}, ctx.progress("economy turns", turns * len(TURNS))
    with AppProcess("app.py", env, data_dir, profile_to=ctx.profile_path("economy")) as app:
        db = Database(url, pool_size=1)
        for kind, sender in senders.items():
            rows = []
            for i in range(turns):
                requests, transcriptions, status = _turn(ctx, app, db, kind, sender, i)
                first = prompt_text(requests[0]) if requests else ""
                total = "".join(prompt_text(r) for r in requests)
                rows.append({"history_turns": i, "model_calls": len(requests), "transcriptions": transcriptions,
                             "status": status, "first_call_chars": len(first), "turn_chars": len(total),
                             "first_call_tokens": tokens(first), "turn_tokens": tokens(total)})
                bar.update()
            schema = json.dumps(requests[0].get("tools", []), ensure_ascii=False) if requests else ""
            results[kind] = {"turns": rows, "tool_schema_chars": len(schema), "tool_schema_tokens": tokens(schema)}
        db.dispose()
    bar.close()
    vision = vision_side_by_side(ctx, tokens, 2 if ctx.quick else 5)
    return {"token_method": method, "history_runs": HISTORY_RUNS, "types": results, "vision": vision}
