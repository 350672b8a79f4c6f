"""Per-account rate limits, kept in the same storage as flask-limiter's per-address ones.

Per-address limits are decorators on the views; these count things about an
account (failed sign-ins, reset and verification emails), so the HTML pages
and the API share one counter per account.
"""

from __future__ import annotations

import math
import time

from flask import current_app
from limits import parse

from app.errors import RateLimited
from app.extensions import limiter


def _enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


def check_account_limit(scope: str, config_key: str, account: str) -> None:
    """Raise RateLimited if `account` has used up its `scope` allowance (does not count)."""
    if not _enabled():
        return
    item = parse(current_app.config[config_key])
    ident = account.strip().lower()
    if not limiter.limiter.test(item, scope, ident):
        stats = limiter.limiter.get_window_stats(item, scope, ident)
        raise RateLimited(math.ceil(stats.reset_time - time.time()))


def hit_account_limit(scope: str, config_key: str, account: str) -> None:
    """Count one use of `scope` for `account`."""
    if _enabled():
        limiter.limiter.hit(parse(current_app.config[config_key]), scope, account.strip().lower())


def consume_account_limit(scope: str, config_key: str, account: str) -> None:
    """Check, then count: for actions limited whether or not they succeed."""
    check_account_limit(scope, config_key, account)
    hit_account_limit(scope, config_key, account)
