"""Access JWTs, rotating refresh tokens and one-time email tokens.

Access tokens are HS256 JWTs with the algorithm pinned and issuer, audience,
expiry and type checked. Refresh and one-time tokens are opaque random strings
stored only as SHA-256 hashes, so a database leak does not leak usable tokens.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from flask import current_app

from app.timeutil import utcnow

ALGORITHM = "HS256"
ACCESS_TYPE = "access"


def new_secret_token() -> str:
    """256 bits from the OS random source, URL-safe."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What we store instead of the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    epoch: int
    family_id: uuid.UUID  # the refresh-token family (one sign-in) it was issued to


def issue_access_token(user_id: uuid.UUID, epoch: int, family_id: uuid.UUID) -> str:
    """A signed access JWT valid for ACCESS_TOKEN_SECONDS, tied to its refresh family so
    that revoking the family stops it at once."""
    now = utcnow()
    cfg = current_app.config
    payload = {
        "iss": cfg["JWT_ISSUER"],
        "aud": cfg["JWT_AUDIENCE"],
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=cfg["ACCESS_TOKEN_SECONDS"]),
        "jti": uuid.uuid4().hex,
        "typ": ACCESS_TYPE,
        "epoch": epoch,
        "fam": str(family_id),
    }
    return jwt.encode(payload, cfg["JWT_SECRET_KEY"], algorithm=ALGORITHM)


def decode_access_token(token: str) -> AccessClaims | None:
    """The claims of a valid access token, or None for anything else."""
    cfg = current_app.config
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            cfg["JWT_SECRET_KEY"],
            algorithms=[ALGORITHM],
            issuer=cfg["JWT_ISSUER"],
            audience=cfg["JWT_AUDIENCE"],
            options={"require": ["exp", "iat", "iss", "aud", "sub", "typ", "fam"]},
        )
        if payload.get("typ") != ACCESS_TYPE or not isinstance(payload.get("epoch"), int):
            return None
        return AccessClaims(
            user_id=uuid.UUID(payload["sub"]),
            epoch=payload["epoch"],
            family_id=uuid.UUID(str(payload["fam"])),
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
