"""Forms that several blueprints share. Each blueprint's own forms live in its forms.py."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length, Optional

from app.courses.rules import NOTE_MAX


class ConfirmForm(FlaskForm):
    """A button that only needs CSRF protection (sign out, delete, move, …)."""


class NoteForm(FlaskForm):
    """A moderator's note to an instructor."""

    note = TextAreaField("Note to the instructor", validators=[Optional(), Length(max=NOTE_MAX)])
