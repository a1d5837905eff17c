"""Staff alerts as their recipient reads them, and the alert mobile and duty on the account page."""

from __future__ import annotations

import re

from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.audit import AuditEvent
from core.db import create_sessionmaker
from core.i18n import use_locale
from core.privacy import FieldCipher
from hotline.alert_views import unread_alerts
from hotline.alerts import MOBILE_CONTEXT
from hotline.intake import CallIntake, log_call
from tests.conftest import TEST_PASSWORD, log_in, make_user, post_form
from tests.hotline.calls import a_call
from tests.hotline.reports_helpers import alerts, supervisor


async def _log_in_as(client: AsyncTestClient, user: StaffUser) -> None:  # type: ignore[type-arg]
    response = await post_form(
        client, "/login", {"username": user.username, "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303


async def _violence_case(engine, settings) -> str:  # type: ignore[no-untyped-def]
    """A violence call logged by an operator (straight through the service: the test's own client is
    the app's only one, so the app never runs on two event loops)."""
    operator = await make_user(engine, Role.OPERATOR)
    async with create_sessionmaker(engine)() as session:
        logged = await log_call(
            session,
            FieldCipher(settings.data_key),
            intake=CallIntake(**a_call(category="violence")),
            actor=operator,
            timezone=settings.site_timezone,
            settings=settings,
        )
    return logged.case_number


async def test_the_alerts_page_shows_only_my_alerts_newest_first_in_my_language(client, engine, settings):
    cipher = FieldCipher(settings.data_key)
    me = await supervisor(engine, cipher)
    other = await supervisor(engine, cipher)
    first = await _violence_case(engine, settings)
    second = await _violence_case(engine, settings)
    mine = [alert for alert in await alerts(engine) if alert.recipient_id == me.id]
    theirs = [alert for alert in await alerts(engine) if alert.recipient_id == other.id]
    assert len(mine) == 2 and len(theirs) == 2

    await _log_in_as(client, me)
    page = await client.get("/hotline/alerts")
    assert page.status_code == 200
    assert page.text.index(f"个案 {second} 需向公安机关强制报告") < page.text.index(
        f"个案 {first} 需向公安机关强制报告"
    )
    assert f'href="/hotline/cases/{first}"' in page.text
    ids_shown = {int(found) for found in re.findall(r'data-alert="(\d+)"', page.text)}
    assert ids_shown == {alert.id for alert in mine}
    assert page.text.count('data-alert-read="no"') == 2
    english = await client.get("/hotline/alerts", headers={"accept-language": "en"})
    assert f"Case {first} needs a mandatory report to the police" in english.text

    # Someone else's alert is "not found" and stays unread; my own is marked read.
    token = client.cookies["fh_csrf"]
    refused = await client.post(f"/hotline/alerts/{theirs[0].id}/read", data={"_csrf_token": token})
    assert refused.status_code == 404
    for bad_id in (0, 2**31, 2**63 - 1):
        assert (
            await client.post(f"/hotline/alerts/{bad_id}/read", data={"_csrf_token": token})
        ).status_code == 404
    done = await client.post(
        f"/hotline/alerts/{mine[0].id}/read", data={"_csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    after = {alert.id: alert.read_at for alert in await alerts(engine)}
    assert after[mine[0].id] is not None and after[mine[1].id] is None
    assert all(after[alert.id] is None for alert in theirs)
    assert (await client.get("/hotline/alerts")).text.count('data-alert-read="no"') == 1

    async with create_sessionmaker(engine)() as session:
        use_locale("zh_Hans")
        unread = await unread_alerts(session, me)
        assert [view.case_number for view in unread] == [second]
        assert unread[0].text == f"个案 {second} 需向公安机关强制报告"

    await post_form(client, "/hotline/alerts/read-all", {})
    assert all(alert.read_at is not None for alert in await alerts(engine) if alert.recipient_id == me.id)
    assert all(alert.read_at is None for alert in await alerts(engine) if alert.recipient_id == other.id)


async def test_the_alerts_partial_renders_for_a_home_page(engine, settings):
    from core.templating import create_environment

    cipher = FieldCipher(settings.data_key)
    me = await supervisor(engine, cipher)
    number = await _violence_case(engine, settings)
    async with create_sessionmaker(engine)() as session:
        use_locale("zh_Hans")
        views = await unread_alerts(session, me)
    html = (
        create_environment(settings.site_timezone)
        .get_template("hotline/_alerts.html")
        .render(staff_alerts=views, csrf_input="")
    )
    assert 'data-alerts="1"' in html and f"/hotline/cases/{number}" in html and "标为已读" in html


async def test_an_operator_sets_a_mobile_shown_masked_and_stored_encrypted(client, engine, settings):
    cipher = FieldCipher(settings.data_key)
    operator = await log_in(client, engine, Role.OPERATOR)
    page = await client.get("/account/security")
    assert 'data-mobile=""' in page.text and "data-on-duty" not in page.text

    bad = await post_form(client, "/account/security/mobile", {"mobile": "12345"})
    assert bad.status_code == 400 and 'id="mobile-error"' in bad.text
    saved = await post_form(
        client, "/account/security/mobile", {"mobile": "139 0000 5678"}, follow_redirects=False
    )
    assert saved.status_code == 303
    page = await client.get("/account/security")
    assert 'data-mobile="139****5678"' in page.text and "13900005678" not in page.text
    async with create_sessionmaker(engine)() as session:
        stored = await session.get(StaffUser, operator.id)
        assert stored is not None and stored.mobile_ciphertext and "5678" not in stored.mobile_ciphertext
        assert cipher.decrypt(stored.mobile_ciphertext, context=MOBILE_CONTEXT) == "+8613900005678"
    # Operators receive alerts but are not put on duty: that is a supervisor's.
    assert (await post_form(client, "/account/security/duty", {"on_duty": "1"})).status_code == 403

    await post_form(client, "/account/security/mobile", {"mobile": ""})
    async with create_sessionmaker(engine)() as session:
        stored = await session.get(StaffUser, operator.id)
        assert stored is not None and stored.mobile_ciphertext is None
        actions = (
            await session.exec(
                select(AuditEvent.action)
                .where(AuditEvent.actor_id == operator.id)
                .order_by(col(AuditEvent.id))
            )
        ).all()
    assert [a for a in actions if a.startswith("account.mobile")] == [
        "account.mobile_set",
        "account.mobile_removed",
    ]


async def test_a_supervisor_goes_on_and_off_duty(client, engine):
    boss = await log_in(client, engine, Role.SUPERVISOR)
    assert 'data-on-duty="no"' in (await client.get("/account/security")).text
    on = await post_form(client, "/account/security/duty", {"on_duty": "1"}, follow_redirects=False)
    assert on.status_code == 303
    page = (await client.get("/account/security")).text
    assert 'data-on-duty="yes"' in page and "未填写手机" in page
    await post_form(client, "/account/security/duty", {"on_duty": "0"})
    async with create_sessionmaker(engine)() as session:
        stored = await session.get(StaffUser, boss.id)
        assert stored is not None and stored.on_duty is False
        actions = (await session.exec(select(AuditEvent.action).where(AuditEvent.actor_id == boss.id))).all()
    assert "account.on_duty" in actions and "account.off_duty" in actions


async def test_staff_without_a_hotline_role_have_no_alert_settings(client, engine):
    await log_in(client, engine, Role.COORDINATOR)
    page = await client.get("/account/security")
    assert page.status_code == 200 and "data-mobile" not in page.text
    assert (await post_form(client, "/account/security/mobile", {"mobile": "13900005678"})).status_code == 403
