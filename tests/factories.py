"""Test data made through the real storage functions: users (fast argon2id hash) and valid CPFs.

    from tests.factories import make_user, valid_cpf
    user = make_user(live_app.services.db, "+5511999990001")            # registered and logged in
    make_user(db, "+5511999990002", cpf=valid_cpf(7), logged_in=False)  # registered, must log in
"""
from __future__ import annotations

import random
from datetime import timedelta

from common.cpf import _check_digit
from common.passwords import FAST_INSECURE_TESTS, hash_password
from storage.db import Database
from storage.users import UserRecord, create_user, get_user_by_phone, mark_logged_in

DEFAULT_PASSWORD = "senha-segura-123"


def valid_cpf(seed: int = 0, formatted: bool = False) -> str:
    """A valid CPF (right check digits, not all the same digit), the same for the same seed."""
    rng = random.Random(f"cpf-{seed}")
    while True:
        base = "".join(str(rng.randint(0, 9)) for _ in range(9))
        if base != base[0] * 9:
            break
    first = _check_digit(base)
    digits = f"{base}{first}{_check_digit(base + str(first))}"
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}" if formatted else digits


def make_user(db: Database, phone: str, name: str = "Ana Teste", cpf: str | None = None,
              password: str = DEFAULT_PASSWORD, logged_in: bool = True) -> UserRecord:
    """Register `phone` (CPF generated from the phone when not given); logged in for 30 days by default."""
    cpf = cpf or valid_cpf(int("".join(c for c in phone if c.isdigit())))
    user = create_user(db, phone, name, "".join(c for c in cpf if c.isdigit()),
                       hash_password(password, FAST_INSECURE_TESTS))
    if logged_in:
        mark_logged_in(db, user.id, timedelta(hours=720))
    return get_user_by_phone(db, phone)
