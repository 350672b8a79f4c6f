"""Command-line tools: `flask --app wsgi users ...`, `seed-demo`, `events ...`."""

from __future__ import annotations

import secrets

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from app.accounts import administration, lookup, registration
from app.accounts.models import User
from app.errors import LecternError
from app.events.catalogue import WORKERS
from app.extensions import db
from app.roles import Role
from app.validation import clean_name

users_cli = AppGroup("users", help="Manage user accounts.")
events_cli = AppGroup("events", help="Inspect and deliver events.")
data_cli = AppGroup("data", help="Retention of personal data.")


@data_cli.command("prune")
def prune_data() -> None:
    """Delete delivery records (delivered events, receipts, sent-email records, kept
    emails, dead letters) older than their retention period."""
    from app.privacy import prune_expired

    for name, count in prune_expired().items():
        click.echo(f"{name}: {count} removed")


def _fail(exc: LecternError) -> None:
    detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
    raise click.ClickException(f"{exc.message} {detail}".strip())


@users_cli.command("create-admin")
@click.argument("email")
@click.option("--name", default="Administrator", show_default=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="LECTERN_ADMIN_PASSWORD",
    help="Prompted for unless given.",
)
def create_admin(email: str, name: str, password: str) -> None:
    """Create an admin account (verified), or make an existing account admin."""
    existing = lookup.find_user_by_email(email)
    try:
        if existing is not None:
            existing.role = Role.ADMIN.value
            click.echo(f"{existing.email} already exists; it is now an admin.")
        else:
            registration.check_password_rules(password, email=email, name=name)
            user = registration.do_register(
                registration.clean_email(email),
                password,
                clean_name(name),
                Role.ADMIN,
                verified=True,
            )
            click.echo(f"Created admin {user.email}.")
    except LecternError as exc:
        _fail(exc)
    db.session.commit()


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice([r.value for r in Role]))
def set_role(email: str, role: str) -> None:
    """Give the account with EMAIL the ROLE."""
    try:
        user = administration.set_role_by_email(email, role)
    except LecternError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"{user.email} is now {user.role}.")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing if any account exists.")
@with_appcontext
def seed_demo(if_empty: bool) -> None:
    """Create demo accounts and a demo catalog (development only)."""
    from app.demo import DEMO_PASSWORD, DEMO_USERS, seed_accounts, seed_courses

    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("seed-demo refuses to run in production.")
    if if_empty and not current_app.config["DEMO_SEED"]:
        click.echo("DEMO_SEED is off; demo seed skipped.")
        return
    if if_empty and db.session.scalar(select(func.count()).select_from(User)):
        click.echo("Accounts exist; demo seed skipped.")
        return
    users = seed_accounts()
    courses = seed_courses(users)
    click.echo(f"Demo accounts (password: {DEMO_PASSWORD}):")
    for email, _, role in DEMO_USERS:
        click.echo(f"  {role.value:<11} {email}")
    click.echo(f"Demo courses: {courses}.")


media_cli = AppGroup("media", help="Stored files and uploads.")


@media_cli.command("sweep")
def media_sweep() -> None:
    """Remove uploads nothing has arrived for in UPLOAD_ABANDON_HOURS (also run hourly by
    the embedded bus and the media worker)."""
    from app.media.uploads import sweep_abandoned

    click.echo(f"Removed {sweep_abandoned()} abandoned upload(s).")


@media_cli.command("work")
@click.option("--once", is_flag=True, help="Run the jobs waiting now, then exit.")
@click.option("--child", is_flag=True, hidden=True, help="Started by gunicorn's master.")
@with_appcontext
def media_work(once: bool, child: bool) -> None:
    """Run the media worker's jobs (validating uploaded videos, making their HLS) until
    SIGTERM, at a lower CPU priority than the web process. `make run` starts this
    beside the web process; with Kafka, `worker media` runs the jobs in a thread."""
    import os
    import signal
    import threading

    from app.media.processing import run_next, work
    from app.media.rules import WORKER_NICENESS

    os.nice(WORKER_NICENESS)

    if once:
        done = 0
        while run_next():
            done += 1
        click.echo(f"Ran {done} media job(s).")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if child:  # gunicorn's master started it: end with the master, however it ends
        parent = os.getppid()

        def orphaned() -> None:
            while not stop.wait(2.0):
                if os.getppid() != parent:
                    stop.set()

        threading.Thread(target=orphaned, name="media-parent", daemon=True).start()
    work(current_app._get_current_object(), stop)  # type: ignore[attr-defined]


@media_cli.command("orphans")
@click.option("--delete", is_flag=True, help="Delete them (default: only list them).")
@click.option(
    "--grace-hours",
    default=24,
    show_default=True,
    type=click.IntRange(min=1),
    help="Leave objects younger than this alone (they may be on their way).",
)
def media_orphans(delete: bool, grace_hours: int) -> None:
    """List (or delete) stored files that nothing refers to any more."""
    from datetime import timedelta

    from app.media.references import orphans
    from app.media.storage import storage
    from app.text import format_bytes

    found = orphans(timedelta(hours=grace_hours))
    for item in found:
        click.echo(f"{item.key}\t{item.size}\t{item.modified.isoformat()}")
        if delete:
            storage().delete(item.key)
    total = format_bytes(sum(item.size for item in found))
    verb = "Deleted" if delete else "Found"
    click.echo(f"{verb} {len(found)} orphaned file(s), {total}.")


@media_cli.command("prepare-bucket")
@click.option("--create", is_flag=True, help="Create S3_BUCKET first if it does not exist.")
def media_prepare_bucket(create: bool) -> None:
    """Give S3_BUCKET the CORS rule browser uploads need (from PUBLIC_URL and
    ALLOWED_ORIGINS) and the lifecycle rule that drops abandoned multipart uploads.
    Needs credentials that may configure the bucket (not the app's own)."""
    from app.media.bucket_setup import prepare

    store = current_app.extensions["storage"]
    if store.engine != "s3":
        raise click.ClickException("S3_BUCKET is not set: the local store needs no preparing.")
    origins = [current_app.config["PUBLIC_URL"], *current_app.config["ALLOWED_ORIGINS"]]
    for line in prepare(store.client, store.bucket, origins, create=create):
        click.echo(line)


courses_cli = AppGroup("courses", help="Manage courses.")


@courses_cli.command("reassign")
@click.argument("slug")
@click.argument("email")
def reassign(slug: str, email: str) -> None:
    """Give the course SLUG to the instructor with EMAIL (e.g. after an account deletion)."""
    from app.courses import workflow

    user = lookup.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account with email {email}.")
    try:
        course = workflow.reassign(slug, str(user.id), user.name, user.role)
    except LecternError as exc:
        _fail(exc)
    click.echo(f"{course.title} now belongs to {user.name} ({course.status}).")


@courses_cli.command("purge-trash")
def purge_trash() -> None:
    """Delete sections and lessons in the studio trash longer than TRASH_RETENTION_DAYS,
    and then their stored files."""
    from app.courses import trash

    done = trash.purge_trash()
    days = current_app.config["TRASH_RETENTION_DAYS"]
    click.echo(
        f"Purged {done.items} trash item{'' if done.items == 1 else 's'} older than {days} "
        f"day{'' if days == 1 else 's'} and {done.files} file{'' if done.files == 1 else 's'}."
    )


@click.command("worker")
@click.argument("name", type=click.Choice([*WORKERS, "relay"]))
@with_appcontext
def worker(name: str) -> None:
    """Run one worker process (Kafka consumer group, or the outbox relay) until SIGTERM."""
    if not current_app.config.get("KAFKA_BOOTSTRAP_SERVERS"):
        raise click.ClickException(
            "Workers need KAFKA_BOOTSTRAP_SERVERS. Without Kafka, "
            "the embedded bus inside `make run` handles events."
        )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if name == "relay":
        from app.events.kafka import ProducerFailed
        from workers.relay import run_relay

        try:
            run_relay(app)
        except ProducerFailed as exc:  # exit 1, so that the supervisor starts a new relay
            raise click.ClickException(f"relay stopped: {exc}") from exc
        return
    from workers.runner import Runner

    runner = Runner(app, WORKERS[name])
    runner.install_signal_handlers()
    jobs = None
    if name == "media":  # the jobs the media-pipeline consumer queues, in a thread
        import threading

        from app.media.processing import work

        stop = threading.Event()
        jobs = threading.Thread(target=work, args=(app, stop), name="media-jobs", daemon=True)
        jobs.start()
    try:
        runner.run()
    finally:
        if jobs is not None:
            stop.set()
            jobs.join(timeout=30)


@events_cli.command("create-topics")
@click.option("--replication-factor", default=1, show_default=True)
def create_topics(replication_factor: int) -> None:
    """Create every topic of the catalogue (and its dead-letter topic) on the cluster.

    Topics that exist are left alone. One whose partition count is not the catalogue's
    is reported, and the command then exits with status 1."""
    from app.events.cluster import create_topics as create

    reports = create(current_app, replication_factor)
    for r in reports:
        if r.outcome == "failed":
            click.echo(f"failed  {r.name}: {r.error}")
        elif r.outcome == "differs":
            click.echo(
                f"DIFFERS {r.name}: {r.partitions} partitions on the cluster, "
                f"{r.wanted} in the catalogue"
            )
        else:
            shown = f"{r.partitions} partitions" if r.partitions is not None else "partitions ?"
            click.echo(f"{r.outcome:<7} {r.name} ({shown})")
    problems = [r for r in reports if not r.ok]
    if any(r.outcome == "differs" for r in problems):
        click.echo(
            "A topic's partition count differs from the catalogue (app/events/catalogue.py). "
            "Kafka can add partitions (kafka-topics.sh --alter --partitions N) but not remove "
            "them, and adding some sends a key's later events to another partition: let the "
            "consumers catch up first. See docs/operations.md.",
            err=True,
        )
    if problems:
        raise click.ClickException(f"{len(problems)} topic(s) are not as the catalogue says.")


@events_cli.command("replay")
@click.argument("dead_letter_id", type=int)
def replay(dead_letter_id: int) -> None:
    """Publish a dead-lettered message to its original topic again."""
    from app.events.admin import replay_dead_letter

    try:
        letter = replay_dead_letter(dead_letter_id)
    except LecternError as exc:
        _fail(exc)
    click.echo(f"Replayed dead letter {letter.id} to {letter.topic}.")


@events_cli.command("catalogue")
def catalogue() -> None:
    """Print the event catalogue as the Markdown table kept in docs/events.md."""
    from app.events.catalogue import markdown_table

    click.echo(markdown_table())


@events_cli.command("dispatch")
def dispatch() -> None:
    """Deliver every due outbox event once, then exit."""
    from app.events.bus import dispatch_pending

    total = 0
    while n := dispatch_pending():
        total += n
    click.echo(f"Delivered {total} event(s).")


@click.command("gen-secret")
def gen_secret() -> None:
    """Print a random secret suitable for SECRET_KEY or JWT_SECRET_KEY."""
    click.echo(secrets.token_urlsafe(48))


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(events_cli)
    app.cli.add_command(data_cli)
    app.cli.add_command(courses_cli)
    app.cli.add_command(media_cli)
    app.cli.add_command(worker)
    app.cli.add_command(seed_demo)
    app.cli.add_command(gen_secret)
