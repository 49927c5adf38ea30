"""Writing a card: card entries from a Scores table or another style, `model-index` YAML, in-place updates.

A table or a card's entries become entries in a style (`entries_from_table`, `convert`) and YAML
(`render`, `export`); `update_card` merges a table into a README's model-index and replaces that
block only, every other byte of the file kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import yaml

from evalkit.card.names import CARD_TASK_RENAMES, HF_TASK_TYPES, is_extra, main_metric, printed_name, to_printed
from evalkit.card.read import CardScores, plain
from evalkit.card.style import CardEntry, CardMetric, CardStyle, Style, style_of
from evalkit.errors import DataError
from evalkit.results.names import task_type_of


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
    from evalkit._compat.mteb import task_metadata

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


def new_metric(style: CardStyle, name: str, metric: str, value: float) -> CardMetric:
    """A card metric for `value` in the style's scale and keys (extras keep their printed value)."""
    raw = value if is_extra(metric) else to_printed(value, style.percent)
    fields = {"type": name, "value": raw, "name": name}
    return CardMetric(
        name, metric, value, raw, None, {k: fields[k] for k in style.metric_keys if k in fields} or {"type": name, "value": raw}
    )


def place_metric(metrics: list[CardMetric], new: CardMetric, style: CardStyle) -> None:
    """Add a metric where the style puts it, leaving every other metric where it is."""
    if style.metric_order == "sorted":
        at = next((i for i, m in enumerate(metrics) if m.name > new.name), len(metrics))
    elif new.name != "main_score" and metrics and metrics[-1].name == "main_score":
        at = len(metrics) - 1  # mteb writes main_score after the metrics
    else:
        at = len(metrics)
    metrics.insert(at, new)


def wanted_metrics(style: CardStyle, group: pd.DataFrame) -> list[tuple[str, str, float]]:
    """(printed name, table metric, value) of the metrics a style writes for one results group."""
    ttype = _text(group["task_type"].iloc[0]) or task_type_of(str(group["task"].iloc[0]))
    out = []
    for row in group.itertuples():
        if style.metrics == "main" and not (row.is_main and style.main_metric):
            continue
        name = printed_name(ttype, str(row.metric), style.old_names)
        if name is not None:
            out.append((name, str(row.metric), float(row.value)))
    main = group[group["is_main"]]
    if style.main_score and not main.empty:
        out.append(("main_score", str(main["metric"].iloc[0]), float(main["value"].iloc[0])))
    return out


def left_out(table: pd.DataFrame, style: Style | CardStyle = "card") -> str | None:
    """One line naming what an export of `table` in `style` leaves out and why (None: nothing).

    The card style prints the C-MTEB card vocabulary of 2023 (`cos_sim_spearman`, `map`); a metric
    it has no old name for (`f1_weighted`, `*_threshold`, `nauc_*`, `accuracy_stderr`) is not
    written. Entries are never dropped for it: every task's main score has an old name.
    """
    style = style_of(style)
    lost: dict[str, int] = {}
    entries, dropped = set(), []
    for key, group in table.groupby(["task", "subset", "split"], sort=False):
        written = {metric for _, metric, _ in wanted_metrics(style, group)}
        if not written:
            dropped.append(str(key[0]) if key[1] == "default" else f"{key[0]} ({key[1]})")
        for row in group.itertuples():
            if style.metrics == "main" and not row.is_main:
                continue  # a main-only style leaves the others out by choice
            if str(row.metric) not in written and not is_extra(str(row.metric)):
                lost[str(row.metric)] = lost.get(str(row.metric), 0) + 1
                entries.add(key)
    if not lost:
        return None
    names = sorted(lost)
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    kept = f"entries without a printable metric left out: {', '.join(dropped)}" if dropped else "every entry and its main score are written"
    return (
        f"left out {sum(lost.values())} values of {len(names)} metrics in {len(entries)} entries that the "
        f"{'card' if style.old_names else 'mteb'} style has no name for ({shown}); {kept}"
    )


def entry_from_group(style: CardStyle, key: tuple[str, str, str], group: pd.DataFrame) -> CardEntry:
    """The card entry of one (task, subset, split) group of a Scores table, in `style`."""
    task, subset, split = key
    ttype = _text(group["task_type"].iloc[0]) or task_type_of(task)
    data = _new_entry_data(
        style, task, subset, split, ttype, _dataset_of(task, group["dataset"].iloc[0]), group["dataset_revision"].iloc[0]
    )
    entry = CardEntry(task, subset, split, ttype, data, [])
    for name, metric, value in wanted_metrics(style, group):
        place_metric(entry.metrics, new_metric(style, name, metric, value), style)
    return entry


def entry_sort_key(style: CardStyle) -> Any:
    """How `style` orders its entries (by dataset type, or by name)."""
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
        entry = entry_from_group(style, (str(key[0]), str(key[1]), str(key[2])), group)
        if entry.metrics:
            entries.append(entry)
    order = entry_sort_key(style)
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
            name = m.name if m.name == "main_score" else (printed_name(e.task_type, m.metric, style.old_names) or m.metric)
            new = new_metric(style, name, m.metric, m.value)
            new.decimals = m.decimals
            new.fields.update({k: v for k, v in m.fields.items() if k not in new.fields and k != "name"})
            metrics.append(new)
        main = next((m for m in metrics if m.metric == main_metric(e.task) and m.value is not None), None)
        if style.main_score and main is not None and not any(m.name == "main_score" for m in metrics):
            place_metric(metrics, new_metric(style, "main_score", str(main.metric), float(main.value or 0)), style)
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
    return [{"name": model_name, "results": [plain(_render_entry(e)) for e in entries]}]


def dump_yaml(model_index: list[dict[str, Any]]) -> str:
    """`model-index` as YAML the way cards print it (key order kept, unicode, no wrapping)."""
    return yaml.safe_dump({"model-index": model_index}, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


def render(entries: list[CardEntry], *, model_name: str) -> str:
    """The `model-index:` YAML block of entries (text, ending in a newline)."""
    return dump_yaml(model_index_data(entries, model_name=model_name))


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
    return dump_yaml(model_index(table, style=style, model_name=model_name))


def export_card_text(card: CardScores, *, style: Style | CardStyle | None = None, model_name: str | None = None) -> str:
    """The `model-index:` block of a card read: in its own style exactly as printed, or converted."""
    entries = card.entries if style is None else convert(card.entries, style_of(style))
    return render(entries, model_name=model_name or card.model_name)


def _is_registered(task: str) -> bool:
    from evalkit._compat.mteb import has_task

    return has_task(task)


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
