"""One Settings object, read from environment variables, with defaults that run the embedded demo."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from litestar.di import NamedDependency

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENV_PREFIX = "FH_"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else default


def _load_or_create_keys(data_dir: Path) -> dict[str, str]:
    """Keys for the embedded mode, kept in a file beside the SQLite database.

    Losing the data key means losing every encrypted phone number and summary, so the key is written
    once and reused on every start instead of being regenerated.
    """
    path = data_dir / "keys.json"
    if path.exists():
        return json.loads(path.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    keys = {
        "secret_key": secrets.token_urlsafe(48),
        "data_key": secrets.token_urlsafe(32),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys, fh)
    return keys


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    data_key: str
    redis_url: str | None = None
    sms_backend: str = "console"  # "console" | "twilio"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from_number: str = ""
    twilio_api_base: str | None = None  # tests point the real client at a local server
    public_base_url: str = "http://127.0.0.1:8000"
    site_timezone: str = "Asia/Shanghai"
    sms_signature: str = "【家庭教育热线】"
    default_locale: str = "zh_Hans"
    secure_cookies: bool = False
    debug: bool = False
    data_dir: Path = field(default=PROJECT_ROOT / "instance")
    # Booking rules
    booking_hold_minutes: int = 10
    booking_min_notice_hours: int = 2
    booking_horizon_days: int = 28
    otp_max_attempts: int = 5
    # SMS reminder this many hours before a confirmed consultation; 0 sends none.
    reminder_hours_before: int = 24
    # Outbox
    outbox_sweep_seconds: int = 30
    outbox_max_attempts: int = 8

    @property
    def embedded_jobs(self) -> bool:
        """No Redis configured: jobs run in-process on the same outbox rows."""
        return not self.redis_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("DATA_DIR", str(PROJECT_ROOT / "instance")) or "instance")
        secret_key = _env("SECRET_KEY")
        data_key = _env("DATA_KEY")
        if not (secret_key and data_key):
            keys = _load_or_create_keys(data_dir)
            secret_key = secret_key or keys["secret_key"]
            data_key = data_key or keys["data_key"]
        return cls(
            database_url=_env("DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'family-hotline.db'}") or "",
            secret_key=secret_key,
            data_key=data_key,
            redis_url=_env("REDIS_URL"),
            sms_backend=_env("SMS_BACKEND", "console") or "console",
            twilio_account_sid=_env("TWILIO_ACCOUNT_SID", "") or "",
            twilio_auth_token=_env("TWILIO_AUTH_TOKEN", "") or "",
            twilio_from_number=_env("TWILIO_FROM_NUMBER", "") or "",
            twilio_api_base=_env("TWILIO_API_BASE"),
            public_base_url=(_env("PUBLIC_BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/"),
            site_timezone=_env("TIMEZONE", "Asia/Shanghai") or "Asia/Shanghai",
            sms_signature=_env("SMS_SIGNATURE", "【家庭教育热线】") or "【家庭教育热线】",
            default_locale=_env("DEFAULT_LOCALE", "zh_Hans") or "zh_Hans",
            secure_cookies=(_env("SECURE_COOKIES", "0") == "1"),
            debug=(_env("DEBUG", "0") == "1"),
            data_dir=data_dir,
            reminder_hours_before=int(_env("REMINDER_HOURS_BEFORE") or cls.reminder_hours_before),
        )


# Route handlers declare `settings: SettingsDep`.
SettingsDep = NamedDependency[Settings]
