"""Password rules and hashing (SPEC §4, §9).

bcrypt reads only the first 72 bytes of its input, so the password is first
reduced with SHA-256 and base64 (44 ASCII bytes, no NUL) and that is what
bcrypt hashes: every character of a 128-character password counts.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from functools import cache
from importlib.resources import files

import bcrypt

MIN_LENGTH = 12
MAX_LENGTH = 128
# The most a client may send where an existing password is checked (sign-in, deletion):
# room for any spelling of a MAX_LENGTH password, say with every accent decomposed.
MAX_INPUT_LENGTH = 4 * MAX_LENGTH


def normalise(password: str) -> str:
    """NFC form, so the same password typed on two keyboards hashes the same."""
    return unicodedata.normalize("NFC", password)


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list: zxcvbn's 30,000 most common passwords plus our own long ones."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    ours = files("app.accounts").joinpath("data/common-passwords.txt").read_text("utf-8")
    extra = (line.strip().lower() for line in ours.splitlines())
    return frozenset(FREQUENCY_LISTS["passwords"]) | {p for p in extra if p and p[0] != "#"}


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why `password` is not acceptable, or None. No composition rules, by design."""
    password = normalise(password)
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered in common_passwords() or len(set(lowered)) < 3:
        return "This password is too common; choose a less predictable one."
    local = email.split("@", 1)[0].lower()
    if lowered in {email.lower(), local, name.strip().lower()}:
        return "Don't use your email address or name as your password."
    return None


def _prehash(password: str) -> bytes:
    digest = hashlib.sha256(normalise(password).encode("utf-8")).digest()
    return base64.b64encode(digest)


def hash_password(password: str, rounds: int | None = None) -> str:
    """A bcrypt hash of the whole password (BCRYPT_ROUNDS unless `rounds` is given)."""
    rounds = rounds or configured_rounds()
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds=rounds)).decode("ascii")


def check_password(password: str, hashed: str | None) -> bool:
    """Constant-time check; a missing hash (OAuth-only account) never matches."""
    if not hashed:
        return False
    try:
        return bcrypt.checkpw(_prehash(password), hashed.encode("ascii"))
    except ValueError:
        return False


# Checked against when the email is unknown, so a wrong email costs as much as a wrong password.
_DUMMY_HASHES: dict[int, str] = {}


def burn_time(rounds: int | None = None) -> None:
    """Spend one bcrypt check's worth of time (an unknown account costs what a known one
    does)."""
    rounds = rounds or configured_rounds()
    if rounds not in _DUMMY_HASHES:
        _DUMMY_HASHES[rounds] = hash_password("dummy-password-for-timing", rounds)
    check_password("not-the-password", _DUMMY_HASHES[rounds])


def configured_rounds() -> int:
    """The bcrypt cost from the settings (BCRYPT_ROUNDS; tests use fewer)."""
    from flask import current_app

    return int(current_app.config["BCRYPT_ROUNDS"])
