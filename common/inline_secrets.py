"""Passwords typed where nobody asked for one: "login 529.982.247-25 girassol-2024", "minha senha é X".

The server asks for a password in a message of its own and captures that message outside the
model (agent/flows.py). Users still type credentials in one go, as many bots ask them to; such a
message must not reach the model or any store either. These are the shapes looked for:

- a login word first ("login", "entrar", "acessar", "logar"), then a CPF and one more word: that
  word is the password (`asks_login`, with the CPF);
- a CPF and one password-like word, and nothing else (typed at the CPF step of a dialogue);
- "senha: X" or "senha = X" (any X), and "senha X" or "minha senha é X" where X looks like a password;
- a login word and one password-like word ("login Girassol#2024").

"Password-like": at least 6 characters, no spaces, and a digit, a symbol, or upper and lower case
letters. Plain words ("minha senha expirou", "entrar na minha conta") are left alone: the model
may read them. Nothing here can spot a password that looks like an ordinary word; the notice the
user gets says to send *login* and type the password when asked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .cpf import CPF_IN_TEXT, valid_cpfs_in_text

_LOGIN_FIRST = re.compile(r"^\s*(?:(?:quero|fazer|faça|faz|pode)\s+)*(?:o\s+)?"
                          r"(?:login|log-in|logar|loga|logon|entrar|acessar)\b[\s:,.;!-]*", re.I)
_FILLER = {"cpf", "senha", "password", "meu", "minha", "com", "e", "é", "eh", "na", "no", "conta", "a", "o", "de",
           "do", "da", "pelo", "pela", "por", "favor", "sou", "aqui", "minhas", "meus", "credenciais", "dados"}
_SENHA = re.compile(r"\b(?:senha|password)(?:\s+d[oae]\s+\S+)?"
                    r"(?P<sep>\s*[:=]\s*|\s+(?:(?:é|e|eh|era|seria|atual|nova)\s*:?\s*)?)(?P<word>\S+)", re.I)
_EDGE = ".,;!?\"'()[]{}*_~"
_QUOTES = "\"'“”‘’`"
_MIN_LENGTH = 6
_SHORT = 200  # characters: "login <cpf> <senha>" with all its filler words fits many times over


@dataclass(frozen=True)
class InlinePassword:
    """A password found in a message: the word taken for it, the valid CPF beside it (normalised)
    if any, and whether the message asks to log in with exactly these two."""

    password: str
    cpf: str | None = None
    asks_login: bool = False


def looks_like_password(word: str) -> bool:
    """A word a person would not write in a sentence: long enough, and a digit, a symbol or mixed case."""
    if len(word) < _MIN_LENGTH or any(c.isspace() for c in word):
        return False
    has_digit = any(c.isdigit() for c in word)
    has_symbol = any(not c.isalnum() for c in word)
    mixed_case = any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
    return has_digit or has_symbol or mixed_case


def _words(text: str) -> list[str]:
    """The words of `text` as typed (quotes around them dropped), less CPFs, filler ("meu cpf é",
    "senha:") and bare punctuation."""
    words = []
    for raw in CPF_IN_TEXT.sub(" ", text).split():
        bare = raw.strip(_EDGE + ":=-")
        if bare and bare.lower() not in _FILLER:
            words.append(raw.strip(_QUOTES) or raw)
    return words


def _explicit(match: re.Match) -> bool:
    """ "senha: X" or "senha = X": whatever X is, it was given as the password."""
    return any(c in match.group("sep") for c in ":=")


def find_inline_password(text: str) -> InlinePassword | None:
    """The password typed in `text` in one of the shapes above, or None."""
    if not text or not text.strip():
        return None
    cpf = next(iter(valid_cpfs_in_text(text)), None)
    login = _LOGIN_FIRST.match(text)
    rest = _words(text[login.end():] if login else text) if len(text) <= _SHORT else []
    if len(rest) == 1 and ((cpf and login) or (looks_like_password(rest[0].strip(_EDGE)) and (cpf or login))):
        return InlinePassword(rest[0], cpf, asks_login=bool(cpf and login))
    for match in _SENHA.finditer(text):
        typed = match.group("word")
        word = typed.strip(_EDGE + ":=")
        if looks_like_password(word) or (_explicit(match) and word and word.lower() not in _FILLER
                                         and "?" not in (typed + text[match.end():]).split("\n")[0]):
            return InlinePassword(typed.strip(_QUOTES).rstrip(",;") or typed, cpf)
    return None
