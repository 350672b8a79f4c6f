"""How a stored file is presented to a browser, whichever engine serves it.

The type comes from the key's extension, which Lectern chose from the file's content
(app/media/files.py `sniff`), never from the uploader. Only types a browser shows
harmlessly are served inline; anything else is an `application/octet-stream`
attachment, so an uploaded HTML or SVG file can never run as a page.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from app.media.files import INLINE_TYPES, content_disposition, download_name
from app.media.rules import NAMED_TYPES

DOWNLOAD_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Presentation:
    content_type: str
    disposition: str

    @property
    def inline(self) -> bool:
        return self.disposition.startswith("inline")


def extension(key: str) -> str:
    return key.rsplit(".", 1)[-1] if "." in key.rsplit("/", 1)[-1] else ""


def present(key: str, filename: str | None = None, inline: bool = True) -> Presentation:
    """The Content-Type and Content-Disposition for `key` offered under `filename` (None:
    no name; "": a name made from the extension): inline only if asked for and the type
    is in INLINE_TYPES."""
    ext = extension(key)
    named = (filename or "").rpartition(".")[2].lower()
    # Shown only if its name says what it is: `notes.exe` whose content is a PDF is
    # offered as the download its name promised.
    shown = inline and ext in INLINE_TYPES and (not filename or NAMED_TYPES.get(named) == ext)
    kind = "inline" if shown else "attachment"
    content_type = INLINE_TYPES[ext] if shown else DOWNLOAD_TYPE
    if filename is not None or not shown:
        disposition = content_disposition(kind, download_name(filename, ext or "bin"))
    else:
        disposition = "inline"
    return Presentation(content_type, disposition)


class UrlMemo:
    """Delivery URLs of public objects (avatars, covers), reused for up to `reuse`
    seconds.

    An S3 presigned URL differs every second (it carries its signing time), so a page
    that showed a new one on every request would make browsers and CDNs fetch the same
    avatar again each time. Reusing one URL for an hour lets them cache it; the URL
    itself stays valid for `valid` seconds, so a reused one always has at least
    `valid - reuse` left. Per process and bounded; nothing here is secret (the URLs
    are of public objects).
    """

    def __init__(self, valid: int, reuse: int, size: int = 4096):
        if reuse >= valid:
            raise ValueError("a URL must stay valid longer than it is reused")
        self.valid, self.reuse, self.size = valid, reuse, size
        self._urls: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, make: Callable[[int], str]) -> tuple[str, int]:
        """(url, seconds it may still be reused); `make(seconds)` builds a fresh one."""
        now = time.monotonic()
        with self._lock:
            found = self._urls.get(key)
            if found and found[1] > now:
                self._urls.move_to_end(key)
                return found[0], int(found[1] - now)
        url = make(self.valid)
        with self._lock:
            self._urls[key] = (url, now + self.reuse)
            self._urls.move_to_end(key)
            while len(self._urls) > self.size:
                self._urls.popitem(last=False)
        return url, self.reuse
