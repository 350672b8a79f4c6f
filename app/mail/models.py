"""A record of each email sent for an event, so a repeated delivery sends nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import utcnow
from app.types import UTCDateTime


class SentEmail(db.Model):  # type: ignore[name-defined,misc]
    """Only which event's email went out and when: no address, so nothing personal is
    kept; pruned after DELIVERY_RETENTION_DAYS (app/privacy.py)."""

    __tablename__ = "sent_emails"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # event id + template
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
