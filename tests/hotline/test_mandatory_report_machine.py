"""The mandatory report's state machine as a property: whatever people do to a case's report, in any
order — open it again with more situations, record it completely or not, add the police response once
or twice — a case has at most one report, it only ever goes pending → recorded, a recorded report has
every field of the record, and the police response, once written, is never rewritten."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from core.accounts import Role
from core.db import create_sessionmaker, utcnow
from core.errors import Conflict, FormInvalid, NotFound
from core.privacy import FieldCipher
from hotline.case_terms import MANDATORY_REPORT_SITUATIONS, MandatoryReportStatus
from hotline.case_views import find_case
from hotline.casework_models import MandatoryReport
from hotline.mandatory_reports import (
    POLICE_RESPONSE_CONTEXT,
    ReportRecord,
    open_report,
    record_report,
    report_need,
)
from tests.hotline.casework import events, open_case, quick_user

SITUATIONS = sorted(MANDATORY_REPORT_SITUATIONS)
ACTIONS = st.one_of(
    st.tuples(st.just("open"), st.lists(st.sampled_from(SITUATIONS), max_size=3, unique=True)),
    st.tuples(st.just("record"), st.sampled_from(["complete", "with response", "no receipt", "future"])),
    st.tuples(st.just("respond"), st.sampled_from(["警方已出警，孩子暂由奶奶照看", "改写"])),
)


@dataclass
class Expected:
    status: str | None = None  # no report yet
    response: str | None = None
    situations: frozenset[str] = frozenset()


def _allowed(expected: Expected, action: str, choice: object) -> bool:
    if action == "open":
        return True  # opens the report, or adds situations to the one there is
    if action == "record":
        return expected.status == MandatoryReportStatus.PENDING and choice in {"complete", "with response"}
    return expected.status == MandatoryReportStatus.RECORDED and expected.response is None


def _form(choice: object) -> ReportRecord:
    later = timedelta(hours=2) if choice == "future" else timedelta(0)
    when = (utcnow() + later).isoformat()
    return ReportRecord(
        police_unit="西湖区公安分局北山派出所",
        channel="phone_110",
        reported_at=when,
        receipt_number="" if choice == "no receipt" else "JJ2026112600123",
        police_response="民警已上门" if choice == "with response" else None,
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(ACTIONS, min_size=1, max_size=10))
async def test_no_sequence_of_acts_breaks_the_mandatory_report(engine, settings, steps):
    cipher = FieldCipher(settings.data_key)
    async with create_sessionmaker(engine)() as session:
        operator = await quick_user(session, Role.OPERATOR)
    async with create_sessionmaker(engine)() as session:
        # A category that needs no report: the report exists only once an act opens it.
        number = await open_case(session, cipher, operator, category="family_conflict")
        expected = Expected()
        for action, choice in steps:
            case = await find_case(session, number, operator)
            case_id = case.id or 0
            before = await _reports(session, case_id)
            case = await find_case(session, number, operator)  # fresh after the look above
            try:
                if action == "open":
                    situations = tuple(choice) if isinstance(choice, list) else ()
                    need = report_need(category="family_conflict", suspected=True, situations=situations)
                    assert need is not None
                    await open_report(session, cipher, settings, case=case, need=need, actor=operator)
                    await session.commit()
                elif action == "record":
                    await record_report(
                        session,
                        cipher,
                        case=case,
                        form=_form(choice),
                        actor=operator,
                        timezone="Asia/Shanghai",
                    )
                else:
                    await record_report(
                        session,
                        cipher,
                        case=case,
                        form=ReportRecord(police_response=str(choice)),
                        actor=operator,
                        timezone="Asia/Shanghai",
                    )
            except (FormInvalid, NotFound, Conflict):
                await session.rollback()
                assert not _allowed(expected, action, choice), (steps, action, choice)
                assert await _reports(session, case_id) == before, "a refused act changed the report"
            else:
                assert _allowed(expected, action, choice), (steps, action, choice)
                _apply(expected, action, choice)

            reports = await _reports(session, case_id)
            assert len(reports) == (0 if expected.status is None else 1)
            if reports:
                report = reports[0]
                assert report.status == expected.status
                recorded = report.status == MandatoryReportStatus.RECORDED
                record = (report.police_unit, report.channel, report.reported_at, report.receipt_number)
                assert all(part is not None for part in record) == recorded
                assert (report.recorded_by_id is not None, report.recorded_at is not None) == (
                    recorded,
                    recorded,
                )
                response = cipher.decrypt_optional(
                    report.police_response_ciphertext, context=POLICE_RESPONSE_CONTEXT
                )
                assert response == expected.response
                assert set(filter(None, report.situations.split(","))) == expected.situations
        # The timeline says it once: one opening, at most one record, at most one response.
        assert len(await events(engine, number, "report.opened")) == (0 if expected.status is None else 1)
        recorded_events = await events(engine, number, "report.recorded")
        assert len(recorded_events) == (1 if expected.status == MandatoryReportStatus.RECORDED else 0)


def _apply(expected: Expected, action: str, choice: object) -> None:
    if action == "open":
        expected.status = expected.status or MandatoryReportStatus.PENDING
        expected.situations = expected.situations | frozenset(choice if isinstance(choice, list) else ())
    elif action == "record":
        expected.status = MandatoryReportStatus.RECORDED
        expected.response = "民警已上门" if choice == "with response" else None
    else:
        expected.response = str(choice)


async def _reports(session, case_id: int) -> list[MandatoryReport]:
    session.expire_all()
    rows = await session.exec(
        select(MandatoryReport).where(MandatoryReport.case_id == case_id).order_by(col(MandatoryReport.id))
    )
    return [MandatoryReport.model_validate(row.model_dump()) for row in rows.all()]
