"""Referring a case: the referral, its SMS (link, no personal data), its one check task, the case moved
to "referred", the staff's steps on feedback, the state machine under any sequence of steps, the agency
directory's scope, and another unit answering 404 on every referral route."""

from __future__ import annotations

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlmodel import select

from core.accounts import Role
from core.db import create_sessionmaker
from core.errors import Conflict, FormInvalid
from core.privacy import FieldCipher
from core.units import DEFAULT_UNIT_ID, UnitKind, create_unit
from hotline.agency_link import LinkDead, StepRefused, acknowledge, decline, give_feedback, open_link
from hotline.case_terms import REFERRAL_TRANSITIONS, ReferralStatus
from hotline.casework_models import Referral
from hotline.intake import CallIntake, log_call
from hotline.models import ReferralCase
from hotline.referrals import ReferralForm, accept_feedback, return_for_more, revoke_referral, send_referral
from tests.booking.conftest import outbox_rows, sms_body
from tests.conftest import log_in, make_user, post_form, post_json
from tests.hotline.calls import PHONE, SUMMARY, a_call
from tests.hotline.referral_world import (
    AGENCY_MOBILE,
    REASON,
    a_referral,
    add_agency,
    another_browser,
    last_link_token,
    open_case,
    refer,
    scalar,
)


async def test_a_referral_texts_the_agency_opens_one_task_and_moves_the_case(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    agency_id = await add_agency(engine, settings, operator, feedback_days=3)
    number = await open_case(client)

    sent = await refer(client, number, agency_id)
    assert sent["texted"] is True and sent["link"] is None  # staff never see a texted link

    case_id = await scalar(engine, "SELECT id FROM referral_case WHERE number = :n", n=number)
    assert await scalar(engine, "SELECT status FROM referral_case WHERE id = :c", c=case_id) == "referred"
    referral = await scalar(engine, "SELECT status FROM referral WHERE case_id = :c", c=case_id)
    assert referral == "sent"
    due_on = await scalar(engine, "SELECT due_on FROM referral WHERE case_id = :c", c=case_id)
    assert str(due_on) == sent["due_on"]

    # The SMS: to the agency's mobile, the link, the due date, the unit; nothing about the child or caller.
    cipher = FieldCipher(settings.data_key)
    [message] = await outbox_rows(engine, "referral_link")
    body = sms_body(cipher, message)
    token = await last_link_token(engine, settings)
    assert f"http://testserver.local/r/{token}" in body and sent["due_on"] in body
    assert cipher.decrypt(message.to_ciphertext, context="outbox.to") == "+86" + AGENCY_MOBILE
    for private in (PHONE, PHONE[-4:], REASON[:6], SUMMARY[:6], number):
        assert private not in body
    assert message.related_type == "referral"
    # Only the hash of the token is stored.
    stored = await scalar(engine, "SELECT token_hash FROM referral WHERE case_id = :c", c=case_id)
    assert token not in stored and len(stored) == 64

    # One referral-check task, due with the referral; a retry of the rule makes no second one.
    tasks = await scalar(
        engine, "SELECT COUNT(*) FROM case_task WHERE case_id = :c AND kind = 'referral_check'", c=case_id
    )
    assert tasks == 1
    task_due = await scalar(engine, "SELECT due_at FROM case_task WHERE case_id = :c", c=case_id)
    referral_due = await scalar(engine, "SELECT due_at FROM referral WHERE case_id = :c", c=case_id)
    assert task_due == referral_due

    kinds = await _event_kinds(engine, case_id)
    assert "referral.sent" in kinds and "status" in kinds

    page = await client.get(f"/hotline/cases/{number}")
    assert page.status_code == 200
    assert 'data-light="green"' in page.text and "西湖派出所" in page.text and REASON in page.text


async def _event_kinds(engine, case_id: int) -> list[str]:
    async with engine.connect() as conn:
        from sqlalchemy import text

        rows = await conn.execute(
            text("SELECT kind FROM case_event WHERE case_id = :c ORDER BY id"), {"c": case_id}
        )
        return [row.kind for row in rows.all()]


async def test_an_agency_without_a_mobile_gets_no_sms_and_the_operator_sees_the_link_once(
    client, engine, settings
):
    operator = await log_in(client, engine, Role.OPERATOR)
    agency_id = await add_agency(engine, settings, operator, phone="0571-87001234")
    number = await open_case(client)
    response = await post_form(
        client, f"/hotline/cases/{number}/referrals", a_referral(agency_id, share_caller_phone="true")
    )
    assert response.status_code == 200
    assert "/r/" in response.text and await outbox_rows(engine, "referral_link") == []
    assert await scalar(engine, "SELECT share_caller_phone FROM referral") in (1, True)


async def test_bad_referrals_and_closed_cases_are_refused_with_nothing_saved(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    agency_id = await add_agency(engine, settings, operator)
    number = await open_case(client)
    for bad in (a_referral(agency_id, reason=""), a_referral(agency_id, urgency="whenever"), a_referral(999)):
        response = await post_json(client, "/api/referrals", {"case_number": number, **bad})
        assert response.status_code == 400, response.text
    await _close(engine, number)
    response = await post_json(client, "/api/referrals", {"case_number": number, **a_referral(agency_id)})
    assert response.status_code == 400
    assert await scalar(engine, "SELECT COUNT(*) FROM referral") == 0
    assert await scalar(engine, "SELECT COUNT(*) FROM case_task") == 0


async def _close(engine, number: str) -> None:
    async with engine.begin() as conn:
        from sqlalchemy import text

        await conn.execute(
            text("UPDATE referral_case SET status = 'closed' WHERE number = :n"), {"n": number}
        )


async def test_accept_closes_the_referral_and_finishes_its_task_and_return_reopens_the_link(
    client, engine, settings
):
    operator = await log_in(client, engine, Role.OPERATOR)
    agency_id = await add_agency(engine, settings, operator)
    number = await open_case(client)
    sent = await refer(client, number, agency_id)
    token = await last_link_token(engine, settings)
    async with another_browser(settings) as agency:
        assert (
            await post_form(agency, f"/r/{token}/acknowledge", {"text": "张警官"}, follow_redirects=False)
        ).status_code == 303
        assert (
            await post_form(agency, f"/r/{token}/feedback", {"text": "已上门核实"}, follow_redirects=False)
        ).status_code == 303
        case_status = await scalar(engine, "SELECT status FROM referral_case WHERE number = :n", n=number)
        assert case_status == "follow_up"
        listed = (await client.get(f"/api/cases/{number}/referrals")).json()
        assert listed[0]["feedback"] == "已上门核实" and listed[0]["can_accept"]
        rid = sent["referral_id"]
        back = await post_json(
            client, f"/api/cases/{number}/referrals/{rid}/return", {"text": "请补充处理结果"}
        )
        assert back.status_code == 200
        # The link takes new feedback again.
        assert (
            await post_form(agency, f"/r/{token}/feedback", {"text": "已联系学校"}, follow_redirects=False)
        ).status_code == 303
        assert (await post_json(client, f"/api/cases/{number}/referrals/{rid}/accept", {})).status_code == 200
        assert await scalar(engine, "SELECT status FROM referral WHERE id = :r", r=rid) == "closed"
        assert await scalar(engine, "SELECT status FROM case_task WHERE referral_id = :r", r=rid) == "done"
        # Accepting twice is a conflict, not a second change.
        assert (await post_json(client, f"/api/cases/{number}/referrals/{rid}/accept", {})).status_code == 409
        assert (await agency.get(f"/r/{token}")).status_code == 404


async def test_only_a_supervisor_revokes_and_the_task_is_cancelled(app, client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    agency_id = await add_agency(engine, settings, operator)
    number = await open_case(client)
    rid = (await refer(client, number, agency_id))["referral_id"]
    refused = await post_json(client, f"/api/cases/{number}/referrals/{rid}/revoke", {"text": "误转"})
    assert refused.status_code == 403
    async with another_browser(settings) as supervisor:
        await log_in(supervisor, engine, Role.SUPERVISOR)
        assert (
            await post_json(supervisor, f"/api/cases/{number}/referrals/{rid}/revoke", {"text": ""})
        ).status_code == 400
        done = await post_json(supervisor, f"/api/cases/{number}/referrals/{rid}/revoke", {"text": "误转"})
        assert done.status_code == 200
    assert await scalar(engine, "SELECT status FROM referral WHERE id = :r", r=rid) == "revoked"
    assert await scalar(engine, "SELECT status FROM case_task WHERE referral_id = :r", r=rid) == "cancelled"


async def test_a_district_uses_the_agencies_above_it_and_a_sibling_sees_none_of_them(app, engine, settings):
    async with create_sessionmaker(engine)() as session:
        west = await create_unit(
            session,
            name="西湖区",
            kind=UnitKind.GUIDANCE_CENTRE,
            region_code="330106",
            parent_id=DEFAULT_UNIT_ID,
        )
        east = await create_unit(
            session,
            name="上城区",
            kind=UnitKind.GUIDANCE_CENTRE,
            region_code="330102",
            parent_id=DEFAULT_UNIT_ID,
        )
        await session.commit()
    city_supervisor = await make_user(engine, Role.SUPERVISOR)
    city_agency = await add_agency(engine, settings, city_supervisor, name="市公安局")
    west_agency = await add_agency(engine, settings, city_supervisor, name="西湖派出所", unit_id=west.id)
    async with another_browser(settings) as west_client:
        await log_in(west_client, engine, Role.SUPERVISOR, unit_id=west.id or 0)
        names = {a["name"] for a in (await west_client.get("/api/agencies")).json()}
        assert names == {"市公安局", "西湖派出所"}
        number = await open_case(west_client)
        await refer(west_client, number, city_agency)  # the city's agency serves the district
        # The district may not change the city's agency.
        assert (await west_client.get(f"/hotline/agencies/{city_agency}")).status_code == 404
        assert (await west_client.get(f"/hotline/agencies/{west_agency}")).status_code == 200
        page = (await west_client.get("/hotline/agencies")).text
        assert "137****1234" in page and AGENCY_MOBILE not in page
        rid = await scalar(engine, "SELECT MIN(id) FROM referral")
    async with another_browser(settings) as city_client:
        await log_in(city_client, engine, Role.SUPERVISOR)
        # The city keeps the district's agency, and a district case may go to it from the city too.
        assert {a["name"] for a in (await city_client.get("/api/agencies")).json()} == {"市公安局"}
        assert (await city_client.get(f"/hotline/agencies/{west_agency}")).status_code == 200
        assert "西湖派出所" in (await city_client.get(f"/hotline/cases/{number}/referrals/new")).text
        await refer(city_client, number, west_agency)
    async with another_browser(settings) as east_client:
        await log_in(east_client, engine, Role.SUPERVISOR, unit_id=east.id or 0)
        assert {a["name"] for a in (await east_client.get("/api/agencies")).json()} == {"市公安局"}
        assert (await east_client.get(f"/hotline/agencies/{west_agency}")).status_code == 404
        for method, url, body in [
            ("GET", f"/hotline/cases/{number}/referrals/new", None),
            ("GET", f"/api/cases/{number}/referrals", None),
            ("POST", "/api/referrals", {"case_number": number, **a_referral(city_agency)}),
            ("POST", f"/api/cases/{number}/referrals/{rid}/accept", {}),
            ("POST", f"/api/cases/{number}/referrals/{rid}/return", {"text": "x"}),
            ("POST", f"/api/cases/{number}/referrals/{rid}/revoke", {"text": "x"}),
            ("POST", f"/hotline/agencies/{west_agency}/active", None),
        ]:
            if method == "GET":
                response = await east_client.get(url)
            elif body is None:
                response = await post_form(east_client, url, {"active": "0"})
            else:
                response = await post_json(east_client, url, body)
            assert response.status_code == 404, (url, response.status_code)
        for url, form in [
            (f"/hotline/cases/{number}/referrals", a_referral(city_agency)),
            (f"/hotline/cases/{number}/referrals/{rid}/accept", {}),
            (f"/hotline/cases/{number}/referrals/{rid}/return", {"text": "x"}),
            (f"/hotline/cases/{number}/referrals/{rid}/revoke", {"text": "x"}),
            (f"/hotline/agencies/{west_agency}", {"name": "x"}),
        ]:
            assert (await post_form(east_client, url, form)).status_code == 404, url
    assert await scalar(engine, "SELECT status FROM referral WHERE id = :r", r=rid) == "sent"
    assert await scalar(engine, "SELECT COUNT(*) FROM referral") == 2
    assert await scalar(engine, "SELECT active FROM agency WHERE id = :a", a=west_agency) in (1, True)


async def test_supervisors_keep_the_directory_and_operators_only_read_it(client, engine, settings):
    await log_in(client, engine, Role.SUPERVISOR)
    fields = {
        "name": "某小学",
        "kind": "school",
        "district": "西湖区",
        "contact_name": "王老师",
        "contact_phone": "139 0000 1111",
        "feedback_days": "61",
    }
    refused = await post_form(client, "/hotline/agencies", fields)
    assert refused.status_code == 400 and await scalar(engine, "SELECT COUNT(*) FROM agency") == 0
    bad_phone = await post_form(
        client, "/hotline/agencies", {**fields, "feedback_days": "5", "contact_phone": "12345"}
    )
    assert bad_phone.status_code == 400
    added = await post_form(
        client, "/hotline/agencies", {**fields, "feedback_days": "5"}, follow_redirects=False
    )
    assert added.status_code == 303
    agency_id = await scalar(engine, "SELECT id FROM agency")
    assert "13900001111" not in (await scalar(engine, "SELECT contact_phone_ciphertext FROM agency"))
    assert (
        await post_form(client, f"/hotline/agencies/{agency_id}/active", {"active": "0"})
    ).status_code in (200, 303)
    assert await scalar(engine, "SELECT active FROM agency") in (0, False)
    async with another_browser(settings) as operator:
        await log_in(operator, engine, Role.OPERATOR)
        assert (await operator.get("/hotline/agencies")).status_code == 200
        assert (await post_form(operator, "/hotline/agencies", fields)).status_code == 403
        assert (await operator.get(f"/hotline/agencies/{agency_id}")).status_code == 403


# ---- The state machine under any sequence of steps ----

STEPS = ["acknowledge", "feedback", "decline", "accept", "return", "revoke"]
AGENCY_STEPS = {"acknowledge", "feedback", "decline"}
DEAD = {ReferralStatus.CLOSED, ReferralStatus.REVOKED, ReferralStatus.DECLINED}


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.sampled_from(STEPS), max_size=7))
async def test_no_sequence_of_steps_reaches_an_illegal_state_and_a_dead_link_takes_nothing(
    engine, settings, steps
):
    cipher = FieldCipher(settings.data_key)
    supervisor = await make_user(engine, Role.SUPERVISOR)
    agency_id = await add_agency(engine, settings, supervisor)
    maker = create_sessionmaker(engine)
    async with maker() as session:
        logged = await log_call(
            session,
            cipher,
            intake=CallIntake(**a_call(category="violence")),
            actor=supervisor,
            timezone=settings.site_timezone,
        )
        case = (
            await session.exec(select(ReferralCase).where(ReferralCase.number == logged.case_number))
        ).one()
        case_id = case.id
        await send_referral(
            session,
            cipher,
            settings,
            case=case,
            form=ReferralForm(agency_id=agency_id, reason="r", request="q"),
            actor=supervisor,
            client_ip=None,
        )
    async with maker() as session:
        referral = (await session.exec(select(Referral).where(Referral.case_id == case_id))).one()
    rid = referral.id or 0
    token = await last_link_token(engine, settings)
    status = ReferralStatus.SENT
    for step in steps:
        async with maker() as session:
            case = (await session.exec(select(ReferralCase).where(ReferralCase.id == case_id))).one()
            try:
                if step == "acknowledge":
                    await acknowledge(session, cipher, settings, token=token, name="李", client_ip="10.0.0.1")
                elif step == "feedback":
                    await give_feedback(
                        session, cipher, settings, token=token, text="done", client_ip="10.0.0.1"
                    )
                elif step == "decline":
                    await decline(session, cipher, settings, token=token, reason="no", client_ip="10.0.0.1")
                elif step == "accept":
                    await accept_feedback(
                        session, cipher, case=case, referral_id=rid, actor=supervisor, client_ip=None
                    )
                elif step == "return":
                    await return_for_more(
                        session,
                        cipher,
                        case=case,
                        referral_id=rid,
                        note="more",
                        actor=supervisor,
                        client_ip=None,
                    )
                else:
                    await revoke_referral(
                        session,
                        cipher,
                        case=case,
                        referral_id=rid,
                        reason="why",
                        actor=supervisor,
                        client_ip=None,
                    )
                refused = False
            except (LinkDead, StepRefused, Conflict, FormInvalid):
                refused = True
        async with maker() as session:
            now_status = ReferralStatus(
                (await session.exec(select(Referral.status).where(Referral.id == rid))).one()
            )
        if status in DEAD and step in AGENCY_STEPS:
            assert refused and now_status == status  # a dead link never takes an action
        if refused:
            assert now_status == status
        else:
            assert REFERRAL_TRANSITIONS.allowed(status, now_status), (status, step, now_status)
        status = now_status
    if status in DEAD:
        async with maker() as session:
            try:
                await open_link(session, cipher, settings, token=token, client_ip="10.0.0.1")
                raise AssertionError("a dead link opened")
            except LinkDead:
                pass
