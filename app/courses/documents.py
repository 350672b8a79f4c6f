"""MongoDB documents of the courses context (mongoengine).

A course holds its sections and lessons as embedded documents, so a course
page, a lesson page or an outline is one read however many lessons there are.
A learner's progress through one course lives in one Enrollment document.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    EmbeddedDocument,
    EmbeddedDocumentField,
    EmbeddedDocumentListField,
    FloatField,
    IntField,
    ListField,
    MapField,
    StringField,
)

from app.courses.rules import (
    CATEGORY_MAX,
    CHOICE_MAX,
    DEFAULT_COOLDOWN_MINUTES,
    EXPLANATION_MAX,
    KINDS,
    LANGUAGE_MAX,
    LEVELS,
    MEDIA_STATES,
    MEDIA_STEPS,
    PASS_MARK_DEFAULT,
    PROMPT_MAX,
    RATING_MAX,
    RATING_MIN,
    REVEAL_MODES,
    REVIEW_MAX,
    STATUSES,
    SUBTITLE_MAX,
    TAG_MAX,
    TITLE_MAX,
    TRASH_KINDS,
)
from app.text import keywords
from app.timeutil import utcnow
from app.validation import NAME_MAX, SLUG_MAX

ID_PATTERN = r"^[0-9a-f]{32}$"  # what new_id() makes: sections, lessons, questions, choices


def new_id() -> str:
    return uuid.uuid4().hex


def object_id(value: Any) -> ObjectId | None:
    """The ObjectId a URL segment names, or None for anything else (never an operator)."""
    if not isinstance(value, str):
        return None
    try:
        return ObjectId(value)
    except InvalidId:
        return None


class Choice(EmbeddedDocument):
    id = StringField(required=True, default=new_id)
    text = StringField(required=True, max_length=CHOICE_MAX)


class Question(EmbeddedDocument):
    id = StringField(required=True, default=new_id)
    prompt = StringField(required=True, max_length=PROMPT_MAX)
    multiple = BooleanField(default=False)  # single or multiple choice
    choices = EmbeddedDocumentListField(Choice)
    correct = ListField(StringField())  # choice ids; never sent before an attempt
    explanation = StringField(default="", max_length=EXPLANATION_MAX)


class Media(EmbeddedDocument):
    """A lesson's file: the original as uploaded (`key`), and what is made from it."""

    key = StringField()
    filename = StringField(max_length=200)
    content_type = StringField(max_length=100)
    size = IntField(default=0)
    status = StringField(choices=MEDIA_STATES, default="none")
    error = StringField(default="")
    upload_id = StringField()  # the MediaUpload that brought it (app/media/documents.py)
    uploaded_at = DateTimeField()
    renditions_bytes = IntField(default=0)  # what processing stored besides the original
    hls_master = StringField()  # a video's HLS master playlist (renditions/<name>/hls/...)
    step = StringField(choices=MEDIA_STEPS)  # while `processing`: what the worker does
    percent = IntField(min_value=0, max_value=100)  # ... and how far it is
    page_count = IntField()
    duration_seconds = IntField()

    @property
    def opens_in_page(self) -> bool:
        """Whether browsers get it to show (a PDF in a frame), rather than to download:
        app/media/delivery.py decides, from its type and the name it is offered under."""
        from app.media.delivery import present

        return bool(self.key) and present(self.key, self.filename or "").inline

    @property
    def stored_bytes(self) -> int:
        """Every byte this file takes in storage, as the instructor's quota counts it."""
        return (self.size or 0) + (self.renditions_bytes or 0) if self.key else 0


class Lesson(EmbeddedDocument):
    id = StringField(required=True, default=new_id)
    title = StringField(required=True, max_length=TITLE_MAX)
    kind = StringField(required=True, choices=KINDS)
    preview = BooleanField(default=False)  # free preview for anyone
    required = BooleanField(default=True)  # counts towards completion
    duration_minutes = IntField(default=0, min_value=0)
    body = StringField(default="")  # Markdown for reading lessons, notes for the others
    media = EmbeddedDocumentField(Media, default=Media)  # what learners get once ready
    # A new file on its way (uploading, being checked or prepared): it replaces `media`
    # only once ready, so learners keep the old one meanwhile.
    pending = EmbeddedDocumentField(Media)
    pass_mark = IntField(default=PASS_MARK_DEFAULT, min_value=0, max_value=100)
    questions = EmbeddedDocumentListField(Question)
    # Quiz rules (app/courses/quizzes.py): the answer key stays hidden until a pass, and
    # attempts are spaced out and optionally capped, so a certificate means something.
    reveal = StringField(choices=REVEAL_MODES, default="after_pass")
    max_attempts = IntField(default=0, min_value=0)  # 0: no maximum
    cooldown_minutes = IntField(default=DEFAULT_COOLDOWN_MINUTES, min_value=0)
    shuffle = BooleanField(default=False)  # choices in a new order for each attempt

    def passed_with(self, best_score: int | None) -> bool:
        """Whether a quiz score reaches this lesson's pass mark."""
        return best_score is not None and best_score >= self.pass_mark

    def reveals_answers(self, best_score: int | None) -> bool:
        """Whether a learner with this best score may see the quiz's answer key (and which
        of their answers were right): once they have passed, or always if the instructor
        chose to show it after each attempt."""
        return self.reveal == "after_each_attempt" or self.passed_with(best_score)


def media_of(lessons: Any) -> list[Media]:
    """The lessons' stored files: the current ones and those on their way."""
    return [m for lesson in lessons for m in (lesson.media, lesson.pending) if m and m.key]


def media_keys(lessons: Any) -> list[str]:
    """The storage keys of the lessons' files."""
    return [m.key for m in media_of(lessons)]


class Section(EmbeddedDocument):
    id = StringField(required=True, default=new_id)
    title = StringField(required=True, max_length=TITLE_MAX)
    lessons = EmbeddedDocumentListField(Lesson)

    def media_keys(self) -> list[str]:
        return media_keys(self.lessons)


class TrashItem(EmbeddedDocument):
    """A section (with its lessons) or a lesson deleted from the outline. It can be
    restored until it is purged after the retention period; only then are its files
    deleted (docs/decisions/0020)."""

    id = StringField(required=True, default=new_id)
    kind = StringField(required=True, choices=TRASH_KINDS)
    section = EmbeddedDocumentField(Section)  # kind "section", with its lessons
    lesson = EmbeddedDocumentField(Lesson)  # kind "lesson"
    section_id = StringField(default="")  # where it was: the lesson's section
    section_title = StringField(default="", max_length=TITLE_MAX)
    position = IntField(default=0, min_value=0)  # and its index there
    deleted_at = DateTimeField(required=True, default=utcnow)
    deleted_by_id = StringField(default="")
    deleted_by_name = StringField(default="", max_length=NAME_MAX)

    @property
    def title(self) -> str:
        return str((self.section or self.lesson).title)

    def lessons(self) -> list[Lesson]:
        return list(self.section.lessons) if self.section else [self.lesson]

    def media_keys(self) -> list[str]:
        return media_keys(self.lessons())


class Instructor(EmbeddedDocument):
    id = StringField(required=True)
    name = StringField(required=True, max_length=NAME_MAX)
    deleted = BooleanField(default=False)  # the account is gone; an admin reassigns


class Course(Document):
    slug = StringField(required=True, unique=True, max_length=SLUG_MAX)
    title = StringField(required=True, max_length=TITLE_MAX)
    subtitle = StringField(default="", max_length=SUBTITLE_MAX)
    description = StringField(default="")
    category = StringField(default="", max_length=CATEGORY_MAX)
    tags = ListField(StringField(max_length=TAG_MAX))
    level = StringField(choices=LEVELS, default="beginner")
    language = StringField(default="en", max_length=LANGUAGE_MAX)
    cover_key = StringField()
    instructor = EmbeddedDocumentField(Instructor, required=True)
    status = StringField(choices=STATUSES, default="draft")
    review_note = StringField(default="")
    sections = EmbeddedDocumentListField(Section)
    trash = EmbeddedDocumentListField(TrashItem)  # deleted sections and lessons, restorable
    # Bumped by every write of the outline (save_outline, set_lesson_fields), so a save made
    # from a stale read is noticed and redone on fresh data (app/courses/outline.py).
    version = IntField(default=0)
    lesson_count = IntField(default=0)
    duration_minutes = IntField(default=0)
    enrollment_count = IntField(default=0)
    rating_count = IntField(default=0)
    rating_avg = FloatField(default=0.0)
    keywords = ListField(StringField())  # words for prefix search (see app.text.keywords)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    submitted_at = DateTimeField()
    published_at = DateTimeField()

    meta = {
        "collection": "courses",
        # Documents written by older versions may carry fields since dropped.
        "strict": False,
        "indexes": [
            "status",
            "instructor.id",
            ("status", "-published_at"),
            ("status", "-enrollment_count"),
            ("status", "-rating_avg"),
            ("status", "category"),
            ("status", "keywords"),
            "trash.deleted_at",
        ],
    }

    def lessons(self) -> list[tuple[Section, Lesson]]:
        return [(s, lesson) for s in self.sections for lesson in s.lessons]

    def all_lessons(self) -> list[Lesson]:
        """Every lesson the course holds: its outline's and its trash's (their files
        count, and are kept, until the trash is purged)."""
        lessons = [lesson for _, lesson in self.lessons()]
        return lessons + [lesson for item in self.trash for lesson in item.lessons()]

    def find_lesson(self, lesson_id: str) -> tuple[Section, Lesson] | None:
        for section, lesson in self.lessons():
            if lesson.id == lesson_id:
                return section, lesson
        return None

    def recount(self) -> None:
        """Keep the denormalised outline counters in step with the sections."""
        lessons = [lesson for _, lesson in self.lessons()]
        self.lesson_count = len(lessons)
        self.duration_minutes = sum(lesson.duration_minutes or 0 for lesson in lessons)
        self.keywords = keywords(
            self.title,
            self.subtitle,
            self.category,
            " ".join(self.tags),
            self.instructor.name,
            self.description,
        )


class LessonProgress(EmbeddedDocument):
    completed = BooleanField(default=False)
    completed_at = DateTimeField()
    position_seconds = IntField(default=0, min_value=0)
    last_visited_at = DateTimeField()
    best_score = IntField()
    attempts = IntField(default=0)  # quiz attempts since the instructor last reset them
    last_attempt_at = DateTimeField()


class Enrollment(Document):
    user_id = StringField(required=True)
    user_name = StringField(default="", max_length=NAME_MAX)  # kept current by user.renamed
    course_id = StringField(required=True)
    course_slug = StringField(required=True)
    enrolled_at = DateTimeField(default=utcnow)
    last_lesson_id = StringField()
    last_visited_at = DateTimeField()
    progress = MapField(EmbeddedDocumentField(LessonProgress))  # lesson id -> progress
    completed_count = IntField(default=0)
    percent = IntField(default=0)
    completed_at = DateTimeField()
    certificate_code = StringField()
    version = IntField(default=0)  # optimistic concurrency for progress writes

    meta = {
        "collection": "enrollments",
        "indexes": [
            {"fields": ["user_id", "course_id"], "unique": True},
            ("course_id", "enrolled_at"),
            ("user_id", "-last_visited_at"),
        ],
    }


class QuizAttempt(Document):
    user_id = StringField(required=True)
    course_id = StringField(required=True)
    lesson_id = StringField(required=True)
    answers = DictField()  # question id -> [choice ids]
    correct = ListField(StringField())  # ids of the questions answered right
    score = IntField(required=True)
    passed = BooleanField(required=True)
    created_at = DateTimeField(default=utcnow)

    meta = {
        "collection": "quiz_attempts",
        "indexes": [("user_id", "course_id", "lesson_id", "-created_at")],
    }


class Review(Document):
    course_id = StringField(required=True)
    user_id = StringField(required=True)
    user_name = StringField(required=True, max_length=NAME_MAX)
    rating = IntField(required=True, min_value=RATING_MIN, max_value=RATING_MAX)
    body = StringField(default="", max_length=REVIEW_MAX)
    hidden = BooleanField(default=False)
    reported_by = ListField(StringField())
    report_count = IntField(default=0)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    meta = {
        "collection": "reviews",
        "indexes": [
            {"fields": ["course_id", "user_id"], "unique": True},
            ("course_id", "hidden", "-created_at"),
            ("hidden", "-report_count"),
            "user_id",
        ],
    }


def new_certificate_code() -> str:
    return secrets.token_hex(8).upper()


class Certificate(Document):
    code = StringField(required=True, unique=True, default=new_certificate_code)
    user_id = StringField(required=True)
    user_name = StringField(required=True)
    course_id = StringField(required=True)
    course_slug = StringField(required=True)
    course_title = StringField(required=True)
    instructor_name = StringField(required=True)
    issued_at = DateTimeField(default=utcnow)

    meta = {
        "collection": "certificates",
        "indexes": [{"fields": ["user_id", "course_id"], "unique": True}],
    }


ALL = (Course, Enrollment, QuizAttempt, Review, Certificate)
