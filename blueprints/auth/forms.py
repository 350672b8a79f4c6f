"""Sign-up, sign-in and password forms. They collect input; services hold the rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length

from app.accounts.passwords import MAX_INPUT_LENGTH, MIN_LENGTH
from app.accounts.registration import EMAIL_MAX
from app.validation import NAME_MAX


class RegisterForm(FlaskForm):
    next = HiddenField()
    name = StringField("Your name", validators=[InputRequired(), Length(max=NAME_MAX)])
    email = EmailField("Email", validators=[InputRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField(
        "Password",
        validators=[InputRequired(), Length(max=MAX_INPUT_LENGTH)],
        description=f"At least {MIN_LENGTH} characters. A few unrelated words make a strong one.",
    )


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=EMAIL_MAX)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=MAX_INPUT_LENGTH)])
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=EMAIL_MAX)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[InputRequired(), Length(max=MAX_INPUT_LENGTH)],
        description=f"At least {MIN_LENGTH} characters.",
    )
