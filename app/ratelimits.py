"""Per-account rate limits, kept in the same storage as flask-limiter's per-address ones.

Per-address limits are decorators on the views; these count things about an
account (failed sign-ins, reset and verification emails), so the HTML pages
and the API share one counter per account.
"""

from __future__ import annotations

import math
import time
from typing import Any

from flask import current_app
from limits import parse

from app.errors import RateLimited
from app.extensions import limiter


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


def address_limit(config_key: str) -> Any:
    """Per-address limit on POSTs, shared by every route that uses the same key, so the
    sign-in page and the API's login draw from one allowance."""
    return limiter.shared_limit(
        lambda: current_app.config[config_key], scope=config_key.lower(), methods=["POST"]
    )
