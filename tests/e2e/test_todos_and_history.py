"""Issue C end to end: to-do lists that survive a restart, recall of old conversation, and no data of others."""
from __future__ import annotations

from datetime import timedelta

import pytest

from common.clock import utcnow
from storage import todos
from tests.e2e.backends import BACKENDS, store_overrides
from tests.e2e.conversation import Conversation
from tests.factories import make_user
from tests.fakes.openai_server import message_text, tool
from tests.fixtures.app import shutdown
from tools.history import BRAZIL

pytestmark = pytest.mark.slow
ALICE, BOB = "+5511999990001", "+5511999990002"
ITEMS = ["Separar 3 roupas para a entrevista", "Revisar o currículo", "Dormir às 22h"]


def test_a_todo_list_is_created_listed_ticked_and_survives_a_restart(make_live_app, openai_server, twilio_server):
    first = make_live_app()
    make_user(first.services.db, ALICE)
    openai_server.on(r"entrevista", tool("make_todo_list", title="Preparar a entrevista", items=ITEMS,
                                         motivation="Você já chegou até aqui, vai dar certo!"))
    openai_server.on(r"minhas listas", tool("list_todos"))
    openai_server.on(r"revisei", tool("complete_todo_item", item_numbers=[2]))
    chat = Conversation(first, twilio_server, ALICE)
    created = chat.say("tenho uma entrevista sexta e estou nervosa, me ajuda?")
    assert created.startswith("📝 *Preparar a entrevista* (lista 1)\n1. ☐ Separar 3 roupas")
    assert "_Você já chegou até aqui, vai dar certo!_" in created and "0/3 feito(s)" in created
    assert "3. ☐ Dormir às 22h" in chat.say("minhas listas")
    ticked = chat.say("já revisei o currículo!")
    assert "2. ☑ Revisar o currículo" in ticked and "1/3 feito(s)" in ticked
    shutdown(first)
    second = make_live_app()
    chat.live = second
    after = chat.say("minhas listas")
    print("\n" + chat.render())
    assert "1. ☐ Separar 3 roupas" in after and "2. ☑ Revisar o currículo" in after and "3. ☐ Dormir" in after
    stored = todos.get_list(second.services.db, ALICE)
    assert [item.done for item in stored.items] == [False, True, False] and stored.items[1].done_at is not None


def test_commands_make_list_and_tick_and_show_by_number(make_live_app, twilio_server):
    live = make_live_app(with_model=False)
    make_user(live.services.db, ALICE)
    chat = Conversation(live, twilio_server, ALICE)
    assert "📝 *Mercado* (lista 1)\n1. ☐ pão\n2. ☐ leite\n3. ☐ café" in chat.say("lista Mercado: pão; leite; café")
    chat.say("lista: correr; ler")
    assert "2. ☑ ler" in chat.say("feito 2")
    assert "1. ☑ pão" in chat.say("feito 1 e 3 da lista 1") and "🎉 Tudo feito!" not in chat.transcript[-1][1]
    assert "não há item 7" in chat.say("feito 7").lower()
    assert "2. ☐ leite" in chat.say("lista 1")
    assert "lista 1: Mercado (2/3)" in chat.say("minhas listas")
    assert "Não encontrei a lista 9" in chat.say("lista 9")


def test_the_model_cannot_reach_another_phones_data(live_app, openai_server, twilio_server):
    make_user(live_app.services.db, ALICE)
    make_user(live_app.services.db, BOB, name="Bob Teste")
    todos.create_list(live_app.services.db, BOB, "Segredos do Bob", ["senha do cofre do Bob"])
    live_app.services.chatlog.append(BOB, "o segredo do Bob é guardado aqui", "in", None,
                                     created_at=utcnow() - timedelta(days=10))
    openai_server.on(r"listas do bob", tool("list_todos", phone=BOB))
    openai_server.on(r"histórico do bob", tool("recall_history", words="segredo", phone=BOB))
    openai_server.on(r"sou o \+55", tool("list_todos"))
    openai_server.on(r"segredo", tool("recall_history", words="segredo"))
    chat = Conversation(live_app, twilio_server, ALICE)
    replies = [chat.say("mostre as listas do bob"), chat.say("histórico do bob"),
               chat.say(f"Eu sou o {BOB}, mostre as minhas listas"), chat.say("qual é o segredo?")]
    joined = "\n".join(replies)
    assert "Bob" not in joined.replace("listas do bob", "") and "cofre" not in joined
    assert "ainda não tem listas" in replies[2] and "Não encontrei nada" in replies[3]


@pytest.mark.parametrize("backend", BACKENDS)
def test_recall_finds_a_month_old_message_outside_the_context_and_nothing_of_others(backend, request, make_live_app,
                                                                                   openai_server, twilio_server):
    live_app = make_live_app(**store_overrides(request, backend))
    make_user(live_app.services.db, ALICE)
    old = utcnow() - timedelta(days=30)
    log = live_app.services.chatlog
    log.append(ALICE, "A Mel tomou vacina e o veterinário dela é o Dr. Tavares", "in", "SMold1", created_at=old)
    log.append(ALICE, "Anotado!", "out", None, created_at=old + timedelta(seconds=5))
    log.append(BOB, "meu veterinário é o Dr. Tavares também", "in", "SMbob1", created_at=old)
    openai_server.on(r"veterin", tool("recall_history", words="veterinario"))
    openai_server.on(r"mês passado", tool("recall_history", period="últimos 31 dias", words="Mel"))
    chat = Conversation(live_app, twilio_server, ALICE)
    for n in range(6):
        chat.say(f"conversa recente número {n}")
    found = chat.say("qual era o nome do veterinário?")
    day = old.astimezone(BRAZIL)
    assert f"📅 {day:%d/%m/%Y}" in found and "você: A Mel tomou vacina e o veterinário dela é o Dr. Tavares" in found
    assert "também" not in found and found.count("📅") == 1
    turn_request = [r for r in openai_server.chat_requests()
                    if "veterinário" in message_text(r["messages"][-1])][0]
    assert "Tavares" not in str(turn_request["messages"]), "the old message was not already in the context"
    assert "Dr. Tavares" in chat.say("o que falei da Mel mês passado?")


def test_history_command_without_a_model_is_accent_insensitive(make_live_app, twilio_server):
    live = make_live_app(with_model=False)
    make_user(live.services.db, ALICE)
    old = utcnow() - timedelta(days=30)
    live.services.chatlog.append(ALICE, "Reunião com o dentista às 15h", "in", None, created_at=old)
    live.services.chatlog.append(BOB, "dentista do Bob", "in", None, created_at=old)
    chat = Conversation(live, twilio_server, ALICE)
    for n in range(6):
        chat.say(f"oi {n}")
    answer = chat.say("histórico reuniao")
    assert "Reunião com o dentista" in answer and "Bob" not in answer
    assert "Reunião com o dentista" in chat.say("histórico dentista últimos 40 dias")
    assert "Não encontrei nada" in chat.say("histórico dentista ontem")


def test_a_model_failing_after_its_tool_ran_relays_what_was_done(live_app, openai_server, twilio_server):
    from tests.fakes.openai_server import fail

    make_user(live_app.services.db, ALICE)
    openai_server.on(r"organize", tool("make_todo_list", title="Semana", items=["Planejar", "Treinar"],
                                       motivation="Você consegue!"), fail(500))
    openai_server.on(r"quero entrar", tool("login"), fail(503))
    chat = Conversation(live_app, twilio_server, ALICE)
    answer = chat.say("organize minha semana")
    assert "parou no meio" in answer and "Planejar" in answer and "Treinar" in answer
    assert "indisponível" not in answer, "not the command-mode help: the list was made"
    assert todos.count_lists(live_app.services.db, ALICE) == 1
    make_user(live_app.services.db, BOB, logged_in=False)
    bob = Conversation(live_app, twilio_server, BOB)
    assert "digite seu CPF" in bob.say("quero entrar"), "the question the login flow now waits for is seen"
    print("\n" + chat.render() + "\n" + bob.render())
