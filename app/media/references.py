"""Which stored files something still uses: a course (its cover, its lessons' files,
current or on their way, in the outline or the trash), an upload still arriving, or an
account (its avatar). Deletion checks it (app/media/handlers.py), and so does the
orphan report (`flask media orphans`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import select

from app.courses.documents import Course, media_of
from app.media.documents import MediaUpload
from app.media.storage import StoredObject, derived_prefix, storage
from app.timeutil import utcnow

# Where a file may be named in a course document.
_COURSE_PATHS = [
    f"{place}__{slot}__key"
    for place in ("sections__lessons", "trash__lesson", "trash__section__lessons")
    for slot in ("media", "pending")
]


def in_use(key: str) -> bool:
    """Whether anything still refers to the file `key`."""
    from app.accounts.models import User
    from app.extensions import db

    if Course.objects(cover_key=key).count():
        return True
    if any(Course.objects(**{path: key}).count() for path in _COURSE_PATHS):
        return True
    if MediaUpload.objects(key=key, state="uploading").count():
        return True
    return db.session.scalar(select(User.id).where(User.avatar_key == key).limit(1)) is not None


def referenced_keys() -> Iterator[str]:
    """Every key something refers to (read once, for the orphan report)."""
    from app.accounts.models import User
    from app.extensions import db

    for course in Course.objects.only("cover_key", "sections", "trash"):
        if course.cover_key:
            yield course.cover_key
        lessons = course.all_lessons()
        for media in media_of(lessons):
            yield media.key
    for upload in MediaUpload.objects(state="uploading").only("key"):
        yield upload.key
    for key in db.session.scalars(select(User.avatar_key).where(User.avatar_key.is_not(None))):
        if key:
            yield key


# Where stored objects live, by what they are (app/media/storage.py new_key prefixes).
PREFIXES = ("lessons/", "renditions/", "covers/", "avatars/", "incoming/")


def orphans(grace: timedelta, now: datetime | None = None) -> list[StoredObject]:
    """Stored objects nothing refers to any more, older than `grace` (a younger one may be
    a file on its way: an upload completing, a worker writing a rendition). What is
    made from a lesson file (renditions/<its name>/...) goes with it."""
    cutoff = (now or utcnow()) - grace
    used = set(referenced_keys())
    made_from = {prefix for key in used if (prefix := derived_prefix(key))}
    found = []
    for prefix in PREFIXES:
        for item in storage().list(prefix):
            if item.modified >= cutoff or item.key in used:
                continue
            if prefix == "renditions/" and any(item.key.startswith(p) for p in made_from):
                continue
            found.append(item)
    return found
