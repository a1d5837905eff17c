"""What a case page section's loader is given (hotline.case_sections runs the loaders). Its own module
so that section modules can name it while case_sections imports them: no cycle, one definition."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.accounts import StaffUser
from core.db import AsyncSession
from core.privacy import FieldCipher
from core.settings import Settings
from hotline.models import ReferralCase

__all__ = ["CaseSection", "SectionContext"]


@dataclass(frozen=True)
class SectionContext:
    session: AsyncSession
    cipher: FieldCipher
    settings: Settings
    case: ReferralCase  # found within the viewer's scope
    viewer: StaffUser
    now: datetime


# Returns the context its partial template reads, under keys of its own.
CaseSection = Callable[[SectionContext], Awaitable[dict[str, Any]]]
