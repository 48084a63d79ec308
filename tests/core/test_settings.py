from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core import ConfigError, Settings


def test_defaults(clean_env: Path) -> None:
    s = Settings()
    assert s.index.backend == "edge"
    assert s.llm.backend == "local"
    assert s.index_path == s.data_dir / "index"
    assert s.database_url.startswith("sqlite:///")
    assert s.database_url.endswith("deepwell.db")


def test_env_nested_groups(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPWELL_LLM__BACKEND", "extractive")
    monkeypatch.setenv("DEEPWELL_INGEST__DEFAULT_ACL", '["group:finance"]')
    s = Settings()
    assert s.llm.backend == "extractive"
    assert s.ingest.default_acl == ["group:finance"]


def test_config_file_and_env_precedence(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = clean_env / "custom.toml"
    cfg.write_text('[api]\nport = 9100\nhost = "127.0.0.1"\n[embedding]\nbatch_size = 8\n')
    monkeypatch.setenv("DEEPWELL_CONFIG", str(cfg))
    monkeypatch.setenv("DEEPWELL_EMBEDDING__BATCH_SIZE", "16")
    s = Settings()
    assert s.api.port == 9100
    assert s.embedding.batch_size == 16  # environment beats the file


def test_default_config_file_is_read(clean_env: Path) -> None:
    (clean_env / "deepwell.toml").write_text('log_level = "debug"\n')
    assert Settings().log_level == "debug"


def test_missing_config_file_is_an_error(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPWELL_CONFIG", str(clean_env / "nope.toml"))
    with pytest.raises(ConfigError, match="no such config file"):
        Settings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEEPWELL_LLM__BACKEND": "openai"}, "needs llm.base_url"),
        ({"DEEPWELL_INDEX__BACKEND": "qdrant"}, "needs index.url"),
        ({"DEEPWELL_INGEST__CHUNK_MAX_CHARS": "500"}, "must not exceed"),
        ({"DEEPWELL_API__PORT": "70000"}, "less than or equal"),
    ],
)
def test_invalid_settings_are_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


@pytest.mark.parametrize("key", ["DEEPWELL_NO_SUCH_SETTING", "DEEPWELL_LLM__BAKCEND"])
def test_misspelt_variables_are_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv(key, "1")
    with pytest.raises(ConfigError, match=key):
        Settings()


def test_secrets_are_masked(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPWELL_LLM__API_KEY", "sk-very-secret")
    s = Settings()
    assert "sk-very-secret" not in repr(s)
    assert "sk-very-secret" not in s.model_dump_json()
    assert s.llm.api_key is not None
    assert s.llm.api_key.get_secret_value() == "sk-very-secret"
