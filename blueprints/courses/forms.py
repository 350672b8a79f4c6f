"""The review form of a course page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from app.courses.rules import RATING_MAX, RATING_MIN, REVIEW_MAX


class ReviewForm(FlaskForm):
    rating = RadioField(
        "Your rating",
        choices=[
            SelectChoice(str(n), f"{n} star{'s' if n > 1 else ''}")
            for n in range(RATING_MAX, RATING_MIN - 1, -1)
        ],
        validators=[InputRequired("Choose a rating.")],
    )
    body = TextAreaField("Your review (optional)", validators=[Length(max=REVIEW_MAX)])
