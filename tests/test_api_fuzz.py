"""Property-based tests of the whole OpenAPI document: schemathesis generates requests from our description.

For every operation the document lists — the JSON API, the calendar feed and the probes; the HTML pages
and the Twilio webhooks (which need signatures and have their own tests) are left out of the document —
schemathesis sends requests the document calls valid and invalid, boundary values, and methods the path
does not declare. Every answer must:

- never be a server error (5xx) — the property that matters most;
- for a 4xx, be JSON with a non-empty `detail` sentence for a person, the shape `app.server` gives errors;
- match what the document promises: status codes, content type, headers and response body schema;
- refuse with a 4xx what the document calls invalid (`negative_data_rejection`).

`positive_data_acceptance` is off: the document types codes, phone numbers and slot times as plain strings,
and the domain rightly answers 400 to a schema-valid but unknown category, phone or time.

An operator is logged in (`log_in`): requests to the staff operations (tag `hotline`) carry the session
and CSRF cookies and the `x-csrftoken` header, so they are reached past their CSRF check. Every other
operation is sent with no cookie and no header, as a parent's app or a calendar program sends them: a
CSRF refusal there would be an undocumented 403.
The database holds an expert, a case, a held and a confirmed booking. The first test is schemathesis
alone; the second aims most of its valid requests at those records (their ids, tokens, free times, the
expert's feed and the vocabularies), so success and conflict answers are checked against the document
too. Both mix in edge values (NUL, ids past the integer keys, times at the ends of the calendar) that once
made 500s.

Bounded for CI: at most 30 fuzzed examples per operation and test, plus schemathesis's coverage cases;
derandomized (the same examples on every run) and without an example database.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient
from schemathesis import GenerationMode
from schemathesis.python.asgi import ASGIClient, shutdown_lifespans
from sqlalchemy.ext.asyncio import AsyncEngine

from app.server import create_app
from core.accounts import Role
from core.privacy import FieldCipher
from core.settings import Settings
from core.vocabulary import CATEGORIES, MODES
from hotline.case_terms import (
    CASE_OUTCOMES,
    CHILD_FLAGS,
    CHILD_SEXES,
    MANDATORY_REPORT_SITUATIONS,
    REPORT_CHANNELS,
    RISK_LEVELS,
    SCHOOL_STAGES,
)
from hotline.taxonomy import AGE_BANDS, CALLER_TYPES, CASE_STATUSES, LINES, URGENCIES
from tests.booking.conftest import add_expert, last_otp
from tests.conftest import log_in, post_json
from tests.feeds import feed_token_of
from tests.hotline.calls import a_call
from tests.hotline.referral_world import add_agency, refer

MAX_EXAMPLES = 30
BASE_URL = "http://testserver"

# Values that break drivers, databases and date arithmetic, mixed into generated strings and integers:
# NUL (PostgreSQL refuses it in text), ids past the INTEGER and BIGINT keys, times at the calendar's ends.
EDGE_VALUES = {
    "edge-strings": {
        "values": [
            "\x00",
            "12355-2026-000001\x00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-12:00",
            "２０２６-０１-０１",
            "１２３４５６",
            "12355-٢٠٢٦-000001",
        ]
    },
    "edge-integers": {"values": [0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64]},
}

CONFIG = schemathesis.Config.from_dict(
    {
        "dictionaries": EDGE_VALUES,
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "dictionaries": {
                "string": {"dictionary": "edge-strings", "probability": 0.2},
                "integer": {"dictionary": "edge-integers", "probability": 0.2},
            },
        },
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }
)


def _openapi_document() -> dict[str, Any]:
    """The document the app serves at /schema/openapi.json, built without starting an app.

    Schemathesis needs the schema when the module is collected, before the fixtures that make the test
    database exist. (Its lazy `schemathesis.pytest.from_fixture` would load it from a fixture, but it
    fails on pytest 9.2: it writes `Function._nodeid`, which pytest no longer has.) The requests go to
    an app built from the fixtures' settings (`world` below); a test checks both documents are the same.
    """
    app = create_app(
        Settings(
            database_url="sqlite+aiosqlite:///:memory:",
            secret_key="openapi-document-only-" + "x" * 32,
            data_key="openapi-document-only-data-key",
            data_dir=Path(tempfile.gettempdir()),
        )
    )
    return json.loads(json.dumps(app.openapi_schema.to_schema()))


schema = schemathesis.openapi.from_dict(_openapi_document(), config=CONFIG)


@dataclass(frozen=True)
class World:
    """What the fuzzed app is reached with, and the records in its database."""

    session: ASGIClient
    cookies: dict[str, str]
    csrf: str
    case_number: str
    expert_id: int
    free_slots: list[str]
    verify_token: str  # of a booking left on hold
    manage_token: str  # of a confirmed booking
    feed: str  # the expert's calendar feed token
    agency_id: int  # an agency of the operator's unit
    referral_id: int  # the case referred to it


@pytest.fixture
async def world(
    client: AsyncTestClient[Litestar], engine: AsyncEngine, settings: Settings
) -> AsyncIterator[World]:
    operator = await log_in(client, engine, Role.OPERATOR)
    expert = await add_expert(engine)
    logged = await post_json(client, "/api/calls", a_call())
    assert logged.status_code == 201, logged.text
    agency_id = await add_agency(engine, settings, operator)
    referral = await refer(client, logged.json()["case_number"], agency_id)
    slots = (await client.get(f"/api/experts/{expert.id}/slots")).json()["slots"]
    assert len(slots) > 12

    async def hold(start: str) -> str:
        held = await client.post(
            "/api/bookings",
            json={
                "expert_id": expert.id,
                "starts_at": start,
                "mode": "phone",
                "name": "李女士",
                "phone": "13812345678",
            },
        )
        assert held.status_code == 201, held.text
        return str(held.json()["verify_token"])

    on_hold = await hold(slots[0])
    to_confirm = await hold(slots[1])
    code = await last_otp(engine, FieldCipher(settings.data_key))
    confirmed = await client.post(f"/api/bookings/{to_confirm}/confirm", json={"code": code})
    assert confirmed.status_code == 200, confirmed.text

    # The fuzzed app is a second one on the same settings and database: schemathesis runs it on its own
    # event-loop thread, and the `client` fixture's app (whose engine lives on another loop) cannot be
    # shared. The login session and CSRF token are a row and a signature, valid in both.
    with ASGIClient(create_app(settings)) as session:  # starts the app's lifespan
        yield World(
            session=session,
            cookies={"fh_session": client.cookies["fh_session"], "fh_csrf": client.cookies["fh_csrf"]},
            csrf=client.cookies["fh_csrf"],
            case_number=logged.json()["case_number"],
            expert_id=expert.id or 0,
            free_slots=slots[2:12],
            verify_token=on_hold,
            manage_token=confirmed.json()["manage_token"],
            feed=feed_token_of(expert),
            agency_id=agency_id,
            referral_id=referral["referral_id"],
        )
    shutdown_lifespans()  # the app's shutdown: its engine's connections close before the next test


def error_answers_carry_a_detail(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A 4xx is JSON with a non-empty `detail`: a sentence a person can act on, not a bare status."""
    if not 400 <= response.status_code < 500:
        return
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
        f"{response.status_code} answered as {response.headers.get('content-type')}"
    )
    body = response.json()
    assert isinstance(body, dict), f"{response.status_code} body is not an object: {body!r}"
    detail = body.get("detail")
    assert isinstance(detail, str) and detail.strip(), f"{response.status_code} without a detail: {body!r}"


STAFF_TAGS = {"hotline"}  # operations the login cookie opens


def _call(case: schemathesis.Case, world: World) -> None:
    staff = bool(STAFF_TAGS.intersection(case.operation.tags or ()))
    case.call_and_validate(
        base_url=BASE_URL,
        session=world.session,
        cookies=world.cookies if staff else {},
        headers={"x-csrftoken": world.csrf} if staff else {},
        additional_checks=[error_answers_carry_a_detail],
    )


# The `world` fixture is shared by every example of an operation on purpose: the records pile up as they
# would in a real database (a slot taken twice, a hold losing its attempts, a booking cancelled twice).
SHARED_FIXTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@schema.parametrize()
@SHARED_FIXTURE
def test_every_documented_operation_never_fails_and_answers_as_documented(
    case: schemathesis.Case, world: World
) -> None:
    _call(case, world)


# ---- the same, with part of the valid requests aimed at real records ----------------------------------

# Steered requests are valid but for what they aim at (a record, a time, a text): wrong phones and codes
# are already what schemathesis sends on its own.
PHONES = st.sampled_from(["13812345678", "+86 139 0000 1111", "0086-150-1234-5678"])
NAMES = st.one_of(st.sampled_from(["李女士", "Ms Li"]), st.text(max_size=45))
# Aware times anywhere in Python's calendar, in the most extreme offsets, and at its very ends.
ANY_TIME = st.one_of(
    st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))])
    ).map(lambda value: value.isoformat()),
    st.sampled_from([value for value in EDGE_VALUES["edge-strings"]["values"] if "T" in value]),
)


def _codes(vocabulary: dict[str, str]) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(vocabulary))


def _steered(path: str, world: World) -> dict[str, dict[str, st.SearchStrategy[Any]]]:
    """For one operation: location -> field -> values that reach real records."""
    case_numbers = st.one_of(
        st.sampled_from([world.case_number, world.case_number.lower(), world.case_number + "\x00"]),
        st.builds(lambda text: world.case_number + text, st.text(max_size=3)),
    )
    # Steered path values are sent as they are: free text ("?", "/") would cut the path short and reach
    # another route. The generated (unsteered) requests keep testing odd numbers.
    plain_numbers = st.sampled_from(
        [world.case_number, world.case_number.lower(), world.case_number + "\x00"]
    )
    steering: dict[str, dict[str, dict[str, st.SearchStrategy[Any]]]] = {
        "/api/calls": {
            "body": {
                "line": _codes(LINES),
                "caller_type": _codes(CALLER_TYPES),
                "category": _codes(CATEGORIES),
                "urgency": _codes(URGENCIES),
                "child_age_band": _codes(AGE_BANDS),
                "summary": st.text(min_size=1, max_size=40),
                "caller_phone": st.one_of(PHONES, st.just("")),
                "case_number": case_numbers,
                "suspected_infringement": st.booleans(),
                "situations": st.lists(_codes(MANDATORY_REPORT_SITUATIONS), max_size=3),
            }
        },
        "/api/cases": {
            "query": {
                "line": _codes(LINES),
                "urgency": _codes(URGENCIES),
                "status": _codes(CASE_STATUSES),
                "risk": _codes(RISK_LEVELS),
                "flag": _codes(CHILD_FLAGS),
                "owner": st.sampled_from(["me", "none", "1"]),
                "phone": PHONES,
                "opened_from": ANY_TIME.map(lambda t: t[:10]),
            }
        },
        "/api/cases/{number}": {"path": {"number": case_numbers}},
        "/api/cases/{number}/mandatory-report": {"path": {"number": case_numbers}},
        "/api/cases/{number}/mandatory-report/record": {
            "path": {"number": case_numbers},
            "body": {
                "police_unit": st.sampled_from(["西湖区公安分局", "110", ""]),
                "channel": _codes(REPORT_CHANNELS),
                "reported_at": ANY_TIME,
                "receipt_number": st.text(max_size=70),
                "police_response": st.text(max_size=40),
            },
        },
        "/api/cases/{number}/mandatory-report/open": {
            "path": {"number": case_numbers},
            "body": {"situations": st.lists(_codes(MANDATORY_REPORT_SITUATIONS), max_size=3)},
        },
        "/api/cases/{number}/referrals": {"path": {"number": plain_numbers}},
        "/api/referrals": {
            "body": {
                "case_number": case_numbers,
                "agency_id": st.just(world.agency_id),
                "urgency": _codes(URGENCIES),
                "reason": st.text(min_size=1, max_size=40),
                "request": st.text(min_size=1, max_size=40),
            },
        },
        **{
            f"/api/cases/{{number}}/referrals/{{referral_id}}/{step}": {
                "path": {"number": plain_numbers, "referral_id": st.just(world.referral_id)}
            }
            for step in ("accept", "return", "revoke")
        },
        # Characters that end a path segment would send these POSTs to the case itself (a GET, so a 405).
        **_case_work_steering(case_numbers.filter(lambda number: not set(number) & set("?#/%"))),
        "/api/experts/{expert_id}/slots": {"path": {"expert_id": st.just(world.expert_id)}},
        "/api/specialties/{specialty}/soonest": {"path": {"specialty": _codes(CATEGORIES)}},
        "/api/bookings": {
            "body": {
                "expert_id": st.just(world.expert_id),
                "starts_at": st.one_of(st.sampled_from(world.free_slots), ANY_TIME),
                "mode": _codes(MODES),
                "name": NAMES,
                "phone": PHONES,
                "topic": _codes(CATEGORIES),
            }
        },
        "/api/bookings/{verify_token}/confirm": {
            "path": {"verify_token": st.just(world.verify_token)},
            "body": {"code": st.from_regex(r"\A\d{6}\Z")},
        },
        "/api/bookings/manage/{manage_token}/cancel": {"path": {"manage_token": st.just(world.manage_token)}},
        "/calendar/experts/{feed}": {
            "path": {
                "feed": st.sampled_from(
                    [f"{world.feed}.ics", world.feed, f"{world.feed}.ICS", f"{world.feed}.ics\x00"]
                )
            }
        },
    }
    return steering.get(path, {})


def _case_work_steering(
    case_numbers: st.SearchStrategy[str],
) -> dict[str, dict[str, dict[str, st.SearchStrategy[Any]]]]:
    """The operations on one case: its number, and codes from the vocabularies they take."""
    text = st.text(min_size=1, max_size=40)
    bodies: dict[str, dict[str, st.SearchStrategy[Any]]] = {
        "status": {"status": _codes(CASE_STATUSES), "reason": text},
        "close": {"outcome": _codes(CASE_OUTCOMES), "summary": text},
        "reopen": {"reason": text},
        "risk": {"risk_level": _codes(RISK_LEVELS), "reason": text},
        "child": {
            "sex": _codes(CHILD_SEXES),
            "age": st.integers(-1, 18),
            "school_stage": _codes(SCHOOL_STAGES),
            "flags": st.lists(_codes(CHILD_FLAGS), max_size=3),
        },
        "owner": {"owner_id": st.integers(0, 5)},
        "notes": {"text": text},
        "help-plan": {"measures": text, "responsible": text, "review_on": ANY_TIME.map(lambda t: t[:10])},
        "take": {},
        "timeline": {},
    }
    return {
        f"/api/cases/{{number}}/{act}": {"path": {"number": case_numbers}, "body": body}
        for act, body in bodies.items()
    }


def _steer(case: schemathesis.Case, data: st.DataObject, world: World) -> None:
    """Aim most valid requests at real records; the rest and the invalid requests stay as generated, so
    they keep testing the refusals."""
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return
    if not data.draw(st.integers(0, 3), label="aim at real records"):  # three times in four
        return
    containers = {"path": case.path_parameters, "query": case.query, "body": case.body}
    for location, fields in _steered(case.operation.path, world).items():
        container = containers[location]
        if isinstance(container, dict):
            for name, values in fields.items():
                container[name] = data.draw(values, label=name)


@schema.parametrize()
@schema.given(data=st.data())
@SHARED_FIXTURE
def test_every_documented_operation_on_real_records_answers_as_documented(
    case: schemathesis.Case, data: st.DataObject, world: World
) -> None:
    _steer(case, data, world)
    _call(case, world)


async def test_the_fuzzed_document_is_the_one_the_app_serves(client: AsyncTestClient[Litestar]) -> None:
    served = await client.get("/schema/openapi.json")
    assert served.status_code == 200
    assert served.json() == _openapi_document()
    # The whole document: the API, the feed and the probes. The HTML pages are not an API.
    assert set(served.json()["paths"]) == {
        "/health",
        "/ready",
        "/calendar/experts/{feed}",
        "/calendar/sites/{feed}",
        "/api/calls",
        "/api/cases",
        "/api/cases/{number}",
        "/api/cases/{number}/mandatory-report",
        "/api/cases/{number}/mandatory-report/open",
        "/api/cases/{number}/mandatory-report/record",
        "/api/agencies",
        "/api/cases/{number}/referrals",
        "/api/referrals",
        "/api/cases/{number}/referrals/{referral_id}/accept",
        "/api/cases/{number}/referrals/{referral_id}/return",
        "/api/cases/{number}/referrals/{referral_id}/revoke",
        "/api/cases/{number}/status",
        "/api/cases/{number}/close",
        "/api/cases/{number}/reopen",
        "/api/cases/{number}/risk",
        "/api/cases/{number}/child",
        "/api/cases/{number}/owner",
        "/api/cases/{number}/take",
        "/api/cases/{number}/notes",
        "/api/cases/{number}/help-plan",
        "/api/cases/{number}/timeline",
        "/api/supervision",
        "/api/tasks",
        "/api/experts",
        "/api/experts/{expert_id}/slots",
        "/api/bookings",
        "/api/bookings/{verify_token}/confirm",
        "/api/bookings/manage/{manage_token}/cancel",
        "/api/specialties/{specialty}/soonest",
    }
