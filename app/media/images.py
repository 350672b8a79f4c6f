"""Image uploads: type decided by content, bombs refused, re-encoded without metadata."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import IO, Any

from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
MAX_PIXELS = 16_000_000  # a 16-megapixel photo; decoding more could take gigabytes
WORKING_SIZE = (1024, 1024)  # shrink to this first, so later steps copy little


class ImageRejected(ValueError):
    """The upload is not an image we accept; the message is safe to show."""


def read_limited(stream: IO[bytes], max_bytes: int) -> bytes:
    """Read at most max_bytes; raise if the stream holds more."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageRejected(f"The image is larger than {max_bytes // (1024 * 1024)} MB.")
    return data


def make_avatar(data: bytes, size: int = 256) -> bytes:
    """A square WebP of the image, with EXIF, ICC and every other chunk dropped."""
    return make_image(data, (size, size))


def make_cover(data: bytes) -> bytes:
    """A 16:9 course cover, re-encoded the same way."""
    return make_image(data, (960, 540))


def _decode(data: bytes, encode: Callable[[Image.Image], bytes]) -> bytes:
    """Check an upload (format, pixel count, integrity; bombs refused), then hand its
    first frame to `encode`, which writes a new file: nothing of the original's
    metadata (EXIF, GPS, ICC, comments) survives."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in ALLOWED_FORMATS:
                    raise ImageRejected("Upload a JPEG, PNG, WebP or GIF image.")
                width, height = probe.size
                if width * height > MAX_PIXELS or width < 1 or height < 1:
                    raise ImageRejected("The image has too many pixels.")
                probe.verify()
            with Image.open(io.BytesIO(data)) as original:
                original.seek(0)  # first frame of an animation
                return encode(original)
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("The image has too many pixels.") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageRejected("The file is not an image we can read.") from exc


def make_image(data: bytes, size: tuple[int, int]) -> bytes:
    """The image cropped to `size` and re-encoded as WebP, every metadata chunk dropped."""

    def encode(original: Image.Image) -> bytes:
        original.draft("RGB", WORKING_SIZE)  # JPEG: decode at a reduced scale
        original.thumbnail(WORKING_SIZE, reducing_gap=2.0)
        upright = ImageOps.exif_transpose(original)
        rgb = upright.convert("RGBA" if upright.mode in {"RGBA", "LA", "P"} else "RGB")
        square = ImageOps.fit(rgb, size, Image.Resampling.LANCZOS)
        square.info = {}  # nothing of the original's metadata is written back
        out = io.BytesIO()
        square.save(out, format="WEBP", quality=85, method=4)
        return out.getvalue()

    return _decode(data, encode)


def clean_image(data: bytes) -> tuple[bytes, str]:
    """A lesson's image at full size, re-encoded in its own format (JPEG or PNG) with the
    camera's orientation applied and every metadata chunk dropped; (bytes, format)."""
    kept: dict[str, str] = {}

    def encode(original: Image.Image) -> bytes:
        fmt = "JPEG" if original.format == "JPEG" else "PNG"
        upright = ImageOps.exif_transpose(original)
        if fmt == "JPEG":
            upright = upright.convert("RGB")
        elif upright.mode not in {"RGB", "RGBA", "L", "LA", "P"}:
            upright = upright.convert("RGBA")
        upright = upright.copy()
        upright.info = {}  # Pillow writes some of it back (a JPEG comment, an ICC profile)
        out = io.BytesIO()
        # A new file with only the pixels: no exif=, icc_profile= or pnginfo= is passed on.
        upright.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {"optimize": True}))
        kept["format"] = fmt
        return out.getvalue()

    encoded = _decode(data, encode)
    return encoded, kept["format"]


def replace_image(data: bytes, encode: Any, prefix: str, old_key: str | None, field: str) -> str:
    """Re-encode an upload with `encode`, store it under a new random key and delete the
    image it replaces; a rejected upload is a ValidationFailed on `field`."""
    from app.errors import ValidationFailed
    from app.media.storage import new_key, storage

    try:
        encoded = encode(data)
    except ImageRejected as exc:
        raise ValidationFailed(fields={field: str(exc)}) from exc
    store = storage()
    key = new_key(prefix, "webp")
    store.put(key, encoded, "image/webp")
    if old_key:
        store.delete(old_key)
    return key
