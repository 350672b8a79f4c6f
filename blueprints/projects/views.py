"""A learner's own projects. Owner only: anyone else's project is simply not found."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, url_for

from app.accounts import projects
from app.extensions import db
from app.web import guard_blueprint, render, signed_in_user, submit_form
from blueprints.forms import ConfirmForm
from blueprints.projects.forms import ProjectForm

bp = Blueprint("projects", __name__, url_prefix="/projects")
guard_blueprint(bp, "projects.use")  # projects belong to signed-in users


@bp.route("/")
def index() -> Any:
    """The user's projects, newest first."""
    return render("projects/index.html", projects=projects.list_projects(signed_in_user()))


@bp.route("/new", methods=["GET", "POST"])
def create() -> Any:
    """Start a new project."""
    form = ProjectForm()

    def start() -> Any:
        project = projects.create_project(
            signed_in_user(), form.name.data, form.description.data, form.course_slug.data
        )
        db.session.commit()
        flash("Project created.", "success")
        return redirect(url_for("projects.show", project_id=project.id))

    done, status = submit_form(form, start)
    return done or render("projects/form.html", form=form, project=None, status=status)


@bp.route("/<project_id>")
def show(project_id: str) -> Any:
    """One project."""
    project = projects.access_project(signed_in_user(), project_id)
    return render("projects/show.html", project=project)


@bp.route("/<project_id>/edit", methods=["GET", "POST"])
def edit(project_id: str) -> Any:
    """Edit a project."""
    project = projects.access_project(signed_in_user(), project_id)
    form = ProjectForm(obj=project)

    def save() -> Any:
        projects.update_project(
            signed_in_user(),
            project_id,
            name=form.name.data,
            description=form.description.data or "",
            course_slug=form.course_slug.data or None,
        )
        db.session.commit()
        flash("Project saved.", "success")
        return redirect(url_for("projects.show", project_id=project.id))

    done, status = submit_form(form, save)
    return done or render("projects/form.html", form=form, project=project, status=status)


@bp.route("/<project_id>/delete", methods=["GET", "POST"])
def delete(project_id: str) -> Any:
    """Say what goes and ask (GET); delete the project (POST)."""
    project = projects.access_project(signed_in_user(), project_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = project.name  # a deleted row's attributes are gone after the commit
        projects.delete_project(signed_in_user(), project_id)
        db.session.commit()
        flash(f"Project “{name}” deleted.", "info")
        return redirect(url_for("projects.index"), 303)
    return render(
        "projects/confirm_delete.html",
        project=project,
        form=form,
        cancel_url=url_for("projects.show", project_id=project.id),
    )
