"""The fast exact layer: tiny data, a keyword encoder, and values worked out by hand.

No model weights are loaded here. `tests/keyword_encoder.py` turns a text into counts of eight
English words, so cosine similarities, and from them every score below, can be checked on paper.
The arithmetic sits next to each assertion.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.cli import main
from evalkit.judge.regress import Side, gate, paired_bootstrap
from evalkit.results import per_example as examples
from evalkit.results import scores as S
from evalkit.results.folder import ResultsFolder
from evalkit.results.per_example import ExampleScores, best_threshold_accuracy

from .conftest import MIRROR, needs_shared

TINY = Path(__file__).parent / "data" / "tiny" / "tiny.yaml"
KEYWORDS = "py:tests.keyword_encoder:make_encoder"
CAT3 = "py:tests.keyword_encoder:make_cat_heavy_encoder"
BLIND = "py:tests.keyword_encoder:make_blind_encoder"

# TinyRetrieval, nDCG@10 with one relevant document per query:
#   q1 "cat dog" -> d1 "cat dog" (cosine 1) is first: 1
#   q2 "cat"     -> d2 "cat" (1) beats the relevant d1 "cat dog" (1/sqrt 2): rank 2, 1/log2(3)
#   q3 "rain"    -> d3 "sun rain" (1/sqrt 2) is the only match: 1
RETRIEVAL = round((1 + 1 / math.log2(3) + 1) / 3, 5)  # 0.876977; mteb rounds retrieval metrics to 5 decimals
HAND = {
    # TinySTS: cosines [1, 1/2, 0, 2/sqrt 6 = 0.816] against gold [5, 3, 1, 2]: ranks [4, 2, 1, 3]
    # against [4, 3, 1, 2], d = [0, -1, 0, 1], Spearman = 1 - 6 * 2 / (4 * 15) = 0.8.
    "TinySTS": 0.8,
    # TinyPairs: cosines a 1 (+), b 1 (+), d 1/sqrt 2 (-), c 1/sqrt 6 (-), e 0 (+): the best cut,
    # after a and b, is right on 4 of 5 (e, "car" vs "bus", is a positive with no shared word).
    "TinyPairs": 0.8,
    # TinyClassification: each label has its own words, so every classifier run is right on all 3.
    "TinyClassification": 1.0,
    # TinyClustering: three groups with disjoint words: k-means finds them exactly, v-measure 1.
    "TinyClustering": 1.0,
    "TinyRetrieval": RETRIEVAL,
    # TinyReranking, MAP: q2 "cat" ranks its positive d2 first (AP 1); q4 "sun" ranks the negative
    # d5 "sun" (cosine 1) above its positive d3 "sun rain" (1/sqrt 2): AP 1/2. MAP = 0.75.
    "TinyReranking": 0.75,
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "results"
    summary = evalkit.run(TINY, model=KEYWORDS, output_dir=out, no_cache=True)
    assert not summary.failed, summary.failed
    return summary.folder


def test_every_task_type_scores_what_the_hand_says(tiny: Path):
    main_scores = S.main_scores(evalkit.read_results(tiny)).set_index("task")["value"]
    assert main_scores.to_dict() == pytest.approx(HAND, abs=1e-6)


def test_averages_per_type_and_overall_as_the_leaderboard_computes_them(tiny: Path):
    averages = S.averages(evalkit.read_results(tiny)).set_index("task_type")["value"]
    assert averages["Retrieval"] == pytest.approx(RETRIEVAL, abs=1e-6)
    # All = (0.8 + 0.8 + 1 + 1 + 0.87698 + 0.75) / 6 = 5.22698 / 6
    assert averages["All"] == pytest.approx(5.22698 / 6, abs=1e-9)
    # A task's score is the mean over its splits, then the type's mean over its tasks:
    # A = (0.6 + 0.8) / 2 = 0.7, B = 0.5 -> STS 0.6; C -> Retrieval 0.9; All = (0.7 + 0.5 + 0.9) / 3 = 0.7.
    rows = [
        ("A", "STS", "test", 0.6),
        ("A", "STS", "validation", 0.8),
        ("B", "STS", "test", 0.5),
        ("C", "Retrieval", "dev", 0.9),
    ]
    table = S.make(
        {"task": t, "task_type": ty, "subset": "default", "split": sp, "metric": "m", "value": v, "is_main": True} for t, ty, sp, v in rows
    )
    got = S.averages(table).set_index("task_type")
    assert got.loc["STS", "value"] == pytest.approx(0.6) and got.loc["STS", "tasks"] == 2
    assert got.loc["All", "value"] == pytest.approx(0.7) and got.loc["All", "tasks"] == 3


def test_a_rerun_encodes_nothing_and_the_cache_serves_every_text(tmp_path: Path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    evalkit.run(TINY, model=KEYWORDS, output_dir=out, cache_dir=cache)
    again = evalkit.run(TINY, model=KEYWORDS, output_dir=out, cache_dir=cache, overwrite=True)
    manifest = json.loads((again.folder / "evalkit" / "manifest.json").read_text())
    # Distinct texts, each served once by the cache: TinySTS 6 (8 sentences, "cat dog" three times),
    # TinyPairs 9 (10 sentences, "cat" twice), TinyClassification 12 (9 train + 3 test),
    # TinyClustering 6, TinyRetrieval 5 documents + the 3 queries with a relevant document,
    # TinyReranking 5 documents (mteb encodes the corpus) + 2 queries.
    assert [manifest["tasks"][t]["encoder_stats"]["cache_hits"] for t in HAND] == [6, 9, 12, 6, 8, 7]
    assert [manifest["tasks"][t]["main_score"] for t in HAND] == pytest.approx(list(HAND.values()), abs=1e-6)  # mteb's get_score
    assert manifest["encoder_stats"]["encoded"] == 0
    assert S.main_scores(evalkit.read_results(again.folder)).set_index("task")["value"].to_dict() == pytest.approx(HAND, abs=1e-6)


def test_two_factories_of_one_file_do_not_share_cached_vectors(tmp_path: Path, tiny: Path):
    # Both factories live in tests/keyword_encoder.py, whose source hash is their revision: the cache
    # must still tell them apart, or the cat-heavy run is served the plain encoder's vectors.
    cache = tmp_path / "cache"
    evalkit.run(TINY, model=KEYWORDS, output_dir=tmp_path / "plain", cache_dir=cache)
    cat3 = evalkit.run(TINY, model=CAT3, output_dir=tmp_path / "cat3", cache_dir=cache)
    manifest = json.loads((cat3.folder / "evalkit" / "manifest.json").read_text())
    assert manifest["encoder_stats"]["cache_hits"] == 0
    scores = S.main_scores(evalkit.read_results(cat3.folder)).set_index("task")["value"].to_dict()
    assert scores["TinySTS"] == pytest.approx(1.0, abs=1e-6) and scores == pytest.approx({**HAND, "TinySTS": 1.0}, abs=1e-6)
    # Filed under one name in one folder, the second factory's results are not taken for the first's.
    first = evalkit.run(TINY, model=KEYWORDS, model_name="kw", output_dir=tmp_path / "same", no_cache=True)
    second = evalkit.run(TINY, model=CAT3, model_name="kw", output_dir=tmp_path / "same", no_cache=True)
    assert first.folder == second.folder and {o.status for o in second.outcomes} == {"done"}  # none skipped as "same settings"
    assert S.main_scores(evalkit.read_results(second.folder)).set_index("task")["value"]["TinySTS"] == pytest.approx(1.0, abs=1e-6)


def test_best_threshold_accuracy_by_hand():
    # Sorted by score: 0.9 (+), 0.8 (-), 0.7 (+), 0.2 (-). Cutting after the first: 1 + 2 negatives
    # right = 3 of 4; after the third: 2 positives + 1 negative = 3 of 4; nothing better.
    assert best_threshold_accuracy(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.2])) == 0.75
    # Tied scores cannot be split by a threshold: 0.5 (+) and 0.5 (-) go to the same side.
    assert best_threshold_accuracy(np.array([1, 0, 0]), np.array([0.5, 0.5, 0.1])) == pytest.approx(2 / 3)


def test_paired_bootstrap_intervals_by_hand():
    base = ExampleScores("test", "default", "mean", values=[0.5, 0.7, 0.9])
    # Every example 0.1 better: every resample's mean difference is exactly 0.1.
    lo, hi = paired_bootstrap(base, ExampleScores("test", "default", "mean", values=[0.6, 0.8, 1.0]), samples=1000, alpha=0.05)
    assert lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    # Two examples with differences +1 and -1.2: a resample's mean is +1, -0.1 or -1.2 (chances
    # 1/4, 1/2, 1/4), so the 2.5% and 97.5% quantiles of 1000 resamples are -1.2 and +1.
    two_b = ExampleScores("test", "default", "mean", values=[0.0, 1.2])
    two_c = ExampleScores("test", "default", "mean", values=[1.0, 0.0])
    assert paired_bootstrap(two_b, two_c, samples=1000, alpha=0.05, seed=0) == pytest.approx((-1.2, 1.0))
    # Examples that cannot be paired (different gold labels) give no interval.
    a = ExampleScores("test", "default", "threshold_accuracy", gold=[1, 0], pred=[0.9, 0.1])
    b = ExampleScores("test", "default", "threshold_accuracy", gold=[0, 1], pred=[0.9, 0.1])
    assert paired_bootstrap(a, b, samples=100, alpha=0.05) is None


def _side(label: str, values: dict[str, float], examples: dict[str, list[float]]) -> Side:
    types = {"Ret": "Retrieval", "Flat": "Retrieval", "Noisy": "Retrieval", "Up": "Retrieval", "Clu": "Clustering", "Gone": "STS"}
    table = S.make(
        {"model": label, "task": t, "task_type": types[t], "subset": "default", "split": "test", "metric": "m", "value": v, "is_main": True}
        for t, v in values.items()
    )
    return Side(label, table, {(t, "default", "test"): ExampleScores("test", "default", "mean", values=v) for t, v in examples.items()})


def test_verdicts_by_hand():
    # Tolerance 0.05 for every task.
    base = _side(
        "base",
        {"Ret": 0.8, "Flat": 0.8, "Noisy": 0.6, "Up": 0.5, "Clu": 0.6, "Gone": 0.7},
        {"Ret": [0.8, 0.8], "Flat": [0.8, 0.8], "Noisy": [0.0, 1.2], "Up": [0.5, 0.5]},
    )
    cand = _side(
        "cand",
        {"Ret": 0.7, "Flat": 0.78, "Noisy": 0.5, "Up": 0.6, "Clu": 0.5},
        {"Ret": [0.7, 0.7], "Flat": [0.78, 0.78], "Noisy": [1.0, 0.0], "Up": [0.6, 0.6]},
    )
    report = gate(base, cand, tolerance=0.05)
    got = report.tasks.set_index("task")
    # Ret: -0.1 beyond 0.05, every example -0.1: interval (-0.1, -0.1) below zero -> regressed.
    assert got.loc["Ret", "verdict"] == "regressed" and got.loc["Ret", "delta"] == pytest.approx(-0.1)
    # Flat: -0.02 is within tolerance -> unchanged.
    assert got.loc["Flat", "verdict"] == "unchanged"
    # Noisy: -0.1, but the examples move +1 and -1.2: the interval (-1.2, 1) spans zero -> unchanged.
    assert got.loc["Noisy", "verdict"] == "unchanged" and got.loc["Noisy", "ci_high"] == pytest.approx(1.0)
    # Up: +0.1 with every example +0.1 -> improved.
    assert got.loc["Up", "verdict"] == "improved"
    # Clu: -0.1 and no per-example scores (clustering has none): judged by tolerance alone.
    assert got.loc["Clu", "verdict"] == "regressed" and got.loc["Clu", "rule"] == "tolerance only (no per-example scores)"
    assert got.loc["Gone", "verdict"] == "missing"
    assert report.regressed


def test_shard_then_merge_equals_one_run(tmp_path: Path, tiny: Path):
    shards = [tmp_path / "s1", tmp_path / "s2"]
    for k, out in enumerate(shards, start=1):
        evalkit.run(TINY, model=KEYWORDS, output_dir=out, shard=(k, 2), no_cache=True)
    # Sorted by name, every 2nd task from k: shard 1 has TinyClassification, TinyPairs, TinyRetrieval.
    firsts = evalkit.read_results(shards[0])
    assert sorted(firsts["task"].unique()) == ["TinyClassification", "TinyPairs", "TinyRetrieval"]
    evalkit.merge(shards, output_dir=tmp_path / "merged")
    merged, whole = evalkit.read_results(tmp_path / "merged"), evalkit.read_results(tiny)
    key = ["task", "split", "subset", "metric"]
    pd.testing.assert_frame_equal(
        merged.sort_values(key).reset_index(drop=True)[[*key, "value"]], whole.sort_values(key).reset_index(drop=True)[[*key, "value"]]
    )


def test_regress_two_runs_by_hand(tmp_path: Path, tiny: Path, capsys):
    # The cat-heavy encoder counts "cat" three times. TinySTS cosines become [1, 9/10, 0, 0.816]:
    # ranks [4, 3, 1, 2] equal the gold ranks, Spearman 1.0 (+0.2). No other main score moves.
    cat3 = evalkit.run(TINY, model=CAT3, output_dir=tmp_path / "cat3", no_cache=True).folder
    code = main(["regress", str(tiny), str(cat3), "--suite", str(TINY), "--no-significance", "--reports", str(tmp_path / "rep")])
    assert code == 0
    report = json.loads((tmp_path / "rep" / "regress.json").read_text())
    verdicts = {t["task"]: (t["verdict"], round(t["delta"], 6)) for t in report["tasks"]}
    assert verdicts["TinySTS"] == ("improved", 0.2)
    assert {v for t, v in verdicts.items() if t != "TinySTS"} == {("unchanged", 0.0)}
    # The other way round the same step is a regression, and the exit code says so.
    assert main(["regress", str(cat3), str(tiny), "--suite", str(TINY), "--no-significance", "--reports", str(tmp_path / "rep2")]) == 1
    capsys.readouterr()


def test_classification_examples_that_moved_name_their_labels(tmp_path: Path, tiny: Path, capsys):
    # The blind encoder gives every text the zero vector, so the logistic regression learns nothing
    # (balanced classes: zero gradient at zero, equal probabilities) and predicts class 0 for all:
    # "drinks", the first name in sorted order. Test items: "dog cat cat" (pets) and "rain rain"
    # (weather) go from right in every run (1.0) to wrong in every run (0.0); "milk tea tea" stays right.
    names = examples.load(ResultsFolder(tiny).examples_path("TinyClassification"))[1][0].answers
    assert names == ["pets", "weather", "drinks"]  # classification_test.jsonl's labels, not ids 1, 2, 0
    only = ("TinyClassification",)
    base = evalkit.run(TINY, tasks=only, model=KEYWORDS, output_dir=tmp_path / "base", no_cache=True).folder
    blind = evalkit.run(TINY, tasks=only, model=BLIND, output_dir=tmp_path / "blind", no_cache=True).folder
    assert main(["regress", str(base), str(blind), "--no-significance", "--reports", str(tmp_path / "rep")]) == 1
    moved = json.loads((tmp_path / "rep" / "regress.json").read_text())["moved"]
    assert [(m["example"], m["text"], m["gold"], m["before"], m["after"]) for m in moved] == [
        ("#1", "dog cat cat", "pets", 1.0, 0.0),
        ("#2", "rain rain", "weather", 1.0, 0.0),
    ]
    assert "| #1 | dog cat cat | pets | 1.0000 | 0.0000 |" in (tmp_path / "rep" / "regress.md").read_text()
    capsys.readouterr()


def test_nan_embeddings_fail_their_task_and_the_others_go_on(tmp_path: Path, capsys):
    broken = "py:tests.keyword_encoder:make_nan_on_bus_encoder"  # NaN for every text with "bus" in it
    code = main(["run", str(TINY), "--model", broken, "--output", str(tmp_path), "--no-cache", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1  # a failed task is a verdict on the model (EncodingError.exit_code), not bad input
    # "bus" is in TinySTS ("rain car bus"), TinyPairs and TinyClustering; the other three never see it.
    failed = {line.split(" | ")[0].strip("| ") for line in out.splitlines() if "| failed: " in line}
    assert failed == {"TinySTS", "TinyPairs", "TinyClustering"}
    assert "on task TinySTS: 1 embeddings hold NaN or infinite values; try --dtype fp32, or check the checkpoint" in out
    assert "| TinyRetrieval | Retrieval | test | 0.8770 | done |" in out


@needs_shared
def test_mteb_s_own_cache_loads_a_folder_with_in_house_and_mteb_tasks(tmp_path: Path):
    import mteb

    suite = tmp_path / "mixed.yaml"
    suite.write_text(f"include: {TINY}\ntasks:\n  - {{name: STSBenchmark}}\n", encoding="utf-8")
    summary = evalkit.run(
        suite, tasks=("TinySTS", "STSBenchmark"), model=KEYWORDS, data_dir=MIRROR, output_dir=tmp_path / "results", no_cache=True
    )
    assert not summary.failed
    # mteb checks every <model>/<revision>/*.json against its registry: TinySTS lives under evalkit/local/.
    loaded = mteb.ResultCache(tmp_path).load_results()
    assert [r.task_name for m in loaded.model_results for r in m.task_results] == ["STSBenchmark"]
    # evalkit's readers see both.
    assert set(evalkit.read_results(summary.folder)["task"]) == {"TinySTS", "STSBenchmark"}
