"""Sign up, sign in, sign out, email verification and password reset pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from htmx_flask import request as hx_request

from app.accounts import registration, sessions, verification
from app.errors import ValidationFailed
from app.extensions import db, limiter
from app.ratelimits import address_limit
from app.web import (
    end_session,
    remember_device,
    render,
    request_client,
    safe_next,
    signed_in_user,
    start_session,
    submit_form,
)
from blueprints.auth.forms import (
    ForgotPasswordForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
)
from blueprints.forms import ConfirmForm

bp = Blueprint("auth", __name__)


_limit = address_limit


def _home() -> str:
    return url_for("main.index")


@bp.route("/signup", methods=["GET", "POST"])
@_limit("RATELIMIT_REGISTER")
def register() -> Any:
    """Create an account; a verification email follows."""
    if current_user.is_authenticated:
        return redirect(_home())
    form = RegisterForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), "")

    def create() -> Any:
        user = registration.check_register(form.email.data, form.password.data, form.name.data)
        db.session.commit()
        start_session(user)
        flash(f"Welcome, {user.name}! We sent a confirmation link to {user.email}.", "success")
        return remember_device(redirect(safe_next(form.next.data, _home())), user)

    done, status = submit_form(form, create)
    return done or render(
        "auth/register.html", "auth/partials/register_form.html", status, form=form
    )


@bp.route("/signup/validate", methods=["POST"])
@limiter.limit("600 per hour")
def validate_signup() -> Any:
    """Inline validation of the one sign-up field the user just left (htmx).

    It checks format and password rules only; whether an email is taken is told
    on submit, which has the stricter registration rate limit.
    """
    form = RegisterForm()
    _, problems = registration.registration_problems(
        form.email.data, form.password.data, form.name.data
    )
    field = hx_request.htmx.trigger_name
    if field in problems and getattr(form, field).data:
        getattr(form, field).errors = [problems[field]]
    return render_template("auth/partials/register_form.html", form=form)


@bp.route("/signin", methods=["GET", "POST"])
@_limit("RATELIMIT_SIGNIN")
def login() -> Any:
    """Sign in with email and password, then go back where the user was headed."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), "")
    if current_user.is_authenticated:
        return redirect(safe_next(form.next.data, _home()))

    def sign_in() -> Any:
        user = sessions.authenticate(form.email.data, form.password.data, request_client())
        start_session(user)
        return remember_device(redirect(safe_next(form.next.data, _home())), user)

    done, status = submit_form(form, sign_in)
    return done or render("auth/login.html", "auth/partials/login_form.html", status, form=form)


@bp.route("/signout", methods=["POST"])
@login_required
def logout() -> Any:
    """Sign out here and everywhere else: every session and token of the user ends."""
    if ConfirmForm().validate_on_submit():
        sessions.end_all_sessions(signed_in_user())
        db.session.commit()
        end_session()
        flash("You are signed out.", "info")
    return redirect(_home())


@bp.route("/verify-email/<token>", methods=["GET", "POST"])
def verify_email(token: str) -> Any:
    """Confirm an email address. GET shows a button; only the POST changes anything."""
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            user = verification.verify_email(token)
        except ValidationFailed as exc:
            flash(exc.message, "error")
            return render("auth/verify_email.html", form=form, valid=False, status=400)
        db.session.commit()
        flash("Your email address is confirmed. Thank you!", "success")
        if current_user.is_authenticated and current_user.id == user.id:
            return redirect(_home())
        return redirect(url_for("auth.login"))
    valid = verification.peek_one_time_token(token, verification.VERIFY) is not None
    return render("auth/verify_email.html", form=form, valid=valid, status=200 if valid else 400)


@bp.route("/verify-email/resend", methods=["GET", "POST"])
@login_required
@_limit("RATELIMIT_VERIFY")
def resend_verification() -> Any:
    """Send a new confirmation link to the signed-in user."""
    form = ConfirmForm()
    if form.validate_on_submit():
        if verification.request_verification_email(signed_in_user()):
            db.session.commit()
            flash(f"We sent a new confirmation link to {current_user.email}.", "success")
        else:
            flash("Your email address is already confirmed.", "info")
        return redirect(url_for("account.profile"))
    return render("auth/resend_verification.html", form=form)


@bp.route("/forgot-password", methods=["GET", "POST"])
@_limit("RATELIMIT_RESET")
def forgot_password() -> Any:
    """Ask for a reset link. The answer is the same whether or not the email is known."""
    form = ForgotPasswordForm()

    def ask() -> Any:
        verification.request_password_reset(form.email.data)
        db.session.commit()
        flash(
            "If an account uses that address, we have sent it a link to reset the password. "
            "The link works once, for a limited time.",
            "info",
        )
        return redirect(url_for("auth.login"))

    done, status = submit_form(form, ask)
    return done or render("auth/forgot_password.html", form=form, status=status)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Any:
    """Choose a new password with a reset link; every session and token ends."""
    form = ResetPasswordForm()
    if verification.peek_one_time_token(token, verification.RESET) is None:
        if form.is_submitted():
            flash("This link is invalid or has expired. Ask for a new one.", "error")
            return redirect(url_for("auth.forgot_password"))
        return render("auth/reset_password.html", form=form, valid=False, status=400)

    def choose() -> Any:
        verification.reset_password(token, form.password.data)
        db.session.commit()
        end_session()
        flash("Your password is changed. Sign in with the new one.", "success")
        return redirect(url_for("auth.login"))

    done, status = submit_form(form, choose)
    return done or render("auth/reset_password.html", form=form, valid=True, status=status)
