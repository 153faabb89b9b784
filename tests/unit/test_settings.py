"""Settings: one prefix, every variable documented, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme_table(name: str):
    assert f"| `GATEWAY_{name.upper()}` |" in README


def test_secrets_never_appear_in_logs_or_reprs(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GATEWAY_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("GATEWAY_KAFKA_SASL_USERNAME", "gateway")
    monkeypatch.setenv("GATEWAY_KAFKA_SASL_PASSWORD", "sasl-pw-0001")
    monkeypatch.setenv("GATEWAY_IDENTIFIER_HASH_KEY", "hash-key-0002")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql+asyncpg://gw:db-pw-0003@db/gateway")
    settings = Settings()
    shown = f"{settings!r} {settings} {settings.describe()}"
    for secret in ("sasl-pw-0001", "hash-key-0002", "db-pw-0003"):
        assert secret not in shown


def test_production_refuses_the_development_hash_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="IDENTIFIER_HASH_KEY"):
        Settings()
    monkeypatch.setenv("GATEWAY_IDENTIFIER_HASH_KEY", "k" * 40)
    monkeypatch.setenv("GATEWAY_CONSOLE_ENABLED", "false")
    assert Settings().environment == "production"


def test_production_refuses_a_console_without_session_secret_or_tls(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("GATEWAY_ENVIRONMENT", "production")
    monkeypatch.setenv("GATEWAY_IDENTIFIER_HASH_KEY", "k" * 40)
    with pytest.raises(ValidationError, match="CONSOLE_SESSION_SECRET"):
        Settings()
    monkeypatch.setenv("GATEWAY_CONSOLE_SESSION_SECRET", "s" * 40)
    with pytest.raises(ValidationError, match="CONSOLE_SECURE_COOKIES"):
        Settings()
    monkeypatch.setenv("GATEWAY_CONSOLE_SECURE_COOKIES", "true")
    assert Settings().console_secure_cookies


def test_sasl_without_credentials_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GATEWAY_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValidationError, match="SASL_SSL needs"):
        Settings()
