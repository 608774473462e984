"""To-do lists: `make_todo_list`, `list_todos`, `complete_todo_item`, formatted for WhatsApp.

Lists belong to the sender's phone and need a valid login. Lists are numbered per user in creation
order ("lista 2"); items by position ("feito 3" ticks item 3 of the newest list).
"""
from __future__ import annotations

import re
from typing import List, Optional

from agno.run import RunContext

from agent.context import TurnContext, turn_context
from storage import todos
from storage.todos import TodoListRecord

from .auth import require_login
from .errors import ToolRefusal, tool_errors

MAX_ITEMS = 30
ITEM_LIMIT = 300
NO_LISTS = "Você ainda não tem listas. Peça uma (\"me ajuda a organizar a semana\") ou envie *lista: item 1; item 2*."


def format_list(todo: TodoListRecord) -> str:
    """A list as WhatsApp text: bold title with its number, numbered ☐/☑ items, motivation, progress."""
    lines = [f"📝 *{todo.title}* (lista {todo.number})"]
    lines += [f"{item.position}. {'☑' if item.done else '☐'} {item.text}" for item in todo.items]
    if todo.motivation:
        lines.append(f"_{todo.motivation}_")
    done, total = todo.done_count, len(todo.items)
    lines.append("🎉 Tudo feito!" if done == total else f"{done}/{total} feito(s). Para marcar, envie *feito N*.")
    return "\n".join(lines)


def create_todo_list(ctx: TurnContext, title: str, items: list[str], motivation: str = "") -> str:
    """Store a list for the logged-in sender and return it formatted."""
    require_login(ctx)
    texts = [" ".join(str(item).split())[:ITEM_LIMIT] for item in items or []]
    texts = [text for text in texts if text][:MAX_ITEMS]
    if not texts:
        raise ToolRefusal("A lista precisa de pelo menos um item.")
    title = " ".join((title or "").split()) or "Minha lista"
    return format_list(todos.create_list(ctx.services.db, ctx.sender, title, texts, motivation))


def show_lists(ctx: TurnContext, number: int | None = None) -> str:
    """One list in full (by number), or the newest list in full and the titles of the others."""
    require_login(ctx)
    if number is not None:
        todo = todos.get_list(ctx.services.db, ctx.sender, number)
        if todo is None:
            raise ToolRefusal(f"Não encontrei a lista {number}. Envie *minhas listas* para ver suas listas.")
        return format_list(todo)
    recent = todos.lists_of(ctx.services.db, ctx.sender, limit=6)
    if not recent:
        return NO_LISTS
    parts = [format_list(recent[0])]
    if len(recent) > 1:
        others = [f"• lista {t.number}: {t.title} ({t.done_count}/{len(t.items)})" for t in recent[1:]]
        parts.append("Outras listas (envie *lista N* para ver):\n" + "\n".join(others))
    return "\n\n".join(parts)


def tick_items(ctx: TurnContext, positions: list[int], list_number: int | None = None, done: bool = True) -> str:
    """Tick (or untick) items of a list (the newest by default) and return the updated list."""
    require_login(ctx)
    if not positions:
        raise ToolRefusal("Diga o número do item, por exemplo: *feito 2*.")
    todo, unknown = todos.set_items_done(ctx.services.db, ctx.sender, list_number, positions, done)
    if todo is None:
        raise ToolRefusal(NO_LISTS if list_number is None else f"Não encontrei a lista {list_number}.")
    note = f"Não há item {', '.join(map(str, unknown))} nessa lista.\n\n" if unknown else ""
    return note + format_list(todo)


@tool_errors
def make_todo_list(run_context: RunContext, title: str, items: List[str], motivation: str = "") -> str:
    """Save a to-do list for the user and return it formatted for WhatsApp (send it as it is).

    Write concrete, practical, small steps (start each with a verb) from what the user said and
    what you know from past conversations, plus one short motivating sentence.

    Args:
        title: A short title, e.g. "Preparar a entrevista de sexta".
        items: The items in order, each one concrete action.
        motivation: One short, warm motivating sentence.
    """
    return create_todo_list(turn_context(run_context), title, items, motivation)


@tool_errors
def list_todos(run_context: RunContext, list_number: Optional[int] = None) -> str:
    """Show the user's to-do lists: the newest in full and the titles of the others, or one list by number.

    Args:
        list_number: The number of one list ("lista 2"); leave empty for the newest.
    """
    return show_lists(turn_context(run_context), list_number)


@tool_errors
def complete_todo_item(run_context: RunContext, item_numbers: List[int], list_number: Optional[int] = None,
                       done: bool = True) -> str:
    """Tick items of a to-do list as done (or undo that) and return the updated list.

    Args:
        item_numbers: The item numbers as shown in the list, e.g. [2] or [1, 3].
        list_number: The list's number; leave empty for the newest list.
        done: False to untick the items.
    """
    return tick_items(turn_context(run_context), item_numbers, list_number, done)


def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", text or "")]


@tool_errors
def _list_command(ctx: TurnContext, match: re.Match) -> str:
    items = re.split(r"[;\n]+", match.group("items"))
    return create_todo_list(ctx, match.group("title") or "Minha lista", items)


@tool_errors
def _show_command(ctx: TurnContext, match: re.Match) -> str:
    return show_lists(ctx, int(match.group("n")) if match.groupdict().get("n") else None)


@tool_errors
def _tick_command(ctx: TurnContext, match: re.Match) -> str:
    done = not match.group("verb").lower().startswith("desmarc")
    list_number = int(match.group("list")) if match.group("list") else None
    return tick_items(ctx, _numbers(match.group("items")), list_number, done)


TOOLS = [make_todo_list, list_todos, complete_todo_item]
COMMANDS = [
    (r"^\s*lista(?:\s+(?P<title>[^:\n]{1,120}?))?\s*:\s*(?P<items>.+)$", _list_command),
    (r"^\s*(?:minhas\s+listas|listas|ver\s+listas?|mostrar?\s+listas?)\s*[?.!]*\s*$", _show_command),
    (r"^\s*(?:ver\s+)?lista\s+(?P<n>\d+)\s*$", _show_command),
    (r"^\s*(?P<verb>feito|feita|fiz|conclu[ií]do|desmarcar|desmarque)\s+(?:(?:o\s+)?item\s+)?"
     r"(?P<items>\d+(?:\s*(?:,|e|\s)\s*\d+)*)(?:\s+(?:da|na)\s+lista\s+(?P<list>\d+))?\s*[.!]*\s*$", _tick_command),
]
