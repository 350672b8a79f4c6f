"""The signed-in user's own account: profile, avatar, password, data export, deletion."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.accounts import profiles
from app.courses import learning
from app.errors import ValidationFailed
from app.extensions import db
from app.media.images import ImageRejected, read_limited
from app.security import start_session_clock
from app.web import form_errors, render, request_client
from blueprints.account.forms import AvatarForm, ChangePasswordForm, DeleteAccountForm, ProfileForm
from blueprints.auth.forms import ConfirmForm

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here is the signed-in user's own."""


def _user() -> Any:
    return current_user._get_current_object()


@bp.route("/profile", methods=["GET", "POST"])
def profile() -> Any:
    """Edit name and bio."""
    form = ProfileForm(obj=_user())
    status = 200
    if form.validate_on_submit():
        try:
            profiles.update_profile(_user(), name=form.name.data, bio=form.bio.data)
        except ValidationFailed as exc:
            db.session.rollback()
            form_errors(form, exc)
            status = 422
        else:
            db.session.commit()
            flash("Your profile is saved.", "success")
            return redirect(url_for("account.profile"))
    elif form.is_submitted():
        status = 422
    return render(
        "account/profile.html",
        "account/partials/profile_form.html",
        status,
        form=form,
        avatar_form=AvatarForm(),
        resend_form=ConfirmForm(),
    )


@bp.route("/avatar", methods=["POST"])
def avatar() -> Any:
    """Upload a new profile picture."""
    form = AvatarForm()
    if form.validate_on_submit():
        try:
            data = read_limited(form.avatar.data.stream, current_app.config["AVATAR_MAX_BYTES"])
            profiles.set_avatar(_user(), data)
        except ImageRejected as exc:
            flash(str(exc), "error")
            return redirect(url_for("account.profile"), 303)
        except ValidationFailed as exc:
            db.session.rollback()
            flash(next(iter(exc.fields.values()), exc.message), "error")
            return redirect(url_for("account.profile"), 303)
        db.session.commit()
        flash("Your profile picture is updated.", "success")
    else:
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
    return redirect(url_for("account.profile"), 303)


@bp.route("/avatar/delete", methods=["POST"])
def delete_avatar() -> Any:
    """Remove the profile picture."""
    if ConfirmForm().validate_on_submit():
        profiles.remove_avatar(_user())
        db.session.commit()
        flash("Your profile picture is removed.", "info")
    return redirect(url_for("account.profile"), 303)


@bp.route("/password", methods=["GET", "POST"])
def change_password() -> Any:
    """Change the password; every other session and every token ends."""
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            profiles.change_password(
                _user(), form.current_password.data, form.new_password.data, request_client()
            )
        except ValidationFailed as exc:
            db.session.rollback()
            form_errors(form, exc)
            status = 422
        else:
            db.session.commit()
            # This session lives on under the new epoch; all the others are gone.
            user = _user()
            session.clear()
            login_user(user)
            start_session_clock()
            flash("Your password is changed. Other devices have been signed out.", "success")
            return redirect(url_for("account.profile"))
    elif form.is_submitted():
        status = 422
    return render("account/password.html", form=form, status=status)


@bp.route("/export")
def export() -> Response:
    """Download everything we hold about the user, as JSON: both contexts' data."""
    data = profiles.export_user_data(_user())
    data["learning"] = learning.export_learning_data(str(_user().id))
    body = json.dumps(data, indent=2, default=str)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="lectern-my-data.json"'},
    )


@bp.route("/delete", methods=["GET", "POST"])
def delete() -> Any:
    """Delete the account and all its data, after the password is confirmed."""
    form = DeleteAccountForm()
    status = 200
    if form.validate_on_submit():
        try:
            profiles.delete_account(_user(), form.password.data, request_client())
        except ValidationFailed as exc:
            db.session.rollback()
            form_errors(form, exc)
            status = 422
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash("Your account and all its data have been deleted.", "info")
            return redirect(url_for("main.index"))
    elif form.is_submitted():
        status = 422
    return render("account/delete.html", form=form, status=status)
