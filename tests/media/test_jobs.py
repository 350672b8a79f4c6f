"""The media worker's jobs: a video is validated by content in a job of its own, leased
to one worker; the outcome reaches the lesson and the instructor once, whatever dies on
the way."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.media import jobs, rules
from app.media.documents import MediaUpload
from app.media.probe import MediaRefused
from tests.conftest import Outbox
from tests.media.conftest import mp4


def _queued_job(studio, app, data: bytes):
    """Upload `data` to the video lesson and deliver events up to the queued job."""
    location, _ = studio.upload(data)
    with app.app_context():
        from app.events.bus import dispatch_pending

        while dispatch_pending():
            pass
        upload_id = location.rsplit("/", 1)[1]
        job = db.session.get(jobs.MediaJob, upload_id)
        assert job is not None and job.state == "queued"
    return upload_id


def test_a_video_waits_for_the_media_worker_then_is_ready(studio, app):
    upload_id = _queued_job(studio, app, mp4(40_000))
    assert studio.lesson(studio.video).pending.status == "uploaded"  # not yet prepared
    Outbox(app).deliver()  # the worker runs the job, the course side applies the outcome
    lesson = studio.lesson(studio.video)
    assert lesson.media.status == "ready" and lesson.media.upload_id == upload_id
    with app.app_context():
        assert db.session.get(jobs.MediaJob, upload_id).state == "done"
        states = db.session.scalars(db.select(jobs.MediaJob.state)).all()
        assert states == ["done"]  # nothing queued or running any more


def test_a_video_cut_short_is_refused_with_its_reason(studio, app):
    whole = mp4(60_000)
    video_end = whole.index(b"free") - 4
    cut = whole[: video_end // 2]  # the ftyp and half of it: passes the upload's sniff
    studio.upload(cut)
    messages = Outbox(app).messages()
    pending = studio.lesson(studio.video).pending
    assert pending.status == "failed"
    assert pending.error and "video" in pending.error.lower()
    (mail,) = [m for m in messages if m["Subject"].startswith("Could not use")]
    assert pending.error in mail.get_body(("plain",)).get_content()
    page = studio.client.get(f"/studio/{studio.course.slug}/lessons/{studio.video.id}")
    assert pending.error in page.get_data(as_text=True)
    assert pending.key is None  # the refused file is deleted and counts for nothing
    with app.app_context():
        from app.media.storage import storage

        assert not list(storage().list("lessons/"))


def test_a_file_lesson_needs_no_job(studio, app):
    location, _ = studio.upload(
        b"%PDF-1.4\n" + b"x" * 5000, filename="notes.pdf", lesson=studio.sheet
    )
    Outbox(app).deliver()
    assert studio.lesson(studio.sheet).media.status == "ready"
    with app.app_context():
        assert db.session.get(jobs.MediaJob, location.rsplit("/", 1)[1]) is None


def test_a_job_whose_worker_died_is_taken_again_and_reported_once(studio, app, monkeypatch):
    from app.media.processing import run_job

    upload_id = _queued_job(studio, app, mp4(40_000))
    with app.app_context():
        first = jobs.claim()
        assert first is not None and first.upload_id == upload_id and first.attempts == 1
        assert jobs.claim() is None  # leased: nobody else takes it
        later = first.lease_until + timedelta(seconds=1)  # its worker stopped renewing
        with monkeypatch.context() as other:
            other.setattr(jobs, "worker_name", lambda: "another-host:1")
            again = jobs.claim(now=later)
            assert again is not None and again.attempts == 2
            run_job(again)  # the second worker finishes it
        with pytest.raises(jobs.NotOurs):  # the first comes back to life: its outcome is void
            run_job(first)
    messages = Outbox(app).messages()
    assert len([m for m in messages if m["Subject"].startswith("Ready:")]) == 1
    assert studio.lesson(studio.video).media.upload_id == upload_id


def test_a_job_whose_workers_keep_dying_is_given_up(studio, app):
    upload_id = _queued_job(studio, app, mp4(40_000))
    with app.app_context():
        job = db.session.get(jobs.MediaJob, upload_id)
        job.attempts = rules.JOB_MAX_ATTEMPTS  # three workers died on it already
        db.session.commit()
    Outbox(app).deliver()
    pending = studio.lesson(studio.video).pending
    assert pending.status == "failed" and pending.error == rules.REASON_OURS


def test_a_probe_that_times_out_is_tried_again_then_refused(studio, app, monkeypatch):
    import app.media.processing as processing

    calls = []

    def too_slow(path):
        calls.append(path)
        raise MediaRefused("Reading this video took too long.", code="timeout")

    monkeypatch.setattr(processing, "probe_video", too_slow)
    upload_id = _queued_job(studio, app, mp4(40_000))
    Outbox(app).deliver()
    assert len(calls) == rules.JOB_MAX_ATTEMPTS
    pending = studio.lesson(studio.video).pending
    assert pending.status == "failed" and "too long" in pending.error
    with app.app_context():
        job = db.session.get(jobs.MediaJob, upload_id)
        assert job.state == "done" and job.attempts == rules.JOB_MAX_ATTEMPTS


def test_a_failure_of_ours_is_retried_then_reported_and_the_instructor_tries_again(
    studio, app, monkeypatch
):
    import app.media.processing as processing

    def broken(path):
        raise RuntimeError("disk full")

    real = processing.probe_video
    monkeypatch.setattr(processing, "probe_video", broken)
    upload_id = _queued_job(studio, app, mp4(40_000))
    Outbox(app).deliver()
    pending = studio.lesson(studio.video).pending
    assert pending.status == "failed" and pending.error == rules.REASON_OURS
    assert pending.key  # kept: the file was not at fault
    with app.app_context():
        job = db.session.get(jobs.MediaJob, upload_id)
        assert job.attempts == rules.JOB_MAX_ATTEMPTS and "disk full" in job.last_error
    page = studio.client.get(f"/studio/{studio.course.slug}/lessons/{studio.video.id}")
    assert "Try again" in page.get_data(as_text=True)

    monkeypatch.setattr(processing, "probe_video", real)  # the disk has room again
    retry = f"/studio/{studio.course.slug}/lessons/{studio.video.id}/media/retry"
    studio.client.submit(retry, {})
    assert studio.lesson(studio.video).pending.status == "uploaded"
    Outbox(app).deliver()
    lesson = studio.lesson(studio.video)
    assert lesson.media.status == "ready" and lesson.media.upload_id == upload_id
    again = studio.client.submit(retry, {}, follow_redirects=True)  # nothing left to retry
    assert "nothing to try again" in again.get_data(as_text=True)


def test_a_redelivered_upload_event_queues_nothing_more(studio, app):
    upload_id = _queued_job(studio, app, mp4(40_000))
    with app.app_context():
        from app.courses.outbox import DocOutboxEvent
        from app.events.bus import deliver

        for event in DocOutboxEvent.objects(type="media.uploaded"):
            deliver(event.envelope())
        assert db.session.query(jobs.MediaJob).filter_by(upload_id=upload_id).count() == 1
    assert MediaUpload.objects.get(id=upload_id).state == "complete"


def test_the_studio_follows_the_worker_step_by_step(studio, app, monkeypatch):
    import app.media.processing as processing
    from app.events.bus import dispatch_pending

    real = processing.make_hls
    seen = []

    def status() -> str:
        return studio.client.get(
            f"/studio/{studio.course.slug}/lessons/{studio.video.id}/media/status",
            headers={"HX-Request": "true"},
        ).get_data(as_text=True)

    def watched(job, path, info, lost, stop=None):
        dispatch_pending()  # the course side hears `validating`
        seen.append(status())
        processing.report(job.facts, "processing", 40)
        dispatch_pending()
        seen.append(status())
        return real(job, path, info, lost, stop)

    monkeypatch.setattr(processing, "make_hls", watched)
    _queued_job(studio, app, mp4(40_000))
    assert "waiting for the media worker" in status()
    Outbox(app).deliver()
    checking, preparing = seen
    assert "checking" in checking and 'hx-trigger="every 2s"' in checking
    assert "40% ready for learners" in preparing and 'value="40"' in preparing
    final = status()
    assert "media-ready" in final and "hx-trigger" not in final  # polling stops
