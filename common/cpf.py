"""Brazilian CPF numbers: validation by check digits, normalisation, masking, redaction in text."""
from __future__ import annotations

import re

CPF_IN_TEXT = re.compile(r"(?<!\d)(\d{3}\.?\d{3}\.?\d{3}-?\d{2})(?!\d)")


def normalize_cpf(raw: str) -> str:
    """Keep only the digits: `123.456.789-09` -> `12345678909`."""
    return re.sub(r"\D", "", raw or "")


def _check_digit(digits: str) -> int:
    weight = len(digits) + 1
    total = sum(int(d) * (weight - i) for i, d in enumerate(digits))
    rest = (total * 10) % 11
    return 0 if rest == 10 else rest


def is_valid_cpf(raw: str) -> bool:
    """True when `raw` has 11 digits, not all the same, with both check digits right."""
    digits = normalize_cpf(raw)
    if len(digits) != 11 or digits == digits[0] * 11:
        return False
    return _check_digit(digits[:9]) == int(digits[9]) and _check_digit(digits[:10]) == int(digits[10])


def cpf_problem(raw: str) -> str | None:
    """A user-facing reason why `raw` is not a valid CPF, or None when it is valid."""
    digits = normalize_cpf(raw)
    if len(digits) != 11:
        return "O CPF precisa ter 11 dígitos."
    if digits == digits[0] * 11:
        return "Esse CPF não é válido (todos os dígitos iguais)."
    if not is_valid_cpf(digits):
        return "Esse CPF não é válido: os dígitos verificadores não conferem."
    return None


def mask_cpf(raw: str) -> str:
    """`12345678909` -> `***.456.789-**`: enough to recognise, not enough to reuse."""
    digits = normalize_cpf(raw)
    if len(digits) != 11:
        return "***"
    return f"***.{digits[3:6]}.{digits[6:9]}-**"


def mask_cpfs_in_text(text: str) -> str:
    """Mask every valid CPF written in free text, with or without punctuation."""
    def replace(match: re.Match) -> str:
        return mask_cpf(match.group(1)) if is_valid_cpf(match.group(1)) else match.group(1)

    return CPF_IN_TEXT.sub(replace, text or "")


def valid_cpfs_in_text(text: str) -> list[str]:
    """Every valid CPF written in free text, normalised, in order."""
    return [normalize_cpf(m.group(1)) for m in CPF_IN_TEXT.finditer(text or "") if is_valid_cpf(m.group(1))]
