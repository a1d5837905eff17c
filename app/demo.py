"""`family-hotline demo`: staff accounts, sites, experts and weekly availability for a first look."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time

from sqlmodel import col, select

from app.demo_b_expert import seed_expert_desk
from app.demo_quarter import SeededQuarter, seed_quarter
from app.demo_quarter_stories import CASES
from app.demo_reports import seed_report_history
from app.demo_voice import seed_voice
from app.migrate import upgrade_database
from booking.feed_links import expert_feed_token, issue_expert_feed
from booking.models import AvailabilityRule, Expert, Site
from core.accounts import Role, StaffUser, create_staff_user
from core.db import AsyncSession, create_engine, create_sessionmaker
from core.privacy import FieldCipher
from core.settings import Settings
from core.units import DEFAULT_UNIT_ID, OrgUnit, UnitKind, create_unit
from hotline.cipher_contexts import STAFF_MOBILE

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "seed_demo"]

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105  (printed to the person running the demo)
# Two units, a city centre and a district station under it: the city's staff see both, the district's
# staff only their own. Index 0 is the top unit the first migration created; 1 is added below it.
DEMO_UNITS = [
    ("杭州市家庭教育指导服务中心", UnitKind.GUIDANCE_CENTRE, "330100"),
    ("西湖区家庭教育指导服务站", UnitKind.GUIDANCE_CENTRE, "330106"),
]
DEMO_USERS = [
    ("operator", "接线员 小李", Role.OPERATOR, 0),
    ("operator2", "接线员 小张", Role.OPERATOR, 0),
    ("supervisor", "值班长 王老师", Role.SUPERVISOR, 0),
    ("coordinator", "妇联协调员 陈老师", Role.COORDINATOR, 0),
    ("admin", "系统管理员", Role.ADMIN, 0),
    ("xihu-operator", "西湖区接线员 小周", Role.OPERATOR, 1),
    ("xihu-supervisor", "西湖区督导 赵老师", Role.SUPERVISOR, 1),
    ("xihu-coordinator", "西湖区协调员 刘老师", Role.COORDINATOR, 1),
    ("expert", "专家 张慧", Role.EXPERT, 0),  # linked to the roster's 张慧 (app/demo_b_expert.py)
]
# The city's supervisor is on duty: alerts about a mandatory report reach this (invented) mobile by SMS.
DEMO_ON_DUTY = ("supervisor", "+8613900001234")
DEMO_EXPERTS = [
    ("张慧", "国家二级心理咨询师", "parenting,parent_child,study_pressure", "in_person,phone,video", 0),
    ("李明", "家庭教育指导师", "parenting,family_conflict,online_addiction", "in_person,video", 0),
    ("赵静", "青少年心理危机干预专家", "mental_health,bullying,self_harm", "phone,video", 1),
]
# (name, address, unit)
DEMO_SITES = [
    ("市家庭教育指导服务中心", "人民路 100 号 3 楼", 0),
    ("西湖区妇女儿童活动中心", "和平街 28 号", 1),
]
# Mornings and afternoons, Monday to Saturday, local time.
DEMO_WINDOWS = [(time(9, 0), time(12, 0)), (time(14, 0), time(17, 30))]


async def seed_demo(settings: Settings, *, print_summary: bool = False, now: datetime | None = None) -> bool:
    """Create the demo data once, in one transaction; returns False (and changes nothing) when staff
    already exist. The quarter of case work is laid out back from `now` (default: this moment)."""
    await upgrade_database(settings.database_url)
    engine = create_engine(settings.database_url)
    quarter: SeededQuarter | None = None
    async with create_sessionmaker(engine)() as session:
        if (await session.exec(select(StaffUser).limit(1))).first() is None:
            units = await _demo_units(session)
            staff: dict[str, StaffUser] = {}
            for username, name, role, unit_no in DEMO_USERS:
                staff[username] = await create_staff_user(
                    session,
                    username=username,
                    display_name=name,
                    role=role,
                    password=DEMO_PASSWORD,
                    unit_id=units[unit_no].id or 0,
                )
            on_duty, mobile = DEMO_ON_DUTY
            staff[on_duty].on_duty = True
            staff[on_duty].mobile_ciphertext = FieldCipher(settings.data_key).encrypt(
                mobile, context=STAFF_MOBILE
            )
            sites = [
                Site(name=name, address=address, unit_id=units[u].id or 0) for name, address, u in DEMO_SITES
            ]
            session.add_all(sites)
            await session.flush()
            for name, title, specialties, modes, site_no in DEMO_EXPERTS:
                expert = Expert(
                    unit_id=sites[site_no].unit_id,
                    name=name,
                    title=title,
                    specialties=specialties,
                    modes=modes,
                    site_id=sites[site_no].id,
                )
                issue_expert_feed(FieldCipher(settings.data_key), expert)
                session.add(expert)
                await session.flush()
                for weekday in range(6):
                    for start, end in DEMO_WINDOWS:
                        session.add(
                            AvailabilityRule(
                                expert_id=expert.id or 0, weekday=weekday, start_local=start, end_local=end
                            )
                        )
            quarter = await seed_quarter(session, settings, units=units, staff=staff, now=now)
            await seed_voice(session, settings, units=units, staff=staff, now=now)
            await seed_report_history(session, settings, units=units, staff=staff, now=now)
            await seed_expert_desk(session, settings, user=staff["expert"], now=now)
            await session.commit()
        experts = (await session.exec(select(Expert).order_by(col(Expert.id)))).all()
    await engine.dispose()
    if print_summary:
        _print_summary(settings, experts, quarter)
    return quarter is not None


async def _demo_units(session: AsyncSession) -> list[OrgUnit]:
    """The top unit (from the first migration) named as the city centre, and a district under it."""
    (city_name, city_kind, city_code), (district_name, district_kind, district_code) = DEMO_UNITS
    city = await session.get(OrgUnit, DEFAULT_UNIT_ID)
    assert city is not None, "the first migration creates the top unit"
    city.name, city.kind, city.region_code = city_name, city_kind, city_code
    district = await create_unit(
        session, name=district_name, kind=district_kind, region_code=district_code, parent_id=city.id
    )
    return [city, district]


def _print_summary(settings: Settings, experts: Sequence[Expert], quarter: SeededQuarter | None) -> None:
    base = settings.public_base_url
    created = quarter is not None
    print("\n" + ("Demo data created." if created else "Demo data already present; nothing changed."))
    print(f"\n  Site:            {base}/")
    print(f"  Parent booking:  {base}/book")
    print(f"  Staff login:     {base}/login   (password for every demo account: {DEMO_PASSWORD})")
    for username, name, role, unit_no in DEMO_USERS:
        print(f"    {username:<17} {role.value:<12} {name:<14} {DEMO_UNITS[unit_no][0]}")
    district_cases = sum(1 for case in CASES if case.unit == 1)
    print(
        f"  Units: {DEMO_UNITS[1][0]} lies under {DEMO_UNITS[0][0]}. The city's staff see both units'"
        f" cases and experts ({len(CASES)} cases); the district's staff see only their own"
        f" ({district_cases} cases)."
    )
    print(
        f"\n  Case work: {len(CASES)} cases over the last 90 days on both lines, with referrals to agencies,"
        " mandatory reports, follow-ups and help plans, laid out from the moment the demo was seeded."
        f"\n    operator, operator2, xihu-operator   their cases and tasks: {base}/hotline/cases"
        f"\n    supervisor, xihu-supervisor          supervision board: {base}/hotline/supervision"
        "\n      (red, amber and green: supervisor sees both units, xihu-supervisor only the district)"
        f"\n    supervisor is on duty with the demo mobile {DEMO_ON_DUTY[1]}: alerts about mandatory reports"
        " reach it by SMS."
    )
    if quarter is not None:
        print(
            f"\n  Agency link (open it as the agency would, no login): {base}{quarter.agency_link_path}"
            f"\n    the referral of case {quarter.agency_link_case} to {quarter.agency_name}; links are shown"
            " only now, and only this one."
        )
    print("\n  Expert calendar feeds (secret links):")
    for expert in experts:
        token = expert_feed_token(FieldCipher(settings.data_key), expert)
        print(f"    {expert.name}: {base}/calendar/experts/{token}.ics")
    if not settings.require_2fa:
        print(
            "\n  Two-factor login is OFF for this demo (FH_REQUIRE_2FA=0). In production administrators and"
            " supervisors must set it up at /account/security before anything else."
        )
    if settings.sms_backend == "console":
        print(f"\n  SMS are printed to this console and listed at {base}/dev/sms (staff login).")
    print()
