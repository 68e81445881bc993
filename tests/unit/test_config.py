from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pgseek.config import Settings
from pgseek.db.connect import _version, redact


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PGSEEK_HOME", str(tmp_path))
    monkeypatch.setenv("PGSEEK_CHUNK_TOKENS", "128")
    settings = Settings()
    assert settings.home == tmp_path and settings.chunk_tokens == 128 and settings.embedded


def test_out_of_range_settings_name_the_field() -> None:
    with pytest.raises(ValidationError, match="chunk_tokens"):
        Settings(chunk_tokens=100_000)
    with pytest.raises(ValidationError, match="index_build_memory"):
        Settings(index_build_memory="lots")


def test_versions_compare_numerically() -> None:
    assert _version("0.10.0") > _version("0.5") > _version("0.4.4")


def test_passwords_are_redacted() -> None:
    assert redact("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact("postgresql://app@db/x") == "postgresql://app@db/x"


def test_generator_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSEEK_GENERATOR", "openai")
    monkeypatch.setenv("PGSEEK_OPENAI_BASE_URL", "http://127.0.0.1:8000/v1/")
    monkeypatch.setenv("PGSEEK_OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("PGSEEK_OPENAI_MODEL", "llama-3.1-8b")
    monkeypatch.setenv("PGSEEK_CONTEXT_TOKENS", "1500")
    monkeypatch.setenv("PGSEEK_REFUSAL_THRESHOLD", "0.4")
    settings = Settings()
    assert settings.generator == "openai" and settings.openai_model == "llama-3.1-8b"
    assert settings.openai_base_url == "http://127.0.0.1:8000/v1"
    assert settings.context_tokens == 1500 and settings.refusal_threshold == 0.4
    assert settings.openai_api_key is not None and settings.openai_api_key.get_secret_value() == "sk-very-secret"
    assert "sk-very-secret" not in repr(settings) and "sk-very-secret" not in str(settings.model_dump())


def test_bad_generator_settings_name_the_field() -> None:
    with pytest.raises(ValidationError, match="generator"):
        Settings(generator="gpt")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="openai_base_url"):
        Settings(openai_base_url="127.0.0.1:8000")
    with pytest.raises(ValidationError, match="context_tokens"):
        Settings(context_tokens=10)
