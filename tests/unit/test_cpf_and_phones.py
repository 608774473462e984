"""CPF check digits, masking and redaction; canonical WhatsApp numbers."""
import pytest

from common.cpf import cpf_problem, is_valid_cpf, mask_cpf, mask_cpfs_in_text, normalize_cpf
from common.phones import mask_phone, normalize_phone, whatsapp_address

VALID = "529.982.247-25"


@pytest.mark.parametrize("raw", [VALID, "52998224725", " 529982247-25 "])
def test_valid_cpfs_with_or_without_punctuation(raw):
    assert is_valid_cpf(raw) and cpf_problem(raw) is None
    assert normalize_cpf(raw) == "52998224725"


@pytest.mark.parametrize("raw, reason", [
    ("529.982.247-24", "verificadores"), ("111.111.111-11", "iguais"), ("5299822", "11 dígitos"), ("", "11 dígitos"),
])
def test_invalid_cpfs_have_a_clear_reason(raw, reason):
    assert not is_valid_cpf(raw)
    assert reason in cpf_problem(raw)


def test_masking():
    assert mask_cpf(VALID) == "***.982.247-**"
    assert mask_cpfs_in_text(f"meu cpf é {VALID} e o telefone 11999998888") == \
        "meu cpf é ***.982.247-** e o telefone 11999998888"
    assert mask_cpfs_in_text("número 52998224724 inválido fica") == "número 52998224724 inválido fica"


@pytest.mark.parametrize("raw", ["whatsapp:+5511999998888", "+55 (11) 99999-8888", "5511999998888"])
def test_phone_forms_are_one(raw):
    assert normalize_phone(raw) == "+5511999998888"


def test_phone_helpers():
    assert whatsapp_address("5511999998888") == "whatsapp:+5511999998888"
    assert mask_phone("+5511999998888") == "+55*******8888"
    with pytest.raises(ValueError):
        normalize_phone("whatsapp:abc")
