"""Authoring: instructors create and edit courses, sections and lessons, and attach files.

Every change checks that the actor may edit the course (its instructor, or an admin),
whoever calls it. Publishing is in workflow.py, the trash in trash.py.
"""

from __future__ import annotations

from typing import Any

from mongoengine.errors import NotUniqueError

from app.courses import policies
from app.courses.documents import Course, Instructor, Lesson, Section, TrashItem
from app.courses.fields import clean_course_fields, clean_lesson_fields, slugify
from app.courses.outline import find_lesson, find_section, save_outline
from app.courses.rules import MAX_LESSONS, MAX_SECTIONS, TITLE_MAX
from app.courses.trash import move_to_trash
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.policies import can, require
from app.validation import clean_name, clean_slug


def access_editable(actor: Any, slug: Any) -> Course:
    """A course the actor may edit; anyone else's is NotFound (not even its existence)."""
    if not isinstance(slug, str):
        raise NotFound("No such course.")
    course = Course.objects(slug=slug).first()
    if course is None or not can(actor, "course.edit", course):
        if course is not None and can(actor, "course.moderate"):
            raise Forbidden("Only the course's instructor can edit it.")
        raise NotFound("No such course.")
    return course


def instructor_courses(actor: Any) -> list[Course]:
    """The actor's own courses, most recently changed first."""
    if not can(actor, "course.create"):
        raise Forbidden("Only instructors can create courses.")
    return list(
        Course.objects(instructor__id=policies.uid(actor))
        .exclude("sections", "trash", "description", "keywords")
        .order_by("-updated_at")
    )


# ---------------------------------------------------------------- courses


def create_course(actor: Any, data: dict[str, Any]) -> Course:
    """A new draft course owned by the actor, with a unique slug from its title."""
    if not can(actor, "course.create"):
        raise Forbidden("Only instructors can create courses.")
    fields = clean_course_fields(data)
    wanted = data.get("slug")
    base = clean_slug(wanted) if wanted else slugify(fields["title"])
    instructor = Instructor(id=policies.uid(actor), name=actor.name)
    for attempt in range(20):
        slug = base if attempt == 0 else f"{base}-{attempt + 1}"
        course = Course(slug=slug, instructor=instructor, **fields)
        course.recount()
        try:
            course.save(force_insert=True)
            return course
        except NotUniqueError:
            if wanted:
                raise Conflict(
                    "That address is taken.", fields={"slug": "That address is taken."}
                ) from None
    raise Conflict("Could not find a free address for this course; choose one.")


def update_course(actor: Any, course: Course, data: dict[str, Any]) -> Course:
    """Change the course's metadata (only the fields given)."""
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    for key, value in clean_course_fields(data, partial=True).items():
        setattr(course, key, value)
    save_outline(course)
    return course


def add_section(actor: Any, course: Course, title: Any) -> Section:
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    if len(course.sections) >= MAX_SECTIONS:
        raise ValidationFailed(fields={"title": f"A course has at most {MAX_SECTIONS} sections."})
    section = Section(title=clean_name(title, "title", TITLE_MAX))
    course.sections.append(section)
    save_outline(course)
    return section


def rename_section(actor: Any, course: Course, section_id: Any, title: Any) -> Section:
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    section = find_section(course, section_id)
    section.title = clean_name(title, "title", TITLE_MAX)
    save_outline(course)
    return section


def delete_section(actor: Any, course: Course, section_id: Any) -> TrashItem:
    """Move a section, with its lessons and their files, to the course's trash."""
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    section = find_section(course, section_id)
    position = list(course.sections).index(section)
    course.sections = [s for s in course.sections if s.id != section.id]
    item = TrashItem(kind="section", section=section, section_id=section.id, position=position)
    move_to_trash(course, item, actor)
    return item


def _move(items: list[Any], index: int, direction: Any) -> None:
    if direction not in ("up", "down"):
        raise ValidationFailed(fields={"direction": "Choose up or down."})
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]


def move_section(actor: Any, course: Course, section_id: Any, direction: Any) -> None:
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    section = find_section(course, section_id)
    items = list(course.sections)
    _move(items, items.index(section), direction)
    course.sections = items
    save_outline(course)


# ---------------------------------------------------------------- lessons


def add_lesson(actor: Any, course: Course, section_id: Any, data: dict[str, Any]) -> Lesson:
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    section = find_section(course, section_id)
    if course.lesson_count >= MAX_LESSONS:
        raise ValidationFailed(fields={"title": f"A course has at most {MAX_LESSONS} lessons."})
    lesson = Lesson(**clean_lesson_fields(data))
    section.lessons.append(lesson)
    save_outline(course)
    return lesson


def update_lesson(actor: Any, course: Course, lesson_id: Any, data: dict[str, Any]) -> Lesson:
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    _, lesson = find_lesson(course, lesson_id)
    fields = clean_lesson_fields(data, kind=lesson.kind, previous=lesson.questions)
    for key, value in fields.items():
        setattr(lesson, key, value)
    save_outline(course)
    return lesson


def delete_lesson(actor: Any, course: Course, lesson_id: Any) -> TrashItem:
    """Move a lesson, with its file, to the course's trash."""
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    section, lesson = find_lesson(course, lesson_id)
    position = list(section.lessons).index(lesson)
    section.lessons = [item for item in section.lessons if item.id != lesson.id]
    item = TrashItem(
        kind="lesson",
        lesson=lesson,
        section_id=section.id,
        section_title=section.title,
        position=position,
    )
    move_to_trash(course, item, actor)
    return item


def move_lesson(actor: Any, course: Course, lesson_id: Any, direction: Any) -> None:
    """Move a lesson up or down; past the end of its section it moves to the next one."""
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    section, lesson = find_lesson(course, lesson_id)
    lessons = list(section.lessons)
    index = lessons.index(lesson)
    sections = list(course.sections)
    s_index = sections.index(section)
    if direction == "up" and index == 0 and s_index > 0:
        section.lessons = lessons[1:]
        sections[s_index - 1].lessons.append(lesson)
    elif direction == "down" and index == len(lessons) - 1 and s_index < len(sections) - 1:
        section.lessons = lessons[:-1]
        sections[s_index + 1].lessons.insert(0, lesson)
    else:
        _move(lessons, index, direction)
        section.lessons = lessons
    save_outline(course)


def set_cover(actor: Any, course: Course, data: bytes) -> None:
    """Re-encode an uploaded image as the course's 16:9 cover."""
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    from app.media.images import make_cover, replace_image

    course.cover_key = replace_image(data, make_cover, "covers", course.cover_key, "cover")
    save_outline(course)
