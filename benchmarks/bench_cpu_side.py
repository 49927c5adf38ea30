"""The CPU side of C-MTEB: mteb's classifier fits and clustering, plain mteb vs evalkit, same run.

On a GPU the encoder is fast enough that what runs on the CPU afterwards (ten logistic-regression
fits per classification task, k-means over ten sets of 10k texts per clustering task) decides
whether a full C-MTEB run stays short. This script times that part alone. Every classification
and clustering task of `configs/cmteb.yaml` runs through mteb's own task class and scoring code,
with synthetic data of the task's real shape, taken from mteb's descriptive statistics: split
sizes, number of labels, train-set size (undersampling walks all of it), samples per label and
number of experiments. The model is a stand-in that maps a text to its label's centre plus noise
(768 dimensions, BERT-base), so the classifiers and k-means work on separable-but-noisy vectors
and encoding costs next to nothing; its time is measured and subtracted.

Each task runs twice in the same process: plain (mteb's task as shipped) and evalkit (the task as
`evalkit.runner.tasks.build_task` prepares it, evaluated as `evalkit run` does). Scores must agree exactly.

    python benchmarks/bench_cpu_side.py [--tasks TNews,CLSClusteringS2S]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

DIM = 768


class StandIn:
    """The sentence-transformers surface evalkit's Encoder uses; `encode` returns label centre + noise."""

    max_seq_length, similarity_fn_name, device, prompts = 512, "cosine", "cpu", {}

    def __init__(self) -> None:
        self.centres = np.random.default_rng(0).normal(size=(512, DIM)).astype(np.float32)

    def get_embedding_dimension(self) -> int:
        return DIM

    def encode(self, texts: list[str], **_: Any) -> Any:
        import torch

        label = np.array([int(t.split()[1]) for t in texts])
        item = np.array([int(t.split()[3]) for t in texts])
        noise = np.random.default_rng(item.sum() % 2**32).normal(scale=2.0, size=(len(texts), DIM)).astype(np.float32)
        return torch.from_numpy(self.centres[label % len(self.centres)] + noise)


def _texts(labels: np.ndarray, offset: int = 0) -> list[str]:
    return [f"label {int(lab)} item {offset + i}" for i, lab in enumerate(labels)]


def _stats(task: Any, split: str, subset: str | None) -> dict[str, Any]:
    s = (task.metadata.descriptive_stats or {}).get(split) or {}
    if subset and "hf_subset_descriptive_stats" in s:
        s = s["hf_subset_descriptive_stats"].get(subset, s)
    return s


def _classification_data(task: Any, splits: list[str], subset: str | None, rng: np.random.Generator) -> Any:
    from datasets import Dataset, DatasetDict

    parts = {}
    for split in [task.train_split, *splits]:
        s = _stats(task, split, subset)
        n, k = int(s["num_samples"]), int(s["label_statistics"]["unique_labels"])
        labels = rng.integers(0, k, size=n)
        parts[split] = Dataset.from_dict({"text": _texts(labels, 10_000_000 if split != task.train_split else 0), "label": labels.tolist()})
    return DatasetDict(parts)


def _clustering_data(task: Any, split: str, rng: np.random.Generator) -> Any:
    from datasets import Dataset, DatasetDict

    s = _stats(task, split, None)
    n, k = int(s["num_samples"]), int(s["label_statistics"]["unique_labels"])
    sets = 10  # the C-MTEB clustering tasks are ten sets of equal size
    rows = {"sentences": [], "labels": []}
    for j in range(sets):
        labels = rng.integers(0, k, size=n // sets)
        rows["sentences"].append(_texts(labels, j * n))
        rows["labels"].append([str(x) for x in labels])
    return DatasetDict({split: Dataset.from_dict(rows)})


def _one(task: Any, data: dict[str, Any], *, evalkit: bool) -> tuple[float, float, float]:
    """(scoring seconds, encoding seconds, main score) of one mteb.evaluate on the given data."""
    import contextlib

    import mteb

    from evalkit._compat.mteb_capture import task_hooks
    from evalkit.model.encoder import Encoder
    from evalkit.model.prompts import PromptTable
    from evalkit.model.settings import ModelSettings
    from evalkit.model.source import ResolvedModel

    task.dataset, task.data_loaded = data, True
    encoder = Encoder(StandIn(), ResolvedModel("stand-in", Path("."), "0", "local"), ModelSettings(batch_size=512), prompts=PromptTable())
    start = time.monotonic()
    # As `evalkit run` evaluates a task: with its hooks (whole columns instead of row-by-row reads).
    columns = task_hooks(task, capture=False) if evalkit else contextlib.nullcontext()
    with encoder.for_task(task.metadata.name, {}), columns, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mteb.evaluate(encoder, task, cache=None, show_progress_bar=False, encode_kwargs={"batch_size": 512})
    wall = time.monotonic() - start
    return wall - encoder.stats.encode_seconds, encoder.stats.encode_seconds, float(res.task_results[0].get_score())


def _warm_up() -> None:
    # First use of sklearn's estimators pays imports and thread-pool start-up: keep it out of the first row.
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(200, DIM))
    MiniBatchKMeans(n_clusters=4, n_init="auto", random_state=0).fit(x)
    LogisticRegression(max_iter=50).fit(x, np.arange(200) % 4)


def main() -> None:
    import logging

    import mteb

    from evalkit.runner.suite import TaskSpec, load_suite
    from evalkit.runner.tasks import build_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", help="comma-separated subset of the suite's classification and clustering tasks")
    args = parser.parse_args()
    logging.getLogger("mteb").setLevel(logging.ERROR)  # "superseded by v2" notes: the suite keeps the card's versions
    _warm_up()
    specs = [s for s in load_suite("cmteb").tasks if mteb.get_task(s.name).metadata.type in ("Classification", "Clustering")]
    if args.tasks:
        specs = [s for s in specs if s.name in args.tasks.split(",")]
    print("| task | type | test texts | train texts | plain scoring s | evalkit scoring s | ratio | score equal |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    totals = [0.0, 0.0]
    for spec in specs:
        subset = spec.subsets[0] if spec.subsets else None
        plain = mteb.get_task(spec.name, eval_splits=list(spec.splits) if spec.splits else None)
        if subset:
            plain = plain.filter_languages(None, hf_subsets=[subset])
        ours = build_task(TaskSpec(name=spec.name, splits=spec.splits, subsets=spec.subsets)).task
        splits = list(plain.eval_splits)
        key = subset or "default"
        rng = np.random.default_rng(1)
        if plain.metadata.type == "Classification":
            data = _classification_data(plain, splits, subset, rng)
            train = len(data[plain.train_split])
        else:
            data, train = _clustering_data(plain, splits[0], rng), 0
        tests = sum(len(data[s]) if plain.metadata.type == "Classification" else sum(len(x) for x in data[s]["sentences"]) for s in splits)
        p_s, _, p_score = _one(plain, {key: data}, evalkit=False)
        e_s, _, e_score = _one(ours, {key: data}, evalkit=True)
        totals[0] += p_s
        totals[1] += e_s
        print(
            f"| {spec.name} | {plain.metadata.type} | {tests} | {train} | {p_s:.1f} | {e_s:.1f} | {e_s / p_s:.2f}x | {p_score == e_score} |",
            flush=True,
        )
    print(f"| all | | | | {totals[0]:.1f} | {totals[1]:.1f} | {totals[1] / totals[0]:.2f}x | |")


if __name__ == "__main__":
    main()
