"""CloudFront signed URLs and signed cookies, made with a key of a trusted key group.

CloudFront checks an RSA-SHA1 signature over a JSON policy (which URL, until when) with
the public key it was given; the app holds the private key (CLOUDFRONT_PRIVATE_KEY or
CLOUDFRONT_PRIVATE_KEY_FILE) and the public key's id (CLOUDFRONT_KEY_ID). botocore's
`CloudFrontSigner` builds the policy and the URL; `cryptography` does the RSA part.

- A signed URL (canned policy) names one object: `https://<domain>/<key>?…&Expires=…`.
  Its signature covers the whole URL, query included, so the disposition and type the
  app asks for cannot be changed by whoever holds the link.
- Signed cookies (custom policy, `Resource: https://<domain>/<prefix>*`) open every
  file under a prefix at once: what an HLS player needs, which fetches a playlist and
  then hundreds of segments it has no signed URLs for.
"""

from __future__ import annotations

import base64
import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# CloudFront's own base64: the characters that mean something in a URL or a cookie are
# swapped for ones that do not.
_URL_SAFE = str.maketrans("+=/", "-_~")
_URL_UNSAFE = str.maketrans("-_~", "+=/")


class CloudFrontKeyError(ValueError):
    """The private key is missing, unreadable, or not an RSA key."""


def cloudfront_b64(data: bytes) -> str:
    """Base64 in CloudFront's URL-safe variant (`+`→`-`, `=`→`_`, `/`→`~`)."""
    return base64.b64encode(data).decode("ascii").translate(_URL_SAFE)


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM text. Environment variables often carry the line
    breaks as the two characters `\\n`; those are turned back into line breaks."""
    text = pem.decode() if isinstance(pem, bytes) else pem
    if "\n" not in text.strip() and "\\n" in text:
        text = text.replace("\\n", "\n")
    try:
        key = serialization.load_pem_private_key(text.strip().encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise CloudFrontKeyError(f"not a PEM private key without a passphrase: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CloudFrontKeyError("CloudFront key groups take RSA keys only")
    return key


def read_private_key(text: str = "", path: str | Path = "") -> rsa.RSAPrivateKey:
    """The key from PEM text, else from the file at `path`."""
    if text:
        return load_private_key(text)
    if not path:
        raise CloudFrontKeyError("no private key given")
    try:
        return load_private_key(Path(path).read_bytes())
    except OSError as exc:
        raise CloudFrontKeyError(f"cannot read {path}: {exc.strerror}") from exc


def expiry(seconds: int, *, now: float | None = None, step: int = 1) -> datetime:
    """`seconds` from now, rounded up to a multiple of `step` seconds (so that URLs made
    within one step are identical, and caches can keep them)."""
    moment = (time.time() if now is None else now) + seconds
    return datetime.fromtimestamp(math.ceil(moment / step) * step, UTC)


class CloudFrontSigning:
    """Signs URLs and cookies for one distribution with one key of its key group."""

    def __init__(self, domain: str, key_id: str, private_key: rsa.RSAPrivateKey):
        if not domain or "/" in domain or not key_id:
            raise ValueError("CloudFront needs a bare domain name and a key id")
        self.domain = domain.lower()
        self.key_id = key_id
        self._key = private_key
        self._signer = CloudFrontSigner(key_id, self._sign)

    @classmethod
    def from_pem(cls, domain: str, key_id: str, pem: str | bytes) -> CloudFrontSigning:
        return cls(domain, key_id, load_private_key(pem))

    def _sign(self, message: bytes) -> bytes:
        # CloudFront verifies RSASSA-PKCS1-v1_5 with SHA-1; it accepts nothing else.
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303

    def url_for(self, key: str, query: dict[str, str] | None = None) -> str:
        """The unsigned https URL of `key` (a checked storage key), with `query`."""
        url = f"https://{self.domain}/{key}"
        if query:
            url += "?" + urlencode(query, quote_via=quote)
        return url

    def signed_url(self, key: str, expires: datetime, query: dict[str, str] | None = None) -> str:
        """A canned-policy signed URL of one object, valid until `expires`."""
        return str(self._signer.generate_presigned_url(self.url_for(key, query), expires))

    def policy(self, resource: str, expires: datetime) -> str:
        """A custom policy (compact JSON) allowing `resource` (may end in `*`) until
        `expires`."""
        return str(self._signer.build_policy(resource, expires))

    def signed_cookies(self, prefix: str, expires: datetime) -> dict[str, str]:
        """The three cookies that open every object under `prefix` until `expires`."""
        policy = self.policy(f"https://{self.domain}/{prefix}*", expires)
        return {
            "CloudFront-Policy": cloudfront_b64(policy.encode()),
            "CloudFront-Signature": cloudfront_b64(self._sign(policy.encode())),
            "CloudFront-Key-Pair-Id": self.key_id,
        }


def decode_policy(value: str) -> dict[str, object]:
    """A policy from its CloudFront-base64 form (a `Policy=` parameter or cookie)."""
    raw = value.translate(_URL_UNSAFE)
    decoded: dict[str, object] = json.loads(base64.b64decode(raw))
    return decoded
