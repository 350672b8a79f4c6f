"""Settings come from the environment; production refuses unsafe ones."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings

GOOD = {"LECTERN_ENV": "production", "SECRET_KEY": "s" * 48, "JWT_SECRET_KEY": "j" * 48}


def test_development_defaults():
    settings = Settings.from_env({})
    config = settings.to_flask()
    assert config["PORT"] == 8000
    assert config["PUBLIC_URL"] == "http://127.0.0.1:8000"
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert config["SQLALCHEMY_DATABASE_URI"].endswith("instance/lectern.sqlite3")
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["SESSION_COOKIE_SECURE"] is False


def test_environment_overrides_and_types():
    config = Settings.from_env(
        {
            "PORT": "9000",
            "DATABASE_URL": "postgres://u:p@db/lectern",
            "REDIS_URL": "redis://cache:6379/0",
            "RATELIMIT_ENABLED": "false",
            "TRUSTED_PROXY_COUNT": "2",
        }
    ).to_flask()
    assert config["PUBLIC_URL"] == "http://127.0.0.1:9000"
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db/lectern"
    assert config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    assert config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 10
    assert config["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"
    assert config["RATELIMIT_ENABLED"] is False
    assert config["TRUSTED_PROXY_COUNT"] == 2


def test_bad_numbers_are_reported():
    with pytest.raises(ConfigError, match="PORT"):
        Settings.from_env({"PORT": "eighty"})


@pytest.mark.parametrize(
    "change",
    [
        {"SECRET_KEY": ""},  # production never generates its own
        {"JWT_SECRET_KEY": ""},
        {"SECRET_KEY": "short"},
        {"JWT_SECRET_KEY": "j" * 31},
        {"JWT_SECRET_KEY": "s" * 48},  # same as SECRET_KEY
        {"BCRYPT_ROUNDS": "10"},
    ],
)
def test_production_refuses_unsafe_settings(change):
    with pytest.raises(ConfigError):
        Settings.from_env({**GOOD, **change})


def test_production_with_good_secrets():
    config = Settings.from_env(GOOD).to_flask()
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["DEBUG"] is False


def test_unknown_environment_name():
    with pytest.raises(ConfigError):
        Settings.from_env({"LECTERN_ENV": "staging"})


def test_a_test_app_reads_neither_the_shell_nor_a_dotenv(app_factory, monkeypatch, tmp_path):
    """A developer's .env with a SendGrid key once sent the suite's mail for real."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SENDGRID_API_KEY=SG.from-dotenv\nMAIL_FROM=dotenv@x.test\n")
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.from-the-shell")
    app = app_factory()
    assert app.config["SENDGRID_API_KEY"] == ""
    assert app.config["MAIL_FROM"] == Settings().mail_from
    assert type(app.extensions["mail"]).__name__ == "FileBackend"


def test_every_setting_reaches_flask_under_its_own_name():
    settings = Settings.from_env({"GUNICORN_THREADS": "3", "TRASH_RETENTION_DAYS": "9"})
    config = settings.to_flask()
    for name in (f.name.upper() for f in __import__("dataclasses").fields(Settings)):
        assert name in config or name == "ENV", name
    assert config["GUNICORN_THREADS"] == 3 and config["TRASH_RETENTION_DAYS"] == 9


def test_gunicorn_reads_the_same_settings(monkeypatch):
    import importlib.util
    from pathlib import Path

    monkeypatch.setenv("GUNICORN_THREADS", "3")
    monkeypatch.setenv("PORT", "8123")
    path = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"
    spec = importlib.util.spec_from_file_location("gunicorn_conf", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.threads == 3 and module.bind == "127.0.0.1:8123" and module.workers == 1


@pytest.mark.parametrize("name", ["UPLOAD_ABANDON_HOURS", "MEDIA_URL_HOURS"])
def test_with_s3_no_url_is_signed_for_longer_than_s3_allows(name):
    s3 = {"S3_BUCKET": "lectern-media", "S3_REGION": "eu-west-1"}
    assert Settings.from_env({**s3, name: "168"})  # seven days: S3's longest
    with pytest.raises(ConfigError, match="7 days"):
        Settings.from_env({**s3, name: "169"})
    assert Settings.from_env({name: "500"})  # the local store signs its own URLs


def test_media_ladder_is_a_list_of_rung_heights():
    assert Settings.from_env({}).to_flask()["MEDIA_LADDER"] == (360, 720)
    assert Settings.from_env({"MEDIA_LADDER": "1080, 360,720"}).to_flask()["MEDIA_LADDER"] == (
        360,
        720,
        1080,
    )
    for bad in ("", "720p", "100,720", "360,4320", "240,360,480,720,1080,1440"):
        with pytest.raises(ConfigError, match="MEDIA_LADDER"):
            Settings(media_ladder=bad).check()
