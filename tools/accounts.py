"""Accounts: `register_user` and its server-side flow (name, CPF, password), plus the account commands.

The tool only starts the flow and returns the first question. The answers go to the flow handler
below, outside the model; the password message is redacted everywhere and only its argon2id hash
is kept. Logging in lives in `tools.auth`.
"""
from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Optional

from agno.run import RunContext

from agent.context import TurnContext, turn_context
from agent.flows import register_flow
from agent.turn import Reply
from common.passwords import hash_password, password_problem
from storage import users
from storage.conversation import Flow, clear_flow
from storage.ledger import REDACTED

from .auth import CANCEL, SPOKEN_PASSWORD, ask, cpf_in_message, current_user, login, logout, sign_out, start_login
from .errors import ToolRefusal, tool_errors

log = logging.getLogger(__name__)
NAME_PREFIX = re.compile(r"^\s*(meu nome (é|e)|me chamo|eu sou|sou)\s+", re.I)
NAME = re.compile(r"^[^\W\d_]+(?:[ '’.\-]+[^\W\d_]+)*$")
QUESTIONS = {
    "register:name": "Vamos criar sua conta! Qual é o seu nome completo?",
    "register:cpf": "Qual é o seu CPF? Pode ser com ou sem pontos.",
    "register:password": ("Agora crie uma senha de pelo menos 8 caracteres e envie aqui. Ela é guardada só "
                          "como hash e não passa pela IA. Depois, se quiser, apague a mensagem da senha."),
}
RETRY = {"register:name": QUESTIONS["register:name"].split("! ")[1], "register:cpf": "Digite o CPF de novo.",
         "register:password": "Digite a senha de novo."}
CPF_TAKEN = "Esse CPF já tem cadastro em outro número. Confira o número digitado."


def clean_name(text: str) -> str | None:
    """A person's name from what they typed ("meu nome é Ana Souza" -> "Ana Souza"), or None."""
    name = " ".join(NAME_PREFIX.sub("", text or "").split()).strip(" .!")
    return name if 2 <= len(name) <= 120 and NAME.match(name) else None


def _ask(ctx: TurnContext, step: str, data: dict, problem: str = "") -> str:
    return ask(ctx, step, RETRY[step] if problem else QUESTIONS[step], data, problem)


def start_registration(ctx: TurnContext, name: str | None = None) -> str:
    """Start (or restart) registration for the sender's phone; returns the first question."""
    user = current_user(ctx)
    if user is not None:
        state = "e você está conectado(a)" if user.is_logged_in() else "— envie *login* para entrar"
        raise ToolRefusal(f"Este número já tem uma conta, em nome de {user.name} (CPF {user.masked_cpf}), "
                          f"{state}. Cada número pode ter só uma conta.")
    data: dict = {}
    if name and clean_name(name):
        data["name"] = clean_name(name)
    if ctx.turn.cpfs and users.get_user_by_cpf(ctx.services.db, ctx.turn.cpfs[0]) is None:
        data["cpf"] = ctx.turn.cpfs[0]
    step = "register:name" if "name" not in data else "register:cpf" if "cpf" not in data else "register:password"
    return _ask(ctx, step, data)


@register_flow("register", secret_steps=("register:password",))
def registration_step(ctx: TurnContext, flow: Flow) -> Reply:
    """Handle one answer of the registration dialogue (name, CPF, then password)."""
    step, data = flow.name, dict(flow.data)
    if CANCEL.match(ctx.turn.raw_text):
        clear_flow(ctx.services.db, ctx.sender)
        return Reply(texts=["Cadastro cancelado. Quando quiser, envie *cadastro*."], inbound_for_log=ctx.turn.text)
    if step == "register:password":
        return Reply(texts=[finish_registration(ctx, data)], inbound_for_log=REDACTED, secret=True)
    if step == "register:name":
        name = clean_name(ctx.turn.text)
        if name is None:
            text = _ask(ctx, step, data, "Não entendi o nome (use só letras).")
        else:
            data["name"] = name
            step = "register:password" if "cpf" in data else "register:cpf"
            text = ask(ctx, step, QUESTIONS[step], data, f"Prazer, {name.split()[0]}!")
        return Reply(texts=[text], inbound_for_log=ctx.turn.text)
    cpf, problem = cpf_in_message(ctx)
    if problem is None and users.get_user_by_cpf(ctx.services.db, cpf) is not None:
        problem = CPF_TAKEN
    if problem:
        return Reply(texts=[_ask(ctx, step, data, problem)], inbound_for_log=ctx.turn.text)
    data["cpf"] = cpf
    return Reply(texts=[_ask(ctx, "register:password", data)], inbound_for_log=ctx.turn.text)


def finish_registration(ctx: TurnContext, data: dict) -> str:
    """Hash the password just typed and create the account; the password never leaves this function."""
    if ctx.turn.spoken:
        return _ask(ctx, "register:password", data, SPOKEN_PASSWORD)
    password = ctx.turn.raw_text.strip()
    problem = password_problem(password)
    if problem:
        return _ask(ctx, "register:password", data, problem)
    config = ctx.services.config
    clear_flow(ctx.services.db, ctx.sender)
    try:
        user = users.create_user(ctx.services.db, ctx.sender, data["name"], data["cpf"],
                                 hash_password(password, config.password_hash_profile))
    except users.AccountExists as exists:
        return ("Este número já tem uma conta. Envie *login* para entrar." if exists.field == "phone"
                else "Esse CPF já tem cadastro em outro número. Envie *cadastro* para recomeçar.")
    users.mark_logged_in(ctx.services.db, user.id, timedelta(hours=config.auth_ttl_hours))
    ctx.account_changed()
    log.info("user %s registered", user.id)
    return (f"✅ Cadastro concluído, {user.name.split()[0]}! CPF {user.masked_cpf}. Você já está conectado(a) "
            "e pode guardar fotos, criar listas e consultar nossas conversas. Envie *ajuda* para ver os comandos.")


@tool_errors
def register_user(run_context: RunContext, name: Optional[str] = None) -> str:
    """Start registering the user who is writing (e.g. after "NÃO POSSUO CADASTRO" or "quero me cadastrar").

    The system itself then asks for name, CPF and password and captures the answers outside the
    conversation: never ask for the CPF or the password yourself. Relay the returned question.

    Args:
        name: The user's full name, only if they already said it.
    """
    return start_registration(turn_context(run_context), name)


@tool_errors
def _register_command(ctx: TurnContext, match: re.Match) -> str:
    return start_registration(ctx)


@tool_errors
def _login_command(ctx: TurnContext, match: re.Match) -> str:
    return start_login(ctx)


TOOLS = [register_user, login, logout]
COMMANDS = [
    (r"^\s*(n[ãa]o possuo cadastro|cadastr(o|ar|ar-me)\b|quero (me )?cadastrar|criar (uma )?conta)", _register_command),
    (r"^\s*(login|fazer login|entrar na (minha )?conta)\b", _login_command),
    (r"^\s*(logout|sair da conta|desconectar)\b", lambda ctx, match: sign_out(ctx)),
    (r"^\s*(cancelar|cancela)\b", lambda ctx, match: "Não há nenhum cadastro ou login em andamento para cancelar."),
]
