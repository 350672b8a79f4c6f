"""The Lectern application factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(
    config: dict[str, Any] | None = None, *, environ: dict[str, str] | None = None
) -> Flask:
    """Build the app from the environment (or from `environ` alone), with `config`
    (tests) applied last."""
    from app.config import load_config

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(load_config(config, environ))
    Path(app.config["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    if app.config["ENV_NAME"] != "production":  # production has refused empty secrets
        from app.secrets_file import fill_missing

        fill_missing(app.config)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    from app import logs, security
    from app.accounts import handlers  # noqa: F401 - registers the event subscriptions
    from app.courses import handlers as course_handlers  # noqa: F401 - same
    from app.courses import media_results  # noqa: F401 - same
    from app.courses.store import init_app as init_documents
    from app.extensions import csrf, db, htmx, limiter, login_manager, migrate
    from app.mail import init_app as init_mail
    from app.media import handlers as media_handlers  # noqa: F401 - same
    from app.media.storage import init_app as init_storage
    from app.web import init_app as init_web

    logs.configure_logging(app)
    security.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    app.request_class = security.Request  # htmx-flask's, plus streaming uploads to staging
    limiter.init_app(app)
    login_manager.init_app(app)
    init_mail(app)
    init_storage(app)
    init_documents(app)
    init_web(app)


def register_blueprints(app: Flask) -> None:
    from blueprints.account.views import bp as account_bp
    from blueprints.admin.views import bp as admin_bp
    from blueprints.api import bp as api_bp
    from blueprints.auth.views import bp as auth_bp
    from blueprints.courses.views import bp as courses_bp
    from blueprints.health.views import bp as health_bp
    from blueprints.learn.views import bp as learn_bp
    from blueprints.main.views import bp as main_bp
    from blueprints.media.views import bp as media_bp
    from blueprints.moderation.views import bp as moderation_bp
    from blueprints.projects.views import bp as projects_bp
    from blueprints.studio import bp as studio_bp
    from blueprints.uploads import bp as uploads_bp

    for bp in (
        main_bp,
        auth_bp,
        account_bp,
        projects_bp,
        admin_bp,
        media_bp,
        health_bp,
        courses_bp,
        learn_bp,
        studio_bp,
        uploads_bp,
        moderation_bp,
        api_bp,
    ):
        app.register_blueprint(bp)


def register_errorhandlers(app: Flask) -> None:
    from app.web import register_error_pages

    register_error_pages(app)


def register_commands(app: Flask) -> None:
    from app.commands import register

    register(app)
