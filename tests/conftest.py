"""Shared fixtures: no test touches the network, and caches live in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Read by huggingface_hub and datasets at import time, so set before anything imports them.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EVALKIT_SHARED", REPO.parent / "shared"))
MIRROR = SHARED / "mirror"
PUBLISHED = SHARED / "published" / "all-MiniLM-L6-v2.json"
CARD = SHARED / "cards" / "jina-embeddings-v2-base-zh.md"

needs_shared = pytest.mark.skipif(
    not MIRROR.is_dir(),
    reason=f"needs the shared offline data at {SHARED} (a fresh clone has none; CI provides it)",
)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Hub offline, Hub and datasets caches in a temporary folder."""
    home = tmp_path_factory.getbasetemp() / "hf_home"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.setenv("EVALKIT_CACHE", str(home / "evalkit"))
    monkeypatch.setenv("EVALKIT_REPORTS", str(home / "reports"))  # report pages never land in the checkout
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke suite run once with the embedded default model (about 15 s on 2 cores)."""
    from evalkit import run

    out = tmp_path_factory.mktemp("smoke") / "results"
    summary = run("smoke", output_dir=out, cache_dir=None)
    assert not summary.failed, summary.failed
    return summary.folder


@pytest.fixture(scope="session")
def mirror_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedding cache the mirror baseline run fills."""
    return tmp_path_factory.mktemp("embcache")


@pytest.fixture(scope="session")
def mirror_results(tmp_path_factory: pytest.TempPathFactory, mirror_cache: Path) -> Path:
    """The mirror suite run once on ../shared/mirror with the embedded model (about 4 min on 2 cores)."""
    if not MIRROR.is_dir():
        pytest.skip(f"needs the shared offline data at {SHARED}")
    from evalkit import run

    out = tmp_path_factory.mktemp("mirror") / "results"
    summary = run("mirror", output_dir=out, data_dir=MIRROR, batch_size=64, cache_dir=mirror_cache)
    assert not summary.failed, summary.failed
    return summary.folder
