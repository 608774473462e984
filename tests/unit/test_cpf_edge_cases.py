"""CPF edge cases the registration and login flows rely on, and the test factory's generator."""
import pytest

from common.cpf import cpf_problem, is_valid_cpf, mask_cpf, mask_cpfs_in_text, normalize_cpf
from tests.factories import valid_cpf


@pytest.mark.parametrize("digit", "0123456789")
def test_every_all_same_digit_number_is_refused(digit):
    assert not is_valid_cpf(digit * 11)
    assert "iguais" in cpf_problem(digit * 11)


@pytest.mark.parametrize("raw, reason", [
    ("529.982.247-2", "11 dígitos"), ("529.982.247-255", "11 dígitos"), ("abc", "11 dígitos"),
    ("529.982.247-35", "verificadores"), ("529 982 247 25", None), ("529-982-247.25", None),
])
def test_length_check_digits_and_separators(raw, reason):
    problem = cpf_problem(raw)
    assert (problem is None) if reason is None else (reason in problem)


def test_a_check_digit_of_ten_becomes_zero():
    cpfs = [valid_cpf(seed) for seed in range(400)]
    assert any(c[9] == "0" for c in cpfs) and any(c[10] == "0" for c in cpfs)
    assert all(is_valid_cpf(c) for c in cpfs)


def test_valid_cpf_is_deterministic_and_formatted_on_request():
    assert valid_cpf(3) == valid_cpf(3) != valid_cpf(4)
    formatted = valid_cpf(3, formatted=True)
    assert normalize_cpf(formatted) == valid_cpf(3) and formatted[3] == "." and formatted[-3] == "-"


def test_masking_shows_only_the_middle_digits_even_inside_words():
    cpf = valid_cpf(9)
    assert mask_cpf(cpf) == f"***.{cpf[3:6]}.{cpf[6:9]}-**"
    text = mask_cpfs_in_text(f"cpf:{cpf}, ok")
    assert cpf not in text and mask_cpf(cpf) in text
