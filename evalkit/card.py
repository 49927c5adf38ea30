"""Model cards: `model-index` in and out, in every card style, and safe in-place updates.

This module is the only place that knows card conventions: entry names (`MTEB <Task> (<subset>)`,
`<Task> (<subset>)`, `<Task>`), old and current metric names (`cos_sim_spearman`, reranking `map`,
`nAUC_*`, `main_score`), percents or 0-1 values, `revision: None`, key orders. They are converted to
and from the Scores table here, both ways.

A card is read into three things (`CardScores`):

- the Scores table: mteb 2.x metric keys, 0-1 values, `is_main` from mteb's task metadata. A card
  metric with no mteb 2.x equivalent (`accuracy_stderr`, `cos_sim_accuracy_threshold`,
  `nAUC_map_max`...) is an *extra*: a row whose metric is `extra:<its card name>`, with the value
  exactly as printed (its scale is unknown). Compare leaves extras out; export writes them back.
- its entries (`CardEntry`): what the card printed, in its order, so that the card can be written
  back exactly: the same entries in the same order, the same metric names in the same order, the
  same values (a value is written as printed unless it changed).
- its style (`CardStyle`), detected per card: percent or 0-1, old or current names, entry naming,
  which metrics an entry carries, metric and entry order, key order. New entries and metrics are
  written in it.

Two named styles for `--style`: `card` (C-MTEB cards of 2023, e.g. jinaai/jina-embeddings-v2-base-zh:
old names, percents, every metric sorted by name, entries sorted by name) and `mteb` (mteb 2.x names,
0-1 values, the main score and `main_score`). Without `--style`, a card keeps its own.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from evalkit import scores as S
from evalkit.errors import DataError

Style = Literal["card", "mteb"]

#: Prefix of the table metric of a card metric with no mteb 2.x equivalent (kept, not compared).
EXTRA = "extra:"

#: Card task names that mteb 2.x renamed (C-MTEB cards of 2023 print the old ones).
CARD_TASK_RENAMES = {"CMedQAv1": "CMedQAv1-reranking", "CMedQAv2": "CMedQAv2-reranking"}

_PAIR_FNS = ("cos_sim", "dot", "euclidean", "manhattan")
_PAIR_STATS = ("accuracy", "ap", "f1", "precision", "recall")
_KS = (1, 3, 5, 10, 100, 1000)
_KS2 = (1, 3, 5, 10, 20, 100, 1000)  # mteb 2 adds k=20

#: Old card metric name -> mteb 2.x key, per task type: the vocabulary of C-MTEB cards of 2023 (the
#: `card` style). Each new key is one that mteb 2.26 writes for that type (a test checks it on real runs).
METRIC_MAP: dict[str, dict[str, str]] = {
    "STS": {
        "cos_sim_pearson": "cosine_pearson",
        "cos_sim_spearman": "cosine_spearman",
        "euclidean_pearson": "euclidean_pearson",
        "euclidean_spearman": "euclidean_spearman",
        "manhattan_pearson": "manhattan_pearson",
        "manhattan_spearman": "manhattan_spearman",
    },
    "PairClassification": {
        **{f"{fn}_{st}": f"{'cosine' if fn == 'cos_sim' else fn}_{st}" for fn in _PAIR_FNS for st in _PAIR_STATS},
        "max_accuracy": "max_accuracy",
        "max_ap": "max_ap",
        "max_f1": "max_f1",
    },
    "Classification": {"accuracy": "accuracy", "f1": "f1", "ap": "ap"},
    "Clustering": {"v_measure": "v_measure"},
    "Reranking": {"map": "map_at_1000", "mrr": "mrr_at_10"},
    "Retrieval": {f"{m}_at_{k}": f"{m}_at_{k}" for m in ("map", "mrr", "ndcg", "precision", "recall") for k in _KS},
}
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
_MTEB_TYPES = (*MTEB_KEYS, "InstructionRetrieval", "InstructionReranking", "Regression")
_NAME = re.compile(r"^(?P<prefix>MTEB )?(?P<task>\S+?)(?: \((?P<subset>[^()]*)\))?$")


def is_extra(metric: str) -> bool:
    """True for a card metric kept under its own name (no mteb 2.x equivalent): never compared."""
    return str(metric).startswith(EXTRA)


# ---------------------------------------------------------------------------------------------
# Styles


@dataclass(frozen=True)
class CardStyle:
    """How a card writes its model-index: detected per card when read, used for what is written.

    Attributes:
        percent: values are percents (x100), else 0-1.
        old_names: old metric names (`cos_sim_spearman`, reranking `map`/`mrr`), else mteb's keys.
        prefix: put before each entry's task name (`"MTEB "` or `""`).
        subset_in_name: `<Task> (<subset>)` for a subset other than `default`.
        default_in_name: `<Task> (default)` for the `default` subset.
        metrics: which metrics an entry made from results carries: `all` that the style can name,
            or `main` (the main score).
        main_metric: with `metrics="main"`, write the main metric under its own name.
        main_score: write a `main_score` metric (the main metric's value).
        metric_order: `sorted` by name, or `mteb` (the order mteb writes, `main_score` last).
        entry_order: `name` (sorted by dataset name), `dataset` (sorted by dataset type) or `card`
            (new entries go last).
        entry_keys, task_keys, dataset_keys, metric_keys: key order of each mapping.
        hf_task_types: `task.type` is the Hub task category and `task.name` mteb's type.
        no_revision: what a dataset without a revision gets (`"None"`, or None for null).
        source: the `source` mapping of each entry, when the card gives one.
    """

    percent: bool = True
    old_names: bool = True
    prefix: str = "MTEB "
    subset_in_name: bool = True
    default_in_name: bool = False
    metrics: Literal["all", "main"] = "all"
    main_metric: bool = True
    main_score: bool = False
    metric_order: Literal["sorted", "mteb"] = "sorted"
    entry_order: Literal["name", "dataset", "card"] = "name"
    entry_keys: tuple[str, ...] = ("task", "dataset", "metrics")
    task_keys: tuple[str, ...] = ("type",)
    dataset_keys: tuple[str, ...] = ("type", "name", "config", "split", "revision")
    metric_keys: tuple[str, ...] = ("type", "value")
    hf_task_types: bool = False
    no_revision: str | None = "None"
    source: tuple[tuple[str, Any], ...] | None = None


#: The named styles of `--style`.
STYLES: dict[str, CardStyle] = {
    "card": CardStyle(),
    "mteb": CardStyle(percent=False, old_names=False, metrics="main", main_score=True, metric_order="mteb"),
}


def style_of(style: str | CardStyle) -> CardStyle:
    """A `CardStyle` from a style name (`card`, `mteb`) or a `CardStyle`.

    Raises:
        DataError: an unknown style name.
    """
    if isinstance(style, CardStyle):
        return style
    if style not in STYLES:
        raise DataError(f"--style {style}: unknown; use one of {', '.join(STYLES)}")
    return STYLES[style]


# ---------------------------------------------------------------------------------------------
# What a card printed


@dataclass
class CardMetric:
    """One metric of a card entry, as printed and as read.

    Attributes:
        name: the metric `type` the card prints.
        metric: the table metric it holds: an mteb 2.x key, `extra:<name>`, or None when the value
            is not a number.
        value: the table value (0-1 for an mteb key, as printed for an extra); None for a non-number.
        raw: the value as printed; written back as long as `value` is unchanged.
        decimals: decimals printed, on the 0-1 scale (a percent printed with 2 decimals gives 4).
        fields: the metric's mapping as printed (type, value, and any other keys), in its key order.
    """

    name: str
    metric: str | None
    value: float | None
    raw: Any
    decimals: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class CardEntry:
    """One `results` entry of a model-index: a task, subset and split with its metrics."""

    task: str
    subset: str
    split: str
    task_type: str
    data: dict[str, Any]  # the entry's mapping as printed (task, dataset, metrics, source...), key order kept
    metrics: list[CardMetric]

    @property
    def key(self) -> tuple[str, str, str]:
        """(task, subset, split): how entries are matched with results."""
        return self.task, self.subset, self.split

    @property
    def label(self) -> str:
        """`Task (subset, split)` for messages."""
        return f"{self.task} ({self.subset + ', ' if self.subset != 'default' else ''}{self.split})"

    @property
    def dataset_name(self) -> str:
        """The entry's dataset name as printed."""
        return str((self.data.get("dataset") or {}).get("name", ""))

    @property
    def dataset_type(self) -> str:
        """The entry's dataset type as printed."""
        return str((self.data.get("dataset") or {}).get("type", ""))


@dataclass
class CardScores:
    """A card read: the Scores table, what it printed, its style, and what the reader noticed.

    Attributes:
        model_name: the model-index `name`.
        scores: the Scores table (source `card`).
        style: the card's own style.
        entries: the card's entries, in its order.
        extras: `Task:metric` of each card metric kept under its own name (no mteb 2.x key).
        warnings: one line each: main_score mismatches, duplicate entries, values that are not numbers.
        hub_id: the Hub id the card was fetched by, if it was.
    """

    model_name: str
    scores: pd.DataFrame
    style: CardStyle = field(default_factory=CardStyle)
    entries: list[CardEntry] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    hub_id: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the card's model goes by: the model-index name and the Hub id."""
        return tuple(n for n in (self.model_name, self.hub_id) if n)


# ---------------------------------------------------------------------------------------------
# Names


@functools.cache
def _lowercase_tasks() -> dict[str, str]:
    from evalkit._mteb_compat import task_names

    return {name.lower(): name for name in task_names()}


@functools.cache
def _tasks_by_path() -> dict[str, tuple[str, ...]]:
    from evalkit._mteb_compat import task_metadata, task_names

    index: dict[str, list[str]] = {}
    for name in task_names():
        path = task_metadata(name).dataset.get("path")
        if isinstance(path, str):
            index.setdefault(path.lower(), []).append(name)
    return {k: tuple(v) for k, v in index.items()}


def _declared_type(task_data: Any) -> str | None:
    """The mteb task type a card entry states (`task.type`, or `task.name` in Hub-style cards)."""
    if not isinstance(task_data, dict):
        return None
    by_case = {t.lower(): t for t in _MTEB_TYPES}
    for candidate in (task_data.get("type"), task_data.get("name")):
        if isinstance(candidate, str) and candidate.lower() in by_case:
            return by_case[candidate.lower()]
    return None


def _type_of(task: str) -> str | None:
    from evalkit._mteb_compat import task_metadata

    meta = task_metadata(task)
    return str(meta.type) if meta is not None else None


@functools.cache
def _resolve_task(name: str, dataset_type: str | None = None, declared: str | None = None) -> str:
    """The mteb 2.x task a card's task name stands for (the name itself when there is none).

    By name (mteb's renames and another case count); when the name is no task, or a task of
    another type than the card states (`PAWSX` pair classification is mteb 2's
    `PawsXPairClassification`, its `PAWSX` is STS), by the one task of the stated type whose name
    starts with the card's, on the entry's dataset path if any is (`MTEB Banking77` on mteb/banking77).
    """
    from evalkit._mteb_compat import has_task, renamed_tasks, task_names

    direct = name if has_task(name) else CARD_TASK_RENAMES.get(name) or renamed_tasks().get(name) or _lowercase_tasks().get(name.lower())
    if direct is not None and (declared is None or _type_of(direct) == declared):
        return direct
    prefix = [t for t in task_names() if t.lower().startswith(name.lower()) and (declared is None or _type_of(t) == declared)]
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


def _main_metric(task: str) -> str | None:
    from evalkit._mteb_compat import task_metadata

    meta = task_metadata(task)
    return meta.main_score if meta is not None else None


def _is_registered(task: str) -> bool:
    from evalkit._mteb_compat import has_task

    return has_task(task)


def _mteb_key(task_type: str, printed: str, main: str | None) -> str | None:
    """The mteb 2.x key a card metric name stands for, or None when it has none (an extra)."""
    name = METRIC_MAP.get(task_type, {}).get(printed, printed)
    if name.startswith("cos_sim_"):
        name = "cosine_" + name[len("cos_sim_") :]
    if name.startswith("nAUC_"):  # mteb 1.12 wrote nAUC_ndcg_at_1_max; mteb 2 lowercases the same key
        name = "nauc_" + name[len("nAUC_") :]
    keys = MTEB_KEYS.get(task_type)
    if keys is None:  # a type whose keys evalkit does not list: only its main score is known
        return name if name == main else None
    return name if name in keys else None


def _printed_name(task_type: str, metric: str, old_names: bool) -> str | None:
    """The name a style prints for a table metric (None: the old style has none for it)."""
    if is_extra(metric):
        return metric[len(EXTRA) :]
    if not old_names:
        return metric
    return _OLD_NAME.get(task_type, {}).get(metric)


def _bounded(metric: str | None) -> bool:
    # Scores in [0, 1] (or [-1, 1]): the ones that say whether a card prints percents.
    return bool(metric) and not is_extra(metric) and not metric.startswith("nauc_") and not metric.endswith("_std")  # type: ignore[union-attr]


def same_model(a: str, b: str) -> bool:
    """True when two model names name the same model: equal, or equal last path components.

    `sentence-transformers/all-MiniLM-L6-v2`, `all-MiniLM-L6-v2` and
    `sentence-transformers__all-MiniLM-L6-v2` are one model; case does not matter.
    """

    def last(name: str) -> str:
        return re.split(r"/|__", name.strip().rstrip("/"))[-1].lower()

    return a.strip().lower() == b.strip().lower() or last(a) == last(b)


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


def _to_printed(value: float, percent: bool) -> float | int:
    if not percent:
        return value
    v = value * 100
    # Card generators write integral percents as integers (`value: 80`).
    return int(v) if v.is_integer() else v


class _Printed(float):
    """A float that remembers how many decimals the card printed it with."""

    decimals: int | None


def _decimals(text: str) -> int | None:
    try:
        exponent = Decimal(text.replace("_", "")).as_tuple().exponent
    except InvalidOperation:
        return None
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


#: libyaml's parser when PyYAML has it: cards of 10,000 metrics parse in a second, not seven.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """A safe loader whose floats keep their printed decimals (for "changed beyond printed precision")."""


def _construct_float(loader: Any, node: yaml.Node) -> float:
    value = _Printed(loader.construct_yaml_float(node))
    value.decimals = _decimals(str(node.value))
    return value


_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _plain(obj: Any) -> Any:
    """The same structure with plain floats (PyYAML's safe dumper refuses float subclasses)."""
    if isinstance(obj, _Printed):
        return float(obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _strict_equal(a: Any, b: Any) -> bool:
    """Equal values of equal types (`80` is not `80.0`): does rewriting change the card?"""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


# ---------------------------------------------------------------------------------------------
# Reading


def _split_front_matter(text: str, where: str) -> tuple[str, str, str]:
    """Split a card into (opening '---' line, YAML body, closing '---' and the rest)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(newline)
    if not lines or lines[0].lstrip("\ufeff").strip() != "---":
        raise DataError(f"card {where}: has no YAML front matter (a first line '---'); it needs a model-index block")
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            head = lines[0] + newline
            body = newline.join(lines[1:i]) + newline if i > 1 else ""
            tail = newline.join(lines[i:])
            return head, body, tail
    raise DataError(f"card {where}: the YAML front matter is not closed by a '---' line")


def _load_text(ref: str | Path) -> tuple[str, str, str | None]:
    """The card's text, how to name it in messages, and its Hub id when fetched from the Hub."""
    path = Path(ref)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8"), str(path), None
        except UnicodeDecodeError:
            raise DataError(f"card {path}: is not UTF-8 text") from None
    if path.exists():
        raise DataError(f"card {ref}: is a folder; pass its README.md")
    if str(ref).count("/") != 1 or str(ref).startswith((".", "/")):
        raise DataError(f"card {ref}: no such file; pass a README.md path or a Hub model id (org/name)")
    from huggingface_hub import hf_hub_download

    try:
        local = hf_hub_download(repo_id=str(ref), filename="README.md")
    except Exception as exc:  # any Hub failure: the card is not available
        raise DataError(
            f"card {ref}: cannot be fetched from the Hub ({type(exc).__name__}); check the id and network, or pass a README.md"
        ) from None
    return Path(local).read_text(encoding="utf-8"), str(ref), str(ref)


def _front_matter(text: str, where: str) -> dict[str, Any]:
    _, body, _ = _split_front_matter(text, where)
    try:
        data = yaml.load(body, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 2}" if mark else ""
        raise DataError(f"card {where}: broken YAML in the front matter{line}; fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DataError(f"card {where}: the front matter is not a YAML mapping")
    return data


def _malformed(where: str, problem: str) -> DataError:
    return DataError(f"card {where}: model-index is malformed ({problem}); every result needs task.type, dataset.type/name and metrics")


def _read_entry(result: Any, number: int, where: str) -> CardEntry:
    if not isinstance(result, dict):
        raise _malformed(where, f"result {number} is not a mapping")
    task_data, dataset, metrics = result.get("task"), result.get("dataset"), result.get("metrics")
    if not isinstance(task_data, dict) or not task_data.get("type"):
        raise _malformed(where, f"result {number} has no task.type")
    if not isinstance(dataset, dict) or not (dataset.get("name") or dataset.get("type")):
        raise _malformed(where, f"result {number} has no dataset.name or dataset.type")
    if not isinstance(metrics, list) or not all(isinstance(m, dict) and "type" in m and "value" in m for m in metrics):
        raise _malformed(where, f"result {number} needs metrics, each with type and value")
    declared = _declared_type(task_data)
    task, subset = parse_task_name(str(dataset.get("name") or dataset.get("type")), dataset.get("config"), dataset.get("type"), declared)
    ttype = _type_of(task) or declared or str(task_data.get("type") or "")
    main = _main_metric(task)
    read = []
    for m in metrics:
        printed, raw = str(m["type"]), m["value"]
        decimals = getattr(raw, "decimals", 0 if isinstance(raw, int) else None)
        number = isinstance(raw, int | float) and not isinstance(raw, bool)
        if printed == "main_score":
            key = main or "main_score"  # for a task mteb does not know, resolved in _settle_values
        else:
            key = _mteb_key(ttype, printed, main) or EXTRA + printed
        read.append(CardMetric(printed, key if number else None, None, _plain(raw), decimals, dict(m)))
    split = dataset.get("split")
    return CardEntry(task, subset, str(split) if split else "test", ttype, dict(result), read)


def _is_percent(entries: list[CardEntry]) -> bool:
    # Per card, never per value: thresholds, nAUC and extras are left out of the decision.
    values = [abs(float(m.raw)) for e in entries for m in e.metrics if m.metric is not None and _bounded(m.metric)]
    return max((v for v in values if not math.isnan(v)), default=0.0) > 1.0


def _settle_values(entry: CardEntry, percent: bool, warnings: list[str]) -> None:
    """Fill in each metric's table value; resolve and cross-check `main_score`."""
    main = _main_metric(entry.task)
    for m in entry.metrics:
        if m.metric is None:
            warnings.append(f"{entry.label}: {m.name} is {_describe(m.raw)}, not a number; kept as printed, not compared")
            continue
        if math.isnan(float(m.raw)):
            continue  # `.nan` on a card is no value (mteb's readers skip NaN too); it is written back as printed
        if is_extra(m.metric):
            m.value = float(m.raw)
        else:
            m.value = from_percent(float(m.raw)) if percent else float(m.raw)
            if m.decimals is not None and percent:
                m.decimals += 2
    if main is not None and not any(m.metric == main and m.value is not None for m in entry.metrics):
        warnings.append(f"{entry.label}: the card has no {main}, mteb's main score for {entry.task}; its main score is not compared")
    scores = [m for m in entry.metrics if m.name == "main_score" and m.value is not None]
    for ms in scores:
        if main is None:
            # A task mteb does not know: its main metric is the one main_score repeats, if any.
            twin = next((m for m in entry.metrics if m is not ms and m.value == ms.value and not is_extra(m.metric or "")), None)
            ms.metric = twin.metric if twin is not None else "main_score"
            continue
        explicit = next((m for m in entry.metrics if m.metric == main and m.name != "main_score" and m.value is not None), None)
        if explicit is not None and not _same_at_printed(explicit, ms):
            same_as = next(
                (m.name for m in entry.metrics if m.name != "main_score" and m.value is not None and _same_at_printed(m, ms)), None
            )
            hint = f"; it is the card's {same_as}" if same_as else ""
            warnings.append(
                f"{entry.label}: the card's main_score {ms.raw} is not its {explicit.name} {explicit.raw}, "
                f"mteb's main score for {entry.task}{hint}; {explicit.name} is used"
            )


def _describe(raw: Any) -> str:
    """A value in a message: short, whatever it is (cards carry lists of hundreds of numbers)."""
    if isinstance(raw, list):
        return f"a list of {len(raw)} values"
    if isinstance(raw, dict):
        return "a mapping"
    text = repr(raw)
    return text if len(text) <= 30 else text[:27] + "..."


def _same_at_printed(a: CardMetric, b: CardMetric) -> bool:
    digits = min(d for d in (a.decimals, b.decimals, 12) if d is not None)
    return round(float(a.value or 0), digits) == round(float(b.value or 0), digits)


def _table(model_name: str, entries: list[CardEntry], warnings: list[str]) -> pd.DataFrame:
    rows, seen = [], set()
    for e in entries:
        if e.key in seen:
            warnings.append(f"{e.label}: appears twice on the card; the first entry is compared")
            continue
        seen.add(e.key)
        main = _main_metric(e.task)
        done: set[str] = set()
        # Explicit metrics first: a main_score that disagrees with the main metric loses (warned).
        for m in sorted(e.metrics, key=lambda m: m.name == "main_score"):
            if m.metric is None or m.value is None or m.metric in done:
                continue
            done.add(m.metric)
            revision = (e.data.get("dataset") or {}).get("revision")
            rows.append(
                {
                    "model": model_name,
                    "revision": None,
                    "task": e.task,
                    "task_type": e.task_type,
                    "subset": e.subset,
                    "split": e.split,
                    "metric": m.metric,
                    "value": m.value,
                    "is_main": m.metric == main if main is not None else (m.name == "main_score" or _main_alias(e, m)),
                    "source": "card",
                    "mteb_version": None,
                    "dataset_revision": None if revision in (None, "None", "") else str(revision),
                    "dataset": e.dataset_type or None,
                }
            )
    return S.make(rows)


def _main_alias(entry: CardEntry, metric: CardMetric) -> bool:
    return any(m.name == "main_score" and m.metric == metric.metric for m in entry.metrics)


def detect_style(entries: list[CardEntry], *, percent: bool) -> CardStyle:
    """The style of a card's entries (per card, from all its entries)."""
    if not entries:
        return STYLES["card"]
    old = new = 0
    for e in entries:
        names = [m.name for m in e.metrics]
        vocabulary = METRIC_MAP.get(e.task_type, {})
        if any(n in vocabulary and vocabulary[n] != n or n.startswith("cos_sim_") for n in names):
            old += 1
        elif any(n == "main_score" or (n in MTEB_KEYS.get(e.task_type, ()) and n not in vocabulary) for n in names):
            new += 1
    names = [e.dataset_name for e in entries]
    datasets = [e.dataset_type for e in entries]
    default = [e for e in entries if e.subset == "default"]
    other = [e for e in entries if e.subset != "default"]
    mains = [
        {m.name for m in e.metrics if m.metric is not None and (m.name == "main_score" or m.metric == _main_metric(e.task))}
        for e in entries
    ]
    main_only = all(len(s) == len(e.metrics) for s, e in zip(mains, entries, strict=True))
    lists = [[m.name for m in e.metrics] for e in entries]
    many = [names_ for names_ in lists if len(names_) > 1]
    first = entries[0].data
    task_data = first.get("task") if isinstance(first.get("task"), dict) else {}
    dataset = first.get("dataset") if isinstance(first.get("dataset"), dict) else {}
    metric0 = entries[0].metrics[0].fields if entries[0].metrics else {"type": None, "value": None}
    revisions = [(e.data.get("dataset") or {}).get("revision", "absent") for e in entries]
    # A dataset without a revision: `revision: None` (C-MTEB cards) or `revision: null`.
    missing = [r for r in revisions if r in (None, "None", "")]
    source = first.get("source")
    return CardStyle(
        percent=percent,
        old_names=old > new,
        prefix="MTEB " if sum(n.startswith("MTEB ") for n in names) * 2 >= len(names) else "",
        subset_in_name=not other or any(e.dataset_name.endswith(f"({e.subset})") for e in other),
        default_in_name=bool(default) and sum(e.dataset_name.endswith("(default)") for e in default) * 2 > len(default),
        metrics="main" if main_only else "all",
        main_metric=not main_only or any(len(s - {"main_score"}) > 0 for s in mains),
        main_score=any("main_score" in n for n in lists),
        # One metric per entry says nothing about order: then old cards sort, newer ones follow mteb.
        metric_order="sorted" if (all(n == sorted(n) for n in many) if many else old > new) else "mteb",
        entry_order="name" if names == sorted(names) else ("dataset" if datasets == sorted(datasets) else "card"),
        entry_keys=tuple(first),
        task_keys=tuple(task_data) or ("type",),
        dataset_keys=tuple(dataset) or STYLES["card"].dataset_keys,
        metric_keys=tuple(metric0),
        hf_task_types=str(task_data.get("type")) not in _MTEB_TYPES and str(task_data.get("name")) in _MTEB_TYPES,
        no_revision=None if None in missing and "None" not in missing else "None",
        source=tuple(source.items()) if isinstance(source, dict) else None,
    )


def parse_card(text: str, where: str, *, hub_id: str | None = None) -> CardScores:
    """Read a card's text (see `read_card`)."""
    data = _front_matter(text, where)
    model_index = data.get("model-index")
    if not model_index:
        raise DataError(f"card {where}: has no model-index in its front matter; nothing to compare")
    if not isinstance(model_index, list) or not isinstance(model_index[0], dict):
        raise _malformed(where, "it is not a list of models")
    if len(model_index) > 1:
        raise DataError(f"card {where}: model-index lists {len(model_index)} models; evalkit reads cards of one model")
    model = model_index[0]
    results = model.get("results")
    if "name" not in model or not isinstance(results, list):
        raise _malformed(where, "it needs a name and a results list")
    entries = [_read_entry(r, i + 1, where) for i, r in enumerate(results)]
    percent = _is_percent(entries)
    warnings: list[str] = []
    for e in entries:
        _settle_values(e, percent, warnings)
    extras = [f"{e.task}:{m.name}" for e in entries for m in e.metrics if m.metric is not None and is_extra(m.metric)]
    name = str(model["name"])
    table = _table(name, entries, warnings)
    return CardScores(name, table, detect_style(entries, percent=percent), entries, extras, warnings, hub_id)


def read_card(ref: str | Path) -> CardScores:
    """Read a card's `model-index` into the Scores table (source `card`), its entries and its style.

    Every style of card reads: old names with percents, current mteb names (percents or 0-1), mixed
    cards, `main_score`-only cards, entries named `MTEB <Task> (<subset>)`, `<Task> (<subset>)` or
    `<Task>`, CRLF line ends. The main score comes from mteb's task metadata; a card's `main_score`
    that disagrees with it is a warning.

    Args:
        ref: a README.md path or a Hub model id.

    Returns:
        The card read (table with 0-1 values and mteb 2.x names; extras under `extra:<name>`).

    Raises:
        DataError: no front matter, broken YAML, no model-index, or a malformed model-index.
    """
    text, where, hub_id = _load_text(ref)
    return parse_card(text, where, hub_id=hub_id)


# ---------------------------------------------------------------------------------------------
# Writing


def _entry_name(style: CardStyle, task: str, subset: str) -> str:
    card_task = {v: k for k, v in CARD_TASK_RENAMES.items()}.get(task, task) if style.old_names else task
    shown = (subset != "default" and style.subset_in_name) or (subset == "default" and style.default_in_name)
    return f"{style.prefix}{card_task}" + (f" ({subset})" if shown else "")


def _text(value: Any) -> str | None:
    """A table cell as text; None for missing (None, NaN, `"None"`, empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("None", ""):
        return None
    return str(value)


def _dataset_of(task: str, dataset: Any) -> str:
    if isinstance(dataset, str) and dataset:
        return dataset
    from evalkit._mteb_compat import task_metadata

    meta = task_metadata(task)
    path = meta.dataset.get("path") if meta is not None else None
    return str(path) if path else task


def _new_entry_data(style: CardStyle, task: str, subset: str, split: str, ttype: str, dataset: str, revision: Any) -> dict[str, Any]:
    task_fields = {"type": HF_TASK_TYPES.get(ttype, ttype) if style.hf_task_types else ttype, "name": ttype}
    dataset_fields = {
        "type": dataset,
        "name": _entry_name(style, task, subset),
        "config": subset,
        "split": split,
        "revision": revision if _text(revision) is not None else style.no_revision,
    }
    parts: dict[str, Any] = {
        "task": {k: task_fields[k] for k in style.task_keys if k in task_fields} or {"type": ttype},
        "dataset": {k: dataset_fields[k] for k in style.dataset_keys if k in dataset_fields},
        "metrics": [],
        "source": dict(style.source) if style.source else None,
    }
    keys = [k for k in style.entry_keys if k in parts and parts[k] is not None]
    keys += [k for k in ("task", "dataset", "metrics") if k not in keys]
    return {k: parts[k] for k in keys}


def _new_metric(style: CardStyle, name: str, metric: str, value: float) -> CardMetric:
    raw = value if is_extra(metric) else _to_printed(value, style.percent)
    fields = {"type": name, "value": raw, "name": name}
    return CardMetric(
        name, metric, value, raw, None, {k: fields[k] for k in style.metric_keys if k in fields} or {"type": name, "value": raw}
    )


def _place(metrics: list[CardMetric], new: CardMetric, style: CardStyle) -> None:
    """Add a metric where the style puts it, leaving every other metric where it is."""
    if style.metric_order == "sorted":
        at = next((i for i, m in enumerate(metrics) if m.name > new.name), len(metrics))
    elif new.name != "main_score" and metrics and metrics[-1].name == "main_score":
        at = len(metrics) - 1  # mteb writes main_score after the metrics
    else:
        at = len(metrics)
    metrics.insert(at, new)


def _wanted(style: CardStyle, group: pd.DataFrame) -> list[tuple[str, str, float]]:
    """(printed name, table metric, value) of the metrics a style writes for one results group."""
    ttype = _text(group["task_type"].iloc[0]) or S.task_type_of(str(group["task"].iloc[0]))
    out = []
    for row in group.itertuples():
        if style.metrics == "main" and not (row.is_main and style.main_metric):
            continue
        name = _printed_name(ttype, str(row.metric), style.old_names)
        if name is not None:
            out.append((name, str(row.metric), float(row.value)))
    main = group[group["is_main"]]
    if style.main_score and not main.empty:
        out.append(("main_score", str(main["metric"].iloc[0]), float(main["value"].iloc[0])))
    return out


def _entry_from_group(style: CardStyle, key: tuple[str, str, str], group: pd.DataFrame) -> CardEntry:
    task, subset, split = key
    ttype = _text(group["task_type"].iloc[0]) or S.task_type_of(task)
    data = _new_entry_data(
        style, task, subset, split, ttype, _dataset_of(task, group["dataset"].iloc[0]), group["dataset_revision"].iloc[0]
    )
    entry = CardEntry(task, subset, split, ttype, data, [])
    for name, metric, value in _wanted(style, group):
        _place(entry.metrics, _new_metric(style, name, metric, value), style)
    return entry


def _sort_key(style: CardStyle) -> Any:
    if style.entry_order == "dataset":
        return lambda e: e.dataset_type
    if style.entry_order == "name":
        return lambda e: e.dataset_name
    return None


def entries_from_table(table: pd.DataFrame, style: CardStyle) -> list[CardEntry]:
    """Card entries for a Scores table (e.g. a results folder's), in the given style and its order.

    Entries without a metric the style can print are left out (e.g. a task with no main score in
    the `mteb` style).
    """
    entries = []
    for key, group in table.groupby(["task", "subset", "split"], sort=False):
        entry = _entry_from_group(style, (str(key[0]), str(key[1]), str(key[2])), group)
        if entry.metrics:
            entries.append(entry)
    order = _sort_key(style)
    if order is not None:
        entries.sort(key=order)
    return entries


def convert(entries: list[CardEntry], style: CardStyle) -> list[CardEntry]:
    """A card's entries in another style: renamed and rescaled, every metric kept, order kept.

    Extras and values that are not numbers are written as printed; `main_score` is added when the
    style has it and the entry has a main score.
    """
    out = []
    for e in entries:
        old_dataset = e.data.get("dataset") or {}
        revision = old_dataset.get("revision")
        data = _new_entry_data(style, e.task, e.subset, e.split, e.task_type, e.dataset_type or _dataset_of(e.task, None), revision)
        data.update({k: v for k, v in e.data.items() if k not in data and k != "source"})
        data["dataset"].update({k: v for k, v in old_dataset.items() if k not in data["dataset"] and k not in ("name", "revision")})
        metrics = []
        for m in e.metrics:
            if m.metric is None or m.value is None:
                metrics.append(m)
                continue
            name = m.name if m.name == "main_score" else (_printed_name(e.task_type, m.metric, style.old_names) or m.metric)
            new = _new_metric(style, name, m.metric, m.value)
            new.decimals = m.decimals
            new.fields.update({k: v for k, v in m.fields.items() if k not in new.fields and k != "name"})
            metrics.append(new)
        main = next((m for m in metrics if m.metric == _main_metric(e.task) and m.value is not None), None)
        if style.main_score and main is not None and not any(m.name == "main_score" for m in metrics):
            _place(metrics, _new_metric(style, "main_score", str(main.metric), float(main.value or 0)), style)
        out.append(CardEntry(e.task, e.subset, e.split, e.task_type, data, metrics))
    return out


def _render_entry(entry: CardEntry) -> dict[str, Any]:
    def metric(m: CardMetric) -> dict[str, Any]:
        fields = dict(m.fields) or {"type": m.name, "value": m.raw}
        fields["type"], fields["value"] = m.name, m.raw
        if "name" in fields and fields["name"] == (m.fields or {}).get("type"):
            fields["name"] = m.name  # Hub-style cards repeat the type as the name
        return fields

    return {k: ([metric(m) for m in entry.metrics] if k == "metrics" else v) for k, v in entry.data.items()}


def model_index_data(entries: list[CardEntry], *, model_name: str) -> list[dict[str, Any]]:
    """The `model-index` structure of entries."""
    return [{"name": model_name, "results": [_plain(_render_entry(e)) for e in entries]}]


def _dump(model_index: list[dict[str, Any]]) -> str:
    return yaml.safe_dump({"model-index": model_index}, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


def render(entries: list[CardEntry], *, model_name: str) -> str:
    """The `model-index:` YAML block of entries (text, ending in a newline)."""
    return _dump(model_index_data(entries, model_name=model_name))


def model_index(table: pd.DataFrame, *, style: Style | CardStyle, model_name: str) -> list[dict[str, Any]]:
    """Build the `model-index` structure from a Scores table in the given style.

    Raises:
        DataError: the table is empty.
    """
    if table.empty:
        raise DataError("nothing to export: the scores table is empty")
    return model_index_data(entries_from_table(table, style_of(style)), model_name=model_name)


def export(table: pd.DataFrame, *, style: Style | CardStyle = "card", model_name: str) -> str:
    """The `model-index:` YAML block for a Scores table (text, ending in a newline).

    Raises:
        DataError: the table is empty.
    """
    return _dump(model_index(table, style=style, model_name=model_name))


def export_card_text(card: CardScores, *, style: Style | CardStyle | None = None, model_name: str | None = None) -> str:
    """The `model-index:` block of a card read: in its own style exactly as printed, or converted."""
    entries = card.entries if style is None else convert(card.entries, style_of(style))
    return render(entries, model_name=model_name or card.model_name)


def local_tasks(table: pd.DataFrame) -> list[str]:
    """In-house tasks of a results table: tasks that are not in mteb's registry, in table order."""
    return [t for t in dict.fromkeys(table["task"]) if not _is_registered(str(t))]


def select_exportable(table: pd.DataFrame, include_local: bool | tuple[str, ...] = False) -> tuple[pd.DataFrame, list[str]]:
    """Leave in-house tasks out of a results table, unless asked for (all, or by name).

    In-house tasks are not MTEB tasks: exported as `MTEB <name>` they would claim MTEB results with
    a made-up dataset. Returns the table and a note per thing left out.

    Raises:
        DataError: `include_local` names a task that is not an in-house task of these results.
    """
    local = local_tasks(table)
    if include_local is True:
        return table, []
    wanted = set(include_local or ())
    unknown = sorted(wanted - set(local))
    if unknown:
        listed = ", ".join(local) or "none"
        raise DataError(f"--include-local {','.join(unknown)}: not an in-house task of these results (they have: {listed})")
    left = [t for t in local if t not in wanted]
    if not left:
        return table, []
    note = f"left out {len(left)} in-house task(s), not MTEB tasks: {', '.join(left)}; --include-local [NAMES] exports them"
    return table[~table["task"].isin(left)].reset_index(drop=True), [note]


# ---------------------------------------------------------------------------------------------
# Updating a card in place


@dataclass(frozen=True)
class UpdateSummary:
    """What `--into` did to a card's entries."""

    updated: int
    added: int
    kept: int
    dropped: int
    changed: tuple[str, ...]  # values changed beyond the card's printed precision, one line each

    def line(self, where: str) -> str:
        """One line: `README.md: 2 entries updated, 1 added, 33 kept, 0 dropped; 1 value changed ...`."""
        entries = "entry" if self.updated == 1 else "entries"
        return (
            f"{where}: {self.updated} {entries} updated, {self.added} added, {self.kept} kept, {self.dropped} dropped; "
            f"{len(self.changed)} value(s) changed beyond the card's printed precision"
        )


@dataclass(frozen=True)
class CardUpdate:
    """The result of `update_card`: the new text, what changed, and whether the file was written."""

    text: str
    summary: UpdateSummary
    diff: str
    written: bool


def _changed(old: float, new: float, decimals: int | None) -> bool:
    digits = 12 if decimals is None else min(decimals, 12)
    return round(old, digits) != round(new, digits)


def _show(value: float, decimals: int | None, percent: bool) -> str:
    v = value * 100 if percent else value
    shown = max(0, min((decimals if decimals is not None else 6) - (2 if percent else 0), 6))
    return f"{v:.{shown}f}"


def merge(
    entries: list[CardEntry], table: pd.DataFrame, style: CardStyle, *, drop_missing: bool = False
) -> tuple[list[CardEntry], UpdateSummary]:
    """A card's entries updated with a Scores table's values, in `style`.

    Card entries and metrics stay where they are. A metric the table has gets its value; one it
    lacks is kept (dropped with `drop_missing`); metrics the style writes and the entry lacks are
    added; table keys the card lacks become new entries, placed in the style's entry order. Updated
    with the card's own table, the card does not change.

    Returns:
        The new entries and the summary.
    """
    groups = {(str(k[0]), str(k[1]), str(k[2])): g for k, g in table.groupby(["task", "subset", "split"], sort=False)}
    out: list[CardEntry] = []
    updated = kept = dropped = 0
    changed: list[str] = []
    done: set[tuple[str, str, str]] = set()
    for e in entries:
        group = groups.get(e.key) if e.key not in done else None  # a card's second entry for a key stays as it is
        if group is None:
            if drop_missing:
                dropped += 1
            else:
                kept += 1
                out.append(e)
            continue
        done.add(e.key)
        updated += 1
        values = dict(zip(group["metric"].astype(str), group["value"].astype(float), strict=True))
        metrics: list[CardMetric] = []
        for m in e.metrics:
            if m.metric is not None and m.metric in values and not is_extra(m.metric):
                new = values[m.metric]
                if m.value is not None and _changed(m.value, new, m.decimals):
                    changed.append(
                        f"{e.label} {m.name}: {_show(m.value, m.decimals, style.percent)} -> {_show(new, m.decimals, style.percent)}"
                    )
                if m.value != new:
                    raw = _to_printed(new, style.percent)
                    m = replace(m, value=new, raw=raw, fields={**m.fields, "value": raw})
                metrics.append(m)
            elif not drop_missing:
                metrics.append(m)
        # Add what the card does not hold in any form (its `nAUC_x` is our `nauc_x`; its main_score
        # holds the main metric). An entry the card wrote without main_score keeps it that way.
        held = {m.metric for m in metrics} | {m.name for m in metrics}
        for name, metric, value in _wanted(style, group):
            if name != "main_score" and metric not in held and name not in held:
                _place(metrics, _new_metric(style, name, metric, value), style)
        out.append(replace(e, metrics=metrics))
    known = {e.key for e in entries}
    new_entries = [_entry_from_group(style, key, g) for key, g in groups.items() if key not in known]
    new_entries = [e for e in new_entries if e.metrics]
    order = _sort_key(style)
    for new in sorted(new_entries, key=order) if order else new_entries:
        at = next((i for i, e in enumerate(out) if order(e) > order(new)), len(out)) if order else len(out)
        out.insert(at, new)
    return out, UpdateSummary(updated, len(new_entries), kept, dropped, tuple(changed))


def _value_end(node: yaml.Node) -> int:
    """Where a block node's text really ends (PyYAML's end mark runs on over comments and blank lines)."""
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False) or not node.value:
        return int(node.end_mark.index)
    last = node.value[-1]
    return _value_end(last[1] if isinstance(last, tuple) else last)


def _replace_block(body: str, block: str, newline: str) -> str:
    """The front matter body with its model-index replaced by `block` (or `block` appended)."""
    if not body.strip():
        return block
    root = yaml.compose(body, Loader=_SafeLoader)
    span = None
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "model-index":
                end = body.find(newline, _value_end(value))
                span = (key.start_mark.index, len(body) if end < 0 else end + len(newline))
    if span is None:
        return body + ("" if body.endswith(newline) else newline) + block
    return body[: span[0]] + block + body[span[1] :]


def update_card(
    path: Path,
    table: pd.DataFrame,
    *,
    style: Style | CardStyle | None = None,
    model_name: str | None = None,
    drop_missing: bool = False,
    dry_run: bool = False,
    source_model: str | None = None,
) -> CardUpdate:
    """Write a Scores table's values into the card at `path`; every other byte of the file stays.

    The card keeps its style unless `style` asks for another, keeps its entries where they are and
    its metrics unless `drop_missing`. A README without front matter gets one above its first line.
    The file is replaced atomically, and not at all when nothing changes or with `dry_run`.

    Args:
        path: the README.md to update.
        table: the values to write (a results folder's table, or a card's).
        style: a style name or `CardStyle`; None keeps the card's own (`card` for a card without one).
        model_name: the model-index name to write; also overrides the identity check.
        drop_missing: drop card entries and metrics the table lacks.
        dry_run: compute the new text and the diff, write nothing.
        source_model: the table's model, checked against the card's.

    Returns:
        The new text, the summary, the unified diff and whether the file was written.

    Raises:
        DataError: the card cannot be read, or it is another model's card.
    """
    from evalkit._io import write_atomic

    if not path.is_file():
        raise DataError(f"card {path}: no such file; --into needs an existing README.md")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"card {path}: is not UTF-8 text") from None
    newline = "\r\n" if "\r\n" in text else "\n"
    has_front = text.split(newline, 1)[0].lstrip("\ufeff").strip() == "---"
    data = _front_matter(text, str(path)) if has_front else {}
    card = parse_card(text, str(path)) if data.get("model-index") else None
    if card is not None and source_model and model_name is None and not same_model(source_model, card.model_name):
        raise DataError(
            f"--into {path}: the results are of {source_model} but the card is of {card.model_name}; "
            f"pass that model's card, or --model-name {card.model_name} to write them into it on purpose"
        )
    target = style_of(style) if style is not None else (card.style if card is not None else STYLES["card"])
    entries = card.entries if card is not None else []
    if card is not None and style is not None and target != card.style:
        entries = convert(entries, target)
    merged, summary = merge(entries, table, target, drop_missing=drop_missing)
    name = model_name or (card.model_name if card is not None else _short_name(source_model) or path.parent.name or "model")
    new_index = model_index_data(merged, model_name=name)
    old_index = yaml.load(_split_front_matter(text, str(path))[1], Loader=_SafeLoader).get("model-index") if card is not None else None  # noqa: S506
    if old_index is not None and _strict_equal(new_index, old_index):
        new_text = text  # nothing changes: keep the card's own bytes, formatting and all
    else:
        block = _dump(new_index).replace("\n", newline)
        if has_front:
            head, body, tail = _split_front_matter(text, str(path))
            new_text = head + _replace_block(body, block, newline) + tail
        else:
            bom = "\ufeff" if text.startswith("\ufeff") else ""
            new_text = bom + "---" + newline + block + "---" + newline + text[len(bom) :]
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), new_text.splitlines(keepends=True), str(path), f"{path} (updated)"))
    written = new_text != text and not dry_run
    if written:
        mode = path.stat().st_mode
        write_atomic(path, new_text.encode("utf-8"))
        os.chmod(path, mode & 0o7777)
    return CardUpdate(new_text, summary, diff, written)


def _short_name(model: str | None) -> str | None:
    return str(model).split("/")[-1] if model else None


@dataclass(frozen=True)
class CardExport:
    """What `evalkit card export` produced.

    Attributes:
        text: the model-index YAML (export), or the card's new text (`into`).
        notes: lines the user must see (in-house tasks left out, card warnings, entries not written).
        summary: with `into`, the summary line and one line per value changed beyond printed precision.
        diff: with `into`, the unified diff of the file.
        written: with `into`, whether the file was replaced.
    """

    text: str
    notes: tuple[str, ...] = ()
    summary: tuple[str, ...] = ()
    diff: str = ""
    written: bool = False
