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
        Settings(chunk_tokens=1000)
    with pytest.raises(ValidationError, match="index_build_memory"):
        Settings(index_build_memory="lots")


def test_versions_compare_numerically() -> None:
    assert _version("0.10.0") > _version("0.5") > _version("0.4.4")


def test_passwords_are_redacted() -> None:
    assert redact("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact("postgresql://app@db/x") == "postgresql://app@db/x"
