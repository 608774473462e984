"""Password rules and argon2id hashing profiles."""
import pytest
from argon2 import PasswordHasher

from common.passwords import (FAST_INSECURE_TESTS, PRODUCTION, hash_password, needs_rehash, password_hasher,
                              password_problem, verify_password)


def test_production_profile_is_argon2id_with_library_defaults():
    hashed = hash_password("uma senha longa", PRODUCTION)
    assert hashed.startswith("$argon2id$")
    assert "m=65536,t=3,p=4" in hashed
    assert verify_password(hashed, "uma senha longa")
    assert not verify_password(hashed, "outra senha")


def test_fast_profile_only_by_name_and_still_argon2id():
    hashed = hash_password("uma senha longa", FAST_INSECURE_TESTS)
    assert hashed.startswith("$argon2id$") and "t=1" in hashed
    assert verify_password(hashed, "uma senha longa")
    assert needs_rehash(hashed, PRODUCTION) and not needs_rehash(hashed, FAST_INSECURE_TESTS)
    with pytest.raises(ValueError):
        password_hasher("fast")


def test_hashes_are_salted_and_never_contain_the_password():
    first, second = hash_password("segredo-123", FAST_INSECURE_TESTS), hash_password("segredo-123", FAST_INSECURE_TESTS)
    assert first != second and "segredo-123" not in first


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$broken"])
def test_a_malformed_hash_is_a_mismatch_not_an_error(stored):
    assert verify_password(stored, "qualquer coisa") is False


@pytest.mark.parametrize("password, ok", [
    ("1234567", False), ("12345678", True), ("aaaaaaaaaa", False), ("        ", False), ("x" * 129, False),
    ("minha senha boa", True),
])
def test_password_rules(password, ok):
    assert (password_problem(password) is None) is ok


def test_library_verify_reads_parameters_from_the_hash():
    assert PasswordHasher().verify(hash_password("abcdefgh", FAST_INSECURE_TESTS), "abcdefgh")
