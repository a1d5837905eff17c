"""The command line as an administrator uses it: upgrade the database, add a user, seed the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import select

from app.demo import DEMO_USERS
from app.demo_quarter_stories import CASES
from app.demo_reports import HISTORY_MARK
from booking.models import AvailabilityRule, Expert
from core.accounts import StaffUser, authenticate
from core.db import create_sessionmaker
from core.units import DEFAULT_UNIT_ID, OrgUnit
from hotline.models import ReferralCase


def _cli(args: list[str], database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FH_DATABASE_URL": database_url, "FH_DATA_DIR": str(data_dir)}
    env.pop("FH_REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_users_add_creates_an_account_that_can_log_in(database_url, tmp_path, engine):
    upgraded = _cli(["db", "upgrade"], database_url, tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    added = _cli(
        [
            "users",
            "add",
            "wang.li",
            "--name",
            "王丽",
            "--role",
            "supervisor",
            "--password",
            "a long password",
        ],
        database_url,
        tmp_path,
    )
    assert added.returncode == 0, added.stderr
    async with create_sessionmaker(engine)() as session:
        user = await authenticate(session, "wang.li", "a long password")
        assert user is not None and user.role == "supervisor" and user.display_name == "王丽"
        assert await authenticate(session, "wang.li", "not the password") is None


def test_users_add_refuses_an_unknown_role(database_url, tmp_path):
    result = _cli(
        ["users", "add", "x", "--role", "superuser", "--password", "a long password"], database_url, tmp_path
    )
    assert result.returncode != 0
    assert "invalid choice" in result.stderr


async def test_demo_seeds_once_and_prints_logins_and_feed_links(database_url, tmp_path, engine):
    first = _cli(["demo"], database_url, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Demo data created." in first.stdout
    assert "/book" in first.stdout and "/calendar/experts/" in first.stdout
    second = _cli(["demo"], database_url, tmp_path)
    assert "nothing changed" in second.stdout
    async with create_sessionmaker(engine)() as session:
        users = (await session.exec(select(StaffUser))).all()
        units = {unit.id: unit for unit in (await session.exec(select(OrgUnit))).all()}
        # Two units, a district under the city; staff in each; the summary says who sees what.
        assert len(units) == 2
        [district] = [unit for unit in units.values() if unit.parent_id is not None]
        assert district.path == f"{units[district.parent_id].path}{district.id}/"
        assert {user.unit_id for user in users} == set(units)
        assert len(users) == len(DEMO_USERS)
        assert "西湖区家庭教育指导服务站" in first.stdout and "see only their own" in first.stdout
        # The quarter's cases, without the older history app.demo_reports adds for the comparisons.
        cases = (
            await session.exec(select(ReferralCase).where(ReferralCase.child_district != HISTORY_MARK))
        ).all()
        # Each unit's operators carry cases: cases in both units, the district's only in the district
        # (the quarter itself is tested in tests/test_demo_quarter.py).
        by_unit = {unit_id: sum(1 for case in cases if case.unit_id == unit_id) for unit_id in units}
        district_cases = sum(1 for spec in CASES if spec.unit == 1)
        assert by_unit == {DEFAULT_UNIT_ID: len(CASES) - district_cases, district.id: district_cases}
        experts = (await session.exec(select(Expert))).all()
        assert len(experts) == 3
        assert all(e.feed_nonce and len(e.feed_token_hash) == 64 for e in experts)  # a link, kept as a hash
        assert (await session.exec(select(AvailabilityRule))).first() is not None


def test_keys_are_generated_once_and_kept(tmp_path):
    from core.settings import Settings

    os.environ.pop("FH_DATA_KEY", None)
    os.environ.pop("FH_SECRET_KEY", None)
    os.environ["FH_DATA_DIR"] = str(tmp_path)
    try:
        first = Settings.from_env()
        second = Settings.from_env()
    finally:
        del os.environ["FH_DATA_DIR"]
    assert first.data_key == second.data_key and len(first.data_key) >= 32
    assert oct((tmp_path / "keys.json").stat().st_mode & 0o777) == "0o600"


def test_serve_refuses_several_workers_without_redis_and_serves_nothing(database_url, tmp_path):
    """Embedded mode is one process: with several, each would run its own job runner and /dev/sms would
    show only its own process's SMS. The refusal says what to do instead, before any port is opened."""
    result = _cli(["serve", "--workers", "2", "--port", "1"], database_url, tmp_path)
    assert result.returncode == 1
    assert "--workers above 1 needs FH_REDIS_URL" in result.stderr
    assert "Uvicorn running" not in result.stderr + result.stdout
    nonsense = _cli(["serve", "--workers", "0"], database_url, tmp_path)
    assert nonsense.returncode == 2 and "1 or more" in nonsense.stderr
