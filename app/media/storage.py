"""Where uploaded files live. The embedded default is a folder under DATA_DIR.

Keys are random (never derived from a user's file name), so they cannot be
guessed or made to escape the storage root.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from flask import Flask, current_app

_KEY = re.compile(r"^[a-z]+/[a-f0-9]{32}\.[a-z0-9]{2,5}$")


class LocalStorage:
    def __init__(self, root: Path):
        self.root = root

    @staticmethod
    def new_key(prefix: str, extension: str) -> str:
        return f"{prefix}/{secrets.token_hex(16)}.{extension}"

    def path_for(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError("malformed storage key")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        try:
            return self.path_for(key).is_file()
        except ValueError:
            return False


def init_app(app: Flask) -> None:
    app.extensions["storage"] = LocalStorage(Path(app.config["DATA_DIR"]) / "media")


def storage() -> LocalStorage:
    """The configured storage of the current app."""
    return current_app.extensions["storage"]  # type: ignore[no-any-return]
