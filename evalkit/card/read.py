"""Reading a card: its front matter and `model-index` into the Scores table, its entries and its style.

The YAML loader keeps each float's printed decimals (for "changed beyond printed precision"); values
become 0-1 with mteb 2.x keys, and what has no mteb 2.x key is kept as an extra (`CardScores`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from evalkit import _parse
from evalkit.card.names import EXTRA, MTEB_TYPES, from_percent, is_extra, main_metric, mteb_key, parse_task_name
from evalkit.card.style import CardEntry, CardMetric, CardStyle, detect_style
from evalkit.errors import DataError
from evalkit.results import scores as S
from evalkit.results.names import task_type_of


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
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_parse.Loader):
    """A safe loader whose floats keep their printed decimals (for "changed beyond printed precision")."""


def _construct_float(loader: Any, node: yaml.Node) -> float:
    value = _Printed(_parse.construct_float(loader, node))
    value.decimals = _decimals(str(node.value))
    return value


_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def plain(obj: Any) -> Any:
    """The same structure with plain floats (PyYAML's safe dumper refuses float subclasses)."""
    if isinstance(obj, _Printed):
        return float(obj)
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj


def _declared_type(task_data: Any) -> str | None:
    """The mteb task type a card entry states (`task.type`, or `task.name` in Hub-style cards)."""
    if not isinstance(task_data, dict):
        return None
    by_case = {t.lower(): t for t in MTEB_TYPES}
    for candidate in (task_data.get("type"), task_data.get("name")):
        if isinstance(candidate, str) and candidate.lower() in by_case:
            return by_case[candidate.lower()]
    return None


def _bounded(metric: str | None) -> bool:
    # Scores in [0, 1] (or [-1, 1]): the ones that say whether a card prints percents.
    return metric is not None and bool(metric) and not is_extra(metric) and not metric.startswith("nauc_") and not metric.endswith("_std")


def split_front_matter(text: str, where: str) -> tuple[str, str, str]:
    """Split a card into (opening '---' line, YAML body, closing '---' and the rest).

    Raises:
        DataError: no front matter, or front matter not closed by a '---' line.
    """
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
    if path.exists() and not path.is_dir():
        return _parse.read_text(path, f"card {path}", limit=_parse.MAX_CARD_BYTES), str(path), None
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
    return _parse.read_text(Path(local), f"card {ref}", limit=_parse.MAX_CARD_BYTES), str(ref), str(ref)


def front_matter(text: str, where: str) -> dict[str, Any]:
    """A card's front matter as a mapping (empty for none), its floats keeping their printed decimals.

    Raises:
        DataError: no front matter, broken YAML, or front matter that is not a mapping.
    """
    _, body, _ = split_front_matter(text, where)
    data = _parse.load_yaml(body, f"card {where}", loader=_Loader, label="YAML in the front matter", first_line=2)
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
    ttype = task_type_of(task) or declared or str(task_data.get("type") or "")
    main = main_metric(task)
    read = []
    for m in metrics:
        printed, raw = str(m["type"]), m["value"]
        decimals = getattr(raw, "decimals", 0 if isinstance(raw, int) else None)
        number = isinstance(raw, int | float) and not isinstance(raw, bool)
        if printed == "main_score":
            key = main or "main_score"  # for a task mteb does not know, resolved in _settle_values
        else:
            key = mteb_key(ttype, printed, main) or EXTRA + printed
        read.append(CardMetric(printed, key if number else None, None, plain(raw), decimals, dict(m)))
    split = dataset.get("split")
    return CardEntry(task, subset, str(split) if split else "test", ttype, dict(result), read)


def _is_percent(entries: list[CardEntry]) -> bool:
    # Per card, never per value: thresholds, nAUC and extras are left out of the decision.
    values = [abs(float(m.raw)) for e in entries for m in e.metrics if m.metric is not None and _bounded(m.metric)]
    return max((v for v in values if not math.isnan(v)), default=0.0) > 1.0


def _settle_values(entry: CardEntry, percent: bool, warnings: list[str]) -> None:
    """Fill in each metric's table value; resolve and cross-check `main_score`."""
    main = main_metric(entry.task)
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
        main = main_metric(e.task)
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


def parse_card(text: str, where: str, *, hub_id: str | None = None) -> CardScores:
    """Read a card's text (see `read_card`)."""
    data = front_matter(text, where)
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
    card = parse_card(text, where, hub_id=hub_id)
    if card.scores.empty:
        first = next((w.split(": ", 1)[-1] for w in card.warnings), "its results list is empty")
        raise DataError(f"card {where}: has no usable number in its model-index ({first}); fix the values or pass another card")
    return card
