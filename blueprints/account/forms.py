"""Forms of the account pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length


class ProfileForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=100)])
    bio = TextAreaField(
        "About you",
        validators=[Length(max=2000)],
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
        "Current password", validators=[InputRequired(), Length(max=512)]
    )
    new_password = PasswordField(
        "New password",
        validators=[InputRequired(), Length(max=1024)],
        description="At least 12 characters.",
    )


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[Length(max=512)],
        description="We ask once more to be sure it is you.",
    )
