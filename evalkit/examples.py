"""Per-example scores, captured from mteb's own scoring steps, for paired significance tests.

mteb reports only aggregates. Its task classes compute them from per-example quantities at a few
well-defined steps; `capture` wraps those steps on one task *instance* (never the class) and
records what they see, per split and subset:

- STS: gold score and cosine similarity per pair (statistic: Spearman correlation);
- PairClassification: label and cosine similarity per pair (statistic: best-threshold accuracy);
- Classification: per test item, the fraction of the classifier runs that got it right (mean);
- Retrieval and Reranking: the main metric per query, from pytrec_eval (mean).

Clustering has no per-example score: regress falls back to the tolerance alone there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from evalkit._io import write_atomic
from evalkit.errors import DataError

Kind = Literal["correlation", "threshold_accuracy", "mean"]
_PYTREC_KEY = {"ndcg_at": "ndcg_cut_", "map_at": "map_cut_", "recall_at": "recall_", "precision_at": "P_"}


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


def statistic(kind: Kind, arrays: tuple[np.ndarray, ...], index: np.ndarray | None = None) -> float:
    """Compute a per-example statistic, optionally on a resample given by `index`."""
    if index is not None:
        arrays = tuple(a[index] for a in arrays)
    if kind == "mean":
        return float(arrays[0].mean())
    gold, pred = arrays
    if kind == "correlation":
        from scipy.stats import spearmanr

        return float(spearmanr(gold, pred)[0])
    return best_threshold_accuracy(gold, pred)


def best_threshold_accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Accuracy of the best threshold on `scores` for binary `labels` (higher score = positive)."""
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
    return float(correct[valid].max() / n)


class Recorder:
    """Collects per-example data while mteb evaluates one task instance."""

    def __init__(self, task: Any) -> None:
        """Wrap `task`'s scoring steps; `detach` undoes it."""
        self.task = task
        self.entries: list[ExampleScores] = []
        self._where = ("", "")
        self._patched: list[str] = []
        self._attach()

    def _patch(self, name: str, make: Any) -> None:
        original = getattr(self.task, name, None)
        if original is None:
            return
        setattr(self.task, name, make(original))
        self._patched.append(name)

    def _attach(self) -> None:
        ttype = self.task.metadata.type

        def track_subset(original: Any) -> Any:
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                self._where = (kwargs.get("hf_split", ""), kwargs.get("hf_subset", ""))
                return original(*args, **kwargs)

            return wrapped

        self._patch("_evaluate_subset", track_subset)
        if ttype == "STS":

            def sts(original: Any) -> Any:
                def wrapped(scores: Any, normalized_scores: Any) -> Any:
                    self._add("correlation", gold=list(map(float, normalized_scores)), pred=list(map(float, scores["cosine_scores"])))
                    return original(scores, normalized_scores)

                return wrapped

            self._patch("_calculate_scores", sts)
        elif ttype == "PairClassification":

            def pairs(original: Any) -> Any:
                def wrapped(similarity_scores: Any, labels: Any) -> Any:
                    self._add(
                        "threshold_accuracy", gold=list(map(float, labels)), pred=list(map(float, similarity_scores["cosine_scores"]))
                    )
                    return original(similarity_scores, labels)

                return wrapped

            self._patch("_compute_metrics", pairs)
        elif ttype == "Classification":
            runs: dict[tuple[str, str], list[np.ndarray]] = {}

            def classification(original: Any) -> Any:
                def wrapped(y_test: Any, y_pred: Any) -> Any:
                    right = (np.asarray(y_test) == np.asarray(y_pred)).astype(np.float64)
                    runs.setdefault(self._where, []).append(right)
                    mean = np.mean(runs[self._where], axis=0)
                    self._replace("mean", values=mean.tolist())
                    return original(y_test, y_pred)

                return wrapped

            self._patch("_calculate_scores", classification)
        elif ttype in ("Retrieval", "Reranking"):
            main = self.task.metadata.main_score
            prefix, _, k = main.rpartition("_")
            key = _PYTREC_KEY.get(prefix, "") + k if prefix in _PYTREC_KEY else None

            def per_query(original: Any) -> Any:
                def wrapped(scores: Any, qrels: Any, results: Any, hf_split: str, hf_subset: str) -> Any:
                    if key is not None:
                        ids = sorted(scores)
                        self._where = (hf_split, hf_subset)
                        self._add("mean", ids=ids, values=[float(scores[q][key]) for q in ids])
                    return original(scores, qrels, results, hf_split, hf_subset)

                return wrapped

            self._patch("task_specific_scores", per_query)

    def _add(self, kind: Kind, **data: Any) -> None:
        split, subset = self._where
        self.entries.append(ExampleScores(split=split, subset=subset, kind=kind, **data))

    def _replace(self, kind: Kind, **data: Any) -> None:
        split, subset = self._where
        self.entries = [e for e in self.entries if (e.split, e.subset) != (split, subset)]
        self._add(kind, **data)

    def detach(self) -> None:
        """Restore the task's own methods."""
        for name in self._patched:
            delattr(self.task, name)
        self._patched = []


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
        payload = json.loads(path.read_text(encoding="utf-8"))
        entries = [ExampleScores(**e) for e in payload["entries"]]
        for e in entries:
            if e.kind not in ("correlation", "threshold_accuracy", "mean"):
                raise ValueError(f"unknown kind {e.kind}")
        return str(payload["task"]), entries
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"per-example file {path}: unreadable ({type(exc).__name__}); delete it and rerun the task with --overwrite"
        ) from None
