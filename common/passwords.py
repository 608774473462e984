"""Password rules and argon2id hashing (argon2-cffi).

Production uses argon2-cffi's RFC 9106 defaults (argon2id, 64 MiB, 3 passes). The fast profile
exists only so test suites can create hundreds of users; the config refuses any other name.
"""
from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PRODUCTION = "production"
FAST_INSECURE_TESTS = "fast-insecure-tests"
MIN_LENGTH = 8
MAX_LENGTH = 128


@lru_cache(maxsize=None)
def password_hasher(profile: str = PRODUCTION) -> PasswordHasher:
    """The argon2id hasher of a profile: production parameters unless the fast test profile is named."""
    if profile == FAST_INSECURE_TESTS:
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    if profile != PRODUCTION:
        raise ValueError(f"unknown password hash profile {profile!r}")
    return PasswordHasher()


def password_problem(password: str) -> str | None:
    """A user-facing reason why `password` cannot be used, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"A senha precisa ter pelo menos {MIN_LENGTH} caracteres."
    if len(password) > MAX_LENGTH:
        return f"A senha pode ter no máximo {MAX_LENGTH} caracteres."
    if not password.strip() or len(set(password)) == 1:
        return "Essa senha é fácil demais de adivinhar; escolha outra."
    return None


def hash_password(password: str, profile: str = PRODUCTION) -> str:
    """The argon2id hash (PHC string, salt included) of `password`."""
    return password_hasher(profile).hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when `password` matches `stored_hash`; a malformed hash is a mismatch, never an error."""
    try:
        return PasswordHasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str, profile: str = PRODUCTION) -> bool:
    """True when `stored_hash` was made with other parameters than the profile's (upgrade at login)."""
    try:
        return password_hasher(profile).check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=None)
def _dummy_hash(profile: str) -> str:
    return hash_password("not-a-real-password", profile)


def spend_verify_time(password: str, profile: str = PRODUCTION) -> None:
    """Verify against a throwaway hash, so an unknown CPF takes as long to refuse as a wrong password."""
    verify_password(_dummy_hash(profile), password)
