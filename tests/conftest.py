"""Shared fixtures: no test touches the network, and caches live in tmp_path."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
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


# --- the fast layer stays fast: a test not marked `slow` may not load a model or import Ray -------------
# evalkit raises the audit event "evalkit.model.load" each time it loads a model's weights (`load_resolved`:
# a checkpoint or an mteb loader; a Python factory such as tests/keyword_encoder.py is the factory's business); an
# audit hook counts them for the whole session (no patching). A test that raises the count, or is the
# first to import Ray, fails unless it is marked slow: that is what keeps `pytest -m "not slow"` at a
# minute or two (the README's figure) with no weights and no Ray.
_LOADS: list[str] = []


def _count_loads(event: str, args: tuple[object, ...]) -> None:
    if event == "evalkit.model.load":
        _LOADS.append(str(args[0]))


sys.addaudithook(_count_loads)
_BEFORE = pytest.StashKey[tuple[int, bool]]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_BEFORE] = (len(_LOADS), "ray" in sys.modules)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ANN201 - a pytest hook wrapper
    outcome = yield
    report = outcome.get_result()
    if call.when != "teardown" or item.get_closest_marker("slow") is not None or _BEFORE not in item.stash:
        return
    loads_before, had_ray = item.stash[_BEFORE]
    broke = [f"loaded a model ({', '.join(_LOADS[loads_before:])})"] if len(_LOADS) > loads_before else []
    # A session run shared with earlier tests loads its model once: asking for one counts as loading it.
    broke += [f"uses {name} (a run on real weights)" for name in ("smoke_results", "mirror_results") if name in item.fixturenames]
    if not had_ray and "ray" in sys.modules:
        broke.append("imported Ray")
    if broke and report.passed:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} {' and '.join(broke)} but is not marked slow: mark it @pytest.mark.slow"


def process_titled(prefix: bytes) -> int | None:
    """The pid of a process whose command line (a Ray worker's process title) starts with `prefix`, if any."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            title = (proc / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if title.startswith(prefix):
            return int(proc.name)
    return None


def offline_env(home: Path) -> dict[str, str]:
    """The environment every test runs in: Hub offline; Hub, datasets and evalkit caches under `home`."""
    return {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(home),
        "HF_DATASETS_CACHE": str(home / "datasets"),
        "EVALKIT_CACHE": str(home / "evalkit"),
        "EVALKIT_REPORTS": str(home / "reports"),  # report pages never land in the checkout
        "TOKENIZERS_PARALLELISM": "false",
    }


@contextlib.contextmanager
def ray_worker_env(home: Path) -> Iterator[None]:
    """Start Ray inside this block: its workers inherit `offline_env(home)` (the Hub cache of the workers is `home/hub`)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in offline_env(home).items():
            mp.setenv(key, value)
        yield


@pytest.fixture(scope="session", autouse=True)
def offline_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The same environment for session fixtures (`smoke_results`, `mirror_results`), which start before any test's own."""
    with ray_worker_env(tmp_path_factory.getbasetemp() / "hf_home"):
        yield


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Hub offline, Hub and datasets caches in a temporary folder (again per test: a test may change them)."""
    for key, value in offline_env(tmp_path_factory.getbasetemp() / "hf_home").items():
        monkeypatch.setenv(key, value)


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
