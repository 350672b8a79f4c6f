"""Personal data does not outlive its use, nor the account (issue 7.4, SPEC §9).

Before: outbox events carried addresses and names, `sent_emails` kept every recipient,
nothing was ever pruned, and a deleted account's address stayed in both.
"""

from __future__ import annotations

import io
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from app.config import ConfigError, Settings
from app.events.models import DeadLetter, EventReceipt, OutboxEvent
from app.extensions import db
from app.mail.models import SentEmail
from tests.conftest import PASSWORD, Outbox, events_of


def _all_event_text(app) -> str:
    return json.dumps([[e.type, e.key, e.data] for e in events_of(app)])


def test_events_carry_no_addresses_or_names(app, client, outbox, users):
    client.submit(
        "/signup", {"name": "Priya Private", "email": "priya@example.com", "password": PASSWORD}
    )
    verify = outbox.links(to="priya@example.com")[0]
    client.submit(verify)
    client.submit("/verify-email/resend")
    for address in ("priya@example.com", "nobody-here@example.com"):
        app.test_client().submit("/forgot-password", {"email": address})
    text = _all_event_text(app)
    assert "priya" not in text.lower() and "Private" not in text and "nobody-here" not in text
    resets = events_of(app, "user.password_reset_requested")
    assert len(resets) == 2  # known and unknown addresses each record one event
    assert {e.version for e in resets} == {2}
    assert sorted(e.data["user_id"] is None for e in resets) == [False, True]
    # The emails still reach the right person: the handlers look the address up.
    links = outbox.links(to="priya@example.com")
    assert [link.split("/")[1] for link in links] == ["verify-email", "courses", "reset-password"]


def test_deleting_an_account_forgets_it_in_events_dead_letters_and_kept_emails(
    app, client, outbox, users
):
    other = users.create(email="stays@example.com", name="Stays Here")
    app.test_client().submit("/forgot-password", {"email": other.email})
    client.submit(
        "/signup", {"name": "Gone Soon", "email": "gone@example.com", "password": PASSWORD}
    )
    client.submit("/account/profile", {"name": "Gone Renamed", "bio": ""})
    outbox.deliver()
    gone = users.get_by_email("gone@example.com")
    with app.app_context():
        db.session.add(
            DeadLetter(
                group="lectern-email",
                topic="lectern.accounts.users",
                partition=0,
                offset=1,
                key=str(gone.id),
                value=json.dumps({"data": {"user_id": str(gone.id)}}),
                error="boom",
                attempts=5,
            )
        )
        db.session.commit()
    assert any(m["To"] == "gone@example.com" for m in outbox.messages())

    client.submit("/account/delete", {"password": PASSWORD})
    left = events_of(app)
    mine = [e for e in left if e.key == str(gone.id)]
    assert [e.type for e in mine] == ["user.deleted"] and mine[0].data == {"user_id": str(gone.id)}
    text = _all_event_text(app)
    assert "gone@example.com" not in text and "Gone" not in text
    with app.app_context():
        assert db.session.query(DeadLetter).filter_by(key=str(gone.id)).count() == 0
    files = list((Path(app.config["DATA_DIR"]) / "outbox").glob("*.eml"))
    bodies = [f.read_bytes() for f in files]
    assert not any(b"gone@example.com" in body for body in bodies)
    assert any(b"stays@example.com" in body for body in bodies)  # others' mail stays
    outbox.deliver()  # the course side hears of it; nothing about the person is sent


def test_sent_email_records_hold_no_address(app, client, outbox):
    client.submit("/signup", {"name": "Rec", "email": "rec@example.com", "password": PASSWORD})
    outbox.deliver()
    with app.app_context():
        rows = db.session.query(SentEmail).all()
        assert rows and all("rec@example.com" not in json.dumps(vars(r), default=str) for r in rows)


def _age(app, days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def test_delivery_records_are_pruned_after_their_retention(app, client, outbox, runner):
    from app.courses.outbox import DocOutboxEvent

    client.submit("/signup", {"name": "Old", "email": "old@example.com", "password": PASSWORD})
    outbox.deliver()
    with app.app_context():
        old, recent = _age(app, 31), _age(app, 2)
        db.session.query(OutboxEvent).update({"dispatched_at": old, "occurred_at": old})
        db.session.query(EventReceipt).update({"handled_at": old})
        db.session.query(SentEmail).update({"sent_at": old})
        db.session.add(
            OutboxEvent(
                type="user.renamed",
                version=1,
                key="k",
                source="accounts",
                data={"user_id": "x", "name": "Recent"},
                status="dispatched",
                dispatched_at=recent,
            )
        )
        db.session.add(EventReceipt(consumer="c", event_id=__import__("uuid").uuid4()))
        for days in (31, 2):
            db.session.add(
                DeadLetter(
                    group="g",
                    topic="t",
                    partition=0,
                    offset=days,
                    key=None,
                    value="{}",
                    error="e",
                    attempts=1,
                    created_at=_age(app, days),
                )
            )
        db.session.commit()
    DocOutboxEvent(
        event_id="old-one", type="course.enrolled", key="k", status="dispatched", dispatched_at=old
    ).save()
    DocOutboxEvent(
        event_id="new-one",
        type="course.enrolled",
        key="k",
        status="dispatched",
        dispatched_at=recent,
    ).save()
    mail_dir = Path(app.config["DATA_DIR"]) / "outbox"
    old_mail = sorted(mail_dir.glob("*.eml"))[0]
    stamp = time.time() - 31 * 86400
    os.utime(old_mail, (stamp, stamp))
    kept_mail = mail_dir / "recent.eml"
    kept_mail.write_bytes(b"To: someone@example.com\n\nhello\n")

    with app.app_context():  # an expired refresh token and one still valid
        from app.accounts.models import RefreshToken, User

        owner = db.session.query(User).first()
        for days, digest in ((-40, "a" * 64), (3, "b" * 64)):
            db.session.add(
                RefreshToken(
                    user_id=owner.id,
                    family_id=__import__("uuid").uuid4(),
                    token_hash=digest,
                    expires_at=datetime.now(UTC) + timedelta(days=days),
                )
            )
        db.session.commit()
    result = runner.invoke(args=["data", "prune"])
    assert result.exit_code == 0, result.output
    assert "outbox_events: 1 removed" in result.output
    with app.app_context():
        assert [e.data["name"] for e in db.session.query(OutboxEvent)] == ["Recent"]
        assert db.session.query(EventReceipt).count() == 1
        assert db.session.query(SentEmail).count() == 0
        assert [d.offset for d in db.session.query(DeadLetter)] == [2]
    assert [d.event_id for d in DocOutboxEvent.objects] == ["new-one"]
    with app.app_context():
        assert [t.token_hash for t in db.session.query(RefreshToken)] == ["b" * 64]
    assert not old_mail.exists() and kept_mail.exists()


def test_retention_may_not_be_shorter_than_a_topics():
    with pytest.raises(ConfigError, match="DELIVERY_RETENTION_DAYS"):
        Settings.from_env({"DELIVERY_RETENTION_DAYS": "3"})
    assert (
        Settings.from_env({"DELIVERY_RETENTION_DAYS": "7"}).to_flask()["DELIVERY_RETENTION_DAYS"]
        == 7
    )


def test_events_recorded_before_the_upgrade_are_still_handled(app, outbox, users):
    """A version 1 reset event (it carried the address) pending in an outbox at upgrade."""
    user = users.create(email="legacy@example.com")
    with app.app_context():
        db.session.add(
            OutboxEvent(
                type="user.password_reset_requested",
                version=1,
                key="legacy@example.com",
                source="accounts",
                data={"email": "legacy@example.com"},
            )
        )
        db.session.commit()
    links = outbox.links(to=user.email)
    assert len(links) == 1 and links[0].startswith("/reset-password/")


# ------------------------------------------------------------------ lesson images


def _photo(fmt: str) -> bytes:
    image = Image.new("RGB", (640, 480), (200, 120, 40))
    out = io.BytesIO()
    if fmt == "JPEG":
        exif = Image.Exif()
        exif[0x010F] = "SecretCameraMaker"
        exif[0x8825] = {2: (51.0, 30.0, 12.0)}  # GPS latitude
        image.save(out, format="JPEG", exif=exif, comment=b"shot at home")
    else:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Author", "Secret Person")
        info.add_text("Location", "51.5N 0.1W")
        image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_lesson_images_are_re_encoded_without_metadata(client, auth, courses, app, fmt):
    from app.courses.documents import Course
    from app.media.storage import storage

    course = courses.draft(lessons=["file"])
    client.submit("/signin", {"email": course.owner.email, "password": PASSWORD})
    lesson = course.sections[0].lessons[0]
    data = _photo(fmt)
    assert b"Secret" in data
    response = client.submit(
        f"/studio/{course.slug}/lessons/{lesson.id}/media",
        {"file": (io.BytesIO(data), "holiday.jpg" if fmt == "JPEG" else "holiday.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    Outbox(app).deliver()
    media = Course.objects.get(id=course.id).sections[0].lessons[0].media
    with app.app_context():
        stored = storage().path_for(media.key).read_bytes()
    assert b"Secret" not in stored and b"shot at home" not in stored and b"51.5N" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == fmt and image.size == (640, 480)
        assert not image.getexif() and not getattr(image, "text", {})
    assert media.size == len(stored)


def test_a_decompression_bomb_is_refused_as_a_lesson_image(client, courses):
    from app.courses.documents import Course

    course = courses.draft(lessons=["file"])
    client.submit("/signin", {"email": course.owner.email, "password": PASSWORD})
    lesson = course.sections[0].lessons[0]
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, format="PNG")  # small file, 400 megapixels
    page = client.submit(
        f"/studio/{course.slug}/lessons/{lesson.id}/media",
        {"file": (io.BytesIO(out.getvalue()), "bomb.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "too many pixels" in page.get_data(as_text=True)
    assert Course.objects.get(id=course.id).sections[0].lessons[0].media.status == "none"
