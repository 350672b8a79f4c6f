"""The course side's vocabularies and limits, each defined once.

Documents, services, the studio's forms, the API's JSON Schemas and the templates
all read them from here, so a limit cannot differ between a form and the API.
"""

from __future__ import annotations

# ---------------------------------------------------------------- vocabularies

STATUSES = ("draft", "in_review", "published", "unpublished")
LEVELS = ("beginner", "intermediate", "advanced")
KINDS = ("video", "reading", "file", "quiz")
# A lesson's file: its bytes arriving, complete and checked, being prepared, then
# ready for learners (or failed, with the reason).
MEDIA_STATES = ("none", "uploading", "uploaded", "processing", "ready", "failed")
# What the media worker is doing with a file in state `processing` (`media.processing`).
MEDIA_STEPS = ("validating", "processing")
TRASH_KINDS = ("section", "lesson")
# When a learner sees a quiz's correct choices and explanations.
REVEAL_LABELS = {
    "after_pass": "Once the learner passes",
    "after_each_attempt": "After each attempt",
}
REVEAL_MODES = tuple(REVEAL_LABELS)

# ---------------------------------------------------------------- a course

TITLE_MAX = 200  # courses, sections and lessons
SUBTITLE_MAX = 300
DESCRIPTION_MAX = 20_000
CATEGORY_MAX = 60
TAG_MAX = 40
TAGS_MAX = 12
TAGS_TEXT_MAX = TAGS_MAX * (TAG_MAX + 2)  # the comma-separated form field
LANGUAGE_MAX = 10
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"
NOTE_MAX = 2000  # a moderator's note to the instructor
MAX_SECTIONS = 200
MAX_LESSONS = 2_000

# ---------------------------------------------------------------- a lesson

BODY_MAX = 100_000  # Markdown
DURATION_MAX_MINUTES = 1440
POSITION_MAX = 24 * 3600  # seconds into a video

# ---------------------------------------------------------------- a quiz

PASS_MARK_DEFAULT = 70
MAX_QUESTIONS = 100
MAX_CHOICES = 10
PROMPT_MAX = 2000
CHOICE_MAX = 500
EXPLANATION_MAX = 2000
QUIZ_TEXT_MAX = 50_000  # the studio's plain-text quiz editor
MAX_ATTEMPTS_LIMIT = 100  # the largest maximum an instructor may set
COOLDOWN_MAX_MINUTES = 7 * 24 * 60
DEFAULT_COOLDOWN_MINUTES = 1

# ---------------------------------------------------------------- reviews

RATING_MIN, RATING_MAX = 1, 5
REVIEW_MAX = 5000

# ---------------------------------------------------------------- the catalog

SORTS = {
    "newest": ("-published_at", "-id"),
    "popular": ("-enrollment_count", "-published_at", "-id"),
    "rating": ("-rating_avg", "-rating_count", "-id"),
    "title": ("title", "id"),
}
PER_PAGE = 12
MAX_PER_PAGE = 50
MAX_PAGE = 10_000
TEXT_PARAM_MAX = 100  # q, category, language and tag; longer is a 422, never cut
