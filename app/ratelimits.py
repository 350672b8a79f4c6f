"""Per-account rate limits, kept in the same storage as flask-limiter's per-address ones.

Per-address limits are decorators on the views; these count things about an
account (failed sign-ins, reset and verification emails), so the HTML pages
and the API share one counter per account.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from flask import Response, current_app
from limits import parse

from app.errors import RateLimited
from app.extensions import limiter

GENERATION_TTL = 30 * 24 * 3600  # seconds; far longer than any configured window


def _enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


def consume_account_limit(scope: str, config_key: str, account: str) -> None:
    """Count one use atomically, or raise RateLimited if none is left.

    `hit` both tests and counts in one step, so parallel requests cannot all
    pass a check before any of them is counted.
    """
    if not _enabled():
        return
    item = parse(current_app.config[config_key])
    ident = account.strip().lower()
    if not limiter.limiter.hit(item, scope, ident):
        stats = limiter.limiter.get_window_stats(item, scope, ident)
        raise RateLimited(math.ceil(stats.reset_time - time.time()))


def clear_account_limit(scope: str, config_key: str, account: str) -> None:
    """Forget the uses counted for `account` (a successful sign-in clears its failures)."""
    if _enabled():
        limiter.limiter.clear(parse(current_app.config[config_key]), scope, account.strip().lower())


def generation(scope: str, account: str) -> int:
    """A number that is part of an account's counter keys: bumping it empties them all."""
    if not _enabled():
        return 0
    return int(limiter.limiter.storage.get(f"lectern/{scope}/generation/{account}") or 0)


def bump_generation(scope: str, account: str) -> None:
    """Start every counter of `account` in `scope` afresh (kept for longer than any window)."""
    if _enabled():
        limiter.limiter.storage.incr(f"lectern/{scope}/generation/{account}", GENERATION_TTL)


def not_invalid(response: Response) -> bool:
    """Count a request unless its form was refused as invalid (422): a classroom's typos
    do not use up the allowance (conflicts and successes still do)."""
    return response.status_code != 422


# Limits that count only some answers; the others count every request.
_COUNTED_WHEN: dict[str, Callable[[Response], bool]] = {"RATELIMIT_REGISTER": not_invalid}


def address_limit(config_key: str) -> Any:
    """Per-address limit on POSTs, shared by every route that uses the same key, so the
    sign-in page and the API's login draw from one allowance."""
    return limiter.shared_limit(
        lambda: current_app.config[config_key],
        scope=config_key.lower(),
        methods=["POST"],
        deduct_when=_COUNTED_WHEN.get(config_key),
    )
