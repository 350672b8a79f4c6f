"""The signed-in user's own account: profile, avatar, password, data export, deletion."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, url_for
from flask_login import current_user

from app.accounts import profiles
from app.courses import learning
from app.errors import ValidationFailed
from app.extensions import db
from app.media.images import ImageRejected, read_limited
from app.web import (
    end_session,
    flash_error,
    guard_blueprint,
    render,
    request_client,
    signed_in_user,
    start_session,
    submit_form,
)
from blueprints.account.forms import AvatarForm, ChangePasswordForm, DeleteAccountForm, ProfileForm
from blueprints.forms import ConfirmForm

bp = Blueprint("account", __name__, url_prefix="/account")
guard_blueprint(bp, "account.use")  # every page here is the signed-in user's own


def _to_profile() -> Any:
    return redirect(url_for("account.profile"), 303)


@bp.route("/profile", methods=["GET", "POST"])
def profile() -> Any:
    """Edit name and bio."""
    form = ProfileForm(obj=signed_in_user())

    def save() -> Any:
        profiles.update_profile(signed_in_user(), name=form.name.data, bio=form.bio.data)
        db.session.commit()
        flash("Your profile is saved.", "success")
        return redirect(url_for("account.profile"))

    done, status = submit_form(form, save)
    return done or render(
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
            profiles.set_avatar(signed_in_user(), data)
        except ImageRejected as exc:
            flash(str(exc), "error")
            return _to_profile()
        except ValidationFailed as exc:
            db.session.rollback()
            flash_error(exc)
            return _to_profile()
        db.session.commit()
        flash("Your profile picture is updated.", "success")
    else:
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
    return _to_profile()


@bp.route("/avatar/delete", methods=["POST"])
def delete_avatar() -> Any:
    """Remove the profile picture."""
    if ConfirmForm().validate_on_submit():
        profiles.remove_avatar(signed_in_user())
        db.session.commit()
        flash("Your profile picture is removed.", "info")
    return _to_profile()


@bp.route("/password", methods=["GET", "POST"])
def change_password() -> Any:
    """Change the password; every other session and every token ends."""
    form = ChangePasswordForm()

    def change() -> Any:
        user = signed_in_user()
        profiles.change_password(
            user, form.current_password.data, form.new_password.data, request_client()
        )
        db.session.commit()
        start_session(user)  # this session lives on under the new epoch; the others are gone
        flash("Your password is changed. Other devices have been signed out.", "success")
        return redirect(url_for("account.profile"))

    done, status = submit_form(form, change)
    return done or render("account/password.html", form=form, status=status)


@bp.route("/export")
def export() -> Response:
    """Download everything we hold about the user, as JSON: both contexts' data."""
    data = profiles.export_user_data(signed_in_user())
    data["learning"] = learning.export_learning_data(str(current_user.id))
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

    def delete_everything() -> Any:
        profiles.delete_account(signed_in_user(), form.password.data, request_client())
        db.session.commit()
        end_session()
        flash("Your account and all its data have been deleted.", "info")
        return redirect(url_for("main.index"))

    done, status = submit_form(form, delete_everything)
    return done or render("account/delete.html", form=form, status=status)
