"""`GET /api/specialties/{specialty}/soonest`: the experts of one specialty with their first free times,
soonest first — the roster-wide question, answered in a fixed number of queries (booking.soonest)."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Controller, get
from litestar.params import FromPath

from booking.slot_times import iso_utc
from booking.soonest import soonest_by_specialty
from core.db import DbSession
from core.errors import NotFound, error_responses
from core.i18n import N_
from core.security import csrf_exempt
from core.settings import SettingsDep
from core.vocabulary import CATEGORIES

__all__ = ["SoonestApi"]


@dataclass(frozen=True)
class SoonestOut:
    expert_id: int
    name: str
    site: str | None
    slots: list[str]  # ISO 8601 UTC starts, soonest first; empty when none is free


class SoonestApi(Controller):
    path = "/api/specialties"
    tags = ("booking",)
    opt = csrf_exempt()

    @get("/{specialty:str}/soonest", name="api:soonest", responses=error_responses(404))
    async def api_soonest(
        self, db: DbSession, settings: SettingsDep, specialty: FromPath[str]
    ) -> list[SoonestOut]:
        """Active experts with this specialty (a code of the topic list), soonest free first."""
        if specialty not in CATEGORIES:
            raise NotFound(N_("No such specialty."))
        return [
            SoonestOut(
                expert_id=a.expert.id or 0,
                name=a.expert.name,
                site=a.site.name if a.site else None,
                slots=[iso_utc(s) for s in a.slots],
            )
            for a in await soonest_by_specialty(db, settings, specialty)
        ]
