"""Configuration: one precedence (flags > environment > config file > defaults), every setting documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from proxy.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("RAILGUARD_"):
            monkeypatch.delenv(name)


def test_flags_beat_the_environment_which_beats_the_config_file_which_beats_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "railguard.yaml"
    config.write_text(
        "upstream: https://from-file.example/v1\nport: 7001\nread_timeout: 11\nretries: 4\naccess_log: true\n"
    )
    monkeypatch.setenv("RAILGUARD_PORT", "7002")
    monkeypatch.setenv("RAILGUARD_RETRIES", "5")
    monkeypatch.setenv("RAILGUARD_ACCESS_LOG", "false")
    settings = Settings.load(config, port="7003", shutdown_grace=None)
    assert settings.port == 7003  # flag over environment and file
    assert settings.retries == 5  # environment over file
    assert settings.access_log is False  # environment over file, booleans too
    assert settings.read_timeout == 11  # file over default
    assert settings.upstream == "https://from-file.example/v1"
    assert settings.shutdown_grace == Settings.model_fields["shutdown_grace"].default  # a flag not given is no flag
    assert settings.connect_timeout == Settings.model_fields["connect_timeout"].default


def test_without_a_config_file_the_environment_and_defaults_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAILGUARD_UPSTREAM", "http://env.example/v1/")
    monkeypatch.setenv("RAILGUARD_TRACING", "console")
    settings = Settings.load()
    assert settings.upstream == "http://env.example/v1"
    assert settings.tracing == "console"
    assert settings.port == 8080 and settings.metrics is True


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("file", "prot: 9000\n"),  # a typo in a key
        ("file", "shutdown_grace: soon\n"),
        ("env", "RAILGUARD_WORKERS=0"),
        ("flag", "tracing=jaeger"),
    ],
)
def test_bad_configuration_is_refused_from_any_source(
    source: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "railguard.yaml"
    config.write_text("upstream: http://u.example/v1\n" + (problem if source == "file" else ""))
    flags = {}
    if source == "env":
        name, value = problem.split("=")
        monkeypatch.setenv(name, value)
    if source == "flag":
        name, value = problem.split("=")
        flags[name] = value
    with pytest.raises(ValidationError):
        Settings.load(config, **flags)


def test_serve_reads_the_config_file_and_reports_bad_settings(tmp_path: Path) -> None:
    config = tmp_path / "railguard.yaml"
    config.write_text("upstream: http://u.example/v1\nworkers: 0\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAILGUARD_")}
    result = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "invalid settings" in result.stderr and "workers" in result.stderr


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "flags > environment > config file > defaults" in readme
    for name, info in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{flag}`")), None)
        assert row is not None, f"README's settings table has no row for {flag}"
        assert f"`RAILGUARD_{name.upper()}`" in row
        assert info.description and info.description in row, f"{flag}: README and the setting's description differ"


def test_serve_help_states_the_precedence_and_every_environment_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "serve", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    text = " ".join(result.stdout.split())
    assert "flags > environment (RAILGUARD_*) > --config file > defaults" in text
    assert "--config" in text and "RAILGUARD_CONFIG" in text
    for name in Settings.model_fields:
        assert f"RAILGUARD_{name.upper()}" in text
