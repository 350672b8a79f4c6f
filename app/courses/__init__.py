"""The courses context (the "course service"): courses, sections, lessons, enrolments,
progress, quiz attempts, reviews and certificates, stored as MongoDB documents.

Never imports `app.accounts` models. It knows users only by id, name and role,
handed in by the caller, and learns about account changes through events.
"""
