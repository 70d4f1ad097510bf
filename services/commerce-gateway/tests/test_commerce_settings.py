"""Connection settings: the token inline or from a mounted file, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from commerce_gateway.service import Settings


def test_the_token_comes_from_the_environment_or_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "token"
    secret.write_text("file-token-123\n")
    monkeypatch.setenv("COMMERCE_BASE_URL", "http://127.0.0.1:8120/rest/default")
    monkeypatch.setenv("COMMERCE_TOKEN_FILE", str(secret))
    s = Settings()
    assert s.configured() and s.token().get_secret_value() == "file-token-123"
    monkeypatch.setenv("COMMERCE_TOKEN", "env-token-456")
    s = Settings()
    assert s.token().get_secret_value() == "env-token-456"
    assert "env-token-456" not in repr(s) and "env-token-456" not in str(s.model_dump())


def test_without_a_token_nothing_is_configured() -> None:
    s = Settings(commerce_base_url="http://x/rest/default", commerce_token=SecretStr(""))
    assert not s.configured()
    with pytest.raises(ValueError, match="COMMERCE_TOKEN"):
        s.token()
