"""WhatsApp formatting of to-do lists and history snippets; Portuguese and ISO periods."""
from datetime import datetime, timedelta, timezone

import pytest

from storage.chatlog import LoggedMessage
from storage.todos import TodoItemRecord, TodoListRecord
from tools.history import BRAZIL, format_snippets, parse_period
from tools.todos import format_list

NOW = datetime(2025, 5, 14, 15, 0, tzinfo=timezone.utc)  # a Wednesday, 12:00 in Brazil


def _list(done: list[bool], motivation: str | None = "Você consegue!") -> TodoListRecord:
    items = [TodoItemRecord(n, f"passo {n}", d, NOW if d else None) for n, d in enumerate(done, start=1)]
    return TodoListRecord(7, 2, "+5511999990001", "Organizar a semana", motivation, NOW, items)


def test_a_list_is_numbered_with_checkboxes_title_motivation_and_progress():
    assert format_list(_list([False, True, False])) == (
        "📝 *Organizar a semana* (lista 2)\n1. ☐ passo 1\n2. ☑ passo 2\n3. ☐ passo 3\n_Você consegue!_\n"
        "1/3 feito(s). Para marcar, envie *feito N*.")


def test_a_finished_list_celebrates_and_motivation_is_optional():
    text = format_list(_list([True, True], motivation=None))
    assert text.endswith("🎉 Tudo feito!") and "_" not in text


def _day(y, m, d):
    return datetime(y, m, d, tzinfo=BRAZIL)


@pytest.mark.parametrize("text, expected", [
    ("", (None, None)),
    ("ontem", (_day(2025, 5, 13), _day(2025, 5, 14))),
    ("Hoje", (_day(2025, 5, 14), _day(2025, 5, 15))),
    ("anteontem", (_day(2025, 5, 12), _day(2025, 5, 13))),
    ("há 30 dias", (_day(2025, 4, 14), _day(2025, 4, 15))),
    ("semana passada", (_day(2025, 5, 5), _day(2025, 5, 12))),
    ("mês passado", (_day(2025, 4, 1), _day(2025, 5, 1))),
    ("últimos 7 dias", (_day(2025, 5, 7), _day(2025, 5, 15))),
    ("2025-04-14", (_day(2025, 4, 14), _day(2025, 4, 15))),
    ("14/04/2025", (_day(2025, 4, 14), _day(2025, 4, 15))),
    ("de 01/05 a 10/05", (_day(2025, 5, 1), _day(2025, 5, 11))),
    ("2025-05-01 até 2025-05-02", (_day(2025, 5, 1), _day(2025, 5, 3))),
    ("desde 2025-01-01", (_day(2025, 1, 1), None)),
    ("até ontem", (None, _day(2025, 5, 14))),
])
def test_periods(text, expected):
    assert parse_period(text, NOW) == expected


@pytest.mark.parametrize("text", ["banana", "31/02/2025", "2025-13-01", "semana que vem"])
def test_periods_not_understood(text):
    assert parse_period(text, NOW) is None


def test_snippets_are_dated_in_brazil_oldest_first_and_cut_around_the_words():
    long_body = "começo " * 60 + "o veterinário se chama Tavares " + "fim " * 60
    messages = [LoggedMessage("+55", "resposta", "out", None, NOW),
                LoggedMessage("+55", long_body, "in", None, NOW - timedelta(days=30))]
    lines = format_snippets(messages, "veterinario").splitlines()
    assert lines[0].startswith("📅 14/04/2025 12:00 · você: …") and "veterinário se chama Tavares" in lines[0]
    assert lines[0].endswith("…") and len(lines[0]) < 280
    assert lines[1] == "📅 14/05/2025 12:00 · assistente: resposta"
