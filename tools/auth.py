"""Logging in: the `login`/`logout` tools, the login flow, and the check every personal-data tool makes.

    from tools.auth import require_login
    user = require_login(ctx)   # raises ToolRefusal with how to register or log in

The login flow asks for the CPF and then the password itself, outside the model; the password
message is redacted everywhere and only compared with the stored argon2id hash.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from agno.run import RunContext

from agent.context import TurnContext, turn_context
from agent.flows import keep_out, register_flow, register_screen
from agent.turn import Reply
from common.clock import utcnow
from common.cpf import cpf_problem, normalize_cpf
from common.inline_secrets import find_inline_password
from common.passwords import hash_password, needs_rehash, spend_verify_time, verify_password
from storage import users
from storage.conversation import Flow, clear_flow, set_flow
from storage.ledger import REDACTED
from storage.users import UserRecord

from .errors import ToolRefusal, tool_errors

log = logging.getLogger(__name__)
NOT_REGISTERED = ("Para isso você precisa de uma conta. Envie *NÃO POSSUO CADASTRO* (ou *cadastro*) para se "
                  "cadastrar com nome, CPF e senha. Se já tem conta neste número, envie *login*.")
NOT_LOGGED_IN = ("Para isso você precisa entrar na sua conta. Envie *login* e eu peço seu CPF e sua senha "
                 "(a senha não passa pela IA).")
NO_ACCOUNT = ("Este número ainda não tem cadastro. Envie *NÃO POSSUO CADASTRO* (ou *cadastro*) para se "
              "cadastrar com nome, CPF e senha.")
WRONG = "CPF ou senha incorretos. Envie *login* para tentar de novo."
CANCEL = re.compile(r"^\s*(cancelar|cancela|cancel|desistir|parar)\s*[.!]*\s*$", re.I)
HINT = "\n(Envie *cancelar* para desistir.)"
# A voice note sent as a password holds it: it is refused and deleted (worker/turns.py), never tried.
SPOKEN_PASSWORD = "Por segurança, a senha precisa ser digitada, não falada; apaguei o áudio."


def ask(ctx: TurnContext, step: str, question: str, data: dict, before: str = "") -> str:
    """Move the sender's flow to `step` and return the question (with a reason first, if any)."""
    set_flow(ctx.services.db, ctx.sender, step, data)
    return f"{before} {question}".strip() + HINT


def cpf_in_message(ctx: TurnContext) -> tuple[str | None, str | None]:
    """(normalised CPF, None) from the message, or (None, reason) when it holds no valid CPF."""
    if ctx.turn.cpfs:
        return ctx.turn.cpfs[0], None
    return None, cpf_problem(normalize_cpf(ctx.turn.raw_text))


def locked_text(until: datetime) -> str:
    """The lockout message, with the minutes left."""
    minutes = max(1, int((until - utcnow()).total_seconds() // 60) + 1)
    return f"Muitas tentativas de login sem sucesso. Por segurança, tente de novo em {minutes} minuto(s)."


def current_user(ctx: TurnContext) -> UserRecord | None:
    """The account of the sender's phone (logged in or not), or None (as of the turn's snapshot
    unless the turn changed it: `TurnContext.account`)."""
    return ctx.account()


def require_login(ctx: TurnContext) -> UserRecord:
    """The sender's account when its login is still valid; otherwise refuse with how to register or log in."""
    user = current_user(ctx)
    if user is None:
        raise ToolRefusal(NOT_REGISTERED)
    if not user.is_logged_in():
        raise ToolRefusal(NOT_LOGGED_IN)
    return user


def already_logged_in(user: UserRecord) -> str:
    """The answer to a login asked for while the login is still valid."""
    return f"Você já está conectado(a), {user.name.split()[0]}, até {user.logged_in_until:%d/%m/%Y}."


def start_login(ctx: TurnContext) -> str:
    """Start a login for the sender's phone (CPF, then password); returns the first question."""
    user = current_user(ctx)
    if user is None:
        raise ToolRefusal(NO_ACCOUNT)
    if user.is_logged_in():
        return already_logged_in(user)
    until = users.locked_until(ctx.services.db, ctx.sender)
    if until is not None:
        raise ToolRefusal(locked_text(until))
    if ctx.turn.cpfs:
        return ask(ctx, "login:password", "Agora digite sua senha (ela não passa pela IA).", {"cpf": ctx.turn.cpfs[0]})
    return ask(ctx, "login:cpf", "Para entrar, digite seu CPF.", {})


@register_flow("login", secret_steps=("login:password",))
def login_step(ctx: TurnContext, flow: Flow) -> Reply:
    """Handle one answer of the login dialogue (CPF, then password)."""
    if CANCEL.match(ctx.turn.raw_text):
        clear_flow(ctx.services.db, ctx.sender)
        return Reply(texts=["Login cancelado."], inbound_for_log=ctx.turn.text)
    if flow.name == "login:password":
        return Reply(texts=[check_password(ctx, flow.data.get("cpf", ""))], inbound_for_log=REDACTED, secret=True)
    cpf, problem = cpf_in_message(ctx)
    if problem:
        return Reply(texts=[ask(ctx, flow.name, "Digite o CPF de novo.", {}, problem)], inbound_for_log=ctx.turn.text)
    text = ask(ctx, "login:password", "Agora digite sua senha (ela não passa pela IA).", {"cpf": cpf})
    return Reply(texts=[text], inbound_for_log=ctx.turn.text)


def check_password(ctx: TurnContext, cpf: str) -> str:
    """The login flow's password step: a spoken password is refused, a typed one verified."""
    if ctx.turn.spoken:
        return ask(ctx, "login:password", "Digite sua senha (ela não passa pela IA).", {"cpf": cpf}, SPOKEN_PASSWORD)
    clear_flow(ctx.services.db, ctx.sender)
    return verify_login(ctx, cpf, ctx.turn.raw_text.strip())


def verify_login(ctx: TurnContext, cpf: str, password: str) -> str:
    """Try CPF + password for the sender's phone: the lockout first, then the hash; every try is recorded."""
    db, profile, phone = ctx.services.db, ctx.services.config.password_hash_profile, ctx.sender
    until = users.locked_until(db, phone, cpf)
    if until is not None:
        users.record_login_attempt(db, phone, cpf, False)
        return locked_text(until)
    user = users.get_user_by_cpf(db, cpf)
    stored = users.password_hash_of(db, user.id) if user is not None and user.phone == phone else None
    if stored:
        ok = verify_password(stored, password)
    else:
        spend_verify_time(password, profile)
        ok = False
    users.record_login_attempt(db, phone, cpf, ok, user.id if user else None)
    if not ok:
        log.info("failed login for the phone ending %s", phone[-4:])
        until = users.locked_until(db, phone, cpf)
        return locked_text(until) if until else WRONG
    if needs_rehash(stored, profile):
        users.set_password_hash(db, user.id, hash_password(password, profile))
    user = users.mark_logged_in(db, user.id, timedelta(hours=ctx.services.config.auth_ttl_hours))
    ctx.account_changed()
    return f"✅ Login feito! Olá, {user.name.split()[0]}. Você fica conectado(a) até {user.logged_in_until:%d/%m/%Y}."


@register_screen
def password_typed_unasked(ctx: TurnContext) -> Reply | None:
    """A message holding a password nobody asked for never reaches the model: "login <cpf> <senha>"
    logs in here (a typed one; a spoken one is only deleted), anything else is only kept out."""
    found = find_inline_password(ctx.turn.raw_text)
    if found is None:
        return None
    log.info("a message of the phone ending %s held a password; kept from the model and redacted", ctx.sender[-4:])
    reply = Reply()
    for problem in ctx.turn.notices:
        reply.add(problem)
    if found.asks_login and found.cpf and not ctx.turn.spoken:
        reply.add(login_in_one_message(ctx, found.cpf, found.password))
    return keep_out(reply)


def login_in_one_message(ctx: TurnContext, cpf: str, password: str) -> str:
    """ "login <cpf> <senha>": the same checks as the login flow, without its two questions."""
    user = current_user(ctx)
    if user is None:
        return NO_ACCOUNT
    if user.is_logged_in():
        return already_logged_in(user)
    return verify_login(ctx, cpf, password)


def sign_out(ctx: TurnContext) -> str:
    """End the sender's login session."""
    ctx.account_changed()
    return "Você saiu da conta." if users.log_out(ctx.services.db, ctx.sender) else "Você não estava conectado(a)."


@tool_errors
def login(run_context: RunContext) -> str:
    """Start a login (CPF + password) for the user who is writing.

    The system asks for the CPF and the password itself and captures the answers outside the
    conversation: never ask for them yourself. Relay the returned question to the user.
    """
    return start_login(turn_context(run_context))


@tool_errors
def logout(run_context: RunContext) -> str:
    """Log the user who is writing out of their account."""
    return sign_out(turn_context(run_context))
