"""Staff accounts: the password policy, and two-factor login with TOTP codes computed here as an
authenticator app would, and single-use recovery codes."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest

from core.accounts import Role, StaffUser
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
from tests.conftest import make_user


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
