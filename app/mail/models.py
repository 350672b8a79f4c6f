"""A record of each email sent for an event, so a repeated delivery sends nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import utcnow
from app.types import UTCDateTime


class SentEmail(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "sent_emails"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # event id + template
    recipient: Mapped[str] = mapped_column(String(254))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
