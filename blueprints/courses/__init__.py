"""The catalog, course pages, enrolment, reviews and certificates."""
