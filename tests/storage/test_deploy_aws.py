"""The AWS documents in deploy/aws/ agree with the code.

- Every S3 operation app/media/s3.py performs is allowed by iam-web.json, checked twice:
  by reading the code, and by running the engine against a moto_server that enforces
  IAM, with credentials whose only permissions are that policy.
- iam-worker.json lets a worker read originals and write renditions, and nothing more.
- The CORS, lifecycle, public-access and CloudFront documents have the shape AWS takes
  and say what the browser uploads and signed delivery need.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from botocore.exceptions import ClientError

from app.media.s3 import PART_MIN, S3Storage, make_client
from app.media.storage import StorageError, new_key
from tests.conftest import require_service
from tests.support.s3 import REGION, MotoError, MotoServer, boto_session

ROOT = Path(__file__).resolve().parents[2]
AWS = ROOT / "deploy" / "aws"
BUCKET = "lectern-media"  # the example name the documents use

# The IAM action behind each S3 operation (presigned ones are checked against the
# permissions of whoever signed them: the app).
ACTIONS = {
    "put_object": {"s3:PutObject"},
    "get_object": {"s3:GetObject"},
    "head_object": {"s3:GetObject"},
    "delete_object": {"s3:DeleteObject"},
    "copy_object": {"s3:GetObject", "s3:PutObject"},  # read the source, write the target
    "upload_part_copy": {"s3:GetObject", "s3:PutObject"},
    "list_objects_v2": {"s3:ListBucket"},
    "create_multipart_upload": {"s3:PutObject"},
    "upload_part": {"s3:PutObject"},
    "complete_multipart_upload": {"s3:PutObject"},
    "abort_multipart_upload": {"s3:AbortMultipartUpload"},
    "list_parts": {"s3:ListMultipartUploadParts"},
    "list_multipart_uploads": {"s3:ListBucketMultipartUploads"},
    "presigned_post": {"s3:PutObject"},
}


def _document(name: str) -> Any:
    return json.loads((AWS / name).read_text())


def _allowed(policy: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            found = statement["Action"]
            actions.update([found] if isinstance(found, str) else found)
    return actions


def test_the_web_policy_allows_every_operation_the_code_performs():
    source = (ROOT / "app" / "media" / "s3.py").read_text()
    called = set(re.findall(r'_(?:call|pages)\(\s*"(\w+)"', source))
    called |= set(re.findall(r'generate_presigned_url\(\s*"(\w+)"', source))
    if "generate_presigned_post" in source:
        called.add("presigned_post")
    assert called, "no S3 calls found: has the engine changed shape?"
    unknown = called - set(ACTIONS)
    assert not unknown, f"add the IAM action of {unknown} to ACTIONS (and the policy)"
    needed = set().union(*(ACTIONS[op] for op in called))
    assert needed <= _allowed(_document("iam-web.json")), needed - _allowed(
        _document("iam-web.json")
    )


def test_the_policies_name_the_bucket_and_nothing_wider():
    for name in ("iam-web.json", "iam-worker.json"):
        for statement in _document(name)["Statement"]:
            resources = statement["Resource"]
            for resource in [resources] if isinstance(resources, str) else resources:
                assert resource.startswith(f"arn:aws:s3:::{BUCKET}"), (name, resource)
            assert not any(a.endswith("*") for a in _allowed({"Statement": [statement]}))


def test_the_cors_rule_serves_browser_uploads():
    (rule,) = _document("cors.json")["CORSRules"]
    assert {"PUT", "POST", "GET"} <= set(rule["AllowedMethods"])
    assert "ETag" in rule["ExposeHeaders"]  # multipart completion needs every part's ETag
    assert "*" not in rule["AllowedOrigins"]  # only the site's own origin


def test_the_lifecycle_rule_aborts_abandoned_uploads():
    (rule,) = _document("lifecycle.json")["Rules"]
    assert rule["Status"] == "Enabled" and rule["Filter"] == {"Prefix": ""}
    assert 1 <= rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] <= 30


def test_the_bucket_blocks_public_access_and_lets_only_cloudfront_read():
    block = _document("public-access-block.json")
    assert set(block) == {
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    }
    assert all(block.values())
    allow, deny = _document("bucket-policy.json")["Statement"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert (
        allow["Action"] == "s3:GetObject" and "AWS:SourceArn" in allow["Condition"]["StringEquals"]
    )
    assert deny["Effect"] == "Deny" and deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def test_cloudfront_forwards_the_query_strings_the_app_signs():
    """The app asks S3 for the Content-Type and Content-Disposition through query strings
    covered by the CloudFront signature; the cache policy must pass exactly those on."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from app.media.cloudfront import CloudFrontSigning

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signing = CloudFrontSigning.from_pem("media.example.org", "K1", pem)
    store = S3Storage(
        BUCKET, make_client(region=REGION, session=boto_session()), cloudfront=signing
    )
    url = store.delivery_url(new_key("lessons", "pdf"), seconds=60, filename="a.pdf")
    asked = set(parse_qs(urlsplit(url).query)) - {"Expires", "Signature", "Key-Pair-Id"}
    config = _document("cloudfront-cache-policy.json")["ParametersInCacheKeyAndForwardedToOrigin"]
    strings = config["QueryStringsConfig"]
    assert strings["QueryStringBehavior"] == "whitelist"
    assert set(strings["QueryStrings"]["Items"]) == asked
    assert strings["QueryStrings"]["Quantity"] == len(asked)


# ------------------------------------------------------------------ against moto with IAM


@pytest.fixture(scope="module")
def iam_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MotoServer, dict]]:
    """A moto_server of this module's own, since IAM enforcement is server-wide."""
    server = MotoServer(tmp_path_factory.mktemp("moto-iam"))
    try:
        server.start()
    except (MotoError, OSError) as exc:
        require_service("S3-API server (moto_server)", str(exc))
    try:
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_cors(Bucket=BUCKET, CORSConfiguration=_document("cors.json"))
        client.put_bucket_lifecycle_configuration(
            Bucket=BUCKET, LifecycleConfiguration=_document("lifecycle.json")
        )
        iam = boto_session().client(
            "iam",
            endpoint_url=server.endpoint,
            region_name=REGION,
            aws_access_key_id="admin",
            aws_secret_access_key="admin",
        )
        keys: dict[str, dict[str, str]] = {}
        for role in ("web", "worker"):
            iam.create_user(UserName=role)
            iam.put_user_policy(
                UserName=role,
                PolicyName=f"lectern-{role}",
                PolicyDocument=(AWS / f"iam-{role}.json").read_text(),
            )
            keys[role] = iam.create_access_key(UserName=role)["AccessKey"]
        # From now on every request must be signed by a known key and allowed by its policy.
        requests.post(f"{server.endpoint}/moto-api/reset-auth", data=b"0", timeout=5)
        yield server, keys
    finally:
        server.stop()


def _store(iam_server: tuple[MotoServer, dict], role: str) -> S3Storage:
    server, keys = iam_server
    key = keys[role]
    client = make_client(
        region=REGION,
        endpoint_url=server.endpoint,
        access_key_id=key["AccessKeyId"],
        secret_access_key=key["SecretAccessKey"],
        max_attempts=1,
        session=boto_session(),
    )
    return S3Storage(BUCKET, client, part_size=PART_MIN, max_attempts=1)


def test_the_web_policy_is_enough_for_everything_the_app_does(iam_server):
    store = _store(iam_server, "web")
    store.ping()
    key = new_key("lessons", "bin")
    store.put(key, b"small", "application/octet-stream")
    assert store.size(key) == 5 and store.exists(key)
    assert b"".join(store.read(key, 1, 3)) == b"ma"
    assert [o.key for o in store.list("lessons/")] == [key]
    big = new_key("lessons", "bin")
    assert store.put_stream(big, io.BytesIO(os.urandom(PART_MIN + 1)), "") == PART_MIN + 1
    upload = new_key("lessons", "mp4")
    upload_id = store.create_multipart(upload, "video/mp4")
    # What a browser does with a presigned part URL, done here with the app's own
    # credentials (moto checks no presigned URLs; S3 checks them against the signer).
    etag = store.client.upload_part(
        Bucket=BUCKET, Key=upload, UploadId=upload_id, PartNumber=1, Body=b"part"
    )["ETag"]
    assert [p.etag for p in store.list_parts(upload, upload_id)] == [etag]
    store.complete_multipart(upload, upload_id, [(1, etag)])
    abandoned = store.create_multipart(new_key("lessons", "mp4"), "video/mp4")
    later = datetime.now(UTC) + timedelta(days=1)
    (found,) = store.incomplete_uploads("lessons/", later)
    assert found.upload_id == abandoned
    store.abort_multipart(found.key, found.upload_id)
    copied = new_key("lessons", "bin")
    store.copy(key, copied)
    store.copy_single_max = store.copy_part_size = PART_MIN  # by parts, as past 5 GiB
    store.copy(big, new_key("lessons", "bin"))
    for each in store.list("lessons/"):
        store.delete(each.key)
    assert list(store.list("lessons/")) == []


def test_the_web_policy_cannot_change_the_bucket(iam_server):
    """The enforcement is real: what the policy leaves out is refused."""
    client = _store(iam_server, "web").client
    for call in (
        lambda: client.put_bucket_acl(Bucket=BUCKET, ACL="public-read"),
        lambda: client.put_bucket_cors(Bucket=BUCKET, CORSConfiguration=_document("cors.json")),
        lambda: client.delete_bucket(Bucket=BUCKET),
    ):
        with pytest.raises(ClientError, match="AccessDenied"):
            call()


def test_the_worker_policy_reads_originals_and_writes_renditions_only(iam_server):
    web, worker = _store(iam_server, "web"), _store(iam_server, "worker")
    original = new_key("lessons", "mp4")
    web.put(original, b"video", "video/mp4")
    assert b"".join(worker.read(original)) == b"video"
    rendition = new_key("renditions/ab12", "m3u8")
    worker.put(rendition, b"#EXTM3U", "application/vnd.apple.mpegurl")
    big = new_key("renditions/ab12", "ts")
    worker.put_stream(big, io.BytesIO(os.urandom(PART_MIN + 1)), "video/mp2t")
    worker.delete(rendition)
    worker.delete(big)
    with pytest.raises(StorageError, match="AccessDenied|403"):
        worker.put(new_key("lessons", "mp4"), b"x", "video/mp4")
    with pytest.raises(StorageError, match="AccessDenied|403"):
        worker.delete(original)
    assert web.exists(original)
    web.delete(original)
