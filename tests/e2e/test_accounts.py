"""Issue C end to end: registration and login dialogues, the lockout, and tools that need a login."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from common.clock import utcnow
from storage import users
from storage.models import Login, User
from tests.e2e.conversation import Conversation
from tests.factories import DEFAULT_PASSWORD, make_user, valid_cpf
from tests.fakes.openai_server import Step, message_text, say, tool

pytestmark = pytest.mark.slow
ALICE, BOB, MALLORY = "+5511999990001", "+5511999990002", "+5511999990666"
CPF = "529.982.247-25"
PASSWORD = "girassol-azul-2024"


def _age_login_attempts(db, by: timedelta) -> None:
    """Move every recorded login attempt `by` into the past (the lockout window, without waiting)."""
    with db.session() as session:
        for row in session.scalars(select(Login)):
            row.created_at = row.created_at - by


def _chat(live, twilio_server, phone=ALICE) -> Conversation:
    return Conversation(live, twilio_server, phone)


def test_registration_dialogue_from_nao_possuo_cadastro(live_app, openai_server, twilio_server):
    openai_server.on(r"N[ÃA]O POSSUO CADASTRO", tool("register_user"))
    chat = _chat(live_app, twilio_server)
    assert "nome completo" in chat.say("NÃO POSSUO CADASTRO")
    assert "CPF" in chat.say("Ana Souza")
    assert "dígitos verificadores" in chat.say("529.982.247-24")
    assert "todos os dígitos iguais" in chat.say("111.111.111-11")
    assert "11 dígitos" in chat.say("123456")
    assert "senha" in chat.say(CPF)
    assert "pelo menos 8" in chat.say("curta")
    done = chat.say(PASSWORD)
    print("\n" + chat.render())
    assert "Cadastro concluído, Ana" in done and "***.982.247-**" in done and CPF not in done
    user = users.get_user_by_phone(live_app.services.db, ALICE)
    assert (user.name, user.cpf, user.is_logged_in()) == ("Ana Souza", "52998224725", True)
    assert users.password_hash_of(live_app.services.db, user.id).startswith("$argon2id$")
    asked = {message_text([m for m in r["messages"] if m["role"] == "user"][-1]) for r in openai_server.chat_requests()}
    assert asked == {"NÃO POSSUO CADASTRO"}, "only the first message may reach the model"
    openai_server.on(r"quero me cadastrar", Step(tool="register_user", args={"name": "Ana Outra"}))
    again = chat.say("quero me cadastrar de novo")
    assert "já tem uma conta" in again and "só uma conta" in again


def test_name_and_cpf_in_the_first_message_skip_to_the_password_and_the_model_sees_a_masked_cpf(
        live_app, openai_server, twilio_server):
    openai_server.on(r"NÃO POSSUO CADASTRO", Step(tool="register_user", args={"name": "Ana Lima"}))
    chat = _chat(live_app, twilio_server)
    assert "crie uma senha" in chat.say(f"NÃO POSSUO CADASTRO. Sou Ana Lima, CPF {CPF}")
    assert "Cadastro concluído, Ana" in chat.say(PASSWORD)
    sent = json.dumps(openai_server.chat_requests(), ensure_ascii=False)
    assert "***.982.247-**" in sent and CPF not in sent and "52998224725" not in sent


def test_a_cpf_already_registered_and_cancel(live_app, openai_server, twilio_server):
    make_user(live_app.services.db, BOB, cpf=CPF)
    chat = _chat(live_app, twilio_server, MALLORY)
    openai_server.on(r"cadastro", tool("register_user"))
    chat.say("cadastro")
    chat.say("Mallory Silva")
    assert "já tem cadastro em outro número" in chat.say(CPF)
    assert "cancelado" in chat.say("cancelar")
    assert users.get_user_by_phone(live_app.services.db, MALLORY) is None
    openai_server.on(r"^oi$", tool("list_todos"))
    assert "NÃO POSSUO CADASTRO" in chat.say("oi"), "after cancelling, messages go to the model again"


def test_login_success_records_the_time(live_app, openai_server, twilio_server):
    make_user(live_app.services.db, ALICE, cpf=CPF, password=PASSWORD, logged_in=False)
    openai_server.on(r"quero entrar", tool("login"))
    chat = _chat(live_app, twilio_server)
    assert "digite seu CPF" in chat.say("quero entrar na minha conta")
    assert "digite sua senha" in chat.say(f"meu cpf é {CPF}")
    before = utcnow()
    assert "Login feito! Olá, Ana" in chat.say(PASSWORD)
    user = users.get_user_by_phone(live_app.services.db, ALICE)
    assert before - timedelta(seconds=1) <= user.last_login_at <= utcnow()
    assert user.logged_in_until - user.last_login_at == timedelta(hours=720)
    assert [ok for _, ok in users.login_attempts(live_app.services.db, ALICE)] == [True]


def test_five_wrong_passwords_lock_the_phone_and_the_window_ends(make_live_app, twilio_server):
    live = make_live_app(with_model=False)
    make_user(live.services.db, ALICE, cpf=CPF, password=PASSWORD, logged_in=False)
    chat = _chat(live, twilio_server)
    for attempt in range(1, 6):
        assert "digite sua senha" in chat.say(f"login {CPF}")
        answer = chat.say(f"errada-{attempt}")
        assert ("Muitas tentativas" in answer) is (attempt == 5)
        assert attempt == 5 or "CPF ou senha incorretos" in answer
    sixth = chat.say("login")
    assert "Muitas tentativas" in sixth and "15 minuto" in sixth
    assert not users.get_user_by_phone(live.services.db, ALICE).is_logged_in()
    _age_login_attempts(live.services.db, timedelta(minutes=16))
    chat.say(f"login {CPF}")
    assert "Login feito" in chat.say(PASSWORD)
    print("\n" + chat.render())
    assert [ok for _, ok in users.login_attempts(live.services.db, ALICE)] == [False] * 5 + [True]


def test_a_cpf_locked_from_another_phone_refuses_even_the_right_password(make_live_app, twilio_server):
    live = make_live_app(with_model=False)
    make_user(live.services.db, ALICE, cpf=CPF, password=PASSWORD, logged_in=False)
    alice, mallory = _chat(live, twilio_server), _chat(live, twilio_server, MALLORY)
    make_user(live.services.db, MALLORY, name="Mallory", cpf=valid_cpf(66), logged_in=False)
    assert "digite sua senha" in alice.say(f"login {CPF}")
    for attempt in range(5):
        mallory.say(f"login {CPF}")
        mallory.say(f"chute-{attempt}-qualquer")
    refused = alice.say(PASSWORD)
    assert "Muitas tentativas" in refused
    assert not users.get_user_by_phone(live.services.db, ALICE).is_logged_in()
    assert [ok for _, ok in users.login_attempts(live.services.db, ALICE)] == [False], "the refusal is recorded"


def test_tools_before_login_answer_how_to_register_or_log_in(live_app, openai_server, twilio_server):
    chat = _chat(live_app, twilio_server)
    openai_server.on(r"minhas listas", tool("list_todos"))
    openai_server.on(r"fotos", tool("search_images", query="cachorro"))
    openai_server.on(r"lembra", tool("recall_history", words="praia"))
    openai_server.on(r"organizar", tool("make_todo_list", title="Semana", items=["correr"], motivation="Vai!"))
    for text in ("minhas listas", "mostre fotos de cachorro", "lembra da praia?"):
        assert "NÃO POSSUO CADASTRO" in chat.say(text) and "login" in chat.transcript[-1][1]
    make_user(live_app.services.db, ALICE, logged_in=False)
    for text in ("minhas listas", "mostre fotos de cachorro", "lembra da praia?", "me ajuda a organizar"):
        assert "Envie *login*" in chat.say(text)
    with live_app.services.db.session() as session:
        assert session.scalar(select(User.logged_in_until).where(User.phone == ALICE)) is None


def test_logout_ends_the_session(live_app, openai_server, twilio_server):
    make_user(live_app.services.db, ALICE)
    openai_server.on(r"sair", tool("logout"))
    openai_server.on(r"minhas listas", tool("list_todos"))
    chat = _chat(live_app, twilio_server)
    assert "ainda não tem listas" in chat.say("minhas listas")
    assert "saiu da conta" in chat.say("quero sair da conta")
    assert "Envie *login*" in chat.say("minhas listas")
    assert DEFAULT_PASSWORD not in chat.render()


def test_a_logout_counts_for_the_tools_called_after_it_in_the_same_turn(live_app, openai_server, twilio_server):
    """The turn reads the account once, before the model runs; a logout in the turn makes the next
    tool read it again, so a tool called after the logout is refused."""
    make_user(live_app.services.db, ALICE)
    openai_server.on(r"sair depois", tool("list_todos"), tool("logout"), tool("list_todos"))
    reply = _chat(live_app, twilio_server).say("mostre as listas e sair depois")
    results = [m["content"] for m in openai_server.chat_requests()[-1]["messages"] if m.get("role") == "tool"]
    assert "ainda não tem listas" in results[0] and "saiu da conta" in results[1]
    assert "Envie *login*" in results[2] and "Envie *login*" in reply
    assert users.get_user_by_phone(live_app.services.db, ALICE).logged_in_until is None


def test_a_spoken_password_is_never_transcribed_tried_or_kept(live_app, openai_server, twilio_server):
    from storage.models import MediaObject
    from tests.fixtures.media import voice_note

    db = live_app.services.db
    make_user(db, ALICE, cpf=CPF, password=PASSWORD, logged_in=False)
    openai_server.on(r"quero entrar", tool("login"))
    openai_server.transcript_text = f"minha senha é {PASSWORD}"
    chat = _chat(live_app, twilio_server)
    assert "digite sua senha" in chat.say(f"quero entrar, meu CPF é {CPF}")
    note = twilio_server.add_media(None, voice_note("ogg"), "audio/ogg")
    answer = chat.say("", media=[(note, "audio/ogg")])
    assert "precisa ser digitada" in answer and "apaguei o áudio" in answer
    assert openai_server.transcriptions == [], "a voice note sent as a password went to Whisper"
    assert users.login_attempts(db, ALICE) == [], "a voice note counted as a login attempt"
    with db.session() as session:
        assert session.scalars(select(MediaObject).where(MediaObject.owner == ALICE)).all() == []
    assert not [path for path in live_app.config.media_dir.rglob("*") if path.is_file()]
    assert "Login feito" in chat.say(PASSWORD), "the login should still wait for the typed password"
    assert PASSWORD not in json.dumps(openai_server.chat_requests())


def _ledger_bodies(db, phone: str) -> list[str]:
    from storage.models import InboundMessage

    with db.session() as session:
        return [row.body for row in session.scalars(select(InboundMessage).where(InboundMessage.sender == phone)
                                                    .order_by(InboundMessage.id))]


def test_login_with_cpf_and_password_in_one_message_logs_in_without_the_model(live_app, openai_server,
                                                                             twilio_server):
    db = live_app.services.db
    make_user(db, ALICE, cpf=CPF, password=PASSWORD, logged_in=False)
    chat = _chat(live_app, twilio_server)
    wrong = chat.say(f"login {CPF} errada-de-novo-1")
    assert "incorretos" in wrong and "não foi para a IA" in wrong
    answer = chat.say(f"login {CPF} {PASSWORD}")
    print("\n" + chat.render())
    assert "Login feito! Olá, Ana" in answer and "envie só *login*" in answer
    assert users.get_user_by_phone(db, ALICE).is_logged_in()
    assert [ok for _, ok in users.login_attempts(db, ALICE)] == [False, True]
    assert openai_server.chat_requests() == [], "a message with a password reached the model"
    assert _ledger_bodies(db, ALICE) == ["[senha]", "[senha]"]
    logged = [(m.direction, m.body) for m in live_app.services.chatlog.list(phone=ALICE).items]
    assert ("in", "[senha]") in logged and not [body for _, body in logged if PASSWORD in body or "errada" in body]


def test_a_password_typed_unasked_is_kept_from_the_model_and_the_stores(live_app, openai_server, twilio_server):
    make_user(live_app.services.db, ALICE, cpf=CPF, password=PASSWORD)
    openai_server.on(r"dica", say("Estude 25 minutos e pare 5."))
    chat = _chat(live_app, twilio_server)
    answer = chat.say(f"minha senha é {PASSWORD}, anota aí")
    assert "trazia uma senha" in answer and "não foi para a IA" in answer
    assert "25 minutos" in chat.say("me dá uma dica de estudo"), "ordinary messages still go to the model"
    sent = json.dumps(openai_server.chat_requests(), ensure_ascii=False)
    assert PASSWORD not in sent and "dica de estudo" in sent
    assert _ledger_bodies(live_app.services.db, ALICE)[0] == "[senha]"


def test_a_password_typed_with_the_cpf_at_the_cpf_step_is_redacted(live_app, openai_server, twilio_server):
    make_user(live_app.services.db, ALICE, cpf=CPF, password=PASSWORD, logged_in=False)
    openai_server.on(r"quero entrar", tool("login"))
    chat = _chat(live_app, twilio_server)
    assert "digite seu CPF" in chat.say("quero entrar")
    answer = chat.say(f"{CPF} {PASSWORD}")
    assert "digite sua senha" in answer and "trazia uma senha" in answer
    assert "Login feito" in chat.say(PASSWORD)
    bodies = [m.body for m in live_app.services.chatlog.list(phone=ALICE).items]
    assert not [body for body in bodies if PASSWORD in body] and bodies.count("[senha]") == 2
    assert PASSWORD not in json.dumps(openai_server.chat_requests())


def test_a_voice_note_saying_a_password_unasked_is_deleted_and_kept_from_the_model(live_app, openai_server,
                                                                                  twilio_server):
    from storage.models import MediaObject
    from tests.fixtures.media import voice_note

    db = live_app.services.db
    make_user(db, ALICE, cpf=CPF, password=PASSWORD, logged_in=False)
    openai_server.transcript_text = f"login {CPF} {PASSWORD}"
    chat = _chat(live_app, twilio_server)
    note = twilio_server.add_media(None, voice_note("ogg"), "audio/ogg")
    answer = chat.say("", media=[(note, "audio/ogg")])
    assert "trazia uma senha" in answer and "Login feito" not in answer, "a spoken password logged in"
    assert openai_server.chat_requests() == [] and users.login_attempts(db, ALICE) == []
    with db.session() as session:
        assert session.scalars(select(MediaObject).where(MediaObject.owner == ALICE)).all() == []
    assert not [path for path in live_app.config.media_dir.rglob("*") if path.is_file()]
