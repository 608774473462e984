"""The memory API (JSON): read and clear the agent's session memory, page through the chat log.

Clearing memory removes agno sessions, runs and user memories only; the chat log, users, images
and to-do lists stay, and every clearing response says what was removed and what was kept.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, flash, jsonify, redirect, request, url_for

from agent import memory
from common.phones import mask_phone

from . import params
from .params import BadParam

log = logging.getLogger(__name__)
bp = Blueprint("memory_api", __name__)


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, or None."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def _session_db():
    return current_app.extensions["assistant"].assistant.session_db


def _removed(removed: memory.Removed) -> dict[str, Any]:
    body: dict[str, Any] = {"sessions": removed.sessions, "runs": removed.runs,
                            "user_memories": removed.user_memories}
    if removed.messages is not None:
        body["messages"] = removed.messages
    return body


def _answer(body: dict[str, Any], notice: str):
    """JSON for API clients; back to the dashboard (with a notice) for its confirm-forms."""
    if request.form.get("return_to") == "report":
        flash(notice)
        return redirect(url_for("dashboard.report"), 303)
    return jsonify(body)


@bp.post("/clear-memory")
def clear_memory():
    """Clear every agent session."""
    removed = memory.clear_all(_session_db())
    log.info("operator cleared all session memory: %s sessions, %s runs", removed.sessions, removed.runs)
    body = {"cleared": "all", "removed": _removed(removed), "kept": list(memory.KEPT)}
    return _answer(body, f"Memória de todos apagada: {removed.sessions} sessão(ões), {removed.runs} execução(ões).")


@bp.post("/clear-user-memory/<path:session>")
def clear_user_memory(session: str):
    """Clear one sender's session (the number in any common form)."""
    phone = params.phone(session, "session")
    removed = memory.clear_session(_session_db(), phone)
    if removed is None:
        raise BadParam(f"no session memory for {phone}: nothing to clear", "unknown_session", 404)
    log.info("operator cleared the session memory of %s", mask_phone(phone))
    body = {"cleared": phone, "removed": _removed(removed), "kept": list(memory.KEPT)}
    return _answer(body, f"Memória de {phone} apagada: {removed.runs} execução(ões), "
                         f"{removed.messages} mensagem(ns). O histórico de conversa foi mantido.")


@bp.get("/memory-status/<path:user_number>")
def memory_status(user_number: str):
    """Whether the sender has a session, the runs and messages it holds, and its last update."""
    phone = params.phone(user_number, "user_number")
    status = memory.memory_status(_session_db(), phone)
    history_runs = current_app.extensions["assistant"].services.config.history_runs
    if status is None:
        return jsonify({"session": phone, "exists": False, "runs": 0, "messages": 0, "created_at": None,
                        "updated_at": None, "runs_in_context": 0})
    return jsonify({"session": phone, "exists": True, "runs": status.runs, "messages": status.messages,
                    "created_at": iso(status.created_at), "updated_at": iso(status.updated_at),
                    "runs_in_context": min(status.runs, history_runs)})


@bp.get("/memory-content")
def memory_content():
    """The sessions' stored messages, most recently updated session first, paginated."""
    paging = params.paging(request.args, 20, 100)
    max_messages = params.integer(request.args, "max_messages", 50, 0, 1000)
    phone = params.phone(request.args.get("user"))
    items, total = memory.list_memory(_session_db(), paging.page, paging.per_page, phone, max_messages)
    paging.check_in_range(total)
    return jsonify({"page": paging.page, "per_page": paging.per_page, "total": total,
                    "pages": params.pages(total, paging.per_page),
                    "items": [{"session": item.session_id, "runs": item.runs, "messages": item.messages,
                               "created_at": iso(item.created_at), "updated_at": iso(item.updated_at),
                               "recent_messages": [{"role": m.role, "content": m.content,
                                                    "created_at": iso(m.created_at), "run_id": m.run_id}
                                                   for m in item.recent]}
                              for item in items]})


@bp.get("/agent-messages")
def agent_messages():
    """The chat log, newest first, paginated, filtered by `user` and a `since`/`until` range."""
    paging = params.paging(request.args, 50, 200)
    phone = params.phone(request.args.get("user"))
    since, until = params.date_range(request.args)
    chatlog = current_app.extensions["assistant"].services.chatlog
    found = chatlog.list(phone, since, until, paging.page, paging.per_page)
    paging.check_in_range(found.total)
    return jsonify({"page": paging.page, "per_page": paging.per_page, "total": found.total,
                    "pages": params.pages(found.total, paging.per_page),
                    "filters": {"user": phone, "since": iso(since), "until": iso(until)},
                    "items": [{"phone": m.phone, "direction": m.direction, "body": m.body,
                               "message_id": m.message_id, "created_at": iso(m.created_at)}
                              for m in found.items]})
