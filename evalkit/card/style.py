"""The card model and card styles: what a card printed, and how it writes its model-index.

`CardMetric` and `CardEntry` hold a card's entries as printed (so that they can be written back
exactly); `CardStyle` says how a card writes them (scale, names, entry naming, orders, key orders);
`STYLES` names the two styles of `--style`; `detect_style` finds a card's own style from its entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from evalkit.card.names import METRIC_MAP, MTEB_KEYS, MTEB_TYPES, main_metric
from evalkit.errors import DataError

Style = Literal["card", "mteb"]


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
        {m.name for m in e.metrics if m.metric is not None and (m.name == "main_score" or m.metric == main_metric(e.task))} for e in entries
    ]
    main_only = all(len(s) == len(e.metrics) for s, e in zip(mains, entries, strict=True))
    lists = [[m.name for m in e.metrics] for e in entries]
    many = [names_ for names_ in lists if len(names_) > 1]
    first = entries[0].data
    task_data: dict[str, Any] = first["task"] if isinstance(first.get("task"), dict) else {}
    dataset: dict[str, Any] = first["dataset"] if isinstance(first.get("dataset"), dict) else {}
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
        hf_task_types=str(task_data.get("type")) not in MTEB_TYPES and str(task_data.get("name")) in MTEB_TYPES,
        no_revision=None if None in missing and "None" not in missing else "None",
        source=tuple(source.items()) if isinstance(source, dict) else None,
    )
