"""Runs survive SIGKILL, concurrent writers and corrupt files, and lose nothing that had finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from evalkit.results.scores import main_scores, read_results

RUN = [sys.executable, "-m", "evalkit.cli", "run", "smoke", "--quiet"]

# Real model weights (the embedded all-MiniLM-L6-v2): minutes on 2 cores; the fast layer is tests/test_exact.py.
pytestmark = pytest.mark.slow


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp / "hf")}


def _scores(folder: Path) -> dict[str, float]:
    table = main_scores(read_results(folder))
    return dict(zip(table.task, table.value, strict=True))


def _results(out: Path) -> list[Path]:
    return [p for p in out.glob("*/*/evalkit/local/Smoke*.json")]


def _wait_until(proc: subprocess.Popen[bytes], reached: Callable[[], bool], what: str, timeout: float = 180) -> None:
    """Poll until `reached()`; fail if the process ended first or it never happened."""
    deadline = time.monotonic() + timeout
    while not reached():
        assert proc.poll() is None, f"the run ended ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.02)


@pytest.mark.parametrize("kill_after_results", [0, 2, 4])
def test_sigkill_then_resume_equals_an_uninterrupted_run(smoke_results: Path, tmp_path: Path, kill_after_results: int):
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = [*RUN, "--output", str(out), "--cache-dir", str(cache)]
    proc = subprocess.Popen(args, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if kill_after_results == 0:
        # Mid-start: the model is loaded (model_meta.json is written on first use) and the first task runs.
        _wait_until(proc, lambda: bool(list(out.glob("*/*/model_meta.json"))), "model_meta.json")
    else:
        _wait_until(proc, lambda: len(_results(out)) >= kill_after_results, f"{kill_after_results} results")
    assert proc.poll() is None  # killed while running, not after it finished
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Whatever was written is whole: every results file present parses.
    for path in _results(out):
        json.loads(path.read_text())
    done_before = {p.stem for p in _results(out)}
    assert len(done_before) < 6  # the kill came before the end: something is left to resume
    resumed = subprocess.run(args, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    for task in done_before:
        assert f"| {task} |" in resumed.stdout and "skipped" in resumed.stdout.split(f"| {task} |")[1].split("\n")[0]
    folder = next(out.glob("*/*/model_meta.json")).parent
    assert _scores(folder) == pytest.approx(_scores(smoke_results), abs=1e-9)
    assert not list(out.rglob("*.tmp"))


def test_two_concurrent_runs_on_one_folder(smoke_results: Path, tmp_path: Path):
    out = tmp_path / "out"
    args = [*RUN, "--output", str(out), "--no-cache"]
    procs = [subprocess.Popen(args, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    folder = next(out.glob("*/*/model_meta.json")).parent
    assert _scores(folder) == pytest.approx(_scores(smoke_results), abs=1e-9)
    manifest = json.loads((folder / "evalkit" / "manifest.json").read_text())
    assert len(manifest["tasks"]) == 6
    # Each task was computed once; the other run skipped it or found it locked and said so.
    statuses = " ".join(o[0] for o in outputs)
    assert statuses.count("| done |") == 6


def test_corrupt_results_and_manifest_are_moved_aside_and_recomputed(smoke_results: Path, tmp_path: Path, capsys):
    import shutil

    from evalkit.cli import main

    out = tmp_path / "out"
    shutil.copytree(smoke_results.parent, out / smoke_results.parent.name)
    folder = out / smoke_results.parent.name / smoke_results.name
    (folder / "evalkit" / "local" / "SmokeSTS.json").write_text('{"task_name": "SmokeSTS", "sco')
    (folder / "evalkit" / "manifest.json").write_text("{ not json")
    assert main(["run", "smoke", "--output", str(out), "--no-cache", "--quiet"]) == 0
    assert "| SmokeSTS | STS | test | 0.6441 | done |" in capsys.readouterr().out
    moved = sorted(p.name for p in (folder / "evalkit" / "local").iterdir() if ".corrupt-" in p.name)
    assert len(moved) == 1 and moved[0].startswith("SmokeSTS.json.corrupt-")
    assert len(list((folder / "evalkit").glob("manifest.json.corrupt-*"))) == 1
    assert json.loads((folder / "evalkit" / "manifest.json").read_text())["tasks"]
    assert _scores(folder) == pytest.approx(_scores(smoke_results), abs=1e-9)


def test_corrupt_embedding_cache_shard_is_moved_aside(tmp_path: Path):
    import numpy as np

    from evalkit.model.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path, "model")
    cache.put("", ["a", "b"], np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    shard = next((tmp_path / "model").glob("shard-*.npz"))
    shard.write_bytes(shard.read_bytes()[:20])  # truncated, as by a crash of another writer
    fresh = EmbeddingCache(tmp_path, "model")
    assert fresh.get("", ["a", "b"]) == {}
    assert len(fresh.moved_aside) == 1 and fresh.moved_aside[0].parent.name == "corrupt"
    fresh.put("", ["a"], np.array([[2.0, 0.0]], dtype=np.float32))
    assert EmbeddingCache(tmp_path, "model").get("", ["a"])["a"].tolist() == [2.0, 0.0]


def test_embedding_cache_memory_is_bounded_and_dropped_shards_are_read_back(tmp_path: Path, monkeypatch):
    import numpy as np

    import evalkit.model.cache as cache_module
    from evalkit.model.cache import EmbeddingCache

    rng = np.random.default_rng(0)
    shards = {f"s{i}": rng.standard_normal((50, 8)).astype(np.float32) for i in range(4)}  # 1,600 bytes each
    monkeypatch.setattr(cache_module, "LOADED_BYTES", 3_500)  # room for two shards
    cache = EmbeddingCache(tmp_path, "model")
    for name, vectors in shards.items():
        cache.put("", [f"{name}-{i}" for i in range(50)], vectors)
    assert len(cache._loaded) == 2  # the two written last
    texts = [f"{name}-{i}" for i in (49, 0, 7) for name in shards]  # interleaved over all four shards
    found = cache.get("", texts)
    assert len(cache._loaded) == 2 and sum(v.nbytes for v in cache._loaded.values()) <= 3_500
    for name, vectors in shards.items():
        for i in (49, 0, 7):
            assert np.array_equal(found[f"{name}-{i}"], vectors[i])  # read back from disk where dropped
    fresh = EmbeddingCache(tmp_path, "model")  # another process: every shard read from disk
    assert all(np.array_equal(fresh.get("", [f"{n}-3"])[f"{n}-3"], v[3]) for n, v in shards.items())
    assert len(fresh._loaded) == 2


def test_model_name_cannot_escape_the_output_folder(tmp_path: Path, capsys):
    from evalkit.cli import main

    out = tmp_path / "out"
    assert (
        main(["run", "smoke", "--tasks", "SmokeSTS", "--model-name", "../../../etc/passwd", "--output", str(out), "--no-cache", "--quiet"])
        == 0
    )
    written = [p for p in tmp_path.rglob("SmokeSTS.json") if p.parent.name == "local"]
    assert len(written) == 1 and out in written[0].parents
    assert written[0].parents[3].name == "__..__..__etc__passwd"  # one path component, inside out/


def test_temporary_files_of_killed_writers_are_removed_and_live_ones_kept(tmp_path: Path):
    from evalkit._io import _HOST, remove_stale_temps, write_json

    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "evalkit").mkdir()
        stale = tmp_path / "evalkit" / f".manifest.json.{_HOST}-{dead.pid}.tmp"
        running = tmp_path / f".STS.json.{_HOST}-{live.pid}.tmp"
        elsewhere = tmp_path / f".STS.json.otherhost-{dead.pid}.tmp"
        for path in (stale, running, elsewhere):
            path.write_text("{half")
        write_json(tmp_path / "done.json", {"a": 1})  # a finished atomic write leaves no temp behind
        assert remove_stale_temps(tmp_path) == 1
        assert not stale.exists() and running.exists() and elsewhere.exists()
        assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == sorted([running.name, elsewhere.name])
    finally:
        live.kill()
        live.wait()
