"""Without a model (no key) and with the model server failing: every plain command works, with a notice."""
from __future__ import annotations

from datetime import timedelta

import pytest

from common.clock import utcnow
from storage import ledger, users
from tests.e2e.conversation import Conversation
from tests.fixtures.media import make_jpeg

pytestmark = pytest.mark.slow
ALICE = "+5511999990001"
CPF = "529.982.247-25"
PASSWORD = "girassol-azul-2024"
NOTICES = {"no key": "não está configurada", "model down": "indisponível"}


@pytest.fixture(params=list(NOTICES))
def mode(request, make_live_app, openai_server):
    """An assistant with no OPENAI_API_KEY, or with a model server that answers 500 to everything."""
    if request.param == "no key":
        live = make_live_app(with_model=False)
    else:
        openai_server.fail_status = 500
        live = make_live_app()
    return request.param, live


def test_every_plain_command_end_to_end(mode, twilio_server, openai_server):
    name, live = mode
    notice = NOTICES[name]
    live.services.chatlog.append(ALICE, "Consulta no dentista dia 12", "in", None,
                                 created_at=utcnow() - timedelta(days=30))
    chat = Conversation(live, twilio_server, ALICE)
    help_text = chat.say("ajuda")
    assert notice in help_text and "minhas listas" in help_text and "histórico" in help_text
    assert notice in chat.say("NÃO POSSUO CADASTRO") and "nome completo" in chat.transcript[-1][1]
    assert "CPF" in chat.say("Ana Souza")
    assert "senha" in chat.say(CPF)
    assert "Cadastro concluído" in chat.say(PASSWORD)
    assert notice in chat.say("sair da conta") and "saiu" in chat.transcript[-1][1]
    assert "CPF" in chat.say("login")
    assert "senha" in chat.say(CPF)
    assert "Login feito" in chat.say(PASSWORD)
    photo = twilio_server.add_media(None, make_jpeg("cachorro"), "image/jpeg")
    saved = chat.say("meu cachorro na praia", media=[(photo, "image/jpeg")])
    assert notice in saved and "Salvei" in saved
    before = len(twilio_server.messages(to=f"whatsapp:{ALICE}"))
    assert notice in chat.say("mostre fotos de cachorro")
    assert any(m.media_urls for m in twilio_server.messages(to=f"whatsapp:{ALICE}")[before:])
    made = chat.say("lista: comprar pão; ligar para a mãe; caminhar 20 min")
    assert notice in made and "1. ☐ comprar pão" in made
    assert "3. ☐ caminhar 20 min" in chat.say("minhas listas")
    assert "2. ☑ ligar para a mãe" in chat.say("feito 2")
    found = chat.say("histórico dentista")
    assert notice in found and "Consulta no dentista dia 12" in found
    if name == "model down":
        print("\n" + chat.render())
    assert "já tem uma conta" in chat.say("cadastro")
    assert "saiu" in chat.say("sair da conta")
    inline = chat.say(f"login {CPF} {PASSWORD}")
    assert "Login feito" in inline and "não foi para a IA" in inline
    assert PASSWORD not in "".join(m.body for m in live.services.chatlog.list(phone=ALICE, per_page=500).items)
    assert users.get_user_by_phone(live.services.db, ALICE).is_logged_in()
    assert set(ledger.backlog(live.services.db).counts) == {"done"}, "every message was answered and kept"
    assert live.services.chatlog.count(ALICE) >= len(chat.transcript) + 1
