"""`.env.example` documents every setting, and its values are the defaults."""

from __future__ import annotations

import re

from settings import ROOT, Settings

EXAMPLE = ROOT / ".env.example"


def test_every_setting_is_documented_in_env_example():
    text = EXAMPLE.read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))
    aliases = {
        "database_url": "DATABASE_URL",
        "openai_api_key": "OPENAI_API_KEY",
        "openai_base_url": "OPENAI_BASE_URL",
        "anthropic_api_key": "ANTHROPIC_API_KEY",
        "anthropic_base_url": "ANTHROPIC_BASE_URL",
    }
    expected = {aliases.get(name, f"AIFLOW_{name.upper()}") for name in Settings.model_fields}
    documented = {name for name in documented if not name.startswith("TEMPORAL_")}
    assert documented == expected


def test_env_example_values_are_the_defaults(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("AIFLOW_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    assert Settings(_env_file=EXAMPLE) == Settings(_env_file=None)


def test_comma_separated_fault_kinds_and_empty_means_unset(monkeypatch):
    monkeypatch.setenv("AIFLOW_OFFLINE_FAULT_KINDS", "timeout, malformed")
    monkeypatch.setenv("AIFLOW_OFFLINE_FAULT_MAX_ATTEMPT", "")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@h/db")
    s = Settings(_env_file=None)
    assert (s.offline_fault_kinds, s.offline_fault_max_attempt, s.store_url) == (
        ["timeout", "malformed"],
        None,
        "postgresql+psycopg://u@h/db",
    )
