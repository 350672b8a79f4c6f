"""Forms of the account pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from app.accounts.passwords import MAX_INPUT_LENGTH, MIN_LENGTH
from app.accounts.profiles import BIO_MAX
from app.validation import NAME_MAX


class ProfileForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=NAME_MAX)])
    bio = TextAreaField(
        "About you",
        validators=[Length(max=BIO_MAX)],
        description="Shown on your public profile and next to your courses.",
    )


class AvatarForm(FlaskForm):
    avatar = FileField(
        "Profile picture",
        validators=[FileRequired("Choose an image file.")],
        description="JPEG, PNG, WebP or GIF, up to 2 MB. We crop it to a square.",
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[InputRequired(), Length(max=MAX_INPUT_LENGTH)]
    )
    new_password = PasswordField(
        "New password",
        validators=[InputRequired(), Length(max=MAX_INPUT_LENGTH)],
        description=f"At least {MIN_LENGTH} characters.",
    )


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[Length(max=MAX_INPUT_LENGTH)],
        description="We ask once more to be sure it is you.",
    )
