"""Shared fixtures. The database is SQLite unless FH_TEST_DATABASE_URL names a PostgreSQL server, in which
case a fresh database is created on it for this run, migrated, and dropped at the end."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.migrate import upgrade_database
from core.accounts import Role, StaffUser, create_staff_user
from core.db import AsyncSession, SQLModel, create_engine, create_sessionmaker
from core.settings import Settings
from core.units import DEFAULT_UNIT_ID
from tests.fakes.twilio_server import FakeTwilio

TEST_PASSWORD = "correct horse battery"
POSTGRES_URL = os.environ.get("FH_TEST_DATABASE_URL", "").strip()
USING_POSTGRES = POSTGRES_URL.startswith(("postgresql", "postgres:"))
TWILIO_FROM = "+15005550006"

# One Redis database per test database backend, so a SQLite run and a PostgreSQL run side by side do not
# flush each other's queues (both number their outbox rows from 1).
REDIS_URL = os.environ.get(
    "FH_TEST_REDIS_URL", "redis://127.0.0.1:6379/" + ("15" if USING_POSTGRES else "14")
)


def pytest_report_header(config: pytest.Config) -> str:
    backend = "PostgreSQL " + _redact(POSTGRES_URL) if USING_POSTGRES else "SQLite"
    return f"family-hotline test database: {backend}"


def _redact(url: str) -> str:
    return re.sub(r"//([^:@/]+):[^@/]+@", r"//\1:***@", url)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
async def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """Migrate once per run: a template SQLite file, or a fresh PostgreSQL database."""
    if USING_POSTGRES:
        name = f"fh_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = _with_database(POSTGRES_URL, name)
        await upgrade_database(url)
        yield url
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    else:
        template = tmp_path_factory.mktemp("db") / "template.db"
        url = f"sqlite+aiosqlite:///{template}"
        await upgrade_database(url)
        yield url


@pytest.fixture
async def database_url(migrated_database: str, tmp_path: Path) -> AsyncIterator[str]:
    """Each test starts from an empty, migrated database."""
    if USING_POSTGRES:
        engine = create_engine(migrated_database)
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            # As migration 0003 leaves a fresh database: the one top unit that every row starts in.
            await conn.execute(
                text(
                    "INSERT INTO org_unit (id, name, kind, region_code, path, active, created_at) "
                    "VALUES (1, '本单位', 'other', '', '/1/', true, now())"
                )
            )
            await conn.execute(text("SELECT setval(pg_get_serial_sequence('org_unit', 'id'), 1)"))
        await engine.dispose()
        yield migrated_database
    else:
        source = Path(migrated_database.removeprefix("sqlite+aiosqlite:///"))
        target = tmp_path / "test.db"
        shutil.copyfile(source, target)
        yield f"sqlite+aiosqlite:///{target}"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with create_sessionmaker(engine)() as session:
        yield session


TEST_DATA_KEY = "test-data-key-0123456789abcdef"  # tests derive feed tokens with it (tests/feeds.py)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key-" + "x" * 32,
        data_key=TEST_DATA_KEY,
        data_dir=tmp_path,
        public_base_url="http://testserver.local",
        sms_backend="console",
        # Most tests log in as a supervisor or admin to test something else; the second factor has its
        # own tests (tests/test_staff_security.py), which turn the requirement on.
        require_2fa=False,
        # A screen-pop stream (hotline.voice_screen) ends after this: route walkers GET it too.
        screen_pop_stream_seconds=2,
    )


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The app builds its own engine: the test client runs it on its own event loop (in a portal thread),
    and asyncpg connections must not cross loops."""
    from app.server import create_app

    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


# ---- SMS: our fake Twilio, Twilio-mode settings, a private Redis database ----------------------------


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = await FakeTwilio().start()
    yield fake
    await fake.stop()


@pytest.fixture
def twilio_settings(settings: Settings, fake_twilio: FakeTwilio) -> Settings:
    """Embedded (no Redis) with the real Twilio client pointed at the fake."""
    return settings.with_overrides(
        sms_backend="twilio",
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_from_number=TWILIO_FROM,
        twilio_api_base=fake_twilio.base_url,
    )


@pytest.fixture
async def queue_settings(twilio_settings: Settings) -> AsyncIterator[Settings]:
    """Twilio settings plus our Redis database, emptied before and after each test."""
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    yield twilio_settings.with_overrides(redis_url=REDIS_URL)
    await redis.flushdb()
    await redis.aclose()


async def csrf_token(client: AsyncTestClient[Litestar]) -> str:
    """The double-submit CSRF token: set as a cookie by any GET, sent back as a form field or header."""
    if "fh_csrf" not in client.cookies:
        await client.get("/health")
        await client.get("/login")
    return client.cookies["fh_csrf"]


async def post_form(
    client: AsyncTestClient[Litestar], url: str, data: dict[str, Any] | list[tuple[str, str]], **kwargs: Any
) -> Any:
    """Post a form as a browser would; a list of pairs repeats a field (checkbox groups)."""
    token = await csrf_token(client)
    fields: dict[str, Any] = {}
    for key, value in data.items() if isinstance(data, dict) else data:
        if key in fields:
            fields[key] = [*(fields[key] if isinstance(fields[key], list) else [fields[key]]), value]
        else:
            fields[key] = value
    fields["_csrf_token"] = token
    return await client.post(url, data=fields, **kwargs)


async def post_json(client: AsyncTestClient[Litestar], url: str, payload: Any, **kwargs: Any) -> Any:
    token = await csrf_token(client)
    return await client.post(url, json=payload, headers={"x-csrftoken": token}, **kwargs)


async def make_user(
    engine: AsyncEngine, role: Role | str, username: str | None = None, *, unit_id: int = DEFAULT_UNIT_ID
) -> StaffUser:
    async with create_sessionmaker(engine)() as session:
        user = await create_staff_user(
            session,
            username=username or f"{role}-{uuid.uuid4().hex[:6]}",
            display_name=f"Test {role}",
            role=role,
            password=TEST_PASSWORD,
            unit_id=unit_id,
        )
        await session.commit()
        return user


async def log_in(
    client: AsyncTestClient[Litestar],
    engine: AsyncEngine,
    role: Role | str,
    *,
    unit_id: int = DEFAULT_UNIT_ID,
) -> StaffUser:
    user = await make_user(engine, role, unit_id=unit_id)
    response = await post_form(
        client, "/login", {"username": user.username, "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert "fh_session" in client.cookies
    return user


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
