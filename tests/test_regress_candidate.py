"""`evalkit regress --candidate-model`: run what the candidate lacks, then gate (smoke suite, no shared data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.cli import main

from .test_regress import noisy_checkpoint

# Real model weights (the embedded all-MiniLM-L6-v2): minutes on 2 cores; the fast layer is tests/test_exact.py.
pytestmark = pytest.mark.slow


def test_candidate_model_is_run_first_then_gated(smoke_results: Path, tmp_path: Path, capsys):
    # The smoke suite with a noisy checkpoint: regress runs the candidate's missing tasks, then gates.
    ckpt = noisy_checkpoint(tmp_path / "noisy", sigma=1.0)
    code = main(
        [
            "regress",
            str(smoke_results),
            str(tmp_path / "cand"),
            "--suite",
            "smoke",
            "--candidate-model",
            str(ckpt),
            "--reports",
            str(tmp_path / "rep"),
        ]
    )
    report = json.loads((tmp_path / "rep" / "regress.json").read_text())
    # The candidate's run shows its progress: one line per task as it finishes, before the verdict.
    err = capsys.readouterr().err
    assert sum(line.strip().startswith("done  Smoke") for line in err.splitlines()) == 6
    assert len(list((tmp_path / "cand").glob("noisy/*/evalkit/local/SmokeSTS.json"))) == 1
    assert {t["task"] for t in report["tasks"]} == {p.stem for p in (smoke_results / "evalkit" / "local").glob("Smoke*.json")}
    by_task = {t["task"]: t for t in report["tasks"]}
    assert code == 1 and report["verdict"] == "regressed"
    # A large drop over 10 queries is significant; over 16 STS pairs the interval still spans zero,
    # so a drop beyond tolerance alone does not count as a regression there.
    assert by_task["SmokeRetrieval"]["verdict"] == "regressed" and by_task["SmokeRetrieval"]["ci_high"] < 0
    assert by_task["SmokeSTS"]["delta"] < -0.02 and by_task["SmokeSTS"]["ci_low"] < 0 < by_task["SmokeSTS"]["ci_high"]
    assert by_task["SmokeSTS"]["verdict"] == "unchanged"
    assert by_task["SmokeClustering"]["rule"] == "tolerance only (no per-example scores)"
