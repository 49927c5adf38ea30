"""Per-example scores, captured from mteb's own scoring steps, for paired significance tests.

mteb reports only aggregates. Its task classes compute them from per-example quantities at a few
well-defined steps; `evalkit._compat.mteb_capture.task_hooks` wraps those steps on one task *instance*
(never the class) and records what they see, per split and subset:

- STS: gold score and cosine similarity per pair (statistic: Spearman correlation);
- PairClassification: label and cosine similarity per pair (statistic: best-threshold accuracy);
- Classification: per test item, the fraction of the classifier runs that got it right (mean);
- Retrieval and Reranking: the main metric per query, from pytrec_eval (mean).

Clustering has no per-example score: regress falls back to the tolerance alone there.

For the regress report's "examples that moved", entries also keep what a person reads: the text
of each example (`texts`, and `texts2` for the second sentence of a pair), the gold answer as text
where it is not a number (`answers`: a classification label, a retrieval query's best relevant
document), and for retrieval the rank of the first relevant document (`ranks`, 0 = not retrieved).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from evalkit import _parse
from evalkit._io import write_atomic
from evalkit.errors import DataError

Kind = Literal["correlation", "threshold_accuracy", "mean"]


@dataclass
class ExampleScores:
    """Per-example data of one (split, subset) of one task."""

    split: str
    subset: str
    kind: Kind
    ids: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)  # mean kind
    gold: list[float] = field(default_factory=list)  # correlation / threshold kinds
    pred: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # for display only, never for statistics
    texts2: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    ranks: list[int] = field(default_factory=list)

    def statistic(self, index: np.ndarray | None = None) -> float:
        """The task's main statistic on these examples (or on the resampled `index`)."""
        return statistic(self.kind, self.arrays(), index)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The data as arrays: (values,) for means, (gold, pred) otherwise."""
        if self.kind == "mean":
            return (np.asarray(self.values, dtype=np.float64),)
        return np.asarray(self.gold, dtype=np.float64), np.asarray(self.pred, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.values) if self.kind == "mean" else len(self.gold)


def _check_types(e: ExampleScores) -> None:
    """Refuse entries whose lists are not lists of the right type or length (a hand-edited file)."""
    for name in ("ids", "values", "gold", "pred", "texts", "texts2", "answers", "ranks"):
        if not isinstance(getattr(e, name), list):
            raise TypeError(f"{name} is not a list")
    if not isinstance(e.split, str) or not isinstance(e.subset, str):
        raise TypeError("split and subset must be text")
    numbers = (e.values,) if e.kind == "mean" else (e.gold, e.pred)
    for column in numbers:
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in column):
            raise TypeError("a score is not a number")
    if e.kind != "mean" and len(e.gold) != len(e.pred):
        raise ValueError("gold and pred differ in length")
    if e.ids and len(e.ids) != len(e):
        raise ValueError("ids and scores differ in length")


def statistic(kind: Kind, arrays: tuple[np.ndarray, ...], index: np.ndarray | None = None) -> float:
    """Compute a per-example statistic, optionally on a resample given by `index`."""
    if index is not None:
        arrays = tuple(a[index] for a in arrays)
    if kind == "mean":
        return float(arrays[0].mean())
    gold, pred = arrays
    if kind == "correlation":
        import warnings

        from scipy.stats import ConstantInputWarning, spearmanr

        with warnings.catch_warnings():
            # A resample of identical pairs has no correlation: NaN, which the bootstrap drops.
            warnings.simplefilter("ignore", ConstantInputWarning)
            return float(spearmanr(gold, pred)[0])
    return best_threshold_accuracy(gold, pred)


def statistics(kind: Kind, arrays: tuple[np.ndarray, ...], index: np.ndarray) -> np.ndarray:
    """`statistic` on many resamples at once: row r of `index` (replicates x n) is one resample.

    Spearman is the Pearson correlation of average ranks, as `scipy.stats.spearmanr` computes it;
    a resample with a constant side has none (NaN).
    """
    if kind == "mean":
        return arrays[0][index].mean(axis=1)
    if kind == "correlation":
        from scipy.stats import rankdata

        g, p = (rankdata(a[index], axis=1) for a in arrays)
        g -= g.mean(axis=1, keepdims=True)
        p -= p.mean(axis=1, keepdims=True)
        denom = np.sqrt((g * g).sum(axis=1) * (p * p).sum(axis=1))
        out = np.full(len(index), np.nan)
        ok = denom > 0
        out[ok] = (g * p).sum(axis=1)[ok] / denom[ok]
        return out
    return np.array([best_threshold_accuracy(arrays[0][i], arrays[1][i]) for i in index])


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The best cut on `scores` for binary `labels` (higher score = positive): (accuracy, threshold).

    Predicting positive at or above the threshold gives the accuracy. Cuts fall only between
    distinct scores, halfway; above every score when predicting all negative is best.
    """
    order = np.argsort(-scores, kind="stable")
    y = labels[order]
    s = scores[order]
    n, pos = len(y), float(y.sum())
    # Predict positive for the first i items: correct = positives in them + negatives after them.
    tp = np.concatenate([[0.0], np.cumsum(y)])
    i = np.arange(n + 1)
    correct = tp + (n - i) - (pos - tp)
    # Only cut between distinct scores.
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = s[:-1] != s[1:]
    best = int(np.flatnonzero(valid)[np.argmax(correct[valid])])
    if best == 0:
        threshold = float(s[0]) + 1.0  # nothing above: all predicted negative
    elif best == n:
        threshold = float(s[-1])
    else:
        threshold = float((s[best - 1] + s[best]) / 2)
    return float(correct[best] / n), threshold


def best_threshold_accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Accuracy of the best threshold on `scores` for binary `labels` (higher score = positive)."""
    return best_threshold(labels, scores)[0]


def save(path: Path, task: str, task_type: str, main_score: str, entries: list[ExampleScores]) -> None:
    """Write a task's per-example scores as JSON, atomically."""
    payload = {
        "task": task,
        "task_type": task_type,
        "main_score": main_score,
        "entries": [e.__dict__ for e in entries],
    }
    write_atomic(path, json.dumps(payload))


def load(path: Path) -> tuple[str, list[ExampleScores]]:
    """Read a per-example file; returns (task, entries).

    Raises:
        DataError: when the file is truncated or not a per-example file.
    """
    try:
        payload = _parse.read_json(path, f"per-example file {path}")
        entries = [ExampleScores(**e) for e in payload["entries"]]
        for e in entries:
            if e.kind not in ("correlation", "threshold_accuracy", "mean"):
                raise ValueError(f"unknown kind {e.kind}")
            _check_types(e)
        return str(payload["task"]), entries
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(
            f"per-example file {path}: unreadable ({type(exc).__name__}); delete it and rerun the task with --overwrite"
        ) from None
