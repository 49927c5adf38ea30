"""Model cards: `model-index` in and out, card styles, and in-place updates.

This module is the only place that knows card conventions: `MTEB <Task> (<subset>)` names, old metric
names (`cos_sim_spearman`, reranking `map`), percent values and `revision: None`. They are converted
to and from the Scores table here, both ways.

Two export styles:

- `card`: the format of C-MTEB cards such as jinaai/jina-embeddings-v2-base-zh (every metric of every
  task, percents, old metric names, entries sorted by dataset name, metrics by name);
- `mteb`: main scores only, 0-1 values, mteb 2.x metric names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from evalkit import scores as S
from evalkit.errors import DataError

Style = Literal["card", "mteb"]

#: Card task names that mteb 2.x renamed.
CARD_TASK_RENAMES = {"CMedQAv1": "CMedQAv1-reranking", "CMedQAv2": "CMedQAv2-reranking"}

_PAIR_FNS = ("cos_sim", "dot", "euclidean", "manhattan")
_PAIR_STATS = ("accuracy", "ap", "f1", "precision", "recall")
_KS = (1, 3, 5, 10, 100, 1000)

#: Old card metric name -> mteb 2.x key, per task type: the one mapping table. Each new key is one
#: that mteb 2.26 writes for that type (tests/test_card.py checks it on real runs).
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
_UNMAPPED = "unmapped:"
_NAME = re.compile(r"^MTEB (?P<task>\S+?)(?: \((?P<subset>[^)]+)\))?$")


@dataclass
class CardScores:
    """A card read into the Scores table, with what could not be mapped."""

    model_name: str
    scores: pd.DataFrame
    unmapped: list[str] = field(default_factory=list)


def _split_front_matter(text: str, where: str) -> tuple[str, str, str]:
    """Split a card into (before-and-opening '---', YAML body, closing '---' and the rest)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(newline)
    if not lines or lines[0].strip() != "---":
        raise DataError(f"card {where}: has no YAML front matter (a first line '---'); it needs a model-index block")
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            head = lines[0] + newline
            body = newline.join(lines[1:i]) + newline
            tail = newline.join(lines[i:])
            return head, body, tail
    raise DataError(f"card {where}: the YAML front matter is not closed by a '---' line")


def _load_text(ref: str | Path) -> tuple[str, str]:
    path = Path(ref)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8"), str(path)
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
    return Path(local).read_text(encoding="utf-8"), str(ref)


def _front_matter(text: str, where: str) -> dict[str, Any]:
    _, body, _ = _split_front_matter(text, where)
    try:
        data = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 2}" if mark else ""
        raise DataError(f"card {where}: broken YAML in the front matter{line}; fix the syntax") from None
    if not isinstance(data, dict):
        raise DataError(f"card {where}: the front matter is not a YAML mapping")
    return data


def parse_task_name(dataset_name: str, config: str | None) -> tuple[str, str]:
    """`MTEB AmazonReviewsClassification (zh)` -> (`AmazonReviewsClassification`, `zh`)."""
    match = _NAME.match(dataset_name.strip())
    task, subset = (match["task"], match["subset"]) if match else (dataset_name.strip(), None)
    from evalkit._mteb_compat import renamed_tasks

    task = CARD_TASK_RENAMES.get(task, renamed_tasks().get(task, task))
    return task, subset or config or "default"


def _is_percent(results: list[Any]) -> bool:
    # Per card, never per value: thresholds and nauc values are excluded from the decision.
    values = [
        abs(float(r.metric_value))
        for r in results
        if isinstance(r.metric_value, int | float)
        and not str(r.metric_type).endswith("_threshold")
        and not str(r.metric_type).startswith("nauc")
    ]
    return bool(values) and max(values) > 1.0


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


def read_card(ref: str | Path) -> CardScores:
    """Read a card's `model-index` into the Scores table (source `card`).

    Args:
        ref: a README.md path or a Hub model id.

    Returns:
        The table (0-1 values, mteb 2.x names) and the metrics that could not be mapped.

    Raises:
        DataError: no front matter, broken YAML, no model-index, or a model-index huggingface_hub
            cannot parse.
    """
    from huggingface_hub.repocard_data import model_index_to_eval_results

    text, where = _load_text(ref)
    data = _front_matter(text, where)
    model_index = data.get("model-index")
    if not model_index:
        raise DataError(f"card {where}: has no model-index in its front matter; nothing to compare")
    try:
        model_name, results = model_index_to_eval_results(model_index)
    except Exception as exc:  # huggingface_hub raises KeyError/TypeError/ValueError on bad entries
        raise DataError(
            f"card {where}: model-index is malformed ({type(exc).__name__}: {exc}); every result needs task.type, dataset.type/name and metrics"
        ) from None
    percent = _is_percent(results)
    rows, unmapped = [], []
    for r in results:
        task, subset = parse_task_name(r.dataset_name or r.dataset_type, r.dataset_config)
        ttype = r.task_type or S.task_type_of(task)
        mapping = METRIC_MAP.get(ttype, {})
        metric = mapping.get(r.metric_type)
        if r.metric_type == "main_score":
            metric = "main_score"
        raw = r.metric_value
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            unmapped.append(f"{task}:{r.metric_type} (value {raw!r} is not a number)")
            continue
        if metric is None:
            unmapped.append(f"{task}:{r.metric_type}")
            metric, value = _UNMAPPED + str(r.metric_type), float(raw)  # scale unknown: kept raw
        else:
            value = from_percent(float(raw)) if percent else float(raw)
        rows.append(
            {
                "model": model_name,
                "revision": None,
                "task": task,
                "task_type": ttype,
                "subset": subset,
                "split": r.dataset_split or "test",
                "metric": metric,
                "value": value,
                "is_main": metric == _main_metric(task),
                "source": "card",
                "mteb_version": None,
                "dataset_revision": r.dataset_revision,
                "dataset": r.dataset_type,
            }
        )
    return CardScores(model_name=model_name, scores=S.make(rows), unmapped=unmapped)


def _main_metric(task: str) -> str | None:
    from evalkit._mteb_compat import task_metadata

    meta = task_metadata(task)
    return meta.main_score if meta is not None else None


def _old_name(ttype: str, metric: str) -> str | None:
    if metric.startswith(_UNMAPPED):
        return metric[len(_UNMAPPED) :]
    for old, new in METRIC_MAP.get(ttype, {}).items():
        if new == metric:
            return old
    return None


def _card_task_name(task: str) -> str:
    reverse = {v: k for k, v in CARD_TASK_RENAMES.items()}
    return reverse.get(task, task)


def _dataset_of(task: str, row_dataset: Any) -> str:
    if isinstance(row_dataset, str) and row_dataset:
        return row_dataset
    from evalkit._mteb_compat import task_metadata

    meta = task_metadata(task)
    return meta.dataset["path"] if meta is not None else task


def _yaml_value(value: float, percent: bool) -> float | int:
    if not percent:
        return value
    v = value * 100
    # Card generators write integral percents as integers (`value: 80`).
    return int(v) if v.is_integer() else v


def model_index(table: pd.DataFrame, *, style: Style, model_name: str) -> list[dict[str, Any]]:
    """Build the `model-index` structure from a Scores table in the given style."""
    if table.empty:
        raise DataError("nothing to export: the scores table is empty")
    entries = []
    for (task, subset, split), group in table.groupby(["task", "subset", "split"], sort=False):
        ttype = str(group["task_type"].iloc[0] or S.task_type_of(task))
        card_task = _card_task_name(str(task))
        name = f"MTEB {card_task}" + (f" ({subset})" if subset != "default" else "")
        revision = group["dataset_revision"].iloc[0]
        dataset = {
            "type": _dataset_of(str(task), group["dataset"].iloc[0]),
            "name": name,
            "config": subset,
            "split": split,
            "revision": str(revision) if revision is not None and revision == revision else "None",
        }
        metrics = []
        if style == "card":
            for row in group.itertuples():
                old = _old_name(ttype, row.metric)
                if old is None:
                    continue
                raw = row.metric.startswith(_UNMAPPED)
                metrics.append({"type": old, "value": row.value if raw else _yaml_value(row.value, True)})
            metrics.sort(key=lambda m: m["type"])
        else:
            main = group[group["is_main"]]
            for row in main.itertuples():
                metrics += [{"type": row.metric, "value": row.value}, {"type": "main_score", "value": row.value}]
        if metrics:
            entries.append({"task": {"type": ttype}, "dataset": dataset, "metrics": metrics})
    entries.sort(key=lambda e: e["dataset"]["name"])
    return [{"name": model_name, "results": entries}]


def export(table: pd.DataFrame, *, style: Style = "card", model_name: str) -> str:
    """The `model-index:` YAML block for a Scores table (text, ending in a newline)."""
    return yaml.safe_dump(
        {"model-index": model_index(table, style=style, model_name=model_name)},
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1000,
    )


def update_card(
    path: Path, table: pd.DataFrame, *, style: Style = "card", model_name: str | None = None, drop_missing: bool = False
) -> str:
    """Replace the model-index of the card at `path` in place; every other byte stays.

    Card entries for tasks the table lacks are kept unless `drop_missing`. The file is written
    atomically.

    Returns:
        The new card text.

    Raises:
        DataError: the card cannot be read or has no front matter.
    """
    from evalkit._io import write_atomic

    if not path.is_file():
        raise DataError(f"card {path}: no such file; --into needs an existing README.md")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"card {path}: is not UTF-8 text") from None
    head, body, tail = _split_front_matter(text, str(path))
    newline = "\r\n" if "\r\n" in text else "\n"
    merged = table
    name = model_name
    data = _front_matter(text, str(path))
    if data.get("model-index"):
        existing = read_card(path)
        name = name or existing.model_name
        if not drop_missing:
            have = set(zip(table["task"], table["subset"], table["split"], strict=True))
            keep = existing.scores[
                [k not in have for k in zip(existing.scores["task"], existing.scores["subset"], existing.scores["split"], strict=True)]
            ]
            merged = pd.concat([table, keep], ignore_index=True)
    block = export(merged, style=style, model_name=name or path.parent.name or "model")
    block = block.replace("\n", newline)
    body_lines = body.split(newline)
    start = next((i for i, line in enumerate(body_lines) if line.startswith("model-index:")), None)
    if start is None:
        new_body = body + block
    else:
        end = start + 1
        while end < len(body_lines) and (body_lines[end].startswith((" ", "-", "\t")) or body_lines[end] == ""):
            if body_lines[end] == "" and end == len(body_lines) - 1:
                break
            end += 1
        before = newline.join(body_lines[:start])
        after = newline.join(body_lines[end:])
        new_body = (before + newline if before else "") + block + after
    new_text = head + new_body + tail
    write_atomic(path, new_text.encode("utf-8"))
    return new_text
