"""Organisation units: province → city → district/county → centre or service point.

Every staff user and every record belongs to one unit. A unit's `path` lists its ancestors' ids and its
own (`/1/4/9/`), so "this unit and every unit below it" is one indexed prefix match (`path LIKE '/1/4/%'`)
instead of a recursive query, on SQLite and PostgreSQL alike. Units are never moved between parents
(a reorganisation creates new units), so a path never has to be rewritten.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, String
from sqlmodel import Field, SQLModel, col, select

from core.db import AsyncSession, UTCDateTime, get_by_outside_id, utcnow
from core.errors import FormInvalid
from core.i18n import N_

__all__ = [
    "DEFAULT_UNIT_ID",
    "UNIT_KINDS",
    "OrgUnit",
    "UnitKind",
    "check_unit_fields",
    "create_unit",
    "get_visible",
    "is_visible",
    "is_within",
    "unit_ids_within",
    "units_within",
    "validate_region_code",
    "visible_to",
]

Row = TypeVar("Row", bound=SQLModel)

# The unit the first migration moved every existing row into; a fresh install starts with it too.
DEFAULT_UNIT_ID = 1


class UnitKind(StrEnum):
    YOUTH_LEAGUE_12355 = "youth_league_12355"  # 团委 12355 青少年服务台
    WOMENS_FEDERATION = "womens_federation"  # 妇联
    GUIDANCE_CENTRE = "guidance_centre"  # 家庭教育指导服务中心
    SCHOOL = "school"  # 学校 / 家长学校
    OTHER = "other"


UNIT_KINDS: dict[str, str] = {
    UnitKind.YOUTH_LEAGUE_12355: N_("Youth League 12355 platform"),
    UnitKind.WOMENS_FEDERATION: N_("Women's Federation"),
    UnitKind.GUIDANCE_CENTRE: N_("Family-education guidance centre"),
    UnitKind.SCHOOL: N_("School or parent school"),
    UnitKind.OTHER: N_("Other"),
}

# The first two digits of a GB/T 2260 administrative division code: the province-level division.
_PROVINCE_PREFIXES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42"}
    | {"43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"}
)
_REGION_CODE = re.compile(r"\d{6}")


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_unit"

    id: int | None = Field(default=None, primary_key=True)
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    name: str = Field(max_length=120)
    kind: str = Field(max_length=30)  # UnitKind
    region_code: str = Field(max_length=6)  # GB/T 2260, e.g. 330100 (杭州市)
    # Ancestors' ids and its own, slash-separated and closed: "/1/4/9/". Indexed for prefix matches.
    path: str = Field(sa_column=Column(String(255), unique=True, nullable=False))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def validate_region_code(raw: str) -> str:
    """A six-digit administrative division code whose first two digits name a province-level division."""
    code = raw.strip()
    if not _REGION_CODE.fullmatch(code) or code[:2] not in _PROVINCE_PREFIXES:
        raise FormInvalid(
            {"region_code": N_("Enter the six-digit administrative division code, e.g. 330100.")}
        )
    return code


def check_unit_fields(name: str, kind: str, region_code: str) -> tuple[str, UnitKind, str]:
    """A unit's name (spaces tidied), kind and region code, every problem reported at once."""
    errors: dict[str, str] = {}
    clean_name = " ".join(name.split())
    if not clean_name or len(clean_name) > 120:
        errors["name"] = N_("Enter the unit's name (at most 120 characters).")
    if kind not in UNIT_KINDS:
        errors["kind"] = N_("Choose the kind of unit from the list.")
    code = ""
    try:
        code = validate_region_code(region_code)
    except FormInvalid as exc:
        errors.update(exc.errors)
    if errors:
        raise FormInvalid(errors)
    return clean_name, UnitKind(kind), code


async def create_unit(
    session: AsyncSession,
    *,
    name: str,
    kind: UnitKind | str,
    region_code: str,
    parent_id: int | None,
) -> OrgUnit:
    """Add a unit under `parent_id` (None: a new top unit). Joins the caller's transaction."""
    parent = await get_by_outside_id(session, OrgUnit, parent_id) if parent_id is not None else None
    parent_missing = parent_id is not None and (parent is None or not parent.active)
    try:
        clean_name, unit_kind, code = check_unit_fields(name, kind, region_code)
    except FormInvalid as exc:
        if parent_missing:
            exc.errors["parent_id"] = _NO_PARENT
        raise
    if parent_missing:
        raise FormInvalid({"parent_id": _NO_PARENT})
    # The path needs the new id: insert with a unique placeholder, then set it in the same transaction.
    placeholder = f"new:{secrets.token_hex(8)}"
    unit = OrgUnit(name=clean_name, kind=unit_kind, region_code=code, parent_id=parent_id, path=placeholder)
    session.add(unit)
    await session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    await session.flush()
    return unit


_NO_PARENT = N_("Choose the unit this one belongs to.")


def visible_to(unit_column: Any, viewer_unit_id: int) -> ColumnElement[bool]:
    """SQL: the row's unit is the viewer's unit or a unit below it — never beside or above. The one rule
    of data scope; every query that lists or finds records for a staff user goes through it."""
    viewer_path = select(OrgUnit.path).where(col(OrgUnit.id) == viewer_unit_id).scalar_subquery()
    below = select(OrgUnit.id).where(col(OrgUnit.path).startswith(viewer_path))
    return col(unit_column).in_(below)


async def units_within(session: AsyncSession, path: str) -> list[OrgUnit]:
    """The unit with `path` and every unit below it, parents before children."""
    rows = await session.exec(
        select(OrgUnit).where(col(OrgUnit.path).startswith(path, autoescape=True)).order_by(col(OrgUnit.path))
    )
    return list(rows.all())


async def unit_ids_within(session: AsyncSession, path: str) -> set[int]:
    rows = await session.exec(select(OrgUnit.id).where(col(OrgUnit.path).startswith(path, autoescape=True)))
    return {unit_id for unit_id in rows.all() if unit_id is not None}


async def get_visible(
    session: AsyncSession, model: type[Row], row_id: int, viewer_unit_id: int
) -> Row | None:
    """The row with this id if it belongs to the viewer's unit or one below; otherwise None, which the
    caller answers as "not found" (404, not 403: a sibling unit must not learn that the row exists)."""
    row = await get_by_outside_id(session, model, row_id)
    # Any table with a `unit_id` column (cases, experts, sites, staff): read generically.
    unit_id: int | None = getattr(row, "unit_id", None)
    if row is None or unit_id is None or not await is_visible(session, unit_id, viewer_unit_id):
        return None
    return row


async def is_visible(session: AsyncSession, unit_id: int, viewer_unit_id: int) -> bool:
    """Whether a record of `unit_id` lies in the scope of a viewer of `viewer_unit_id`."""
    found = await session.exec(
        select(OrgUnit.id).where(col(OrgUnit.id) == unit_id, visible_to(OrgUnit.id, viewer_unit_id))
    )
    return found.first() is not None


def is_within(unit_path: str, viewer_path: str) -> bool:
    """In Python, for a row already loaded: its unit's path lies under the viewer's."""
    return unit_path.startswith(viewer_path)
