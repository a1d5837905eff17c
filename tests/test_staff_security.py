"""Staff accounts: the password policy, and two-factor login with TOTP codes computed here as an
authenticator app would, and single-use recovery codes."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import select

from app.login_throttle import FAILED_LOGIN_LIMIT
from core.accounts import Role, StaffUser
from core.audit import AuditEvent
from core.db import create_sessionmaker, utcnow
from core.errors import FormInvalid
from core.passwords import check_new_password
from core.privacy import FieldCipher
from core.two_factor import (
    RECOVERY_CODE_COUNT,
    confirm_enrolment,
    reset_second_factor,
    start_enrolment,
    verify_second_factor,
)
from tests.conftest import TEST_PASSWORD, make_user, post_form


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short-1!", "at least 12"),
        ("password1234", "common or easy to guess"),
        ("qwertyuiop123", "common or easy to guess"),
        ("123456789012", "common or easy to guess"),
        ("chen-laoshi-2026-ok", "must not contain the username"),
    ],
)
def test_short_common_and_self_naming_passwords_are_refused(password, says):
    with pytest.raises(FormInvalid) as refused:
        check_new_password(password, username="chen-laoshi")
    assert says in refused.value.errors["password"]


@pytest.mark.parametrize("password", ["correct horse battery", "家庭教育热线值班2026年", "Xk3#pq9!mZ2w"])
def test_long_unguessable_passwords_pass(password):
    check_new_password(password, username="chen-laoshi")


async def test_an_account_cannot_be_created_with_a_weak_password(engine):
    async with create_sessionmaker(engine)() as session:
        from core.accounts import create_staff_user

        with pytest.raises(FormInvalid):
            await create_staff_user(
                session,
                username="zhou",
                display_name="周",
                role=Role.OPERATOR,
                password="11111111111111",
                unit_id=1,
            )


async def _enrolled(engine, cipher: FieldCipher) -> tuple[StaffUser, pyotp.TOTP, list[str]]:
    user = await make_user(engine, Role.SUPERVISOR)
    enrolment = start_enrolment(user)
    assert enrolment.uri.startswith("otpauth://totp/") and "<svg" in enrolment.qr_svg
    app = pyotp.TOTP(enrolment.secret)
    async with create_sessionmaker(engine)() as session:
        assert (
            await confirm_enrolment(
                session, cipher, user, enrolment.secret, "000000" if app.now() != "000000" else "111111"
            )
            is None
        )
        codes = await confirm_enrolment(session, cipher, user, enrolment.secret, app.now())
        await session.commit()
    assert codes is not None and len(set(codes)) == RECOVERY_CODE_COUNT
    return user, app, codes


async def _verify(engine, cipher, user, code) -> str | None:
    async with create_sessionmaker(engine)() as session:
        fresh = await session.get(StaffUser, user.id)
        result = await verify_second_factor(session, cipher, fresh, code)
        await session.commit()
        return result


async def test_totp_codes_log_in_once_per_time_step_and_the_secret_is_stored_encrypted(engine, settings):
    cipher = FieldCipher(settings.data_key)
    user, app, _codes = await _enrolled(engine, cipher)
    async with create_sessionmaker(engine)() as session:
        stored = await session.get(StaffUser, user.id)
        assert stored.totp_secret_ciphertext and app.secret not in stored.totp_secret_ciphertext

    later = utcnow() + timedelta(seconds=30)
    next_code = app.at(later)
    # The code of the enrolment step was used up by enrolling; the next step's code works once.
    assert await _verify(engine, cipher, user, app.at(utcnow() - timedelta(seconds=90))) is None  # too old
    assert await _verify(engine, cipher, user, next_code) == "totp"
    assert await _verify(engine, cipher, user, next_code) is None  # replayed


async def test_recovery_codes_work_once_each_and_a_reset_turns_two_factor_off(engine, settings):
    cipher = FieldCipher(settings.data_key)
    user, _app, codes = await _enrolled(engine, cipher)
    assert await _verify(engine, cipher, user, codes[0].upper().replace("-", " ")) == "recovery"
    assert await _verify(engine, cipher, user, codes[0]) is None
    assert await _verify(engine, cipher, user, "abcde-fghjk") is None
    assert await _verify(engine, cipher, user, codes[1]) == "recovery"

    async with create_sessionmaker(engine)() as session:
        await reset_second_factor(session, user.id or 0)
        await session.commit()
    assert await _verify(engine, cipher, user, codes[2]) is None
    async with create_sessionmaker(engine)() as session:
        assert (await session.get(StaffUser, user.id)).totp_enabled_at is None


# ---- as a person logs in: HTTP -------------------------------------------------------------------------

SECRET_IN_PAGE = re.compile(r"data-totp-secret>([A-Z2-7]{32})<")
CODES_IN_PAGE = re.compile(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>")


@pytest.fixture
def strict_app(settings):
    from app.server import create_app

    return create_app(settings.with_overrides(require_2fa=True))


async def _log_in_with_password(client, username: str) -> str:
    response = await post_form(
        client, "/login", {"username": username, "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def _enrol_over_http(client) -> tuple[pyotp.TOTP, list[str]]:
    page = await client.get("/account/security")
    assert page.status_code == 200 and 'data-two-factor="off"' in page.text and "<svg" in page.text
    secret = SECRET_IN_PAGE.search(page.text).group(1)
    app = pyotp.TOTP(secret)
    wrong = await post_form(client, "/account/security/two-factor", {"secret": secret, "code": "12345"})
    assert wrong.status_code == 400 and secret in wrong.text  # the same key again: the app keeps working
    done = await post_form(client, "/account/security/two-factor", {"secret": secret, "code": app.now()})
    assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
    codes = CODES_IN_PAGE.findall(done.text)
    assert len(codes) == RECOVERY_CODE_COUNT
    return app, codes


async def test_a_supervisor_must_enrol_before_any_page_then_logs_in_with_a_code(strict_app, engine):
    supervisor = await make_user(engine, Role.SUPERVISOR)
    async with AsyncTestClient(app=strict_app) as client:
        assert (await _log_in_with_password(client, supervisor.username)) == "/hotline/supervision"
        refused = await client.get("/hotline/cases", follow_redirects=False)
        assert (refused.status_code, refused.headers["location"]) == (303, "/account/security")
        app, codes = await _enrol_over_http(client)
        assert (await client.get("/hotline/cases")).status_code == 200
        await post_form(client, "/logout", {})

        # Next time the password alone opens nothing but the second step.
        step = await _log_in_with_password(client, supervisor.username)
        assert step.startswith("/login/second-factor")
        assert (
            (await client.get("/hotline/cases", follow_redirects=False))
            .headers["location"]
            .startswith("/login?next=")
        )
        wrong = await post_form(
            client, "/login/second-factor", {"code": "000000" if app.now() != "000000" else "1"}
        )
        assert wrong.status_code == 400 and "验证码不正确" in wrong.text
        # The enrolment used this step's code; the next step's code logs in.
        nxt = app.at(utcnow() + timedelta(seconds=30))
        ok = await post_form(client, "/login/second-factor", {"code": nxt}, follow_redirects=False)
        assert (ok.status_code, ok.headers["location"]) == (303, "/hotline/supervision")
        assert (await client.get("/hotline/cases")).status_code == 200
        await post_form(client, "/logout", {})

        # A recovery code works once, and its use is audited as such.
        await _log_in_with_password(client, supervisor.username)
        ok = await post_form(client, "/login/second-factor", {"code": codes[3]}, follow_redirects=False)
        assert ok.status_code == 303
        await post_form(client, "/logout", {})
        await _log_in_with_password(client, supervisor.username)
        again = await post_form(client, "/login/second-factor", {"code": codes[3]})
        assert again.status_code == 400
    actions = await _audit_actions(engine, supervisor)
    assert {"account.2fa_enrolled", "login.password_ok", "login.recovery_code", "login.2fa_failed"} <= actions


async def test_wrong_codes_are_throttled_like_passwords(strict_app, engine, settings):
    cipher = FieldCipher(settings.data_key)
    user, app, _codes = await _enrolled(engine, cipher)
    async with AsyncTestClient(app=strict_app) as client:
        await _log_in_with_password(client, user.username)
        for _ in range(FAILED_LOGIN_LIMIT):
            assert (await post_form(client, "/login/second-factor", {"code": "99999x"})).status_code == 400
        locked = await post_form(
            client, "/login/second-factor", {"code": app.at(utcnow() + timedelta(seconds=30))}
        )
        assert locked.status_code == 429


async def test_an_operator_is_not_asked_for_a_second_factor(strict_app, engine):
    operator = await make_user(engine, Role.OPERATOR)
    async with AsyncTestClient(app=strict_app) as client:
        await _log_in_with_password(client, operator.username)
        assert (await client.get("/hotline/cases")).status_code == 200


async def test_a_temporary_password_must_be_replaced_first_and_the_new_one_meets_the_policy(app, engine):
    operator = await make_user(engine, Role.OPERATOR)
    async with create_sessionmaker(engine)() as session:
        stored = await session.get(StaffUser, operator.id)
        stored.must_change_password = True
        await session.commit()
    async with AsyncTestClient(app=app) as client:
        await _log_in_with_password(client, operator.username)
        assert (await client.get("/hotline/cases", follow_redirects=False)).headers["location"] == (
            "/account/security"
        )
        weak = await post_form(
            client,
            "/account/security/password",
            {"current_password": TEST_PASSWORD, "new_password": "password1234"},
        )
        assert weak.status_code == 400 and "太常见" in weak.text
        wrong = await post_form(
            client,
            "/account/security/password",
            {"current_password": "not it at all", "new_password": "violet lantern harbour"},
        )
        assert wrong.status_code == 400
        done = await post_form(
            client,
            "/account/security/password",
            {"current_password": TEST_PASSWORD, "new_password": "violet lantern harbour"},
            follow_redirects=False,
        )
        assert (done.status_code, done.headers["location"]) == (303, "/hotline/tasks")
        assert (await client.get("/hotline/cases")).status_code == 200
    assert "account.password_changed" in await _audit_actions(engine, operator)


async def _audit_actions(engine, user: StaffUser) -> set[str]:
    async with create_sessionmaker(engine)() as session:
        rows = await session.exec(select(AuditEvent.action).where(AuditEvent.actor_label == user.username))
        return set(rows.all())
