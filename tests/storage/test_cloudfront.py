"""CloudFront signed URLs and cookies, checked the way CloudFront checks them: with the
public key of a key pair this test makes, over the policy the URL or cookie carries."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from app.config import ConfigError, Settings
from app.media.cloudfront import (
    CloudFrontKeyError,
    CloudFrontSigning,
    cloudfront_b64,
    decode_policy,
    expiry,
    load_private_key,
    read_private_key,
)
from app.media.s3 import S3Storage
from app.media.storage import new_key
from tests.storage.conftest import s3_storage

DOMAIN = "media.example.org"
KEY_ID = "K2JCJMDEHXQW5F"


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, rsa.RSAPublicKey]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, private.public_key()


@pytest.fixture
def signing(key_pair) -> CloudFrontSigning:
    return CloudFrontSigning.from_pem(DOMAIN, KEY_ID, key_pair[0])


def _unb64(value: str) -> bytes:
    """CloudFront's base64 back to bytes, written out here independently of the app."""
    return base64.b64decode(value.replace("-", "+").replace("_", "=").replace("~", "/"))


def _verify(public: rsa.RSAPublicKey, message: bytes, signature: str) -> None:
    public.verify(_unb64(signature), message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303


def _canned(url: str, expires: int) -> bytes:
    """The canned policy CloudFront rebuilds from a URL (its documented exact form)."""
    statement = {"Resource": url, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
    return json.dumps({"Statement": [statement]}, separators=(",", ":")).encode()


def _split(signed: str) -> tuple[str, dict[str, str]]:
    """The URL as requested minus CloudFront's own parameters, and those parameters."""
    cut = signed.index("Expires=")
    params = {k: v[0] for k, v in parse_qs(signed[cut:]).items()}
    return signed[: cut - 1], params


def test_a_signed_url_verifies_with_the_public_key(signing, key_pair):
    key = new_key("lessons", "mp4")
    before = time.time()
    url = signing.signed_url(key, expiry(600), {"response-content-type": "video/mp4"})
    assert url.startswith(f"https://{DOMAIN}/{key}?response-content-type=video%2Fmp4&Expires=")
    base, params = _split(url)
    assert params["Key-Pair-Id"] == KEY_ID
    expires = int(params["Expires"])
    assert before + 600 <= expires <= time.time() + 601
    _verify(key_pair[1], _canned(base, expires), params["Signature"])


def test_a_tampered_or_extended_url_does_not_verify(signing, key_pair):
    key = new_key("lessons", "pdf")
    query = {"response-content-disposition": 'inline; filename="a.pdf"'}
    base, params = _split(signing.signed_url(key, expiry(60), query))
    expires = int(params["Expires"])
    swapped = base.replace("inline", "attachment")
    other_key = base.replace(key, new_key("lessons", "pdf"))
    for url, when in ((swapped, expires), (other_key, expires), (base, expires + 3600)):
        with pytest.raises(InvalidSignature):
            _verify(key_pair[1], _canned(url, when), params["Signature"])


def test_signed_cookies_open_one_prefix_until_they_expire(signing, key_pair):
    cookies = signing.signed_cookies("renditions/abc123/", expiry(7200))
    assert set(cookies) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    assert cookies["CloudFront-Key-Pair-Id"] == KEY_ID
    for value in cookies.values():  # cookie-safe: none of + = / ; , or spaces
        assert not set(value) & set("+=/;, ")
    policy_json = _unb64(cookies["CloudFront-Policy"])
    _verify(key_pair[1], policy_json, cookies["CloudFront-Signature"])
    (statement,) = json.loads(policy_json)["Statement"]
    assert statement["Resource"] == f"https://{DOMAIN}/renditions/abc123/*"
    moment = statement["Condition"]["DateLessThan"]["AWS:EpochTime"]
    assert time.time() + 7190 <= moment <= time.time() + 7201
    assert decode_policy(cookies["CloudFront-Policy"]) == json.loads(policy_json)


def test_the_url_safe_alphabet():
    data = bytes([0xFB, 0xFF, 0xBF, 0x3E]) * 7  # makes "+", "/" and "=" in plain base64
    plain = base64.b64encode(data).decode()
    assert set("+/=") <= set(plain)
    encoded = cloudfront_b64(data)
    assert encoded == plain.replace("+", "-").replace("=", "_").replace("/", "~")
    assert _unb64(encoded) == data


def test_expiry_rounds_up_to_its_step():
    now = 1_700_000_123.4
    assert expiry(60, now=now) == datetime.fromtimestamp(1_700_000_184, UTC)
    hourly = expiry(60, now=now, step=3600)
    assert hourly.timestamp() % 3600 == 0 and hourly.timestamp() >= now + 60
    assert expiry(60, now=now + 30, step=3600) == hourly  # the same URL for a while


def test_keys_from_the_environment_and_from_files(key_pair, tmp_path):
    pem = key_pair[0]
    escaped = pem.strip().replace("\n", "\\n")  # how a one-line variable carries it
    for text in (pem, escaped, pem.encode()):
        assert load_private_key(text).public_key().public_numbers() == key_pair[1].public_numbers()
    path = tmp_path / "cloudfront.pem"
    path.write_text(pem)
    assert read_private_key("", path).key_size == 2048
    with pytest.raises(CloudFrontKeyError, match="cannot read"):
        read_private_key("", tmp_path / "missing.pem")
    with pytest.raises(CloudFrontKeyError):
        read_private_key("", "")


def test_keys_that_cloudfront_would_not_take():
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(CloudFrontKeyError, match="RSA"):
        load_private_key(ec_pem)
    with pytest.raises(CloudFrontKeyError):
        armour = "PRIVATE " + "KEY-----"  # split, so the commit hook sees no key here
        load_private_key(f"-----BEGIN {armour}\nnot a key\n-----END {armour}")
    with pytest.raises(ValueError):
        CloudFrontSigning("https://media.example.org", KEY_ID, load_private_key(_rsa_pem()))


def _rsa_pem() -> str:
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, as openssl genrsa writes
            serialization.NoEncryption(),
        )
        .decode()
    )


# ------------------------------------------------------------------ through the engine


@pytest.fixture
def store_with_cloudfront(signing) -> S3Storage:
    """An S3 engine that signs for CloudFront; signing is local, so the endpoint (the
    discard port) is never contacted."""
    return s3_storage("http://127.0.0.1:9", "lectern-media", cloudfront=signing)


def test_delivery_urls_go_through_cloudfront(store_with_cloudfront, key_pair):
    key = new_key("lessons", "pdf")
    url = store_with_cloudfront.delivery_url(key, seconds=300, filename="Notes été.pdf")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", DOMAIN, f"/{key}")
    query = parse_qs(parts.query)
    assert query["response-content-type"] == ["application/pdf"]
    disposition = query["response-content-disposition"][0]
    assert disposition.startswith("inline; ") and quote("été") in disposition
    base, params = _split(url)
    _verify(key_pair[1], _canned(base, int(params["Expires"])), params["Signature"])


def test_long_lived_urls_are_the_same_for_an_hour(store_with_cloudfront):
    """Avatars and covers: every process signs the same URL within one hour, so the
    edge keeps one copy."""
    key = new_key("avatars", "webp")
    url = store_with_cloudfront.delivery_url(key, seconds=24 * 3600)
    expires = int(_split(url)[1]["Expires"])
    assert expires % 3600 == 0 and 0 <= expires - (time.time() + 24 * 3600) <= 3600
    assert store_with_cloudfront.delivery_url(key, seconds=24 * 3600) == url


def test_signed_cookies_through_the_engine(store_with_cloudfront):
    cookies = store_with_cloudfront.signed_cookies("renditions/ab12/", 3600)
    statement = decode_policy(cookies["CloudFront-Policy"])["Statement"][0]  # type: ignore[index]
    assert statement["Resource"] == f"https://{DOMAIN}/renditions/ab12/*"
    for prefix in ("", "renditions", "../", "renditions/../x/", "Renditions/A/"):
        with pytest.raises(ValueError):
            store_with_cloudfront.signed_cookies(prefix, 3600)


def test_signed_cookies_need_cloudfront(s3_store):
    with pytest.raises(RuntimeError, match="CloudFront"):
        s3_store.signed_cookies("renditions/ab12/", 3600)


# ------------------------------------------------------------------ settings


S3 = {"S3_BUCKET": "lectern-media", "S3_REGION": "eu-west-1"}
KEYS = {"S3_ACCESS_KEY_ID": "AKIAEXAMPLE", "S3_SECRET_ACCESS_KEY": "secret"}


def test_cloudfront_settings_are_checked(key_pair, tmp_path):
    pem = key_pair[0]
    good = {**S3, "CLOUDFRONT_DOMAIN": DOMAIN, "CLOUDFRONT_KEY_ID": KEY_ID}
    Settings.from_env({**good, "CLOUDFRONT_PRIVATE_KEY": pem})
    path = tmp_path / "key.pem"
    path.write_text(pem)
    Settings.from_env({**good, "CLOUDFRONT_PRIVATE_KEY_FILE": str(path)})
    bad = [
        {**good},  # no key
        {**good, "CLOUDFRONT_PRIVATE_KEY": pem, "CLOUDFRONT_PRIVATE_KEY_FILE": str(path)},
        {**good, "CLOUDFRONT_PRIVATE_KEY": "not a key"},
        {**good, "CLOUDFRONT_PRIVATE_KEY_FILE": str(tmp_path / "missing.pem")},
        {**good, "CLOUDFRONT_DOMAIN": "https://media.example.org", "CLOUDFRONT_PRIVATE_KEY": pem},
        {**good, "CLOUDFRONT_KEY_ID": "", "CLOUDFRONT_PRIVATE_KEY": pem},
        {"CLOUDFRONT_DOMAIN": DOMAIN, "CLOUDFRONT_KEY_ID": KEY_ID, "CLOUDFRONT_PRIVATE_KEY": pem},
    ]
    for environ in bad:
        with pytest.raises(ConfigError):
            Settings.from_env(environ)


def test_the_engine_is_built_from_settings(key_pair, tmp_path):
    pem = key_pair[0]
    config = Settings.from_env(
        {
            **S3,
            **KEYS,
            "S3_ENDPOINT_URL": "http://minio.internal:9000",
            "S3_PUBLIC_ENDPOINT_URL": "https://store.example.org",
            "S3_MAX_ATTEMPTS": "2",
            "CLOUDFRONT_DOMAIN": DOMAIN,
            "CLOUDFRONT_KEY_ID": KEY_ID,
            "CLOUDFRONT_PRIVATE_KEY": pem,
        }
    ).to_flask()
    store = S3Storage.from_config(config)
    assert store.bucket == "lectern-media" and store.max_attempts == 2
    assert store.client.meta.endpoint_url == "http://minio.internal:9000"
    assert store.presign_client.meta.endpoint_url == "https://store.example.org"
    assert store.client.meta.region_name == "eu-west-1"
    assert store.cloudfront is not None and store.cloudfront.key_id == KEY_ID
    post = store.presigned_post(
        new_key("lessons", "bin"), max_bytes=9, success_redirect="/", seconds=9
    )
    assert post["url"].startswith("https://store.example.org/lectern-media")


def test_without_an_endpoint_the_regional_aws_endpoint_is_used():
    """Never the global endpoint: it redirects requests for new buckets, and a browser's
    CORS preflight does not follow redirects."""
    store = S3Storage.from_config(Settings.from_env({**S3, **KEYS}).to_flask())
    url = store.sign_part(new_key("lessons", "bin"), "u", 1, seconds=60)
    assert url.startswith("https://lectern-media.s3.eu-west-1.amazonaws.com/lessons/")
    assert "X-Amz-Credential=" in url and "eu-west-1" in url  # SigV4, for this region


@pytest.mark.parametrize(
    "environ",
    [
        {"S3_BUCKET": "lectern-media"},  # no region
        {**S3, "S3_BUCKET": "Not_A_Bucket"},
        {**S3, "S3_ENDPOINT_URL": "minio:9000"},
        {**S3, "S3_ENDPOINT_URL": "http://minio:9000/path"},
        {**S3, "S3_ACCESS_KEY_ID": "AKIA…"},  # without its secret
        {**S3, "S3_MAX_ATTEMPTS": "0"},
        {**S3, "MEDIA_ACCEL_REDIRECT": "/_protected/"},  # that is for the local store
        {"MEDIA_ACCEL_REDIRECT": "_protected"},
        {"MEDIA_ACCEL_REDIRECT": "/../"},
        {
            "LECTERN_ENV": "production",
            "SECRET_KEY": "s" * 48,
            "JWT_SECRET_KEY": "j" * 48,
            **S3,
            "S3_ENDPOINT_URL": "http://minio:9000",  # browsers would be sent to http
        },
    ],
)
def test_storage_settings_that_cannot_work(environ):
    with pytest.raises(ConfigError):
        Settings.from_env(environ)


def test_storage_settings_that_work():
    Settings.from_env({"MEDIA_ACCEL_REDIRECT": "/_protected/media/"})
    Settings.from_env(
        {
            "LECTERN_ENV": "production",
            "SECRET_KEY": "s" * 48,
            "JWT_SECRET_KEY": "j" * 48,
            **S3,
            "S3_ENDPOINT_URL": "http://minio.internal:9000",
            "S3_PUBLIC_ENDPOINT_URL": "https://store.example.org",
        }
    )


def test_an_expiry_in_the_past_is_still_signed_as_such(signing, key_pair):
    """The policy carries exactly the expiry asked for; CloudFront refuses the URL after."""
    past = datetime.now(UTC) - timedelta(minutes=5)
    base, params = _split(signing.signed_url(new_key("lessons", "pdf"), past))
    assert int(params["Expires"]) == int(past.timestamp())
    _verify(key_pair[1], _canned(base, int(params["Expires"])), params["Signature"])
