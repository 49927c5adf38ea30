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


def write_reports(report: CompareReport, folder: Path, *, about: R.About | None = None) -> tuple[Path, ...]:
    """Write compare.md, compare.csv and a self-contained compare.html under `folder`.

    Args:
        report: the comparison.
        folder: where the files go (created if needed).
        about: the card and results models and the suite, for the page header.

    Returns:
        The paths written.
    """
    from evalkit import _charts as C

    colours = {"match": C.GOOD, "within tolerance": C.NEUTRAL, "off": C.BAD, "missing in results": C.MISSING, "missing on card": C.MISSING}
    tones = {"off": "bad", "within tolerance": "", "match": "good"}
    main = report.main
    both = main.dropna(subset=["card", "ours"])
    off = int((main["status"] == "off").sum())
    verdict, tone = ("OFF", "bad") if off else (("MATCH", "good") if len(both) else ("NO OVERLAP", "warn"))
    counts = main["status"].value_counts()
    compared = [f"{int(counts[s])} {s}" for s in ("match", "within tolerance", "off") if s in counts]
    summary = f"{len(both)} main scores compared: {', '.join(compared)}" if len(both) else "No main score is on both sides"
    summary += f" (tolerance {report.tolerance:g} on the 0-1 scale)"
    if len(main) > len(both):
        summary += "; " + ", ".join(f"{int(counts[s])} {s}" for s in ("missing in results", "missing on card") if s in counts)

    def label(r: object) -> str:
        subset = "" if r.subset == "default" else f" {r.subset}"
        return f"{r.task}{subset} ({r.split})"

    def row_id(r: object) -> str:
        return R.anchor("main", r.task, r.subset, r.split)

    groups = [
        C.Group(
            str(ttype),
            tuple(
                C.Row(
                    label(r),
                    R.fmt(r.delta, signed=True),
                    (
                        C.Bar(
                            r.delta, colours[r.status], f"{label(r)}: ours {r.ours:.4f} - card {r.card:.4f} = {r.delta:+.4f} ({r.status})"
                        ),
                    ),
                    href="#" + row_id(r),
                )
                for r in frame.itertuples()
            ),
        )
        for ttype, frame in both.groupby("task_type", sort=True)
    ]
    lo, hi = C.domain(list(both["delta"]), symmetric=True, min_half_span=2 * report.tolerance)
    chart = C.bar_chart(
        groups,
        title="Main scores: ours minus card",
        axis_label="ours - card (main score, 0-1 scale); shaded: within tolerance",
        lo=lo,
        hi=hi,
        band=(-report.tolerance, report.tolerance),
        band_label=f"within tolerance ({report.tolerance:g})",
    )
    page = R.render_page(
        "compare.html.j2",
        verdict=verdict,
        tone=tone,
        title="evalkit card compare",
        summary=summary,
        about=about or R.About(),
        charts={"deltas": chart},
        legend=[(s, colours[s]) for s in ("match", "within tolerance", "off")],
        main=R.table(main, id="main", signed=["delta"], row_class=lambda r: tones.get(r.status, "muted"), row_id=row_id),
        averages=R.table(report.averages, id="averages", signed=["delta"]),
        rows=R.table(report.rows, id="metrics", signed=["delta"], row_class=lambda r: tones.get(r.status, "muted")),
        unmapped=list(report.unmapped),
    )
    return tuple(R.write_files(folder, "compare", {"md": report.markdown, "csv": report.rows.to_csv(index=False), "html": page}))
