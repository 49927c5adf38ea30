"""Updating a card in place: a Scores table merged into a README's model-index, every other byte kept."""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from evalkit import _parse
from evalkit._io import write_atomic
from evalkit.card.names import is_extra, to_printed
from evalkit.card.read import front_matter, parse_card, plain, split_front_matter
from evalkit.card.style import STYLES, CardEntry, CardMetric, CardStyle, Style, style_of
from evalkit.card.write import (
    convert,
    dump_yaml,
    entry_from_group,
    entry_sort_key,
    model_index_data,
    new_metric,
    place_metric,
    wanted_metrics,
)
from evalkit.errors import DataError
from evalkit.results.names import same_model


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
                    raw = to_printed(new, style.percent)
                    m = replace(m, value=new, raw=raw, fields={**m.fields, "value": raw})
                metrics.append(m)
            elif not drop_missing:
                metrics.append(m)
        # Add what the card does not hold in any form (its `nAUC_x` is our `nauc_x`; its main_score
        # holds the main metric). An entry the card wrote without main_score keeps it that way.
        held = {m.metric for m in metrics} | {m.name for m in metrics}
        for name, metric, value in wanted_metrics(style, group):
            if name != "main_score" and metric not in held and name not in held:
                place_metric(metrics, new_metric(style, name, metric, value), style)
        out.append(replace(e, metrics=metrics))
    known = {e.key for e in entries}
    new_entries = [entry_from_group(style, key, g) for key, g in groups.items() if key not in known]
    new_entries = [e for e in new_entries if e.metrics]
    order = entry_sort_key(style)
    for new in sorted(new_entries, key=order) if order else new_entries:
        at = next((i for i, e in enumerate(out) if order(e) > order(new)), len(out)) if order else len(out)
        out.insert(at, new)
    return out, UpdateSummary(updated, len(new_entries), kept, dropped, tuple(changed))


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
    root = _parse.compose_yaml(body, "card front matter")
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
    from evalkit._io import remove_stale_temps

    if not path.is_file():
        raise DataError(f"card {path}: no such file; --into needs an existing README.md")
    text = _parse.read_text(path, f"card {path}", limit=_parse.MAX_CARD_BYTES)
    newline = "\r\n" if "\r\n" in text else "\n"
    has_front = text.split(newline, 1)[0].lstrip("\ufeff").strip() == "---"
    data = front_matter(text, str(path)) if has_front else {}
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
    old_index = plain(data.get("model-index")) if card is not None else None
    if old_index is not None and _strict_equal(new_index, old_index):
        new_text = text  # nothing changes: keep the card's own bytes, formatting and all
    else:
        block = dump_yaml(new_index).replace("\n", newline)
        if has_front:
            head, body, tail = split_front_matter(text, str(path))
            new_text = head + _replace_block(body, block, newline) + tail
        else:
            bom = "\ufeff" if text.startswith("\ufeff") else ""
            new_text = bom + "---" + newline + block + "---" + newline + text[len(bom) :]
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), new_text.splitlines(keepends=True), str(path), f"{path} (updated)"))
    written = new_text != text and not dry_run
    if written:
        real = path.resolve()  # a symlinked card: write the card it points at, never replace the link
        remove_stale_temps(real.parent, recursive=False)
        mode = real.stat().st_mode
        write_atomic(real, new_text.encode("utf-8"))
        os.chmod(real, mode & 0o7777)
    return CardUpdate(new_text, summary, diff, written)


def _short_name(model: str | None) -> str | None:
    return str(model).split("/")[-1] if model else None
