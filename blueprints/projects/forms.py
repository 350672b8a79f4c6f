"""The project form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from app.accounts.projects import PROJECT_DESCRIPTION_MAX, PROJECT_NAME_MAX
from app.validation import SLUG_MAX


class ProjectForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=PROJECT_NAME_MAX)])
    description = TextAreaField(
        "Description", validators=[Optional(), Length(max=PROJECT_DESCRIPTION_MAX)]
    )
    course_slug = StringField(
        "Course (optional)",
        validators=[Optional(), Length(max=SLUG_MAX)],
        description="The course this project belongs to, by its address, e.g. intro-to-python.",
    )
