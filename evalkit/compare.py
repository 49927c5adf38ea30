"""Card compare: a card's Scores table against a run's, metric by metric.

Statuses: `match` (equal at mteb's 6-decimal precision), `within tolerance`, `off`,
`missing in results`, `missing on card`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evalkit import report as R
from evalkit import scores as S

_MATCH = 5e-7


@dataclass(frozen=True)
class CompareReport:
    """The comparison: per-metric rows, the main-score summary, per-type averages, rendered text."""

    rows: pd.DataFrame
    main: pd.DataFrame
    averages: pd.DataFrame
    unmapped: tuple[str, ...]
    tolerance: float
    markdown: str
    files: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def any_main_off(self) -> bool:
        """True when a main score differs from the card by more than the tolerance."""
        return bool((self.main["status"] == "off").any())


def _status(delta: float | None, tolerance: float, card: float | None, ours: float | None) -> str:
    if card is None or pd.isna(card):
        return "missing on card"
    if ours is None or pd.isna(ours):
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


def compare(card: pd.DataFrame, ours: pd.DataFrame, *, tolerance: float = 0.0005, unmapped: list[str] | None = None) -> CompareReport:
    """Compare a card's table with a run's table.

    Args:
        card: Scores table read from a card.
        ours: Scores table read from a results folder.
        tolerance: allowed |delta| on the 0-1 scale.
        unmapped: card metrics that could not be mapped (reported, not compared).

    Returns:
        The report; `any_main_off` decides the exit code.
    """
    card = card[~card["metric"].str.startswith("unmapped:")]
    rows = _joined(card, ours, tolerance, main_only_extra=True)
    rows = rows.sort_values(["task_type", "task", "split", "subset", "metric"], kind="stable").reset_index(drop=True)
    main = rows[rows["is_main"]].drop(columns="is_main").reset_index(drop=True)
    both = main.dropna(subset=["card", "ours"])
    avg_card = S.averages(card[card["task"].isin(both["task"])])
    avg_ours = S.averages(ours[ours["task"].isin(both["task"])])
    averages = avg_card.rename(columns={"value": "card"}).merge(
        avg_ours.rename(columns={"value": "ours"})[["task_type", "ours"]], on="task_type", how="outer"
    )
    averages["delta"] = averages["ours"] - averages["card"]
    text = _markdown(rows, main, averages, tuple(unmapped or ()), tolerance)
    return CompareReport(rows.drop(columns="is_main"), main, averages, tuple(unmapped or ()), tolerance, text)


def _markdown(rows: pd.DataFrame, main: pd.DataFrame, averages: pd.DataFrame, unmapped: tuple[str, ...], tolerance: float) -> str:
    counts = main["status"].value_counts().to_dict()
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    off = main[main["status"] == "off"]
    verdict = f"**{len(off)} main score(s) off by more than {tolerance}**" if len(off) else f"all compared main scores within {tolerance}"
    parts = [
        "# Card comparison",
        "",
        f"Main scores: {summary}. {verdict}.",
        "",
        "## Main scores",
        R.markdown_table(main),
        "",
        "## Averages per task type (tasks on both sides, leaderboard style)",
        R.markdown_table(averages),
        "",
        "## Every card metric",
        R.markdown_table(rows.drop(columns="is_main")),
    ]
    if unmapped:
        parts += ["", "## Card metrics with no mteb 2.x equivalent (not compared)", *[f"- {u}" for u in unmapped]]
    return "\n".join(parts) + "\n"


def write_reports(report: CompareReport, folder: Path) -> tuple[Path, ...]:
    """Write compare.md, compare.csv and a self-contained compare.html under `folder`."""
    groups = []
    for ttype, frame in report.main.groupby("task_type", sort=True):
        groups.append((str(ttype), [(f"{r.task} ({r.split})", [r.card, r.ours]) for r in frame.itertuples()]))
    chart = R.bar_chart(groups, ["card", "ours"], title="Main scores: card vs ours")
    page = R.html_page(
        "Card comparison",
        [
            ("Main scores", chart + R.html_table(report.main)),
            ("Averages per task type", R.html_table(report.averages)),
            ("Every card metric", R.html_table(report.rows)),
        ],
    )
    return tuple(R.write_files(folder, "compare", {"md": report.markdown, "csv": report.rows.to_csv(index=False), "html": page}))
