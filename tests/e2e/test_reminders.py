"""Reminders end to end, on SQLite and PostgreSQL, with a controllable clock: set through the real
webhook (command mode), fired by the runtime's chore or by `fire_due(now=...)` with the schedule's
clock moved forward, sent through the fake Twilio (free text, Content API template, or held)."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from common.clock import utcnow
from storage import deliveries, reminders
from storage.models import InboundMessage, Reminder
from tests.e2e.conversation import Conversation
from tests.factories import make_user
from tests.fixtures.app import wait_until
from worker.reminders import Pacer, fire_due

pytestmark = pytest.mark.slow
ANA = "+5511999990301"
TEMPLATE = "HX" + "a1" * 16


@pytest.fixture(params=["sqlite", "postgresql"])
def assistant(request, make_live_app):
    """Factory: a live assistant in command mode on SQLite or PostgreSQL, Ana registered and logged in."""
    def make(**extra):
        if request.param == "postgresql":
            request.getfixturevalue("pg_db")
            extra["DATABASE_URL"] = request.getfixturevalue("pg_url")
        live = make_live_app(with_model=False, TWILIO_SEND_RATE="200", **extra)
        make_user(live.services.db, ANA)
        return live
    return make


def _move_due(db, seconds_ago: float = 1) -> None:
    with db.session() as session:
        session.execute(update(Reminder).values(due_at=utcnow() - timedelta(seconds=seconds_ago)))


def _age_last_message(db, hours: float, at=None) -> None:
    """Make Ana's messages `hours` older than `at` (default: now): the 24-hour window counts from them."""
    with db.session() as session:
        session.execute(update(InboundMessage).values(received_at=(at or utcnow()) - timedelta(hours=hours)))


def _to_ana(twilio_server):
    return twilio_server.messages(to=f"whatsapp:{ANA}")


def test_a_reminder_fires_once_at_its_time_through_the_runtime(assistant, twilio_server):
    live = assistant()
    chat = Conversation(live, twilio_server, ANA)
    answer = chat.say("me lembre amanhã às 9h de levar o cachorro ao veterinário")
    assert "Lembrete 1 marcado para amanhã" in answer and "às 09:00" in answer and "levar o cachorro" in answer
    assert "meus lembretes" not in answer and "1. amanhã" in chat.say("meus lembretes")
    before = len(_to_ana(twilio_server))
    _move_due(live.services.db)  # the reminder's time has come; the runtime's chore runs every second
    found = twilio_server.wait_for(before + 1, to=f"whatsapp:{ANA}", timeout=10)
    assert found[-1].body == "⏰ Lembrete: levar o cachorro ao veterinário"
    time.sleep(2.5)  # more chore runs: nothing more is sent
    assert len(_to_ana(twilio_server)) == before + 1
    assert [r.status for r in reminders.all_of(live.services.db, ANA)] == ["sent"]
    assert wait_until(lambda: any(d.kind == "reminder" for d in deliveries.deliveries_of(live.services.db, ANA)))


def test_a_daily_repeat_fires_on_two_consecutive_days(assistant, twilio_server):
    live = assistant(WORKER_MODE="thread")
    chat = Conversation(live, twilio_server, ANA)
    assert "todo dia" in chat.say("todo dia às 7h me lembre de beber água")
    first = reminders.live_of(live.services.db, ANA)[0]
    quiet = Pacer(1000)
    day1 = first.due_at + timedelta(minutes=1)
    assert fire_due(live.services, now=day1 - timedelta(minutes=2), pacer=quiet).total == 0  # not yet
    _age_last_message(live.services.db, 1, at=day1)  # Ana wrote an hour before: the window is open on day 1
    assert fire_due(live.services, now=day1, pacer=quiet).sent == 1
    assert fire_due(live.services, now=day1 + timedelta(minutes=5), pacer=quiet).total == 0  # once a day
    second = reminders.live_of(live.services.db, ANA)[0]
    assert second.due_at - first.due_at == timedelta(days=1) and second.status == "active"
    Conversation(live, twilio_server, ANA).say("ajuda")  # she writes on day 2 too (window open)
    _age_last_message(live.services.db, 2, at=second.due_at)
    assert fire_due(live.services, now=second.due_at + timedelta(minutes=1), pacer=quiet).sent == 1
    bodies = [m.body for m in _to_ana(twilio_server) if m.body.startswith("⏰")]
    assert bodies == ["⏰ Lembrete: beber água"] * 2


def test_outside_the_window_a_template_goes_out_with_its_variables(assistant, twilio_server):
    live = assistant(REMINDER_TEMPLATE_SID=TEMPLATE)
    chat = Conversation(live, twilio_server, ANA)
    answer = chat.say("me lembre dia 15/03 às 14:30 de renovar o passaporte")
    assert "Obs.:" not in answer  # with a template nothing waits
    reminder = reminders.live_of(live.services.db, ANA)[0]
    _age_last_message(live.services.db, 30)
    fired = fire_due(live.services, now=reminder.due_at, pacer=Pacer(1000))
    assert fired.templated == 1
    sent = _to_ana(twilio_server)[-1]
    assert sent.content_sid == TEMPLATE and sent.body == ""
    assert sent.variables == {"1": "renovar o passaporte", "2": "15/03 14:30"}


def test_without_a_template_it_is_held_and_delivered_with_the_next_message(assistant, twilio_server):
    live = assistant()
    chat = Conversation(live, twilio_server, ANA)
    answer = chat.say("me lembre dia 20/03 às 15h de pagar o aluguel")  # a day more than 24 h away
    assert "chega junto com a sua próxima mensagem" in answer  # told when setting it
    reminder = reminders.live_of(live.services.db, ANA)[0]
    _age_last_message(live.services.db, 30)
    before = len(_to_ana(twilio_server))
    assert fire_due(live.services, now=reminder.due_at + timedelta(minutes=1), pacer=Pacer(1000)).held == 1
    assert len(_to_ana(twilio_server)) == before  # nothing proactive outside the window
    reply = chat.say("ajuda")
    assert "pagar o aluguel" in reply and "atrasado" in reply
    assert [r.status for r in reminders.all_of(live.services.db, ANA)] == ["sent"]
    assert "pagar o aluguel" not in chat.say("ajuda")  # delivered once


def test_an_opted_out_user_gets_nothing_proactive_until_voltar(assistant, twilio_server):
    live = assistant()
    chat = Conversation(live, twilio_server, ANA)
    chat.say("me lembre amanhã às 10h de regar as plantas")
    assert "não vou mais enviar mensagens por conta própria" in chat.say("PARAR")
    assert "Posso ajudar" in chat.say("ajuda")  # replies to her own messages go on
    reminder = reminders.live_of(live.services.db, ANA)[0]
    before = len(_to_ana(twilio_server))
    assert fire_due(live.services, now=reminder.due_at, pacer=Pacer(1000)).skipped == 1
    assert len(_to_ana(twilio_server)) == before
    assert "voltei a enviar" in chat.say("VOLTAR")
    chat.say("me lembre amanhã às 11h de regar as plantas de novo")
    again = reminders.live_of(live.services.db, ANA)[0]
    _age_last_message(live.services.db, 1, at=again.due_at)  # inside the 24-hour window whatever the hour now
    assert fire_due(live.services, now=again.due_at, pacer=Pacer(1000)).sent == 1
    for word in ("STOP", "sair"):
        assert "não vou mais enviar" in chat.say(word) or "já tinha pedido" in chat.transcript[-1][1]
        assert deliveries.prefs_of(live.services.db, ANA).opted_out
        chat.say("voltar")


def test_bad_inputs_each_get_a_clear_answer_and_nothing_is_lost(assistant, twilio_server):
    live = assistant(REMINDER_MAX_ACTIVE="5")
    chat = Conversation(live, twilio_server, ANA)
    assert "31 de fevereiro não existe" in chat.say("me lembre dia 31 de fevereiro às 10h de pagar a conta")
    assert "já passou" in chat.say("me lembre dia 01/01/2020 às 10h de algo antigo")
    assert "da manhã ou às 19h" in chat.say("me lembre amanhã às 7 de tomar o remédio")
    assert "A que horas" in chat.say("me lembre amanhã de ligar para a Bia")
    long = "me lembre amanhã às 9h de " + "x" * 2000
    assert "até 500 caracteres" in chat.say(long)
    assert reminders.live_of(live.services.db, ANA) == []
    for n in range(5):
        assert f"Lembrete {n + 1} marcado" in chat.say(f"me lembre amanhã às 9h de tarefa {n}")
    assert "5 lembretes ativos, o máximo" in chat.say("me lembre amanhã às 9h de tarefa 6")
    assert "Lembrete 2 cancelado" in chat.say("cancelar lembrete 2")
    assert "Não encontrei o lembrete 2" in chat.say("cancelar lembrete 2")
    assert "Lembrete 6 marcado" in chat.say("me lembre amanhã às 9h de tarefa 6")
    assert [r.number for r in reminders.live_of(live.services.db, ANA)] == [1, 3, 4, 5, 6]
    messages = live.services.chatlog.list(ANA, per_page=200).items
    assert any("x" * 2000 in m.body for m in messages)  # the refused message is still in the chat log


def test_a_reminder_on_a_todo_item_names_it_and_is_dropped_once_done(assistant, twilio_server):
    live = assistant()
    chat = Conversation(live, twilio_server, ANA)
    chat.say("lista Veterinário: marcar consulta; levar o cachorro")
    answer = chat.say("me lembre do item 2 da lista 1 sexta à tarde")
    assert "levar o cachorro (item 2 da lista 1)" in answer and "às 15:00" in answer
    assert "America/Manaus" in chat.say("fuso America/Manaus")
    chat.say("feito 2")
    reminder = reminders.live_of(live.services.db, ANA)[0]
    assert fire_due(live.services, now=reminder.due_at, pacer=Pacer(1000)).dropped == 1
    assert "Você não tem lembretes" in chat.say("meus lembretes")


def test_export_has_reminders_and_receipts_and_erasure_removes_them(assistant, twilio_server):
    import requests

    live = assistant(PUBLIC_BASE_URL="https://assistente.example.org")
    chat = Conversation(live, twilio_server, ANA)
    chat.say("me lembre amanhã às 9h de levar o cachorro")
    chat.say("PARAR")
    assert wait_until(lambda: len(deliveries.deliveries_of(live.services.db, ANA)) >= 2, timeout=5)
    url = chat.say("exportar meus dados").split("JSON): ", 1)[1].split()[0]
    data = requests.get(url.replace("https://assistente.example.org", live.url), timeout=10).json()
    assert [r["text"] for r in data["reminders"]] == ["levar o cachorro"]
    assert len(data["deliveries"]) >= 2 and data["proactive_messages"]["opted_out"] is True
    chat.say("apagar meus dados")
    time.sleep(1.2)  # the receipts kept so far are written
    erased_at = utcnow()
    chat.say("APAGAR")
    db = live.services.db
    assert reminders.all_of(db, ANA) == [] and deliveries.prefs_of(db, ANA) == deliveries.Prefs()
    assert all(d.created_at >= erased_at for d in deliveries.deliveries_of(db, ANA))  # only the goodbye's


def test_twilio_refusals_hold_or_stop_reminders(assistant, twilio_server):
    live = assistant(PUBLIC_BASE_URL="https://assistente.example.org")
    chat = Conversation(live, twilio_server, ANA)
    chat.say("me lembre amanhã às 9h de ligar para o banco")
    first = reminders.live_of(live.services.db, ANA)[0]
    _age_last_message(live.services.db, 1, at=first.due_at)
    assert fire_due(live.services, now=first.due_at, pacer=Pacer(1000)).sent == 1
    sent = _to_ana(twilio_server)[-1]
    assert sent.status_callback.endswith("/twilio/status")
    # Twilio then reports 63016 (outside the window): the reminder waits for Ana's next message
    assert twilio_server.report_status(sent, "failed", 63016, post_to=f"{live.url}/twilio/status") == 200
    assert reminders.all_of(live.services.db, ANA)[0].status == "held"
    assert "ligar para o banco" in chat.say("ajuda")
    chat.say("me lembre amanhã às 10h de pagar o boleto")
    second = reminders.live_of(live.services.db, ANA)[0]
    _age_last_message(live.services.db, 1, at=second.due_at)
    twilio_server.fail_next(1, status=400, code=21610, message="Attempt to send to unsubscribed recipient")
    assert fire_due(live.services, now=second.due_at, pacer=Pacer(1000)).skipped == 1
    assert deliveries.prefs_of(live.services.db, ANA).blocked
