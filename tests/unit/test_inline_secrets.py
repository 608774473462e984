"""Which messages are taken to hold a password typed where none was asked for (common/inline_secrets.py)."""
from __future__ import annotations

import pytest

from common.inline_secrets import InlinePassword, find_inline_password, looks_like_password

CPF = "52998224725"


@pytest.mark.parametrize("text, found", [
    ("login 529.982.247-25 girassol-azul-2024", InlinePassword("girassol-azul-2024", CPF, asks_login=True)),
    ("Login 52998224725 Senha123!", InlinePassword("Senha123!", CPF, asks_login=True)),
    ("quero entrar, cpf 52998224725 senha abc12345", InlinePassword("abc12345", CPF, asks_login=True)),
    ("entrar 529.982.247-25 gato", InlinePassword("gato", CPF, asks_login=True)),
    ("quero fazer login 52998224725 gato", InlinePassword("gato", CPF, asks_login=True)),
    ("52998224725 abc12345", InlinePassword("abc12345", CPF)),
    ("login Girassol#2024", InlinePassword("Girassol#2024")),
    ("minha senha é abc12345", InlinePassword("abc12345")),
    ("minha senha do app é Pato!2024, guarda pra mim", InlinePassword("Pato!2024")),
    ("senha: girassol", InlinePassword("girassol")),
    ("password=hunter2", InlinePassword("hunter2")),
    ('senha: "Azul 2024"', InlinePassword("Azul")),
    ("meu nome é Ana, cpf 52998224725 e senha Abcdefgh1", InlinePassword("Abcdefgh1", CPF)),
])
def test_a_password_typed_unasked_is_found(text, found):
    assert find_inline_password(text) == found


@pytest.mark.parametrize("text", [
    "login", "entrar na minha conta", "quero fazer login por favor", "login agora", "entrar 52998224725",
    "meu cpf é 529.982.247-25", "529.982.247-25 Ana", "esqueci minha senha", "minha senha expirou",
    "minha senha é muito fraca", "como crio uma senha forte?", "senha forte: 8 caracteres", "A senha: qual usar?",
    "oi, tudo bem?", "lista bench 3: organize minha semana", "salva essa foto: praia 2024",
    "NÃO POSSUO CADASTRO. Sou Ana Lima, CPF 529.982.247-25", "", "   ",
])
def test_ordinary_messages_are_left_to_the_model(text):
    assert find_inline_password(text) is None


@pytest.mark.parametrize("word, expected", [
    ("abc12345", True), ("Girassol", False), ("giraSSol", True), ("a-b-c-d", True), ("12345", False),
    ("semana", False), ("ab cd12", False),
])
def test_what_looks_like_a_password(word, expected):
    assert looks_like_password(word) is expected
