"""Card compare: a card's Scores table against a run's, metric by metric.

Statuses: `match` (equal at mteb's 6-decimal precision), `within tolerance`, `off`,
`missing in results`, `missing on card`. The verdict fails when a main score is off, and when no
main score is on both sides ("nothing compared": a comparison of nothing is not a pass). Card
metrics with no mteb 2.x key (`extra:` rows) are listed, never compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.report import pages as R
from evalkit.results import scores as S
from evalkit.results.names import same_model
from evalkit.runner.settings import COMPARE_TOLERANCE

_MATCH = 5e-7


@dataclass(frozen=True)
class CompareReport:
    """The comparison: per-metric rows, the main-score summary, per-type averages, rendered text.

    `header` names what was compared (results model and revision, card model) and any warnings;
    the Markdown, HTML and CSV reports all start with it.
    """

    rows: pd.DataFrame
    main: pd.DataFrame
    averages: pd.DataFrame
    extras: tuple[str, ...]
    tolerance: float
    markdown: str
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
    text = _markdown(header, rows, main, averages, tuple(extras or ()), tolerance)
    return CompareReport(rows.drop(columns="is_main"), main, averages, tuple(extras or ()), tolerance, text, header=header)


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


def _verdict(main: pd.DataFrame, tolerance: float) -> str:
    compared = main.dropna(subset=["card", "ours"])
    if compared.empty:
        on_card = int(main["card"].notna().sum())
        in_results = int(main["ours"].notna().sum())
        return (
            f"**nothing compared**: none of the card's {on_card} main score(s) is in the results "
            f"({in_results} main score(s)); pass results of the card's tasks"
        )
    counts = main["status"].value_counts().to_dict()
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    off = main[main["status"] == "off"]
    verdict = f"**{len(off)} main score(s) off by more than {tolerance}**" if len(off) else f"all compared main scores within {tolerance}"
    return f"Main scores: {summary}. {len(compared)} compared: {verdict}."


def _markdown(
    header: tuple[str, ...], rows: pd.DataFrame, main: pd.DataFrame, averages: pd.DataFrame, extras: tuple[str, ...], tolerance: float
) -> str:
    parts = [
        f"# Card comparison: {header[0]}",
        *([""] + [f"> {line}" for line in header[1:]] if len(header) > 1 else []),
        "",
        _verdict(main, tolerance),
        "",
        "## Main scores",
        R.markdown_table(main),
        "",
        "## Averages per task type (main scores whose task, subset and split are on both sides; leaderboard style)",
        R.markdown_table(averages),
        "",
        "## Every card metric",
        R.markdown_table(rows.drop(columns="is_main")),
    ]
    if extras:
        parts += ["", "## Card metrics with no mteb 2.x equivalent (kept on the card, not compared)", *[f"- {u}" for u in extras]]
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
    from evalkit.report import charts as C

    colours = {"match": C.GOOD, "within tolerance": C.NEUTRAL, "off": C.BAD, "missing in results": C.MISSING, "missing on card": C.MISSING}
    tones = {"off": "bad", "within tolerance": "", "match": "good"}
    main = report.main
    both = main.dropna(subset=["card", "ours"])
    off = int((main["status"] == "off").sum())
    # Nothing compared fails the command (exit 1) as an off score does: nothing was checked.
    tone: R.Tone
    verdict, tone = ("OFF", "bad") if off else (("MATCH", "good") if len(both) else ("NOTHING COMPARED", "bad"))
    counts = main["status"].value_counts()
    compared = [f"{int(counts[s])} {s}" for s in ("match", "within tolerance", "off") if s in counts]
    summary = f"{len(both)} main scores compared: {', '.join(compared)}" if len(both) else "No main score is on both sides"
    summary += f" (tolerance {report.tolerance:g} on the 0-1 scale)"
    if len(main) > len(both):
        summary += "; " + ", ".join(f"{int(counts[s])} {s}" for s in ("missing in results", "missing on card") if s in counts)

    def label(r: Any) -> str:
        subset = "" if r.subset == "default" else f" {r.subset}"
        return f"{r.task}{subset} ({r.split})"

    def row_id(r: Any) -> str:
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
        extras=list(report.extras),
        header=list(report.header),
    )
    # The CSV starts with the same header as comment lines (pandas: read_csv(..., comment="#")).
    csv = "".join(f"# {line}\n" for line in report.header) + R.csv_text(report.rows)
    return tuple(R.write_files(folder, "compare", {"md": report.markdown, "csv": csv, "html": page}))
