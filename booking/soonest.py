"""Free times of many experts at once, in a fixed number of queries however many experts there are.

The operator's question "who of the experts for this topic can see this parent soonest?" asks it of
the whole roster. Asking `slots_for_expert` of each expert costs four queries an expert; here the
rules, weekly hours, exceptions and busy times of all of them come in one query each, and the pure slot
engine (booking.availability) runs per expert in memory, stopping at the first few free times.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

from sqlmodel import col, select

from booking.availability import BusyPeriod, free_slots
from booking.availability_models import AvailabilityException
from booking.booking_rules import EffectiveRules, load_rules, resolve
from booking.day_plan import DateException, DayPlan
from booking.models import Appointment, AvailabilityRule, Expert, Site
from booking.roster import list_experts
from booking.slots import busy_filter, exception_of, policy_for
from core.db import AsyncSession, utcnow
from core.settings import Settings

__all__ = ["ExpertSoonest", "free_slots_of", "soonest_by_specialty"]

# The first look covers this many days; experts with too few free times then get the whole window.
_FIRST_LOOK = timedelta(days=7)


# Up to this many experts are named in an IN list; beyond it every active expert's rows are read and the
# others dropped in memory — compiling an IN of hundreds of bound values costs more than the extra rows.
_NAMED_IDS = 50


def _among(column: Any, ids: list[int]) -> Any:
    if len(ids) <= _NAMED_IDS:
        return column.in_(ids)
    return column.in_(select(Expert.id).where(col(Expert.active).is_(True)))


@dataclass(frozen=True)
class ExpertSoonest:
    expert: Expert
    site: Site | None
    slots: list[datetime]  # UTC, soonest first


async def free_slots_of(
    session: AsyncSession,
    settings: Settings,
    experts: list[Expert],
    *,
    now: datetime | None = None,
    limit: int | None = None,
) -> dict[int, list[datetime]]:
    """Each expert's free slots (at most `limit` each), as `slots_for_expert` would give them."""
    now = now or utcnow()
    if not experts:
        return {}
    by_site, by_expert = await load_rules(session, experts)
    rules = {
        e.id or 0: resolve(settings, by_site.get(e.site_id) if e.site_id else None, by_expert.get(e.id or 0))
        for e in experts
    }
    ids = list(rules)
    weekly: dict[int, list[tuple[int, time, time]]] = defaultdict(list)
    hours = select(
        col(AvailabilityRule.expert_id),
        col(AvailabilityRule.weekday),
        col(AvailabilityRule.start_local),
        col(AvailabilityRule.end_local),
    ).where(_among(col(AvailabilityRule.expert_id), ids))
    for expert_id, weekday, start, end in (await session.exec(hours)).all():
        if expert_id in rules:
            weekly[expert_id].append((weekday, start, end))
    today = now.date() - timedelta(days=1)
    exceptions: dict[int, list[DateException]] = defaultdict(list)
    query = select(AvailabilityException).where(
        _among(col(AvailabilityException.expert_id), ids), AvailabilityException.last_day >= today
    )
    for x in (await session.exec(query)).all():
        if x.expert_id in rules:
            exceptions[x.expert_id].append(exception_of(x))
    plans = {i: DayPlan.of(weekly[i], exceptions[i], follows_holidays=rules[i].follows_holidays) for i in ids}

    def compute(expert: Expert, busy: list[BusyPeriod], until: timedelta | None) -> list[datetime]:
        eid = expert.id or 0
        policy = policy_for(expert, settings, rules[eid])
        if until is not None and until < policy.horizon:
            policy = replace(policy, horizon=until)
        return free_slots(plans[eid], busy, policy, now=now, limit=limit)

    answers: dict[int, list[datetime]] = {}
    pending = experts
    # With a limit, a short first look usually finds enough; only the others are read again in full.
    for until in [_FIRST_LOOK, None] if limit is not None else [None]:
        busy = await _busy_of(session, [e.id or 0 for e in pending], now, until, rules)
        still: list[Expert] = []
        for expert in pending:
            slots = compute(expert, busy[expert.id or 0], until)
            if until is not None and len(slots) < (limit or 0):
                still.append(expert)
            else:
                answers[expert.id or 0] = slots
        pending = still
        if not pending:
            break
    return answers


async def _busy_of(
    session: AsyncSession,
    ids: list[int],
    now: datetime,
    until: timedelta | None,
    rules: dict[int, EffectiveRules],
) -> dict[int, list[BusyPeriod]]:
    horizon = until if until is not None else timedelta(days=max(r.window_days for r in rules.values()))
    rows = await session.exec(
        select(Appointment.expert_id, Appointment.starts_at, Appointment.ends_at).where(
            _among(col(Appointment.expert_id), ids),
            *busy_filter(now),
            Appointment.ends_at > now - timedelta(days=1),
            # A whole day past the window's end: the daily cap counts that local day's bookings.
            Appointment.starts_at < now + horizon + timedelta(days=2),
        )
    )
    busy: dict[int, list[BusyPeriod]] = defaultdict(list)
    wanted = set(ids)
    for expert_id, start, end in rows.all():
        if expert_id in wanted:
            busy[expert_id].append(BusyPeriod(start, end))
    return busy


async def soonest_by_specialty(
    session: AsyncSession,
    settings: Settings,
    specialty: str,
    *,
    per_expert: int = 3,
    viewer_unit_id: int | None = None,
    now: datetime | None = None,
) -> list[ExpertSoonest]:
    """Active experts with `specialty`, each with their first `per_expert` free times, soonest first;
    experts with no free time last."""
    experts = [
        (e, s)
        for e, s in await list_experts(session, active_only=True, viewer_unit_id=viewer_unit_id)
        if specialty in e.specialty_codes
    ]
    found = await free_slots_of(session, settings, [e for e, _ in experts], now=now, limit=per_expert)
    answers = [ExpertSoonest(e, s, found.get(e.id or 0, [])) for e, s in experts]
    free = sorted((a for a in answers if a.slots), key=lambda a: (a.slots[0], a.expert.name))
    return free + [a for a in answers if not a.slots]
