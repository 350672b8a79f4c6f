"""Slow password guessing down without letting a stranger lock anyone out (SPEC §9).

Every password check (sign-in, password change, account deletion) is counted
before bcrypt runs, in one of these buckets:

- a browser that signed in to this account before shows a *device cookie*
  (OWASP's "device cookies"): it has a bucket of its own, so guesses made
  elsewhere never keep it out;
- any other client counts per account *and address* (RATELIMIT_ACCOUNT_FAILURES),
  and in one bucket per account shared by every such client
  (RATELIMIT_ACCOUNT_FAILURES_TOTAL), which slows guessing from many addresses.
  The shared bucket is several times larger than one address's, so a stranger
  at one address cannot fill it: the owner signing in from anywhere else gets in.

A success empties the buckets it used. A completed password reset empties every
bucket of the account at once: its counters' keys carry a generation number that
the reset bumps. Each check counts atomically before it is made, so parallel
guesses cannot all slip through before any is counted.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.ratelimits import bump_generation, clear_account_limit, consume_account_limit, generation

SCOPE = "password"
_SALT = "lectern.device-cookie"


@dataclass(frozen=True)
class Client:
    """Who is checking a password: their address and, from a browser, its device cookie."""

    address: str
    device_token: str | None = None


@dataclass
class Attempt:
    """The buckets one password check was counted in; `succeeded()` empties them."""

    buckets: list[tuple[str, str]] = field(default_factory=list)

    def succeeded(self) -> None:
        for config_key, ident in self.buckets:
            clear_account_limit(SCOPE, config_key, ident)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def issue_device_token(user_id: str) -> str:
    """A signed device cookie value: this browser has signed in to `user_id`."""
    return _serializer().dumps({"u": user_id, "n": secrets.token_urlsafe(12)})


def device_nonce(token: str | None, user_id: str) -> str | None:
    """The device's id if `token` is a valid, unexpired device cookie for `user_id`."""
    if not token or len(token) > 500:
        return None
    max_age = int(current_app.config["DEVICE_COOKIE_DAYS"]) * 86400
    try:
        data = _serializer().loads(token, max_age=max_age)
    except BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict) or data.get("u") != user_id or not isinstance(data.get("n"), str):
        return None
    return str(data["n"])


def count_attempt(account: str, user_id: str | None, client: Client) -> Attempt:
    """Count one password check for `account` (its lookup key), or raise RateLimited."""
    gen = generation(SCOPE, account)
    nonce = device_nonce(client.device_token, user_id) if user_id else None
    if nonce is not None:
        buckets = [("RATELIMIT_ACCOUNT_FAILURES", f"{account}|g{gen}|device|{nonce}")]
    else:
        buckets = [
            ("RATELIMIT_ACCOUNT_FAILURES", f"{account}|g{gen}|address|{client.address}"),
            ("RATELIMIT_ACCOUNT_FAILURES_TOTAL", f"{account}|g{gen}|anywhere"),
        ]
    for config_key, ident in buckets:
        consume_account_limit(SCOPE, config_key, ident)
    return Attempt(buckets)


def forget_all_failures(account: str) -> None:
    """Empty every bucket of the account (a completed password reset)."""
    bump_generation(SCOPE, account)
