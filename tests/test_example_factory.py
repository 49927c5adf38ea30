"""The README's `py:` example, run as a user would: a factory with its own model name, no weights."""

from __future__ import annotations

import json
from pathlib import Path

import evalkit

REPO = Path(__file__).resolve().parents[1]


def test_the_example_factory_runs_and_files_results_under_its_own_name(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(REPO)  # as in the README: the current folder is importable
    out = tmp_path / "results"
    first = evalkit.run("configs/smoke.yaml", model="py:examples.hashing_encoder:make_encoder", output_dir=out, no_cache=True)
    assert not first.failed
    # Filed under the object's mteb_model_meta name, not the module path.
    assert first.folder.parent.name == "example__hashing-bigrams"
    assert first.model == "example/hashing-bigrams"
    scores = {o.task: o.splits["test"] for o in first.outcomes}
    assert len(scores) == 6 and all(0 <= v <= 1 for v in scores.values())
    # The same run again reuses every task with the same scores: the folder is found by that name.
    again = evalkit.run("configs/smoke.yaml", model="py:examples.hashing_encoder:make_encoder", output_dir=out, no_cache=True)
    assert [o.status for o in again.outcomes] == ["skipped"] * 6
    assert {o.task: o.splits["test"] for o in again.outcomes} == scores
    manifest = json.loads((first.folder / "evalkit" / "manifest.json").read_text())
    assert manifest["model"]["name"] == "example/hashing-bigrams"


def test_model_name_still_wins_over_the_factory_s(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(REPO)
    run = evalkit.run(
        "configs/smoke.yaml", model="py:examples.hashing_encoder:make_encoder", model_name="acme/ngram", output_dir=tmp_path / "r", no_cache=True
    )
    assert run.folder.parent.name == "acme__ngram"
