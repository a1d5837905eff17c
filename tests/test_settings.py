"""Settings are declared once: every one is readable from the environment, and the README's table is
made from the same declarations."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from core.settings import ENV_PREFIX, PROJECT_ROOT, Settings, SettingsError, settings_table

_SAMPLES = {
    "int": "7",
    "bool": "1",
    "Path": "/tmp/fh-settings-test",
    "str": "x-sample",
    "str | None": "y-sample",
}


def test_the_readme_table_is_the_settings_declarations():
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert settings_table() in readme, "README.md's configuration table differs from core/settings.py"


@pytest.mark.parametrize("spec", fields(Settings), ids=lambda spec: spec.name)
def test_every_setting_is_read_from_its_environment_variable(spec, tmp_path):
    variable = ENV_PREFIX + spec.metadata["env"]
    base = {ENV_PREFIX + "DATA_DIR": str(tmp_path)}
    raw = _SAMPLES[str(spec.type)]
    if str(spec.type) == "bool":
        raw = "0" if spec.default else "1"  # the value that differs from the default
    value = getattr(Settings.from_env({**base, variable: raw}), spec.name)
    expected = {"int": 7, "bool": raw == "1", "Path": Path("/tmp/fh-settings-test")}.get(str(spec.type), raw)
    assert value == expected
    assert value != getattr(Settings.from_env(base), spec.name), f"{variable} is its own default here"


def test_unset_settings_take_their_declared_defaults(tmp_path):
    settings = Settings.from_env({ENV_PREFIX + "DATA_DIR": str(tmp_path)})
    assert settings.reminder_hours_before == 24 and settings.outbox_sweep_seconds == 5
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'family-hotline.db'}"
    # The embedded keys are written once and read back the same on the next start.
    assert Settings.from_env({ENV_PREFIX + "DATA_DIR": str(tmp_path)}).data_key == settings.data_key


@pytest.mark.parametrize(
    ("variable", "raw", "says"),
    [("BOOKING_HOLD_MINUTES", "ten", "whole number"), ("SECURE_COOKIES", "maybe", "1 or 0")],
)
def test_a_value_the_service_cannot_use_is_refused_with_its_name(variable, raw, says, tmp_path):
    with pytest.raises(SettingsError, match=f"FH_{variable} must be .*{says}"):
        Settings.from_env({ENV_PREFIX + "DATA_DIR": str(tmp_path), ENV_PREFIX + variable: raw})


def test_the_command_line_says_which_setting_is_wrong_without_a_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "FH_DATA_DIR": str(tmp_path), "FH_OUTBOX_MAX_ATTEMPTS": "many"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "FH_OUTBOX_MAX_ATTEMPTS must be a whole number" in done.stderr
    assert "Traceback" not in done.stderr
