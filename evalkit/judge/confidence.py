"""Is the difference real? Paired bootstrap of the suite's averages, Holm's control, detectable change.

Pure functions on per-example scores and numpy arrays (no files read or written).
- `paired_replicates`: bootstrap replicates of (candidate - baseline) on one task split, resampling
  the examples both sides share (the same resample for both), with the task's own statistic from
  `results.per_example.statistic` (a mean per query or item; Spearman and best-threshold accuracy
  recomputed on each resample). `regress.paired_bootstrap` is its percentile interval.
- `suite_intervals`: the change in every average the reports show (each task type's mean, `mean
  (task)`, `mean (type)`) with a percentile interval. Each replicate resamples every task split on
  its own (stratified: own examples, own seed) and combines the split deltas with the weights of
  the averaging code itself (`average_weights` probes it with unit vectors: the averages are
  means of means, linear in the per-split scores). Task splits
  without per-example scores (clustering, cards) are held at their observed change: they add no
  width, and the table counts them (`held`).
- `holm`: Holm's step-down adjustment of the per-task p-values. Holm, not Benjamini-Hochberg,
  because a release gate fails on a single regressed task: the error to bound is the chance of
  *any* false REGRESSED across the suite (the family-wise error rate), which Holm bounds by alpha
  under any dependence between tasks; BH bounds only the expected share of false findings among
  the findings, which lets false alarms through as soon as some task really moved.
- `detectable_change`: the smallest true change a two-sided test at `alpha` finds with the given
  power, from a standard error: (z[1 - alpha/2] + z[power]) x SE. In regress the SE is the spread of
  the paired replicates; for a single run (`run_detectable`) only each score's own SE is known, so
  the paired SE is taken as sqrt(2) x SE (two unrelated models). A fine-tune of the same model,
  whose per-example scores move together, can be seen below that figure.

Example (the tiny suite, keyword encoder vs its cat-heavy variant, alpha 0.05; README has the run)::

    | average     | tasks | baseline | candidate | delta  | ci_low | ci_high | p      | detectable | verdict   | held |
    | STS         | 1     | 0.8000   | 1.0000    | 0.2000 | 0.0000 | 2.0000  | 0.5773 | 1.4277     | unchanged | 0    |
    | mean (task) | 6     | 0.8712   | 0.9045    | 0.0333 | 0.0000 | 0.3333  | 0.5773 | 0.2379     | unchanged | 1    |
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from evalkit.results import per_example as E
from evalkit.results import scores as S

#: Default power for the detectable change.
POWER = 0.8
#: The average a suite verdict is read from: the leaderboard ranks by it.
HEADLINE = "mean (task)"
SplitKey = tuple[str, str, str]  # (task, subset, split)
NOT_TESTED = "not tested"
SUITE_COLUMNS = ["average", "tasks", "baseline", "candidate", "delta", "ci_low", "ci_high", "p", "detectable", "verdict", "held"]


# --- one task split -----------------------------------------------------------------------------------


def paired_arrays(base: E.ExampleScores, cand: E.ExampleScores) -> tuple[str, tuple[np.ndarray, ...], tuple[np.ndarray, ...]] | None:
    """The two sides' data on the same examples in the same order: (kind, baseline arrays, candidate arrays).

    By id where both sides have ids; else by position, with equal texts where both recorded them
    and, beyond means, equal gold labels (as `judge.moved` pairs). None when they cannot pair.
    """
    if base.kind != cand.kind:
        return None
    if base.kind == "mean" and base.ids and cand.ids:
        common = sorted(set(base.ids) & set(cand.ids))
        if not common:
            return None
        bi = {q: i for i, q in enumerate(base.ids)}
        ci = {q: i for i, q in enumerate(cand.ids)}
        a: tuple[np.ndarray, ...] = (np.asarray(base.values, dtype=np.float64)[[bi[q] for q in common]],)
        b: tuple[np.ndarray, ...] = (np.asarray(cand.values, dtype=np.float64)[[ci[q] for q in common]],)
        return base.kind, a, b
    if len(base) != len(cand) or len(base) == 0:
        return None
    if base.texts and cand.texts and base.texts != cand.texts:  # other examples at the same positions
        return None
    a, b = base.arrays(), cand.arrays()
    if base.kind != "mean" and not np.array_equal(a[0], b[0]):
        return None  # different gold labels: not the same examples
    return base.kind, a, b


def paired_replicates(base: E.ExampleScores, cand: E.ExampleScores, *, samples: int, seed: int = 0) -> np.ndarray | None:
    """Bootstrap replicates of (candidate - baseline) on one task split.

    Each replicate draws n of the n shared examples with replacement, the same draw for both
    sides, and recomputes the task's statistic on each side (NaN where a resample has none, e.g.
    Spearman on identical pairs).

    Args:
        base: the baseline's per-example data.
        cand: the candidate's per-example data.
        samples: how many replicates.
        seed: seeds numpy's default generator.

    Returns:
        `samples` deltas, or None when the examples cannot be paired.
    """
    paired = paired_arrays(base, cand)
    if paired is None:
        return None
    kind, a, b = paired
    n = len(a[0])
    rng = np.random.default_rng(seed)
    deltas = np.empty(samples)
    if kind == "mean":
        diff = b[0] - a[0]
        for start in range(0, samples, 100):
            stop = min(samples, start + 100)
            idx = rng.integers(0, n, size=(stop - start, n))
            deltas[start:stop] = diff[idx].mean(axis=1)
    else:
        # Chunks of 100 resamples; numpy's generator gives the same draws as one resample at a time.
        for start in range(0, samples, 100):
            stop = min(samples, start + 100)
            idx = rng.integers(0, n, size=(stop - start, n))
            deltas[start:stop] = E.statistics(kind, b, idx) - E.statistics(kind, a, idx)  # type: ignore[arg-type]
    return deltas


def percentile_interval(deltas: np.ndarray | None, alpha: float) -> tuple[float, float] | None:
    """The (alpha/2, 1 - alpha/2) quantiles of the replicates that are not NaN; None when there are none."""
    if deltas is None:
        return None
    kept = deltas[~np.isnan(deltas)]
    if len(kept) == 0:
        return None
    return float(np.quantile(kept, alpha / 2)), float(np.quantile(kept, 1 - alpha / 2))


def bootstrap_p(deltas: np.ndarray | None) -> float:
    """Two-sided p-value of "no change" from the replicates: 2 x Phi(-|mean| / sd) (a bootstrap z-test).

    Not the share of replicates past zero: with B replicates that share cannot go below 2 / (B + 1)
    (0.002 at the default 1000), while Holm over 35 task splits needs 0.05 / 35 = 0.0014 for the
    first task. Replicates with no spread give 1 when they sit at zero, else 0.

    Example: replicates [-0.03, -0.01, -0.02]: mean -0.02, sd 0.01, z = 2, p = 2 x Phi(-2) = 0.0455.
    """
    from scipy.stats import norm

    if deltas is None:
        return math.nan
    kept = deltas[~np.isnan(deltas)]
    if len(kept) < 2:
        return math.nan
    centre, sd = float(kept.mean()), float(kept.std(ddof=1))
    if sd <= 1e-12 * max(1.0, abs(centre)):
        return 1.0 if abs(centre) <= 1e-12 else 0.0
    return float(2 * norm.sf(abs(centre) / sd))


def split_seed(task: str, subset: str, split: str, seed: int = 0) -> int:
    """A stable seed per task split, so that strata resample independently and reruns agree."""
    return zlib.crc32(f"{task}\x1f{subset}\x1f{split}".encode()) ^ seed


def detectable_change(se: float, *, alpha: float, power: float = POWER) -> float:
    """The smallest true change a two-sided test at `alpha` detects with `power`: (z[1-alpha/2] + z[power]) x se.

    Example: se 0.01, alpha 0.05, power 0.8 -> (1.95996 + 0.84162) x 0.01 = 0.0280.
    """
    from scipy.stats import norm

    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * se)


# --- many task splits -----------------------------------------------------------------------------------


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count in the family).

    Sorted ascending, the i-th of m p-values (i from 1) becomes max over j <= i of min(1, (m - j + 1) p(j)).
    Example: [0.01, 0.04, 0.03] -> [0.03, 0.06, 0.06].
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(len(p), np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def cmteb_averages(table: pd.DataFrame) -> pd.Series:
    """The averages the reports show, from a Scores table: each type's mean, `mean (task)`, `mean (type)`.

    Built on `results.scores.averages` (a task's score: the mean over its splits and subsets; a
    type's: the mean over its tasks; `All`: the mean over tasks); `mean (type)` is the mean of the
    type means, as `report.run.cmteb_averages` and the leaderboard take it.
    """
    per_type = S.averages(table, type_mean=True)  # the one owner of the averages (results/main_score.py)
    names = {"All": HEADLINE, "All types": "mean (type)"}
    return pd.Series({names.get(str(t.task_type), str(t.task_type)): float(t.value) for t in per_type.itertuples()})


Averager = Callable[[pd.DataFrame], pd.Series]


def average_weights(keys: Sequence[tuple[str, str, str, str]], averager: Averager = cmteb_averages) -> pd.DataFrame:
    """How much each task split weighs in each average, read off the averaging code with unit vectors.

    Args:
        keys: (task, task_type, subset, split) per task split.
        averager: a Scores table -> named averages; linear in the values (means of means).

    Returns:
        One row per average, one column per key (in order).

    Raises:
        ValueError: when the averager is not linear on these splits (all ones must average to one).
    """

    def probe(values: np.ndarray) -> pd.Series:
        rows = (
            {"model": "probe", "task": t, "task_type": tt, "subset": sub, "split": sp, "metric": "main", "value": v, "is_main": True}
            for (t, tt, sub, sp), v in zip(keys, values, strict=True)
        )
        return averager(S.make(rows))

    n = len(keys)
    columns = [probe(np.eye(n)[i]) for i in range(n)]
    weights = pd.concat(columns, axis=1).fillna(0.0)
    weights.columns = range(n)
    ones = probe(np.ones(n)).reindex(weights.index)
    if not np.allclose(weights.sum(axis=1).to_numpy(), ones.to_numpy(), atol=1e-9):
        raise ValueError("the averages are not linear in the per-split scores; the suite intervals need means of means")
    return weights


def suite_intervals(
    keys: Sequence[tuple[str, str, str, str]],
    baseline: Sequence[float],
    candidate: Sequence[float],
    replicates: Mapping[int, np.ndarray],
    *,
    alpha: float,
    power: float = POWER,
    averager: Averager = cmteb_averages,
    weights: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The change in every average with its paired, stratified bootstrap interval and a verdict.

    Args:
        keys: (task, task_type, subset, split) per task split.
        baseline: each split's main score on the baseline.
        candidate: each split's main score on the candidate.
        replicates: split index -> its bootstrap deltas (`paired_replicates`, all the same length);
            splits without are held at their observed change.
        alpha: significance level (two-sided interval of 1 - alpha).
        power: for the detectable change.
        averager: the averaging code (see `average_weights`).
        weights: `average_weights(keys, averager)`, when the caller already has it.

    Returns:
        `SUITE_COLUMNS`, one row per average (types, then `mean (task)`, `mean (type)`): `verdict`
        is `regressed` when the interval lies below zero, `improved` above, else `unchanged`;
        `held` counts the tasks whose change is held fixed (no per-example scores); an average
        with no resampled task is `not tested`.
    """
    weights = average_weights(keys, averager) if weights is None else weights
    w = weights.to_numpy()
    base, cand = np.asarray(baseline, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    delta = cand - base
    lengths = {len(r) for r in replicates.values()}
    if len(lengths) > 1:
        raise ValueError("every split needs the same number of replicates")
    draws = np.tile(delta, (lengths.pop() if lengths else 1, 1))
    for i, reps in replicates.items():
        draws[:, i] = reps
    draws = draws[~np.isnan(draws).any(axis=1)]
    sums = draws @ w.T  # replicates x averages
    tasks = np.array([k[0] for k in keys])
    held_split = np.array([i not in replicates for i in range(len(keys))])
    rows = []
    for j, name in enumerate(weights.index):
        on = w[j] != 0
        # An average whose every task is held has no sampling spread to show.
        col = sums[:, j] if (on & ~held_split).any() else np.array([])
        ci = percentile_interval(col, alpha) if len(col) else None
        se = float(np.std(col, ddof=1)) if len(col) > 1 else math.nan
        verdict = "unchanged"
        if ci is not None and ci[1] < 0:
            verdict = "regressed"
        elif ci is not None and ci[0] > 0:
            verdict = "improved"
        rows.append(
            {
                "average": str(name),
                "tasks": len(set(tasks[on])),
                "baseline": float(w[j] @ base),
                "candidate": float(w[j] @ cand),
                "delta": float(w[j] @ delta),
                "ci_low": ci[0] if ci else math.nan,
                "ci_high": ci[1] if ci else math.nan,
                "p": bootstrap_p(col) if len(col) else math.nan,
                "detectable": detectable_change(se, alpha=alpha, power=power) if not math.isnan(se) else math.nan,
                "verdict": verdict if len(col) else NOT_TESTED,
                "held": len(set(tasks[on & held_split]) - set(tasks[on & ~held_split])),
            }
        )
    return pd.DataFrame(rows, columns=SUITE_COLUMNS)


def suite_line(suite: pd.DataFrame, alpha: float) -> str:
    """One sentence: the suite verdict on `mean (task)` with its interval (for the report's top)."""
    head = suite[suite["average"] == HEADLINE]
    if head.empty:
        return ""
    r = head.iloc[0]
    level = int(round((1 - alpha) * 100))
    if r["verdict"] == NOT_TESTED:
        return f"Suite: {HEADLINE} {r['delta']:+.4f}; no per-example scores on either side, so no interval."
    held = f"; {int(r['held'])} task(s) without per-example scores held at their observed change" if r["held"] else ""
    return (
        f"Suite: {HEADLINE} {r['baseline']:.4f} -> {r['candidate']:.4f}, delta {r['delta']:+.4f}, "
        f"{level}% interval [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]: {str(r['verdict']).upper()}{held}."
    )


def task_columns(tasks: pd.DataFrame, replicates: Mapping[SplitKey, np.ndarray], *, alpha: float, power: float = POWER) -> pd.DataFrame:
    """Add per-task `p`, `p holm`, `holm verdict` and `detectable` to regress's task table.

    `holm verdict` keeps a `regressed` or `improved` verdict only when its Holm-adjusted p-value
    is below alpha (the family: every task split with paired per-example scores); task splits
    judged by tolerance alone keep their verdict.
    """
    out = tasks.copy()
    reps = [replicates.get((r.task, r.subset, r.split)) for r in tasks.itertuples()]
    p = np.array([bootstrap_p(x) for x in reps])
    out["p"] = p
    out["p holm"] = holm([float(x) for x in p])
    out["holm verdict"] = [
        v if v not in ("regressed", "improved") or x is None or ph < alpha else "unchanged"
        for v, x, ph in zip(tasks["verdict"], reps, out["p holm"], strict=True)
    ]
    out["detectable"] = [
        detectable_change(float(np.nanstd(x, ddof=1)), alpha=alpha, power=power) if x is not None and len(x) > 1 else math.nan for x in reps
    ]
    return out


def regress_suite(tasks: pd.DataFrame, replicates: Mapping[SplitKey, np.ndarray], *, alpha: float, power: float = POWER) -> pd.DataFrame:
    """`suite_intervals` over regress's task table: the splits both sides have (not missing, not new)."""
    both = tasks[~tasks["verdict"].isin(["missing", "new"])].reset_index(drop=True)
    if both.empty:
        return pd.DataFrame(columns=SUITE_COLUMNS)
    keys = [(r.task, str(r.task_type), r.subset, r.split) for r in both.itertuples()]
    reps = {i: replicates[(k[0], k[2], k[3])] for i, k in enumerate(keys) if (k[0], k[2], k[3]) in replicates}
    return suite_intervals(keys, both["baseline"], both["candidate"], reps, alpha=alpha, power=power)


# --- one run --------------------------------------------------------------------------------------------


def standard_error(scores: E.ExampleScores, *, samples: int = 200, seed: int = 0) -> float:
    """The standard error of one split's main statistic: sd / sqrt(n) for means, else the bootstrap sd."""
    n = len(scores)
    if n < 2:
        return math.nan
    if scores.kind == "mean":
        return float(np.std(scores.values, ddof=1) / math.sqrt(n))
    rng = np.random.default_rng(seed)
    arrays = scores.arrays()
    values = np.array([E.statistic(scores.kind, arrays, rng.integers(0, n, size=n)) for _ in range(samples)])
    values = values[~np.isnan(values)]
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def run_detectable(entries: Mapping[tuple[str, str, str], E.ExampleScores], *, alpha: float, power: float = POWER) -> pd.DataFrame:
    """Per task split of one run: examples, standard error and the smallest change a comparison could see.

    `detectable` assumes an unrelated second model (paired SE = sqrt(2) x SE); `evalkit regress`
    measures the paired figure for a real pair.

    Returns:
        Columns task, subset, split, examples, statistic, se, detectable.
    """
    rows = []
    for (task, subset, split), e in sorted(entries.items()):
        se = standard_error(e, seed=split_seed(task, subset, split))
        rows.append(
            {
                "task": task,
                "subset": subset,
                "split": split,
                "examples": len(e),
                "statistic": {"mean": "mean", "correlation": "Spearman", "threshold_accuracy": "best-threshold accuracy"}[e.kind],
                "se": se,
                "detectable": detectable_change(math.sqrt(2) * se, alpha=alpha, power=power) if not math.isnan(se) else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=["task", "subset", "split", "examples", "statistic", "se", "detectable"])
