"""Suite-level confidence (issue 23): exact numbers by hand, scipy's bootstrap, and a false-alarm simulation.

Fast layer: no model weights. Each expected value has its arithmetic beside it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evalkit.judge import confidence as C
from evalkit.judge.regress import Side, gate, paired_bootstrap
from evalkit.report import regress as page
from evalkit.results import scores as S
from evalkit.results.per_example import ExampleScores

ALPHA = 0.05


def mean_scores(values: list[float] | np.ndarray) -> ExampleScores:
    return ExampleScores("test", "default", "mean", values=[float(v) for v in values])


def test_holm_by_hand():
    # Sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04, raised to the running max 0.06.
    assert C.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # NaN (a task judged by tolerance alone) is outside the family: m = 2 here.
    got = C.holm([0.02, math.nan, 0.5])
    assert got[0] == pytest.approx(0.04) and math.isnan(got[1]) and got[2] == pytest.approx(0.5)
    assert C.holm([0.6, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_bootstrap_p_and_detectable_change_by_hand():
    # Replicates [-0.03, -0.01, -0.02]: mean -0.02, sd 0.01, z = 2: p = 2 x Phi(-2) = 0.0455.
    assert C.bootstrap_p(np.array([-0.03, -0.01, -0.02])) == pytest.approx(0.0455003, abs=1e-6)
    assert C.bootstrap_p(np.zeros(50)) == 1.0  # identical runs: no evidence at all
    assert C.bootstrap_p(np.full(50, -0.1)) == 0.0  # every resample moves by the same amount
    assert math.isnan(C.bootstrap_p(None))
    # (z[0.975] + z[0.8]) x 0.01 = (1.959964 + 0.841621) x 0.01 = 0.028016.
    assert C.detectable_change(0.01, alpha=0.05) == pytest.approx(0.0280159, abs=1e-6)
    # Power 0.5 adds nothing to the critical value: 1.959964 x 0.01.
    assert C.detectable_change(0.01, alpha=0.05, power=0.5) == pytest.approx(0.0195996, abs=1e-6)


def test_paired_bootstrap_is_the_percentile_interval_of_the_replicates():
    # The old per-task function is now these two steps, with the same draws for the same seed.
    b, c = mean_scores([0.0, 1.2]), mean_scores([1.0, 0.0])
    reps = C.paired_replicates(b, c, samples=1000, seed=0)
    assert paired_bootstrap(b, c, samples=1000, alpha=ALPHA, seed=0) == C.percentile_interval(reps, ALPHA) == pytest.approx((-1.2, 1.0))
    # Differences +1 and -1.2: a resample's mean is +1, -0.1 or -1.2 (chances 1/4, 1/2, 1/4), so
    # Replicate means +1, -0.1, -1.2 with chances 1/4, 1/2, 1/4: mean -0.1, sd sqrt(0.605 - 0.01) = 0.771,
    # z = 0.13, p about 0.9: no evidence of a change.
    assert float(np.mean(reps)) == pytest.approx(-0.1, abs=0.05) and C.bootstrap_p(reps) > 0.8


def test_bootstrap_matches_scipy_on_a_plain_mean():
    from scipy.stats import bootstrap

    x = np.random.default_rng(7).normal(0.5, 0.2, size=200)
    # Baseline all zero: the paired delta of a resample is the resample's mean of x.
    ours = C.percentile_interval(C.paired_replicates(mean_scores(np.zeros(200)), mean_scores(x), samples=20000, seed=1), ALPHA)
    theirs = bootstrap((x,), np.mean, n_resamples=20000, confidence_level=0.95, method="percentile", random_state=2).confidence_interval
    # SE = 0.2 / sqrt(200) = 0.0141, interval half-width about 0.028; the two Monte Carlo runs agree
    # to a few thousandths.
    assert ours[0] == pytest.approx(theirs.low, abs=0.002) and ours[1] == pytest.approx(theirs.high, abs=0.002)
    assert ours[1] - ours[0] == pytest.approx(2 * 1.96 * x.std(ddof=1) / math.sqrt(200), rel=0.05)


def test_examples_pair_by_position_only_when_their_texts_agree():
    from evalkit.judge.confidence import paired_arrays
    from evalkit.judge.moved import moved_examples

    def side(texts: list[str], right: list[float]) -> ExampleScores:  # per-item share of classifier runs that were right
        return ExampleScores("test", "default", "mean", values=right, texts=texts)

    base = side(["a", "b", "c"], [1.0, 1.0, 0.5])
    same = side(["a", "b", "c"], [0.0, 1.0, 0.5])
    assert paired_arrays(base, same) is not None and len(moved_examples("T", base, same, metric="accuracy")[0]) == 1
    shuffled = side(["b", "a", "c"], [0.0, 1.0, 0.5])  # other examples at the same positions
    assert paired_arrays(base, shuffled) is None and moved_examples("T", base, shuffled, metric="accuracy")[0].empty


def test_average_weights_follow_the_averaging_code():
    # A (STS) has two splits, B (STS) one, R (Retrieval) one. STS = (mean(A1, A2) + B) / 2, so each
    # A split weighs 1/4 and B 1/2; mean (task) = (A + B + R) / 3: 1/6, 1/6, 1/3, 1/3; mean (type) =
    # (STS + Retrieval) / 2: 1/8, 1/8, 1/4, 1/2.
    keys = [
        ("A", "STS", "default", "dev"),
        ("A", "STS", "default", "test"),
        ("B", "STS", "default", "test"),
        ("R", "Retrieval", "default", "test"),
    ]
    w = C.average_weights(keys)
    assert list(w.loc["STS"]) == pytest.approx([0.25, 0.25, 0.5, 0])
    assert list(w.loc["Retrieval"]) == pytest.approx([0, 0, 0, 1])
    assert list(w.loc["mean (task)"]) == pytest.approx([1 / 6, 1 / 6, 1 / 3, 1 / 3])
    assert list(w.loc["mean (type)"]) == pytest.approx([1 / 8, 1 / 8, 1 / 4, 1 / 2])


def _side(label: str, values: dict[str, float], examples: dict[str, list[float]]) -> Side:
    types = {"Ret": "Retrieval", "Cls": "Classification", "Clu": "Clustering"}
    table = S.make(
        {"model": label, "task": t, "task_type": types[t], "subset": "default", "split": "test", "metric": "m", "value": v, "is_main": True}
        for t, v in values.items()
    )
    return Side(label, table, {(t, "default", "test"): mean_scores(v) for t, v in examples.items()})


def test_suite_verdict_by_hand():
    # Ret: every query +0.1; Cls: every item -0.2; Clu: +0.3, no per-example scores (held).
    base = _side("base", {"Ret": 0.5, "Cls": 0.6, "Clu": 0.4}, {"Ret": [0.4, 0.5, 0.6], "Cls": [0.6, 0.6, 0.6, 0.6]})
    cand = _side("cand", {"Ret": 0.6, "Cls": 0.4, "Clu": 0.7}, {"Ret": [0.5, 0.6, 0.7], "Cls": [0.4, 0.4, 0.4, 0.4]})
    report = gate(base, cand, tolerance=0.05)
    suite = report.suite.set_index("average")
    # Every resample moves by exactly the same amount, so each interval is a point.
    assert suite.loc["Retrieval", ["delta", "ci_low", "ci_high"]].tolist() == pytest.approx([0.1, 0.1, 0.1])
    assert suite.loc["Retrieval", "verdict"] == "improved" and suite.loc["Classification", "verdict"] == "regressed"
    # Clustering alone is held: no spread, no verdict.
    assert suite.loc["Clustering", "verdict"] == C.NOT_TESTED and suite.loc["Clustering", "held"] == 1
    # mean (task) = (0.1 - 0.2 + 0.3) / 3 = +0.0667 in every replicate: improved, with the held task counted.
    head = suite.loc["mean (task)"]
    assert head[["delta", "ci_low", "ci_high"]].tolist() == pytest.approx([0.2 / 3] * 3) and head["verdict"] == "improved"
    assert head["held"] == 1 and head["tasks"] == 3
    # mean (type) = the same three types, one task each.
    assert suite.loc["mean (type)", "delta"] == pytest.approx(0.2 / 3)
    assert "Suite: mean (task) 0.5000 -> 0.5667, delta +0.0667, 95% interval [+0.0667, +0.0667]: IMPROVED" in page.markdown(report)
    assert '"suite": [' in page.json_text(report)
    # Per task: a constant shift has no spread, p = 0, and Holm keeps it 0.
    tasks = report.tasks.set_index("task")
    assert tasks.loc["Cls", "p"] == 0.0 and tasks.loc["Cls", "p holm"] == 0.0
    assert tasks.loc["Cls", "holm verdict"] == "regressed" and math.isnan(tasks.loc["Clu", "p holm"])
    assert tasks.loc["Cls", "detectable"] == pytest.approx(0.0)  # no spread at all


def test_holm_verdict_withdraws_a_borderline_regression():
    # Three tasks, each with replicates [-0.03, -0.01, -0.02]: p = 0.0455 < 0.05 (regressed alone),
    # but Holm makes the smallest 3 x 0.0455 = 0.1365: none stays regressed.
    reps = np.array([-0.03, -0.01, -0.02])
    tasks = pd.DataFrame({"task": ["A", "B", "C"], "subset": "default", "split": "test", "verdict": ["regressed"] * 3})
    got = C.task_columns(tasks, {(t, "default", "test"): reps for t in "ABC"}, alpha=ALPHA)
    assert list(got["p"]) == pytest.approx([0.0455003] * 3, abs=1e-6) and list(got["p holm"]) == pytest.approx([0.1365009] * 3, abs=1e-6)
    assert list(got["holm verdict"]) == ["unchanged"] * 3


def _null_suite(rng: np.random.Generator) -> tuple[list[ExampleScores], list[ExampleScores], list[tuple[str, str, str, str]]]:
    """A clean checkpoint's per-example scores and a copy re-scored with fresh noise of the same size.

    Means (retrieval, classification): the copy adds zero-mean noise per example. Spearman and
    best-threshold accuracy: both sides are the same similarities plus independent noise of one
    size, so neither is better in expectation: every true change is zero.
    """
    base, cand, keys = [], [], []
    for i, ttype in enumerate(["Retrieval", "Retrieval", "Reranking", "Classification"]):
        v = rng.beta(2, 2, size=80)
        base.append(mean_scores(v))
        cand.append(mean_scores(v + rng.normal(0, 0.15, size=80)))
        keys.append((f"M{i}", ttype, "default", "test"))
    signal = rng.normal(size=40)
    gold = signal + rng.normal(0, 0.5, size=40)
    base.append(ExampleScores("test", "default", "correlation", gold=list(gold), pred=list(signal + rng.normal(0, 0.5, size=40))))
    cand.append(ExampleScores("test", "default", "correlation", gold=list(gold), pred=list(signal + rng.normal(0, 0.5, size=40))))
    keys.append(("S0", "STS", "default", "test"))
    labels = (rng.random(40) < 0.5).astype(float)
    sims = labels + rng.normal(0, 0.8, size=40)
    base.append(ExampleScores("test", "default", "threshold_accuracy", gold=list(labels), pred=list(sims + rng.normal(0, 0.3, size=40))))
    cand.append(ExampleScores("test", "default", "threshold_accuracy", gold=list(labels), pred=list(sims + rng.normal(0, 0.3, size=40))))
    keys.append(("P0", "PairClassification", "default", "test"))
    return base, cand, keys


def test_false_alarm_rate_of_a_clean_checkpoint_against_its_noisy_copy():
    # 200 seeds, 6 task splits, 200 replicates each (a few seconds on one core).
    seeds, samples = 200, 200
    suite_alarms = holm_alarms = raw_alarms = 0
    weights = None
    for seed in range(seeds):
        base, cand, keys = _null_suite(np.random.default_rng(seed))
        weights = C.average_weights(keys) if weights is None else weights
        reps = {
            i: C.paired_replicates(b, c, samples=samples, seed=C.split_seed(k[0], k[2], k[3], seed))
            for i, (b, c, k) in enumerate(zip(base, cand, keys, strict=True))
        }
        point_b = [b.statistic() for b in base]
        point_c = [c.statistic() for c in cand]
        suite = C.suite_intervals(keys, point_b, point_c, reps, alpha=ALPHA, weights=weights).set_index("average")
        suite_alarms += suite.loc["mean (task)", "verdict"] != "unchanged"  # two-sided: any call is false
        # Per task with tolerance 0: significance alone decides, as a strict gate would.
        tasks = pd.DataFrame(
            {
                "task": [k[0] for k in keys],
                "subset": "default",
                "split": "test",
                "verdict": [
                    "regressed" if (ci := C.percentile_interval(reps[i], ALPHA))[1] < 0 else ("improved" if ci[0] > 0 else "unchanged")
                    for i in range(len(keys))
                ],
            }
        )
        judged = C.task_columns(tasks, {(k[0], k[2], k[3]): reps[i] for i, k in enumerate(keys)}, alpha=ALPHA)
        raw_alarms += (judged["verdict"] == "regressed").any()
        holm_alarms += (judged["holm verdict"] == "regressed").any()
    suite_rate, holm_rate, raw_rate = suite_alarms / seeds, holm_alarms / seeds, raw_alarms / seeds
    print(f"false alarms over {seeds} seeds: suite {suite_rate:.3f}, any task (Holm) {holm_rate:.3f}, any task (raw) {raw_rate:.3f}")
    assert suite_rate <= ALPHA
    assert holm_rate <= ALPHA
    # Without the control, six one-sided tests at 2.5% raise some alarm far more often (1 - 0.975^6 = 14%).
    assert raw_rate > holm_rate


def test_run_detectable_by_hand():
    # Mean kind: values 0 and 1 twice each: sd (ddof 1) = sqrt(1/3) = 0.57735, SE = 0.57735 / 2 = 0.288675;
    # unrelated pair: sqrt 2 x SE = 0.408248; x (1.959964 + 0.841621) = 1.143742.
    got = C.run_detectable({("T", "default", "test"): mean_scores([0, 1, 0, 1])}, alpha=ALPHA)
    assert got.loc[0, "se"] == pytest.approx(0.288675, abs=1e-6)
    assert got.loc[0, "detectable"] == pytest.approx(1.143742, abs=1e-5)
    assert got.loc[0, "examples"] == 4 and got.loc[0, "statistic"] == "mean"


def test_batched_statistics_equal_one_resample_at_a_time():
    from evalkit.results import per_example as E

    rng = np.random.default_rng(3)
    gold = np.round(rng.normal(size=30), 1)  # rounded: ties, as STS gold scores have
    pred = np.round(gold + rng.normal(size=30), 1)
    index = rng.integers(0, 30, size=(50, 30))
    index[0] = 4  # one resample of a single pair: no correlation (NaN on both paths)
    for kind, arrays in (("correlation", (gold, pred)), ("threshold_accuracy", ((gold > 0).astype(float), pred))):
        one_by_one = np.array([E.statistic(kind, arrays, i) for i in index])
        np.testing.assert_allclose(E.statistics(kind, arrays, index), one_by_one, rtol=0, atol=1e-12)


def test_leaderboard_ties_by_hand():
    from evalkit.judge import ties

    # One retrieval task of four queries. A - B is +0.1 on every query: interval [+0.1, +0.1], a
    # real step. B - C is +0.1, -0.1, +0.1, -0.1: mean 0, the interval holds 0: B and C tie (group
    # named by B's rank, 2). D is a card: no per-example scores, no interval.
    per_query = {"A": [0.9] * 4, "B": [0.8] * 4, "C": [0.7, 0.9, 0.7, 0.9]}
    kinds = {"A": "measured", "B": "measured", "C": "measured", "D": "claimed"}
    frame = pd.DataFrame(
        {"rank": [1, 2, 3, 4], "model": list("ABCD"), "revision": "r", "kind": [kinds[m] for m in "ABCD"], "source": "s", "tasks": 1}
    )
    value = {"A": 0.9, "B": 0.8, "C": 0.8, "D": 0.7}
    tables = {
        (m, "r", kinds[m], "s"): S.make(
            [
                {
                    "model": m,
                    "task": "T",
                    "task_type": "Retrieval",
                    "subset": "default",
                    "split": "test",
                    "metric": "ndcg_at_10",
                    "value": value[m],
                    "is_main": True,
                }
            ]
        )
        for m in "ABCD"
    }
    got = ties.mark(
        frame,
        tables,
        alpha=ALPHA,
        samples=500,
        examples_of=lambda model, revision, source: {("T", "default", "test"): mean_scores(per_query[model])},
    ).set_index("model")
    assert got.loc["A", "vs next"] == "+0.1000 [+0.1000, +0.1000]" and got.loc["A", "tie"] == ""
    assert got.loc["B", "next delta"] == pytest.approx(0.0) and got.loc["B", "next ci low"] < 0 < got.loc["B", "next ci high"]
    assert got.loc["B", "tie"] == got.loc["C", "tie"] == "=2"
    assert got.loc["C", "vs next"] == "no interval: the next row is claimed (no per-example scores)"
    assert got.loc["D", "vs next"] == ties.CLAIMED and got.loc["D", "tie"] == ""


def test_regress_and_leaderboard_on_two_tiny_runs(tmp_path, capsys):
    # The cat-heavy encoder lifts TinySTS from Spearman 0.8 to 1.0 and moves nothing else:
    # mean (task) +0.2 / 6 = +0.0333. Each STS resample scores 1 on the candidate (its similarity
    # ranks equal the gold ranks) and anywhere in [-1, 1] on the baseline, so the STS delta of a
    # resample lies in [0, 2] and mean (task)'s in [0, 2/6]: the 95% interval is [0, 0.3333] (a
    # resample of pairs 2 and 4 alone, gold 3 > 2 but cosine 0.5 < 0.816, gives -1: delta 2, in
    # more than 2.5% of resamples), which holds zero: UNCHANGED with four pairs.
    import html

    import evalkit
    from evalkit.cli import main

    from .test_exact import CAT3, KEYWORDS, TINY

    tiny = evalkit.run(TINY, model=KEYWORDS, output_dir=tmp_path / "kw", no_cache=True).folder
    cat3 = evalkit.run(TINY, model=CAT3, output_dir=tmp_path / "cat3", no_cache=True).folder
    capsys.readouterr()
    assert main(["regress", str(tiny), str(cat3), "--suite", str(TINY), "--reports", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    line = "Suite: mean (task) 0.8712 -> 0.9045, delta +0.0333, 95% interval [+0.0000, +0.3333]: UNCHANGED"
    assert line in out and html.escape(line) in (tmp_path / "rep" / "regress.html").read_text()
    assert "1 task(s) without per-example scores held" in out  # TinyClustering
    # The run report says how much each split can see. TinyReranking: two queries scoring 1 and 0.5,
    # sd 0.5 / sqrt 2 = 0.35355, SE 0.35355 / sqrt 2 = 0.25; vs an unrelated model sqrt 2 x 0.25 x
    # (1.959964 + 0.841621) = 0.9905.
    (page,) = [p for p in evalkit.run_report(tiny, reports_dir=tmp_path / "run") if p.suffix == ".md"]
    assert "| TinyReranking | default | test | 2 | mean | 0.2500 | 0.9905 |" in page.read_text()
    # The leaderboard of the two runs: one step, not significant, so one tie group.
    board = evalkit.leaderboard([tiny, cat3], suite=TINY, reports_dir=None)
    assert list(board.rows["tie"]) == ["=1", "=1"]
    assert board.rows["vs next"].iloc[0].startswith("+0.0333 [+0.0000, +0.3333]")
    # A hidden copy of a run under a source (`.old/`) is neither a row nor a second home of its per-example scores.
    import shutil

    shutil.copytree(tmp_path / "kw", tmp_path / "kw" / ".old")
    board = evalkit.leaderboard([tmp_path / "kw", cat3], suite=TINY, reports_dir=None)
    assert len(board.rows) == 2 and board.rows["vs next"].iloc[0].startswith("+0.0333 [+0.0000, +0.3333]")
