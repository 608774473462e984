"""Portuguese reminder times, read in the user's zone against a fixed clock (Monday 07/12/2026, 10:00 in São Paulo)."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from common.ptdates import Unclear, next_occurrence, read_when

ZONE = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 12, 7, 13, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, local, repeat", [
    ("me lembre amanhã às 9h de levar o cachorro", "2026-12-08 09:00", None),
    ("sexta à tarde", "2026-12-11 15:00", None),
    ("todo dia às 7h me lembre de beber água", "2026-12-08 07:00", "daily"),
    ("toda segunda às 8h30 reunião", "2026-12-14 08:30", "weekly"),
    ("daqui a 2 horas ligar", "2026-12-07 12:00", None),
    ("dia 15/03 às 14:30 dentista", "2027-03-15 14:30", None),
    ("15 de março às 10h", "2027-03-15 10:00", None),
    ("hoje à noite", "2026-12-07 20:00", None),
    ("amanhã às 7 da noite", "2026-12-08 19:00", None),
    ("às 21h30 pagar conta", "2026-12-07 21:30", None),
    ("dia 20 às 18h", "2026-12-20 18:00", None),
])
def test_times_are_read_in_the_users_zone(text, local, repeat):
    when, _rest = read_when(text, NOW, ZONE)
    assert (when.local.strftime("%Y-%m-%d %H:%M"), when.repeat, when.local.tzinfo) == (local, repeat, ZONE)


@pytest.mark.parametrize("text, question", [
    ("dia 31 de fevereiro às 10h", "31 de fevereiro não existe"),
    ("31/02 às 10h", "31 de fevereiro não existe"),
    ("às 7 tomar remédio", "da manhã ou às 19h"),
    ("às 9h", "já passou"),
    ("15 de março de 2020 às 10h", "já passou"),
    ("amanhã", "A que horas"),
    ("comprar pão", "Para quando"),
    ("amanhã às 25h", "não é um horário válido"),
    ("dia 10/10/2030 às 10h", "até 2 anos"),
])
def test_unclear_or_past_times_get_a_question(text, question):
    with pytest.raises(Unclear, match=question):
        read_when(text, NOW, ZONE)


def test_the_rest_of_the_sentence_is_what_to_remind():
    _when, rest = read_when("me lembre amanhã às 9h de levar o cachorro", NOW, ZONE)
    assert " ".join(rest.split()) == "me lembre de levar o cachorro"


def test_a_repeat_moves_to_its_next_local_time_after_now():
    after = datetime(2026, 12, 8, 10, 30, tzinfo=timezone.utc)  # 07:30 in São Paulo
    nxt = next_occurrence("07:00", ZONE, after, 1, datetime(2026, 12, 8).date())
    assert nxt.strftime("%Y-%m-%d %H:%M") == "2026-12-09 07:00"
