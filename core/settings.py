"""One Settings object. Each setting is declared once, here: its default, its environment variable and
what it means. `Settings.from_env()` reads every one of them; the README's configuration table is
`settings_table()` (a test keeps the two equal).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from litestar.di import NamedDependency

__all__ = ["ENV_PREFIX", "PROJECT_ROOT", "Settings", "SettingsDep", "SettingsError", "settings_table"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENV_PREFIX = "FH_"


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use; the message names it."""


def _setting(default: Any = None, *, env: str, help: str, shown: str | None = None) -> Any:
    """A setting: `env` is its variable without the prefix; `shown` is how the README states a default
    that is computed at start-up rather than written here."""
    metadata = {"env": env, "help": help, "shown": shown}
    if default is _REQUIRED:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


_REQUIRED: Any = object()


@dataclass(frozen=True)
class Settings:
    database_url: str = _setting(
        _REQUIRED,
        env="DATABASE_URL",
        shown="SQLite file `instance/family-hotline.db`",
        help="`postgresql://…` or `sqlite:///…`",
    )
    secret_key: str = _setting(
        _REQUIRED, env="SECRET_KEY", shown="generated into `instance/keys.json`", help="signs CSRF tokens"
    )
    data_key: str = _setting(
        _REQUIRED,
        env="DATA_KEY",
        shown="generated into `instance/keys.json`",
        help="encrypts personal data; **back it up — losing it loses the data**",
    )
    redis_url: str | None = _setting(
        None,
        env="REDIS_URL",
        shown="unset (embedded: jobs run in-process)",
        help="`redis://host:6379/0`; then run `family-hotline worker`",
    )
    sms_backend: str = _setting("console", env="SMS_BACKEND", help="`twilio` to send real SMS")
    twilio_account_sid: str = _setting("", env="TWILIO_ACCOUNT_SID", help="Twilio account")
    twilio_auth_token: str = _setting(
        "", env="TWILIO_AUTH_TOKEN", help="Twilio auth token (also checks the signature of Twilio's webhooks)"
    )
    twilio_from_number: str = _setting("", env="TWILIO_FROM_NUMBER", help="the number SMS are sent from")
    twilio_api_base: str | None = _setting(
        None,
        env="TWILIO_API_BASE",
        shown="Twilio's",
        help="base URL for the Twilio API (tests point it at a local server)",
    )
    public_base_url: str = _setting(
        "http://127.0.0.1:8000",
        env="PUBLIC_BASE_URL",
        help="public URL: links in SMS, Twilio status-callback URLs and webhook signature checks — give "
        "the worker the same value as the web app",
    )
    site_timezone: str = _setting(
        "Asia/Shanghai", env="TIMEZONE", help="the site's zone for availability and display"
    )
    sms_signature: str = _setting(
        "【家庭教育热线】", env="SMS_SIGNATURE", help="the 【signature】 every SMS starts with"
    )
    default_locale: str = _setting("zh_Hans", env="DEFAULT_LOCALE", help="`zh_Hans` or `en`")
    secure_cookies: bool = _setting(False, env="SECURE_COOKIES", help="`1` behind HTTPS")
    debug: bool = _setting(
        False, env="DEBUG", help="`1` shows tracebacks in error pages (never in production)"
    )
    data_dir: Path = _setting(
        PROJECT_ROOT / "instance",
        env="DATA_DIR",
        shown="`./instance`",
        help="where the embedded database and keys live",
    )
    require_2fa: bool = _setting(
        True,
        env="REQUIRE_2FA",
        help="administrators and supervisors must log in with a second factor (an authenticator app's "
        "code); the demo turns it off",
    )
    booking_hold_minutes: int = _setting(
        10, env="BOOKING_HOLD_MINUTES", help="how long a slot is held while a parent types the SMS code"
    )
    booking_min_notice_hours: int = _setting(
        2, env="BOOKING_MIN_NOTICE_HOURS", help="no slot is offered that starts sooner than this"
    )
    booking_horizon_days: int = _setting(
        28, env="BOOKING_HORIZON_DAYS", help="how far ahead slots are offered"
    )
    otp_max_attempts: int = _setting(
        5, env="OTP_MAX_ATTEMPTS", help="wrong SMS codes allowed before the held slot is released"
    )
    reminder_hours_before: int = _setting(
        24,
        env="REMINDER_HOURS_BEFORE",
        help="hours before a confirmed consultation that the reminder SMS goes out; none when the booking "
        "is made later than that (the confirmation has just gone out); `0` turns reminders off",
    )
    outbox_sweep_seconds: int = _setting(
        5,
        env="OUTBOX_SWEEP_SECONDS",
        help="how often each worker looks in the outbox for SMS that are due (retries, reminders, any "
        "whose hand-over to Redis was lost) and sends them itself — with or without Redis",
    )
    outbox_stall_seconds: int = _setting(
        30,
        env="OUTBOX_STALL_SECONDS",
        help="a worker whose heartbeat (in the database) is older than this is gone: Twilio is asked "
        "whether the SMS it was sending arrived, and only those that did not are sent again; keep it above "
        "20, the longest one send may take",
    )
    sms_stop_grace_seconds: int = _setting(
        20,
        env="SMS_STOP_GRACE_SECONDS",
        help="on SIGTERM, how long SMS already being sent may take to finish; any still unfinished is "
        "stopped and checked at Twilio by the next worker before it is sent again",
    )
    outbox_max_attempts: int = _setting(
        8,
        env="OUTBOX_MAX_ATTEMPTS",
        help="tries before an SMS is marked failed (backoff 30 s doubling, ≤ 1 h; one-time codes from 5 s)",
    )
    mandatory_report_deadline_hours: int = _setting(
        0,
        env="MANDATORY_REPORT_DEADLINE_HOURS",
        help="hours after it arises that a mandatory report shows red; `0` means the end of the same day",
    )
    light_amber_hours: int = _setting(
        24, env="LIGHT_AMBER_HOURS", help="a task, referral or report due within this many hours shows amber"
    )
    lights_check_seconds: int = _setting(
        300,
        env="LIGHTS_CHECK_SECONDS",
        help="how often the job that alerts owners and supervisors of items just turned red runs",
    )
    agency_link_days: int = _setting(
        90, env="AGENCY_LINK_DAYS", help="days an agency's referral link works after it was sent"
    )
    # b-fair: no-show suspensions and limits against abuse of online booking
    booking_hotline_number: str = _setting(
        "12355",
        env="BOOKING_HOTLINE_NUMBER",
        help="the number parents are told to call when they cannot book online (suspended, opted out of "
        "SMS, over a limit)",
    )
    no_show_limit: int = _setting(
        3, env="NO_SHOW_LIMIT", help="no-shows within `NO_SHOW_WINDOW_MONTHS` that suspend online booking"
    )
    no_show_window_months: int = _setting(
        6, env="NO_SHOW_WINDOW_MONTHS", help="months (of 30 days) in which no-shows are counted"
    )
    no_show_suspension_days: int = _setting(
        90,
        env="NO_SHOW_SUSPENSION_DAYS",
        help="days a phone number cannot book online after its last counted no-show; staff can still "
        "book for it and lift the suspension",
    )
    booking_max_active_per_phone: int = _setting(
        3,
        env="BOOKING_MAX_ACTIVE_PER_PHONE",
        help="future confirmed bookings and held slots one phone number may have at once (online)",
    )
    otp_sms_per_phone_hour: int = _setting(
        5, env="OTP_SMS_PER_PHONE_HOUR", help="one-time-code SMS one phone number may receive per hour"
    )
    otp_sms_per_address_hour: int = _setting(
        20,
        env="OTP_SMS_PER_ADDRESS_HOUR",
        help="one-time-code SMS requested from one client address per hour (a shared network counts once)",
    )
    screen_pop_stream_seconds: int = _setting(
        300,
        env="SCREEN_POP_STREAM_SECONDS",
        help="seconds one screen-pop event stream of the phone-duty page lasts; the browser then reopens it",
    )
    # Voice intake (hotline.voice_*): Twilio numbers, hours and prompts.
    voice_numbers: str = _setting(
        "",
        env="VOICE_NUMBERS",
        help="our Twilio numbers: `+86571…=12355@1,+86571…=family_edu@3,+86571…=@1` (number=line@unit id; "
        "no line: the main menu chooses it)",
    )
    voice_hours: str = _setting(
        "12355=mon-sun 00:00-24:00,hol 00:00-24:00;family_edu=mon-fri 09:00-21:00,sat-sun 09:00-17:00",
        env="VOICE_HOURS",
        help="opening hours per line and weekday (`line=days HH:MM-HH:MM,…;…`); `hol` names statutory "
        "holidays (chinesecalendar), closed unless listed",
    )
    voice_default_line: str = _setting(
        "12355", env="VOICE_DEFAULT_LINE", help="the line of a main-menu call whose caller chose none"
    )
    voice_say_language: str = _setting("cmn-CN", env="VOICE_SAY_LANGUAGE", help="`<Say>` language")
    voice_say_voice: str = _setting("Polly.Zhiyu", env="VOICE_SAY_VOICE", help="`<Say>` voice (Mandarin)")
    voice_greeting_url: str = _setting(
        "", env="VOICE_GREETING_URL", help="audio file `<Play>`ed as the greeting; empty: spoken by `<Say>`"
    )
    voice_crisis_digit: str = _setting(
        "2", env="VOICE_CRISIS_DIGIT", help="the menu digit for a child's safety: front of the queue"
    )
    voice_voicemail_wait_seconds: int = _setting(
        120,
        env="VOICE_VOICEMAIL_WAIT_SECONDS",
        help="seconds a caller waits in the queue (nobody on duty, nobody answering) before voicemail",
    )
    voice_ring_seconds: int = _setting(
        20, env="VOICE_RING_SECONDS", help="seconds an operator's phone rings before the next operator's"
    )
    voice_recording_lines: str = _setting(
        "",
        env="VOICE_RECORDING_LINES",
        help="lines whose conversations are recorded (comma-separated; callers hear a notice first)",
    )
    voice_callback_hours: int = _setting(
        4, env="VOICE_CALLBACK_HOURS", help="hours after a voicemail or abandoned call its callback is due"
    )
    voice_sweep_seconds: int = _setting(
        15,
        env="VOICE_SWEEP_SECONDS",
        help="how often the safety net offers waiting calls and sends overdue ones to voicemail",
    )

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
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Every setting from its `FH_…` variable; unset or empty means the default."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = env.get(ENV_PREFIX + spec.metadata["env"], "")
            if raw != "":
                values[spec.name] = _parse(spec.metadata["env"], str(spec.type), raw)
        data_dir: Path = values.setdefault("data_dir", cls.data_dir)
        values.setdefault("database_url", f"sqlite+aiosqlite:///{data_dir / 'family-hotline.db'}")
        if not ("secret_key" in values and "data_key" in values):
            keys = _load_or_create_keys(data_dir)
            values.setdefault("secret_key", keys["secret_key"])
            values.setdefault("data_key", keys["data_key"])
        if "public_base_url" in values:
            values["public_base_url"] = values["public_base_url"].rstrip("/")
        return cls(**values)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse(name: str, type_name: str, raw: str) -> Any:
    variable = ENV_PREFIX + name
    if type_name == "int":
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{variable} must be a whole number, not {raw!r}") from None
    if type_name == "bool":
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise SettingsError(f"{variable} must be 1 or 0, not {raw!r}")
    if type_name == "Path":
        return Path(raw)
    return raw


def _load_or_create_keys(data_dir: Path) -> dict[str, str]:
    """Keys for the embedded mode, kept in a file beside the SQLite database.

    Losing the data key means losing every encrypted phone number and summary, so the key is written
    once and reused on every start instead of being regenerated.
    """
    path = data_dir / "keys.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    data_dir.mkdir(parents=True, exist_ok=True)
    keys = {
        "secret_key": secrets.token_urlsafe(48),
        "data_key": secrets.token_urlsafe(32),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys, fh)
    return keys


def settings_table() -> str:
    """The README's configuration table, made from the declarations above."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for spec in fields(Settings):
        shown = spec.metadata["shown"]
        if shown is None:
            default = spec.default
            shown = (
                f"`{int(default)}`"
                if isinstance(default, bool)
                else f"`{default}`"
                if default != ""
                else "empty"
            )
        rows.append(f"| `{ENV_PREFIX}{spec.metadata['env']}` | {shown} | {spec.metadata['help']} |")
    return "\n".join(rows)


# Route handlers declare `settings: SettingsDep`.
SettingsDep = NamedDependency[Settings]
