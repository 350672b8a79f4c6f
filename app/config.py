"""Every setting of Lectern, read from the environment in one place.

A `.env` file in the working directory is read first (values already in the
environment win). Production (`LECTERN_ENV=production`) refuses to start with
a short or missing secret; elsewhere an unset secret is generated once into
`DATA_DIR/secrets.json` (app/secrets_file.py), so no string in the source ever
signs anything.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

MIN_SECRET_BYTES = 32


class ConfigError(RuntimeError):
    """A setting is missing or unsafe for the chosen environment."""


def _per_second(limit: str) -> float:
    """A rate-limit string ("20 per 15 minutes") as attempts per second."""
    from limits import parse

    try:
        item = parse(limit)
    except ValueError as exc:
        raise ConfigError(f"not a rate limit: {limit!r}") from exc
    return float(item.amount) / item.get_expiry()


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def media_ladder(value: str) -> tuple[int, ...]:
    """MEDIA_LADDER ("360,720") as rung heights, lowest first; ConfigError if unusable."""
    from app.media.rules import LADDER_HEIGHT_MAX, LADDER_HEIGHT_MIN, LADDER_RUNGS_MAX

    try:
        heights = sorted({int(part) for part in value.split(",") if part.strip()})
    except ValueError:
        heights = []
    if (
        not heights
        or len(heights) > LADDER_RUNGS_MAX
        or not (LADDER_HEIGHT_MIN <= heights[0] and heights[-1] <= LADDER_HEIGHT_MAX)
    ):
        raise ConfigError(
            f"MEDIA_LADDER must list 1 to {LADDER_RUNGS_MAX} rung heights between "
            f"{LADDER_HEIGHT_MIN} and {LADDER_HEIGHT_MAX}, such as 360,720; got {value!r}"
        )
    return tuple(heights)


@dataclass(frozen=True)
class Settings:
    """Typed view of the environment; `to_flask()` turns it into Flask config keys."""

    env: str = "development"
    secret_key: str = ""  # empty: generated into DATA_DIR/secrets.json (not in production)
    jwt_secret_key: str = ""
    data_dir: Path = Path("instance")
    port: int = 8000
    public_url: str = ""
    allowed_origins: str = ""  # comma-separated origins that may post forms here
    database_url: str = ""
    mongodb_uri: str = ""
    mongodb_db: str = "lectern"
    document_store: str = ""
    document_store_path: str = ""
    redis_url: str = ""
    trusted_proxy_count: int = 0
    bcrypt_rounds: int = 12
    max_content_length: int = 10 * 1024 * 1024
    avatar_max_bytes: int = 2 * 1024 * 1024
    # Uploads of lesson media (app/media/rules.py has the limits protocols fix)
    upload_max_bytes_video: int = 20 * 1024**3
    upload_max_bytes_file: int = 2 * 1024**3
    upload_chunk_bytes: int = 32 * 1024**2  # one tus PATCH or S3 part
    upload_abandon_hours: int = 24  # an upload idle this long is cleaned up
    storage_quota_bytes: int = 50 * 1024**3  # per instructor; admins change it per user
    media_url_hours: int = 6  # a delivery URL outlives a long lesson and its pauses
    media_ladder: str = "360,720"  # HLS rung heights (short side), never upscaled
    session_idle_minutes: int = 120
    session_absolute_hours: int = 12
    jwt_issuer: str = "lectern"
    jwt_audience: str = "lectern-mobile"
    access_token_seconds: int = 900
    refresh_token_days: int = 7
    verify_token_hours: int = 48
    reset_token_minutes: int = 60
    ratelimit_enabled: bool = True
    ratelimit_register: str = "50 per hour"
    ratelimit_signin: str = "100 per 5 minutes"
    ratelimit_account_failures: str = "20 per 15 minutes"
    ratelimit_account_failures_total: str = "100 per 15 minutes"
    device_cookie_days: int = 180
    ratelimit_reset: str = "30 per hour"
    ratelimit_reset_account: str = "5 per hour"
    ratelimit_verify: str = "30 per hour"
    ratelimit_verify_account: str = "5 per hour"
    ratelimit_refresh: str = "300 per hour"
    ratelimit_refresh_account: str = "60 per hour"
    ratelimit_upload_start: str = "200 per hour"  # uploads an instructor starts
    mail_from: str = "Lectern <no-reply@lectern.local>"
    log_level: str = "INFO"
    event_bus: str = ""
    kafka_bootstrap_servers: str = ""
    kafka_client_id: str = "lectern"
    kafka_session_timeout_ms: int = 10_000
    kafka_security_protocol: str = ""
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    sendgrid_api_key: str = ""
    sendgrid_api_host: str = "https://api.sendgrid.com"
    email_send_attempts: int = 5
    consumer_max_attempts: int = 5
    delivery_retention_days: int = 30
    worker_heartbeat_retention_hours: int = 24
    demo_seed: bool = True
    trash_retention_days: int = 30
    # media storage: a folder under DATA_DIR unless S3_BUCKET is set (docs/operations.md)
    s3_bucket: str = ""
    s3_region: str = ""
    s3_endpoint_url: str = ""  # an S3-compatible store (MinIO, moto); empty: AWS
    s3_public_endpoint_url: str = ""  # the store's address as browsers reach it
    s3_access_key_id: str = ""  # empty: boto3's chain (environment, files, instance role)
    s3_secret_access_key: str = ""
    s3_max_attempts: int = 4
    cloudfront_domain: str = ""
    cloudfront_key_id: str = ""
    cloudfront_private_key: str = ""  # PEM text
    cloudfront_private_key_file: str = ""
    media_accel_redirect: str = ""  # local store behind nginx: e.g. /_protected/
    # gunicorn (gunicorn.conf.py reads these too)
    gunicorn_bind: str = ""  # default 127.0.0.1:$PORT
    web_concurrency: int = 1  # processes; the embedded default needs exactly one
    gunicorn_threads: int = 8
    gunicorn_timeout: int = 60
    gunicorn_keepalive: int = 5
    gunicorn_max_requests: int = 0
    forwarded_allow_ips: str = "127.0.0.1"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default: the process environment plus `.env`)."""
        if environ is None:
            load_dotenv(override=False)
            environ = dict(os.environ)
        values: dict[str, Any] = {}
        for f in fields(cls):
            env_name = "LECTERN_ENV" if f.name == "env" else f.name.upper()
            raw = environ.get(env_name)
            if raw is None or raw == "":
                continue
            default = f.default
            try:
                if isinstance(default, bool):
                    values[f.name] = _bool(raw)
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                elif isinstance(default, Path):
                    values[f.name] = Path(raw)
                else:
                    values[f.name] = raw
            except ValueError as exc:
                raise ConfigError(f"{env_name} must be a number, got {raw!r}") from exc
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse unsafe production settings."""
        if self.env not in {"development", "production", "testing"}:
            raise ConfigError("LECTERN_ENV must be development, production or testing")
        if self.document_store not in {"", "mongodb", "litemongo", "mongomock"}:
            raise ConfigError("DOCUMENT_STORE must be mongodb, litemongo or mongomock")
        if self.event_bus not in {"", "embedded", "kafka"}:
            raise ConfigError("EVENT_BUS must be embedded or kafka")
        if self.event_bus == "kafka" and not self.kafka_bootstrap_servers:
            raise ConfigError("EVENT_BUS=kafka needs KAFKA_BOOTSTRAP_SERVERS")
        if self.document_store == "mongodb" and not self.mongodb_uri:
            raise ConfigError("DOCUMENT_STORE=mongodb needs MONGODB_URI")
        if _per_second(self.ratelimit_account_failures_total) < 3 * _per_second(
            self.ratelimit_account_failures
        ):
            # Else a stranger at one or two addresses could use up the account-wide
            # allowance and keep the owner out everywhere but on their known devices.
            raise ConfigError(
                "RATELIMIT_ACCOUNT_FAILURES_TOTAL must allow at least three times "
                "RATELIMIT_ACCOUNT_FAILURES"
            )
        from app.events.catalogue import TOPICS

        longest = max(t.retention_days for t in TOPICS.values())
        if self.delivery_retention_days < longest:
            # Receipts and sent-email records must outlive any redelivery from a topic.
            raise ConfigError(
                f"DELIVERY_RETENTION_DAYS must be at least {longest} (the longest topic retention)"
            )
        self._check_uploads()
        media_ladder(self.media_ladder)
        if self.trash_retention_days < 1:
            raise ConfigError("TRASH_RETENTION_DAYS must be at least 1")
        self._check_media_storage()
        if not self.production:
            return
        for name, value in (
            ("SECRET_KEY", self.secret_key),
            ("JWT_SECRET_KEY", self.jwt_secret_key),
        ):
            if len(value.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(
                    f"{name} must be set to a random secret of at least "
                    f"{MIN_SECRET_BYTES} bytes in production "
                    '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
                )
        if self.secret_key == self.jwt_secret_key:
            raise ConfigError("SECRET_KEY and JWT_SECRET_KEY must differ")
        if self.bcrypt_rounds < 12:
            raise ConfigError("BCRYPT_ROUNDS must be at least 12 in production")

    def _check_uploads(self) -> None:
        from app.media.rules import CHUNK_MAX, PRESIGN_MAX_HOURS, S3_PART_MIN, S3_PARTS_MAX

        if not S3_PART_MIN <= self.upload_chunk_bytes <= CHUNK_MAX:
            raise ConfigError(
                f"UPLOAD_CHUNK_BYTES must be between {S3_PART_MIN} and {CHUNK_MAX} "
                "(S3's smallest part, and under common proxies' 100 MB limit)"
            )
        for name, value in (
            ("UPLOAD_MAX_BYTES_VIDEO", self.upload_max_bytes_video),
            ("UPLOAD_MAX_BYTES_FILE", self.upload_max_bytes_file),
        ):
            if not 0 < value <= S3_PARTS_MAX * CHUNK_MAX:
                raise ConfigError(f"{name} must be between 1 and {S3_PARTS_MAX * CHUNK_MAX}")
        if self.upload_abandon_hours < 1 or self.media_url_hours < 1:
            raise ConfigError("UPLOAD_ABANDON_HOURS and MEDIA_URL_HOURS must be at least 1")
        if self.s3_bucket and max(self.upload_abandon_hours, self.media_url_hours) > (
            PRESIGN_MAX_HOURS
        ):
            raise ConfigError(
                f"With S3_BUCKET, UPLOAD_ABANDON_HOURS and MEDIA_URL_HOURS are at most "
                f"{PRESIGN_MAX_HOURS}: they are how long presigned URLs live, and S3 signs "
                "for at most 7 days"
            )

    def _check_media_storage(self) -> None:
        """S3, CloudFront and X-Accel-Redirect settings that cannot work together."""
        if self.s3_bucket:
            if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", self.s3_bucket):
                raise ConfigError("S3_BUCKET is not a valid bucket name")
            if not self.s3_region:
                raise ConfigError(
                    "S3_BUCKET needs S3_REGION (the bucket's region; us-east-1 for most "
                    "S3-compatible stores)"
                )
        for name, url in (
            ("S3_ENDPOINT_URL", self.s3_endpoint_url),
            ("S3_PUBLIC_ENDPOINT_URL", self.s3_public_endpoint_url),
        ):
            if url and not re.fullmatch(r"https?://[^/\s]+/?", url):
                raise ConfigError(f"{name} must be http(s)://host[:port], got {url!r}")
        if bool(self.s3_access_key_id) != bool(self.s3_secret_access_key):
            raise ConfigError("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together")
        if not 1 <= self.s3_max_attempts <= 20:
            raise ConfigError("S3_MAX_ATTEMPTS must be 1 to 20")
        browser_endpoint = self.s3_public_endpoint_url or self.s3_endpoint_url
        if self.production and self.s3_bucket and browser_endpoint.startswith("http://"):
            # An https page may not upload to, or embed media from, a plain http address.
            raise ConfigError(
                "in production browsers must reach the store over https: "
                "set S3_PUBLIC_ENDPOINT_URL to an https:// address"
            )
        cloudfront = (
            self.cloudfront_domain,
            self.cloudfront_key_id,
            self.cloudfront_private_key,
            self.cloudfront_private_key_file,
        )
        if any(cloudfront):
            self._check_cloudfront()
        if self.media_accel_redirect:
            if self.s3_bucket:
                raise ConfigError("MEDIA_ACCEL_REDIRECT is for the local store, not S3")
            prefix = self.media_accel_redirect
            if not re.fullmatch(r"/(?:[A-Za-z0-9_.-]+/)+", prefix) or ".." in prefix:
                raise ConfigError("MEDIA_ACCEL_REDIRECT must be a path like /_protected/")

    def _check_cloudfront(self) -> None:
        from app.media.cloudfront import CloudFrontKeyError, read_private_key

        if not self.s3_bucket:
            raise ConfigError("CLOUDFRONT_* needs S3_BUCKET: CloudFront serves the bucket")
        if not self.cloudfront_domain or not self.cloudfront_key_id:
            raise ConfigError("CloudFront needs CLOUDFRONT_DOMAIN and CLOUDFRONT_KEY_ID")
        if not re.fullmatch(r"[A-Za-z0-9.-]+", self.cloudfront_domain):
            raise ConfigError(
                "CLOUDFRONT_DOMAIN is a host name such as d111111abcdef8.cloudfront.net "
                "(no https://, no path)"
            )
        if bool(self.cloudfront_private_key) == bool(self.cloudfront_private_key_file):
            raise ConfigError(
                "CloudFront needs one of CLOUDFRONT_PRIVATE_KEY or CLOUDFRONT_PRIVATE_KEY_FILE"
            )
        try:
            read_private_key(self.cloudfront_private_key, self.cloudfront_private_key_file)
        except CloudFrontKeyError as exc:
            raise ConfigError(f"CloudFront private key: {exc}") from exc

    def to_flask(self) -> dict[str, Any]:
        """Flask config for these settings: every setting under its own name upper-cased
        (LECTERN_ENV as ENV_NAME), then the values Flask and its extensions derive."""
        from datetime import timedelta

        config: dict[str, Any] = {f.name.upper(): getattr(self, f.name) for f in fields(self)}
        config["ENV_NAME"] = config.pop("ENV")
        data_dir = self.data_dir.resolve()
        database_url = self.database_url or f"sqlite:///{data_dir / 'lectern.sqlite3'}"
        for prefix in ("postgres://", "postgresql://"):
            if database_url.startswith(prefix):
                database_url = "postgresql+psycopg://" + database_url.removeprefix(prefix)
        # hide_parameters: a failed statement's values (a password hash, say) never reach a log.
        engine_options: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
        if database_url.startswith("postgresql"):
            engine_options.update(pool_size=10, max_overflow=10, pool_recycle=1800)
        # __Host-: the browser keeps the cookie only if Secure, for this host, path /.
        cookie_prefix = "__Host-" if self.production else ""
        config.update(
            {
                "TESTING": self.env == "testing",
                "DEBUG": False,
                "DATA_DIR": data_dir,
                "PUBLIC_URL": (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/"),
                "ALLOWED_ORIGINS": tuple(
                    o.strip() for o in self.allowed_origins.split(",") if o.strip()
                ),
                "SQLALCHEMY_DATABASE_URI": database_url,
                "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
                "DOCUMENT_STORE": self.document_store
                or ("mongodb" if self.mongodb_uri else "litemongo"),
                "EVENT_BUS": self.event_bus
                or ("kafka" if self.kafka_bootstrap_servers else "embedded"),
                "SENDGRID_API_HOST": self.sendgrid_api_host.rstrip("/"),
                "MEDIA_LADDER": media_ladder(self.media_ladder),
                "SESSION_IDLE_TIMEOUT": timedelta(minutes=self.session_idle_minutes),
                "SESSION_ABSOLUTE_TIMEOUT": timedelta(hours=self.session_absolute_hours),
                "PERMANENT_SESSION_LIFETIME": timedelta(hours=self.session_absolute_hours),
                "WORKER_HEARTBEAT_RETENTION": timedelta(
                    hours=self.worker_heartbeat_retention_hours
                ),
                "SESSION_COOKIE_NAME": f"{cookie_prefix}lectern_session",
                "DEVICE_COOKIE_NAME": f"{cookie_prefix}lectern_device",
                "SESSION_COOKIE_HTTPONLY": True,
                "SESSION_COOKIE_SAMESITE": "Lax",
                "SESSION_COOKIE_SECURE": self.production,
                "REMEMBER_COOKIE_HTTPONLY": True,
                "REMEMBER_COOKIE_SECURE": self.production,
                "WTF_CSRF_TIME_LIMIT": None,
                "WTF_CSRF_SSL_STRICT": self.production,
                "RATELIMIT_STORAGE_URI": self.redis_url or "memory://",
                "RATELIMIT_HEADERS_ENABLED": True,
                "PREFERRED_URL_SCHEME": "https" if self.production else "http",
            }
        )
        return config


def load_config(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> dict[str, Any]:
    """Flask config from the environment (or from `environ` alone, which tests pass so
    that neither the developer's shell nor a `.env` file reaches them), with `overrides`
    applied last."""
    config = Settings.from_env(environ).to_flask()
    if overrides:
        config.update(overrides)
    return config
