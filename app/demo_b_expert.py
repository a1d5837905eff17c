"""Demo for the expert's own page: a staff account `expert` linked to the first demo expert, with a few
consultations that took place and wait to be recorded, one recorded, and a few coming up."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from booking.expert_desk import SESSION_NOTES_CONTEXT
from booking.models import Appointment, AppointmentStatus, Attendance, Expert
from core.accounts import StaffUser
from core.db import AsyncSession, utcnow
from core.privacy import FieldCipher, phone_index
from core.settings import Settings

__all__ = ["seed_expert_desk"]

# (days from today, local hour, parent, phone, topic, the parent's notes, attendance, session notes)
_CONSULTATIONS = [
    (-3, 9, "刘女士", "+8613800001001", "study_pressure", "孩子期中考试后不愿上学。", Attendance.ATTENDED,
     "母亲情绪稳定，约定两周后电话回访。"),
    (-2, 10, "陈先生", "+8613800001002", "parent_child", "和儿子沟通总是吵架。", None, None),
    (-1, 14, "周女士", "+8613800001003", "parenting", "", None, None),
    (-1, 15, "吴先生", "+8613800001004", "online_addiction", "孩子每天玩手机到深夜。", None, None),
    (2, 10, "郑女士", "+8613800001005", "parenting", "想了解如何陪伴初一孩子适应新学校。", None, None),
    (3, 15, "孙先生", "+8613800001006", "study_pressure", "", None, None),
]  # fmt: skip


async def seed_expert_desk(
    session: AsyncSession, settings: Settings, *, user: StaffUser, now: datetime | None = None
) -> None:
    """In the demo's transaction: link the `expert` login (made with the other demo accounts) to the
    first demo expert, and give them their days."""
    now = now or utcnow()
    cipher = FieldCipher(settings.data_key)
    expert = (await session.exec(select(Expert).order_by(col(Expert.id)))).first()
    assert expert is not None, "the demo's experts come first"
    expert.user_id = user.id
    zone = ZoneInfo(settings.site_timezone)
    today = now.astimezone(zone).date()
    for days, hour, name, phone, topic, notes, attendance, session_notes in _CONSULTATIONS:
        starts = datetime.combine(today + timedelta(days=days), time(hour), tzinfo=zone).astimezone(
            ZoneInfo("UTC")
        )
        session.add(
            Appointment(
                expert_id=expert.id or 0,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=expert.slot_minutes),
                mode="in_person",
                status=AppointmentStatus.CONFIRMED,
                parent_name_ciphertext=cipher.encrypt(name, context="appointment.parent_name"),
                parent_phone_ciphertext=cipher.encrypt(phone, context="appointment.parent_phone"),
                parent_phone_index=phone_index(cipher, phone),
                topic=topic,
                notes_ciphertext=cipher.encrypt_optional(notes or None, context="appointment.notes"),
                ical_uid=f"{uuid.uuid4()}@family-hotline",
                sequence=1,
                created_at=starts - timedelta(days=5),
                confirmed_at=starts - timedelta(days=5),
                attendance=attendance,
                attendance_recorded_at=starts + timedelta(hours=1) if attendance else None,
                session_notes_ciphertext=cipher.encrypt_optional(
                    session_notes, context=SESSION_NOTES_CONTEXT
                ),
            )
        )
    await session.flush()
