"""Secrets the embedded default generates for itself on first start.

Outside production, a signing secret that is not set in the environment comes
from `DATA_DIR/secrets.json`: random values from `secrets`, written once with
owner-only permissions and read again on every start, so a restart signs
nobody out. No string written in the source ever signs anything. Production
refuses to start without its secrets in the environment (app/config.py).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import stat
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_NAME = "secrets.json"
# The settings filled from the file when the environment leaves them empty.
GENERATED = ("SECRET_KEY", "JWT_SECRET_KEY")


def new_secret() -> str:
    """384 bits from the OS random source, URL-safe."""
    return secrets.token_urlsafe(48)


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"{path} is not readable JSON; fix or remove it") from exc
    if not isinstance(data, dict):
        raise RuntimeError(f"{path} must hold a JSON object")
    return {k: v for k, v in data.items() if isinstance(v, str) and v}


def _write(path: Path, data: dict[str, str]) -> None:
    """Write atomically; the file is never readable by anyone but its owner."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create(data_dir: Path, names: tuple[str, ...] = GENERATED) -> dict[str, str]:
    """The generated secrets for `names`, creating any that are missing.

    Several processes may start at once (web workers, the media worker): a lock
    file makes exactly one of them write, and the others read what it wrote.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / FILE_NAME
    with (data_dir / f".{FILE_NAME}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            stored = _read(path)
            missing = [name for name in names if name not in stored]
            if missing:
                stored.update({name: new_secret() for name in missing})
                _write(path, stored)
                log.info("generated secrets", extra={"file": str(path), "names": missing})
            elif stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o600)
                log.warning("secrets file was readable by others; now owner-only")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return {name: stored[name] for name in names}


def fill_missing(config: MutableMapping[str, Any]) -> None:
    """Give every empty signing secret of `config` its generated value from DATA_DIR."""
    empty = tuple(name for name in GENERATED if not config.get(name))
    if empty:
        config.update(load_or_create(Path(config["DATA_DIR"]), empty))
