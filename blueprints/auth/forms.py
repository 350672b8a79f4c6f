"""Sign-up, sign-in and password forms. They collect input; services hold the rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length


class RegisterForm(FlaskForm):
    next = HiddenField()
    name = StringField("Your name", validators=[InputRequired(), Length(max=100)])
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField(
        "Password",
        validators=[InputRequired(), Length(max=1024)],
        description="At least 12 characters. A few unrelated words make a strong one.",
    )


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=512)])
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[InputRequired(), Length(max=1024)],
        description="At least 12 characters.",
    )
