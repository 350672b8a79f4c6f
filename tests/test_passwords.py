"""Password rules and hashing (SPEC §4): length, any script, every character, common list."""

from __future__ import annotations

import pytest

from app.accounts import passwords


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",  # spaces are fine
        "日本語のパスワードです日本語",  # any script; 14 characters
        "пароль-очень-длинный",
        "🔑🔑🔑🔐🔐🔐🗝️🗝️🗝️🔓🔓🔓",
        "x" * 40 + "y" * 40 + "z" * 48,  # exactly 128
    ],
)
def test_acceptable_passwords(password):
    assert passwords.password_problem(password) is None


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 12"),
        ("a" * 11 + "b", "too common"),  # fewer than three distinct characters
        ("x" * 129, "at most 128"),
        ("password1234", "too common"),
        ("PASSWORD1234", "too common"),
        ("qwerty123456", "too common"),  # from zxcvbn's list
        ("1qaz2wsx3edc", "too common"),
    ],
)
def test_refused_passwords(password, reason):
    assert reason in passwords.password_problem(password)


def test_password_equal_to_email_or_name_is_refused():
    assert "email" in passwords.password_problem("learner.person", email="learner.person@x.org")
    assert "name" in passwords.password_problem("Ada Lovelace 1815", name="ada lovelace 1815")


def test_every_character_counts_beyond_bcrypt_72_bytes():
    base = "é" * 60  # 120 bytes in UTF-8: bcrypt alone would read only the first 72
    hashed = passwords.hash_password(base + "a", rounds=4)
    assert passwords.check_password(base + "a", hashed)
    assert not passwords.check_password(base + "b", hashed)
    assert not passwords.check_password(base, hashed)


def test_unicode_normalisation_makes_equivalent_input_match():
    composed, decomposed = "caf\u00e9 au lait rouge", "cafe\u0301 au lait rouge"
    hashed = passwords.hash_password(composed, rounds=4)
    assert passwords.check_password(decomposed, hashed)


def test_default_cost_is_twelve_rounds(app):
    assert app.config["BCRYPT_ROUNDS"] == 4  # tests run fast...
    from app.config import Settings

    assert Settings().bcrypt_rounds == 12  # ...the product does not
    assert passwords.hash_password("some long password", 12).startswith("$2b$12$")


def test_check_password_handles_missing_or_broken_hashes():
    assert not passwords.check_password("anything at all", None)
    assert not passwords.check_password("anything at all", "")
    assert not passwords.check_password("anything at all", "not-a-bcrypt-hash")
