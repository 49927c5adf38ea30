"""Card names and scales: what a card calls a task, a subset and a metric, and how it prints a value.

Old card metric names and mteb 2.x keys, both ways (`METRIC_MAP`, `mteb_key`, `printed_name`); the
keys mteb 2.26 writes per task type (`MTEB_KEYS`); entry names `MTEB <Task> (<subset>)` to an mteb
2.x task, by name, mteb's renames or the entry's dataset path (`parse_task_name`); card metrics with
no mteb 2.x key (extras, `is_extra`); and percents and 0-1 values (`from_percent`, `to_printed`).
Whether two model names name one model and a task's type are `evalkit.results.names`'.
"""

from __future__ import annotations

import functools
import math
import re

from evalkit.results.main_score import METRIC_HISTORY, current_key
from evalkit.results.names import task_type_of

#: Prefix of the table metric of a card metric with no mteb 2.x equivalent (kept, not compared).
EXTRA = "extra:"

#: Card task names that mteb 2.x renamed (C-MTEB cards of 2023 print the old ones).
CARD_TASK_RENAMES = {"CMedQAv1": "CMedQAv1-reranking", "CMedQAv2": "CMedQAv2-reranking"}

_PAIR_STATS = ("accuracy", "ap", "f1", "precision", "recall")
_KS2 = (1, 3, 5, 10, 20, 100, 1000)  # mteb 2 adds k=20

#: Old metric name -> mteb 2.x key, per task type. The history belongs to the results stage (result
#: files use it too, `results.main_score`); cards print the old names back from it.
METRIC_MAP = METRIC_HISTORY
_OLD_NAME = {ttype: {new: old for old, new in mapping.items()} for ttype, mapping in METRIC_MAP.items()}

_RETRIEVAL_KEYS = frozenset(
    {f"{m}_at_{k}" for m in ("ndcg", "map", "recall", "precision", "mrr", "hit_rate") for k in _KS2}
    | {"accuracy"}
    | {f"nauc_{m}_at_{k}_{f}" for m in ("ndcg", "map", "recall", "precision", "mrr") for k in _KS2 for f in ("max", "std", "diff1")}
)
#: The keys mteb 2.26 writes per task type (`abstasks/*.py` metric dicts; the six C-MTEB types are
#: checked against a real run in tests). A card metric maps to one of these or is an extra.
MTEB_KEYS: dict[str, frozenset[str]] = {
    "STS": frozenset(
        {"pearson", "spearman"} | {f"{fn}_{c}" for fn in ("cosine", "manhattan", "euclidean") for c in ("pearson", "spearman")}
    ),
    "PairClassification": frozenset(
        f"{fn}_{st}" for fn in ("similarity", "cosine", "manhattan", "euclidean", "dot", "max") for st in _PAIR_STATS
    ),
    "Classification": frozenset(
        {"accuracy", "f1", "f1_weighted", "precision", "precision_weighted", "recall", "recall_weighted", "ap", "ap_weighted"}
    ),
    "Clustering": frozenset({"v_measure", "v_measure_std", "ami", "ami_std"}),
    "Retrieval": _RETRIEVAL_KEYS,
    "Reranking": _RETRIEVAL_KEYS,
    "BitextMining": frozenset({"accuracy", "f1", "precision", "recall"}),
    "Summarization": frozenset({"pearson", "spearman", "cosine_pearson", "cosine_spearman", "dot_pearson", "dot_spearman"}),
    "MultilabelClassification": frozenset({"accuracy", "lrap", "f1", "hamming"}),
}
#: The Hub task category of each mteb type, as mteb's `TaskMetadata._hf_task_type` gives it: the
#: `task.type` of cards written by huggingface_hub's `ModelCardData` (whose `task.name` is mteb's type).
HF_TASK_TYPES = {
    "BitextMining": "translation",
    "Classification": "text-classification",
    "MultilabelClassification": "text-classification",
    "Clustering": "text-classification",
    "PairClassification": "text-classification",
    "Reranking": "text-ranking",
    "Retrieval": "text-retrieval",
    "STS": "sentence-similarity",
    "Summarization": "summarization",
}
#: Every mteb task type a card may state (`task.type`, or `task.name` in Hub-style cards).
MTEB_TYPES = (*MTEB_KEYS, "InstructionRetrieval", "InstructionReranking", "Regression")
_NAME = re.compile(r"^(?P<prefix>MTEB )?(?P<task>\S+?)(?: \((?P<subset>[^()]*)\))?$")


def is_extra(metric: str) -> bool:
    """True for a card metric kept under its own name (no mteb 2.x equivalent): never compared."""
    return str(metric).startswith(EXTRA)


@functools.cache
def _lowercase_tasks() -> dict[str, str]:
    from evalkit._compat.mteb import task_names

    return {name.lower(): name for name in task_names()}


@functools.cache
def _tasks_by_path() -> dict[str, tuple[str, ...]]:
    from evalkit._compat.mteb import task_metadata, task_names

    index: dict[str, list[str]] = {}
    for name in task_names():
        meta = task_metadata(name)
        path = meta.dataset.get("path") if meta is not None else None
        if isinstance(path, str):
            index.setdefault(path.lower(), []).append(name)
    return {k: tuple(v) for k, v in index.items()}


@functools.cache
def _resolve_task(name: str, dataset_type: str | None = None, declared: str | None = None) -> str:
    """The mteb 2.x task a card's task name stands for (the name itself when there is none).

    By name (mteb's renames and another case count); when the name is no task, or a task of
    another type than the card states (`PAWSX` pair classification is mteb 2's
    `PawsXPairClassification`, its `PAWSX` is STS), by the one task of the stated type whose name
    starts with the card's, on the entry's dataset path if any is (`MTEB Banking77` on mteb/banking77).
    """
    from evalkit._compat.mteb import has_task, renamed_tasks, task_names

    direct = name if has_task(name) else CARD_TASK_RENAMES.get(name) or renamed_tasks().get(name) or _lowercase_tasks().get(name.lower())
    if direct is not None and (declared is None or task_type_of(direct) == declared):
        return direct
    prefix = [t for t in task_names() if t.lower().startswith(name.lower()) and (declared is None or task_type_of(t) == declared)]
    path = str(dataset_type or "").lower()
    on_path = set(_tasks_by_path().get(path, ())) | {t for p, ts in _tasks_by_path().items() if p.rsplit("/", 1)[-1] == path for t in ts}
    candidates = [t for t in prefix if t in on_path] or prefix
    originals = [t for t in candidates if "." not in t] or candidates  # the task, not a later `.v2` of it
    if len(originals) == 1:
        return originals[0]
    return direct or name


def parse_task_name(dataset_name: str, config: str | None, dataset_type: str | None = None, declared: str | None = None) -> tuple[str, str]:
    """A card entry's task and subset.

    `MTEB AmazonReviewsClassification (zh)` -> (`AmazonReviewsClassification`, `zh`); the prefix and
    the subset are optional, and `config` wins over the name's subset. `dataset_type` and the task
    type the card states (`declared`) find the task when the name alone does not.
    """
    name = " ".join(dataset_name.split())  # yaml.dump folds long names over two lines
    match = _NAME.match(name)
    task, subset = (match["task"], match["subset"]) if match else (name, None)
    return _resolve_task(task, dataset_type, declared), str(config if config not in (None, "") else subset or "default")


def main_metric(task: str) -> str | None:
    """Mteb's main score of a task (`cosine_spearman` for an STS task...); None for a task mteb does not know."""
    from evalkit._compat.mteb import task_metadata

    meta = task_metadata(task)
    return meta.main_score if meta is not None else None


def mteb_key(task_type: str, printed: str, main: str | None) -> str | None:
    """The mteb 2.x key a card metric name stands for, or None when it has none (an extra)."""
    name = current_key(task_type, printed)
    keys = MTEB_KEYS.get(task_type)
    if keys is None:  # a type whose keys evalkit does not list: only its main score is known
        return name if name == main else None
    return name if name in keys else None


def printed_name(task_type: str, metric: str, old_names: bool) -> str | None:
    """The name a style prints for a table metric (None: the old style has none for it)."""
    if is_extra(metric):
        return metric[len(EXTRA) :]
    if not old_names:
        return metric
    return _OLD_NAME.get(task_type, {}).get(metric)


# ---------------------------------------------------------------------------------------------
# Values


def from_percent(value: float) -> float:
    """Percent to fraction, choosing the fraction that turns back into exactly `value`."""
    f = value / 100
    if f * 100 == value:
        return f
    up = down = f
    for _ in range(8):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
        if up * 100 == value:
            return up
        if down * 100 == value:
            return down
    return f


def to_printed(value: float, percent: bool) -> float | int:
    """A 0-1 value as a card of that scale prints it: x100 on a percent card (the inverse of `from_percent`)."""
    if not percent:
        return value
    v = value * 100
    # Card generators write integral percents as integers (`value: 80`).
    return int(v) if v.is_integer() else v
