from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional


class ProjectForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)])
    course_slug = StringField(
        "Course (optional)",
        validators=[Optional(), Length(max=120)],
        description="The course this project belongs to, by its address, e.g. intro-to-python.",
    )
