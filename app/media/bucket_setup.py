"""Setting a bucket up for Lectern: what `flask media prepare-bucket` does, for an
S3-compatible store you run yourself (MinIO, Ceph, Garage) or to try S3 on one machine
(moto_server). On AWS the same rules are in deploy/aws/ (docs/operations.md).

It needs credentials that may change the bucket's configuration, which the app's own
(deploy/aws/iam-web.json) deliberately may not: run it once, as an operator.
"""

from __future__ import annotations

from typing import Any

ABORT_AFTER_DAYS = 7  # the store drops a multipart upload nobody finished after this


def cors_rules(origins: list[str]) -> dict[str, Any]:
    """The CORS rule browser uploads need: PUT (parts), POST (the form without
    JavaScript) and GET (players) from the site's origins, with ETag readable (a page
    completes a multipart upload with its parts' ETags)."""
    return {
        "CORSRules": [
            {
                "ID": "lectern-browser-uploads-and-players",
                "AllowedOrigins": origins,
                "AllowedMethods": ["GET", "PUT", "POST"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 3000,
            }
        ]
    }


def lifecycle_rules(days: int = ABORT_AFTER_DAYS) -> dict[str, Any]:
    """Abandoned multipart uploads go after `days` (Lectern's own sweep goes first)."""
    return {
        "Rules": [
            {
                "ID": "lectern-abort-incomplete-multipart-uploads",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
            }
        ]
    }


def prepare(client: Any, bucket: str, origins: list[str], *, create: bool) -> list[str]:
    """Create the bucket if asked and missing, then apply the CORS and lifecycle rules.
    Returns what was done, for the operator."""
    done = []
    if create:
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            region = client.meta.region_name
            options: dict[str, Any] = {}
            if region and region != "us-east-1":
                options["CreateBucketConfiguration"] = {"LocationConstraint": region}
            client.create_bucket(Bucket=bucket, **options)
            done.append(f"created bucket {bucket}")
    client.put_bucket_cors(Bucket=bucket, CORSConfiguration=cors_rules(origins))
    done.append(f"CORS: uploads and players from {', '.join(origins)}")
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration=lifecycle_rules()
    )
    done.append(f"lifecycle: unfinished multipart uploads go after {ABORT_AFTER_DAYS} days")
    return done
