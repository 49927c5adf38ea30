"""Card compare: a card's Scores table against a run's, metric by metric.

Statuses: `match` (equal at mteb's 6-decimal precision), `within tolerance`, `off`,
`missing in results`, `missing on card`. The verdict fails when a main score is off, and when no
main score is on both sides ("nothing compared": a comparison of nothing is not a pass). Card
metrics with no mteb 2.x key (`extra:` rows) are listed, never compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from evalkit.results import scores as S
from evalkit.results.names import same_model
from evalkit.runner.settings import COMPARE_TOLERANCE

_MATCH = 5e-7
CompareVerdict = Literal["match", "off", "nothing compared"]


@dataclass(frozen=True)
class CompareReport:
    """The comparison: per-metric rows, the main-score summary, per-type averages and the verdict.

    `header` names what was compared (results model and revision, card model) and any warnings;
    the Markdown, HTML and CSV reports (`evalkit.report.compare`) all start with it. `files` are
    the pages written, filled in by `evalkit.api`.
    """

    rows: pd.DataFrame
    main: pd.DataFrame
    averages: pd.DataFrame
    extras: tuple[str, ...]
    tolerance: float
    files: tuple[Path, ...] = field(default_factory=tuple)
    header: tuple[str, ...] = ()

    @property
    def any_main_off(self) -> bool:
        """True when a main score differs from the card by more than the tolerance."""
        return bool((self.main["status"] == "off").any())

    @property
    def compared(self) -> int:
        """How many main scores are on both sides."""
        return int(self.main[["card", "ours"]].notna().all(axis=1).sum()) if not self.main.empty else 0

    @property
    def nothing_compared(self) -> bool:
        """True when no main score is on both sides: nothing was checked."""
        return self.compared == 0

    @property
    def failed(self) -> bool:
        """The verdict (exit 1): a main score off, or nothing compared."""
        return self.any_main_off or self.nothing_compared

    @property
    def verdict(self) -> CompareVerdict:
        """`off` (a main score off), else `nothing compared`, else `match`."""
        return "off" if self.any_main_off else ("nothing compared" if self.nothing_compared else "match")

    @property
    def off(self) -> pd.DataFrame:
        """The main-score rows off by more than the tolerance."""
        return self.main[self.main["status"] == "off"]


def _status(delta: float | None, tolerance: float, card: float | None, ours: float | None) -> str:
    if card is None or pd.isna(card):
        return "missing on card"
    if ours is None or pd.isna(ours) or delta is None:
        return "missing in results"
    if abs(delta) <= _MATCH:
        return "match"
    return "within tolerance" if abs(delta) <= tolerance else "off"


def _joined(card: pd.DataFrame, ours: pd.DataFrame, tolerance: float, main_only_extra: bool) -> pd.DataFrame:
    keys = ["task", "subset", "split", "metric"]
    left = card[keys + ["task_type", "value", "is_main"]].rename(columns={"value": "card"})
    right = ours[keys + ["task_type", "value", "is_main"]].rename(columns={"value": "ours", "task_type": "type_r", "is_main": "main_r"})
    if main_only_extra:
        # Tasks the card lacks: show their main score only, not every metric mteb writes.
        card_metrics = set(zip(card["task"], card["subset"], card["split"], card["metric"], strict=True))
        keep = [
            (t, s, sp, m) in card_metrics or bool(main)
            for t, s, sp, m, main in zip(right["task"], right["subset"], right["split"], right["metric"], right["main_r"], strict=True)
        ]
        right = right.loc[pd.Series(keep, index=right.index, dtype=bool)]
    joined = left.merge(right, on=keys, how="outer")
    joined["task_type"] = joined["task_type"].fillna(joined["type_r"])
    joined["is_main"] = joined["is_main"].fillna(False).astype(bool) | joined["main_r"].fillna(False).astype(bool)
    joined["delta"] = joined["ours"] - joined["card"]
    joined["status"] = [_status(d, tolerance, c, o) for d, c, o in zip(joined["delta"], joined["card"], joined["ours"], strict=True)]
    return joined[["task", "task_type", "split", "subset", "metric", "card", "ours", "delta", "status", "is_main"]]


def _one(table: pd.DataFrame, column: str) -> str | None:
    values = [str(v) for v in dict.fromkeys(table[column]) if v is not None and v == v]
    return ", ".join(values) if values else None


def header_lines(
    card: pd.DataFrame, ours: pd.DataFrame, *, card_names: tuple[str, ...] = (), notes: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """What is compared with what, and the warnings: the first lines of every report.

    The first line names the results' model and revision and the card's model; a results model
    that is not the card's is a warning line.
    """
    model = _one(ours, "model") or "unknown model"
    revision = _one(ours, "revision") or "unknown revision"
    names = card_names or tuple(n for n in [_one(card, "model")] if n) or ("unnamed",)
    lines = [f"Results of {model} @ {revision} against the card of {' / '.join(dict.fromkeys(names))}"]
    if not any(same_model(model, n) for n in names):
        lines.append(f"Warning: the results are of {model}, the card is of {names[0]}: another model's card")
    lines += [f"Warning: {n}" for n in notes]
    return tuple(lines)


def compare(
    card: pd.DataFrame,
    ours: pd.DataFrame,
    *,
    tolerance: float = COMPARE_TOLERANCE,
    extras: list[str] | tuple[str, ...] | None = None,
    card_names: tuple[str, ...] = (),
    notes: tuple[str, ...] = (),
) -> CompareReport:
    """Compare a card's table with a run's table.

    Args:
        card: Scores table read from a card.
        ours: Scores table read from a results folder.
        tolerance: allowed |delta| on the 0-1 scale.
        extras: card metrics with no mteb 2.x key (listed, not compared).
        card_names: the card's model-index name and Hub id (default: the card table's model).
        notes: warnings from reading the card, shown under the header.

    Returns:
        The report; `failed` (a main score off, or nothing compared) decides the exit code.
    """
    from evalkit.card import is_extra

    card = card[~card["metric"].map(is_extra)]
    rows = _joined(card, ours, tolerance, main_only_extra=True)
    rows = rows.sort_values(["task_type", "task", "split", "subset", "metric"], kind="stable").reset_index(drop=True)
    main = rows[rows["is_main"]].drop(columns="is_main").reset_index(drop=True)
    averages = _averages(card, ours, main)
    header = header_lines(card, ours, card_names=card_names, notes=notes)
    return CompareReport(rows.drop(columns="is_main"), main, averages, tuple(extras or ()), tolerance, header=header)


def _averages(card: pd.DataFrame, ours: pd.DataFrame, main: pd.DataFrame) -> pd.DataFrame:
    """Per-type averages over the (task, subset, split) keys whose main score is on both sides only.

    A card with ATEC test alone is averaged against our ATEC test alone, not our validation+test.
    """
    keys = ["task", "subset", "split"]
    both = set(map(tuple, main.dropna(subset=["card", "ours"])[keys].itertuples(index=False)))

    def common(table: pd.DataFrame) -> pd.DataFrame:
        main_rows = S.main_scores(table)
        # A boolean Series, not a list: an empty list would select no columns, not no rows.
        keep = pd.Series([k in both for k in main_rows[keys].itertuples(index=False, name=None)], index=main_rows.index, dtype=bool)
        return main_rows[keep]

    avg_card = S.averages(common(card))
    avg_ours = S.averages(common(ours))
    averages = avg_card.rename(columns={"value": "card"}).merge(
        avg_ours.rename(columns={"value": "ours"})[["task_type", "ours"]], on="task_type", how="left"
    )  # the same keys on both sides, so the same types; "left" keeps `All` last
    averages["delta"] = averages["ours"] - averages["card"]
    return averages
