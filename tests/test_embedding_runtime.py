"""The embedding model on ONNX Runtime: exported locally from the packaged weights, cached,
giving PyTorch's vectors (int8: nearly), and exported again when the cache is missing,
interrupted or damaged. Real models and real exports; fakes only to inject an export failure."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.config import load_settings
from memory import onnx_export
from memory.embeddings import Embedder, default_embedding_path

TEXTS = ["Alice adopted a grey cat called Miso in March.", "Bob is training for the Berlin marathon.",
         "The staging server runs PostgreSQL 15 on port 5433.",
         "A much longer passage about backups: " + "the nightly job copies the database to the NAS. " * 30]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fp32 export for the module (each export takes seconds); tests copy it to damage it."""
    cache = tmp_path_factory.mktemp("embcache")
    Embedder(runtime="onnx", cache_dir=cache)
    return cache


def export_dir(cache: Path) -> Path:
    (found,) = [p for p in cache.iterdir() if p.is_dir()]
    return found


def test_onnx_gives_the_same_vectors_and_tokens_as_torch(embedder: Embedder, shared_cache: Path) -> None:
    onnx = Embedder(runtime="onnx", cache_dir=shared_cache)
    assert onnx.runtime == "onnx" and embedder.runtime == "torch"
    assert (onnx.dim, onnx.max_tokens, onnx.name) == (embedder.dim, embedder.max_tokens, embedder.name)
    a, b = onnx.encode(TEXTS), embedder.encode(TEXTS)
    assert a.dtype == np.float32 and a.shape == b.shape
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.9999
    assert onnx.count_tokens(TEXTS[3]) == embedder.count_tokens(TEXTS[3])


def test_int8_vectors_stay_close_enough_to_search_a_torch_store(embedder: Embedder, tmp_path: Path) -> None:
    int8 = Embedder(runtime="onnx-int8", cache_dir=tmp_path / "cache")
    assert int8.runtime == "onnx-int8"
    a, b = int8.encode(TEXTS), embedder.encode(TEXTS)
    assert (a * b).sum(axis=1).min() > 0.99
    stored = embedder.encode(TEXTS[:3])  # a store embedded with PyTorch, searched with int8 queries
    for question, expected in [("Which pet does Alice have?", 0), ("Which race is Bob preparing for?", 1),
                               ("What port does the database use?", 2)]:
        assert int(np.argmax(stored @ int8.encode([question])[0])) == expected


def test_the_export_is_cached_with_a_manifest(shared_cache: Path) -> None:
    directory = export_dir(shared_cache)
    manifest = json.loads((directory / onnx_export.MANIFEST).read_text())
    assert onnx_export.MODEL_FILE in manifest["files"] and onnx_export.check(directory) is None
    before = (directory / onnx_export.MODEL_FILE).stat().st_mtime_ns
    Embedder(runtime="onnx", cache_dir=shared_cache)
    assert (directory / onnx_export.MODEL_FILE).stat().st_mtime_ns == before  # reused, not exported again


@pytest.mark.parametrize("damage", ["interrupted", "truncated", "missing", "temp-leftover"])
def test_a_missing_interrupted_or_damaged_export_is_rebuilt(shared_cache: Path, tmp_path: Path, damage: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(shared_cache, cache)
    directory = export_dir(cache)
    model = directory / onnx_export.MODEL_FILE
    if damage == "interrupted":  # killed mid-write, before the manifest: what a non-atomic export would leave
        (directory / onnx_export.MANIFEST).unlink()
        model.write_bytes(model.read_bytes()[:1000])
    elif damage == "truncated":
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    elif damage == "missing":
        shutil.rmtree(directory)
    else:  # an export killed in its temp dir leaves only that dir
        shutil.move(directory, cache / (directory.name + ".tmpab12"))
        (cache / (directory.name + ".tmpab12") / onnx_export.MANIFEST).unlink()
    with caplog.at_level(logging.WARNING, logger="memory.onnx_export"):
        again = Embedder(runtime="onnx", cache_dir=cache)
    assert again.runtime == "onnx"
    assert onnx_export.check(directory) is None
    assert [p.name for p in cache.iterdir() if p.is_dir()] == [directory.name]  # no temp dirs left
    notices = [r.getMessage() for r in caplog.records if r.name == "memory.onnx_export"]
    if damage in ("interrupted", "truncated"):
        assert len(notices) == 1 and "exporting it again" in notices[0]
    else:
        assert notices == []
    assert again.encode(TEXTS[:1]).shape == (1, again.dim)


def test_a_failing_export_falls_back_to_torch_with_a_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    def broken(model_dir: Path, out: Path, variant: str) -> None:
        (out / "model.onnx").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(onnx_export, "export", broken)
    with caplog.at_level(logging.WARNING, logger="memory.embeddings"):
        embedder = Embedder(runtime="onnx", cache_dir=tmp_path / "cache")
    assert embedder.runtime == "torch" and embedder.encode(TEXTS[:1]).shape == (1, 384)
    assert any("disk full" in r.getMessage() for r in caplog.records)
    assert [p for p in (tmp_path / "cache").iterdir() if p.is_dir()] == []  # nothing half-written kept


def test_the_runtime_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().embedding_runtime == "auto"
    monkeypatch.setenv("MEMCHAT_EMBEDDING_RUNTIME", "onnx-int8")
    assert load_settings().embedding_runtime == "onnx-int8"
    monkeypatch.setenv("MEMCHAT_EMBEDDING_RUNTIME", "tensorrt")
    with pytest.raises(Exception, match="embedding_runtime"):
        load_settings()
    assert Embedder(runtime="auto", cache_dir=tmp_path).runtime == "torch"
    assert default_embedding_path().is_dir()
