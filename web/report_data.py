"""The report's data, shared by `/report` (HTML) and `/get-report-data` (JSON).

Every listing is one page: a description page plus one query for its image keys, a page of users
(one indexed chat-log count each, at most `per_page`), a page of to-do lists with their progress.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from common.clock import utcnow
from storage import deliveries, ledger, reminders, reports, turn_jobs
from storage.images import count_images, list_descriptions

from . import params
from .memory_api import iso

if TYPE_CHECKING:
    from services import Services
    from storage.spool import InboundSpool

THUMBNAIL_TTL = 3600
CHART_DAYS = 30
SEARCH_MODE = "portuguese_full_text"
# A turn takes seconds (bursts of photos wait 3 s for quiet); a message queued for a minute means
# the worker process is down or far behind.
STALLED_AFTER_SECONDS = 60


def media_url(services: "Services", key: str) -> str:
    """A signed, expiring URL of a stored image; local-store links are made relative to this site, so
    the dashboard works on whatever address the operator opened it."""
    url = services.media.url(key, expires_in=THUMBNAIL_TTL)
    base = services.public_url.get().rstrip("/")
    return url[len(base):] if base and url.startswith(base + "/") else url


def _images(services: "Services", paging: params.Paging, owner: str | None, query: str) -> dict[str, Any]:
    rows, total = list_descriptions(services.db, owner=owner, page=paging.page, per_page=paging.per_page,
                                    query=query or None)
    paging.check_in_range(total)
    return {"page": paging.page, "per_page": paging.per_page, "total": total,
            "pages": params.pages(total, paging.per_page),
            "search": {"query": query, "mode": SEARCH_MODE if query else None},
            "items": [{"id": row.id, "owner": row.owner, "description": row.description,
                       "model_description": row.model_description, "created_at": iso(row.created_at),
                       "images": [{"key": key, "url": media_url(services, key),
                                   "thumbnail_url": media_url(services, thumb)}
                                  for key, thumb in zip(row.image_keys, row.thumbnail_keys)]}
                      for row in rows]}


def _users(services: "Services", paging: params.Paging, owner: str | None) -> dict[str, Any]:
    rows, total = reports.list_users(services.db, paging.page, paging.per_page, phone=owner)
    paging.check_in_range(total)
    return {"page": paging.page, "per_page": paging.per_page, "total": total,
            "pages": params.pages(total, paging.per_page),
            "items": [{"phone": row.phone, "name": row.name, "cpf": row.cpf_masked,
                       "created_at": iso(row.created_at), "last_login_at": iso(row.last_login_at),
                       "messages": services.chatlog.count(row.phone)} for row in rows]}


def _todos(services: "Services", paging: params.Paging, owner: str | None) -> dict[str, Any]:
    rows, total = reports.list_todo_lists(services.db, paging.page, paging.per_page, owner=owner)
    paging.check_in_range(total)
    return {"page": paging.page, "per_page": paging.per_page, "total": total,
            "pages": params.pages(total, paging.per_page),
            "items": [{"id": row.id, "owner": row.owner, "title": row.title, "created_at": iso(row.created_at),
                       "done": row.done, "total": row.total,
                       "percent": round(100 * row.done / row.total) if row.total else 0,
                       "items": [{"text": text, "done": done} for text, done in row.items]}
                      for row in rows]}


def build_report(services: "Services", args: Mapping[str, str], spool: "InboundSpool | None" = None) -> dict[str, Any]:
    """The whole report for the query string `args` (q, user, page/per_page, users_page, todos_page);
    with `spool`, the ledger figures count the messages it holds too."""
    owner = params.phone(args.get("user"))
    query = (args.get("q") or "").strip()
    if len(query) > 200:
        raise params.BadParam("q must be at most 200 characters")
    per_day = services.chatlog.count_by_day(CHART_DAYS)
    return {
        "filters": {"user": owner, "q": query},
        "totals": {"users": reports.count_users(services.db), "images": count_images(services.db),
                   "messages": services.chatlog.count()},
        "images": _images(services, params.paging(args, 24, 100), owner, query),
        "users": _users(services, params.paging(args, 20, 100, prefix="users_"), owner),
        "todo_lists": _todos(services, params.paging(args, 20, 100, prefix="todos_"), owner),
        "messages_per_day": [{"day": day, "count": count} for day, count in sorted(per_day.items())],
        "ledger": _ledger(services, spool),
        "deliveries": delivery_figures(services),
        "reminders": reminders.counts(services.db),
    }


ERROR_MEANINGS = {21610: "o usuário bloqueou o número ou pediu para sair", 63016: "fora da janela de 24 h (só template)",
                  30003: "aparelho inalcançável", 30005: "número desconhecido", 30006: "número sem WhatsApp",
                  30007: "filtrada como spam", 30008: "erro desconhecido da operadora",
                  63003: "destino sem WhatsApp", 63018: "limite de envio do número excedido"}


def delivery_figures(services: "Services") -> dict[str, Any]:
    """Sent parts by their latest receipt status, and the failed ones by Twilio's error code."""
    summary = deliveries.receipt_summary(services.db)
    return {"by_status": summary.by_status,
            "failures": [{"error_code": code, "count": count, "meaning": ERROR_MEANINGS.get(code or 0, "")}
                         for code, count in summary.failures_by_code]}


def _ledger(services: "Services", spool: "InboundSpool | None") -> dict[str, Any]:
    """Messages waiting for the worker, and how long the oldest has waited (a stuck worker shows here);
    beside them the spool's: messages still to move into the ledger, and those it set aside for good
    (each one a message never answered, for the operator to look at)."""
    state = ledger.backlog(services.db)
    waited = state.oldest_queued_seconds(utcnow())
    spooled, set_aside = spool.counts() if spool is not None else (0, 0)
    return {"queued": state.counts.get("queued", 0), "processing": state.counts.get("processing", 0),
            "sending": state.counts.get(ledger.SENDING, 0),
            "failed": state.counts.get("failed", 0), "done": state.counts.get("done", 0),
            "unreadable": state.unreadable, **engine_figures(services),
            "oldest_queued_seconds": round(waited, 1) if waited is not None else None,
            "stalled": waited is not None and waited > STALLED_AFTER_SECONDS,
            "spooled": spooled, "spool_set_aside": set_aside,
            "spool_set_aside_file": str(spool.rejected_path) if set_aside else None}


def turn_figures(services: "Services") -> dict[str, Any]:
    """What operators watch of the turns beyond the ledger's statuses (for /readyz): messages failed
    because no key opens them (another SECRET_KEY), and the PostgreSQL engine's jobs."""
    return {"unreadable": ledger.backlog(services.db).unreadable, **engine_figures(services)}


def engine_figures(services: "Services") -> dict[str, Any]:
    """With the PostgreSQL engine, its jobs by status per queue (`turns`: waiting, running, failed;
    `chores`), from procrastinate's own table; nothing otherwise."""
    figures: dict[str, Any] = {}
    if services.config.turn_engine == "procrastinate":
        counts = turn_jobs.job_counts(services.db)
        figures["engine"] = {"todo": counts.total("todo"), "doing": counts.total("doing"),
                             "failed": counts.total("failed"), "by_queue": counts.by_queue}
    return figures


def chart_bars(per_day: list[dict[str, Any]], width: int = 720, height: int = 180) -> dict[str, Any]:
    """Geometry of the inline SVG bar chart: one bar per day, scaled to the busiest day."""
    peak = max([day["count"] for day in per_day] + [1])
    slot = width / max(len(per_day), 1)
    bars = []
    for i, day in enumerate(per_day):
        bar_height = round(height * day["count"] / peak, 1)
        bars.append({"x": round(i * slot + 1, 1), "y": round(height - bar_height, 1), "width": round(slot - 2, 1),
                     "height": bar_height, "day": day["day"], "count": day["count"],
                     "label": day["day"][5:] if i % 5 == 0 or i == len(per_day) - 1 else ""})
    return {"bars": bars, "peak": peak, "width": width, "height": height}
