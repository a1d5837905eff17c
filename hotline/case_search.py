"""The case search as a request reads it: the query parameters of the case list (page and API) become
checked `CaseFilters` in one place, and filters become the query of a link to a page of results."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery

from core.privacy import CipherDep
from hotline.case_views import OWNER_ME, CaseFilters

__all__ = ["CASE_FILTERS", "CaseQuery", "case_filters", "listing_query"]


async def case_filters(
    cipher: CipherDep,
    number: FromQuery[str | None] = None,
    phone: FromQuery[str | None] = None,
    caller: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    line: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    urgency: FromQuery[str | None] = None,
    risk: FromQuery[str | None] = None,
    owner: FromQuery[str | None] = None,
    flag: FromQuery[str | None] = None,
    opened_from: FromQuery[str | None] = None,
    opened_to: FromQuery[str | None] = None,
) -> CaseFilters:
    """400 (FormInvalid) for a value that is not one of the choices, as the handlers always did."""
    return CaseFilters.checked(
        number=number,
        phone=phone,
        caller=caller,
        status=status,
        line=line,
        category=category,
        urgency=urgency,
        risk=risk,
        owner=owner,
        flag=flag,
        opened_from=opened_from,
        opened_to=opened_to,
        cipher=cipher,
    )


# `dependencies=` of a list handler that takes `filters: CaseQuery`.
CASE_FILTERS = {"filters": Provide(case_filters)}
CaseQuery = NamedDependency[CaseFilters]


def listing_query(filters: CaseFilters, page: int) -> str:
    """The query string of a page of these results. A phone travels as its blind index (`caller`)."""
    pairs: list[tuple[str, Any]] = [
        (name, value)
        for name, value in (
            ("number", filters.number),
            ("caller", filters.caller),
            ("status", filters.status),
            ("line", filters.line),
            ("category", filters.category),
            ("urgency", filters.urgency),
            ("risk", filters.risk),
            ("owner", filters.owner),
            ("flag", filters.flag),
            ("opened_from", filters.opened_from.isoformat() if filters.opened_from else None),
            ("opened_to", filters.opened_to.isoformat() if filters.opened_to else None),
        )
        if value
    ]
    if filters.owner == OWNER_ME and not filters.status:
        # "All statuses" chosen on purpose: without it, owner=me would mean the open ones again.
        pairs.append(("status", ""))
    pairs.append(("page", page))
    return urlencode(pairs)
