"""Leaderboard ties (issue 23): a paired interval between adjacent measured rows, and tie groups.

Two adjacent rows (rank k and k + 1) get an interval of their `mean (task)` difference when both
are measured runs that kept per-example scores on the same examples of the same task splits: the
paired, stratified bootstrap of `judge.confidence` (each task split resampled on its own, the same
draw for both rows, each task's own statistic recomputed), combined with the averaging code's
weights. Task splits without per-example scores (clustering) are held at their observed
difference, and the text says how many. Adjacent rows whose interval holds zero share a tie group;
a group is a chain of such steps, so its first and last rows may still differ significantly.

Claimed rows (model cards) get no interval: a card holds one number per task, no per-example
scores, so nothing can be resampled.

Example (`vs next` and `tie` columns)::

    | rank | model | ... | mean (task) | vs next                                   | tie |
    | 1    | a     | ... | 0.6210      | +0.0012 [-0.0031, +0.0054]                | =1  |
    | 2    | b     | ... | 0.6198      | +0.0240 [+0.0151, +0.0330]                | =1  |
    | 3    | card  | ... | 0.5958      | claimed: a card has no per-example scores |     |
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.judge import confidence
from evalkit.results import per_example as E
from evalkit.results import scores as S

CLAIMED = "claimed: a card has no per-example scores"
NO_EXAMPLES = "no interval: per-example scores missing"
Key = tuple[str, str, str, str]  # (model, revision, kind, source)
TIES_NOTE = (
    "`vs next`: this row's mean (task) minus the next row's, with a paired bootstrap {level}% interval over the examples both "
    "runs scored (each task split resampled on its own; tasks without per-example scores held at their observed difference). "
    "`tie`: rows whose step to the next is not significant share a group, named by its first rank. Claimed rows (cards) have "
    "no per-example scores, so no interval."
)


def _example_folders(source: str) -> list:
    """The results folders under a source that kept per-example scores."""
    from evalkit.results.folder import ResultsFolder

    root = Path(source)
    if root.is_file():
        return [ResultsFolder.of_file(root)]
    if root.is_dir():
        return [f for f in ResultsFolder.anywhere_under(root) if (f.evalkit_dir / "examples").is_dir()]
    return []


def example_scores(model: str, revision: str, source: str, *, folders: list | None = None) -> dict[confidence.SplitKey, E.ExampleScores]:
    """The per-example scores of one measured row, found under its source (empty when none or ambiguous).

    Args:
        model: the row's model.
        revision: the row's revision.
        source: the row's source (a results root, folder or file).
        folders: `_example_folders(source)`, when the caller already listed them.
    """
    from evalkit.errors import DataError

    mine = [f for f in (folders if folders is not None else _example_folders(source)) if f.identity() == (model, revision)]
    if len(mine) != 1:
        return {}
    out: dict[confidence.SplitKey, E.ExampleScores] = {}
    for file in mine[0].example_files():
        try:
            task, entries = E.load(file)
        except DataError:
            return {}  # a broken file: no interval for this row rather than one over part of its tasks
        out.update({(task, e.subset, e.split): e for e in entries})
    return out


def step(
    upper: pd.DataFrame,
    lower: pd.DataFrame,
    upper_examples: Mapping[confidence.SplitKey, E.ExampleScores],
    lower_examples: Mapping[confidence.SplitKey, E.ExampleScores],
    *,
    alpha: float,
    samples: int,
) -> tuple[float, float, float, str]:
    """The paired difference (upper - lower) of `mean (task)` between two rows' main-score tables.

    Returns:
        (delta, ci low, ci high, note); NaN interval and the reason in the note when there is none.
    """
    keys = ["task", "task_type", "subset", "split"]
    a = S.main_scores(upper).groupby(keys, as_index=False, sort=True)["value"].mean()
    b = S.main_scores(lower).groupby(keys, as_index=False, sort=True)["value"].mean()
    if set(a["task"]) != set(b["task"]) or len(a) != len(b) or not (a[keys].to_numpy() == b[keys].to_numpy()).all():
        return math.nan, math.nan, math.nan, "no interval: the rows cover different task splits"
    split_keys: list[tuple[str, str, str, str]] = [(str(k[0]), str(k[1]), str(k[2]), str(k[3])) for k in a[keys].itertuples(index=False, name=None)]
    reps = {}
    for i, (task, _, subset, split) in enumerate(split_keys):
        eu, el = upper_examples.get((task, subset, split)), lower_examples.get((task, subset, split))
        if eu is None or el is None:
            continue
        r = confidence.paired_replicates(el, eu, samples=samples, seed=confidence.split_seed(task, subset, split))
        if r is not None:
            reps[i] = r
    if not reps:
        return float((a["value"] - b["value"]).mean()), math.nan, math.nan, NO_EXAMPLES
    suite = confidence.suite_intervals(split_keys, b["value"], a["value"], reps, alpha=alpha).set_index("average")
    head = suite.loc[confidence.HEADLINE]
    held = int(head["held"])
    note = f"{held} task(s) held (no per-example scores)" if held else ""
    return float(head["delta"]), float(head["ci_low"]), float(head["ci_high"]), note


def mark(
    frame: pd.DataFrame,
    tables: Mapping[tuple[str, ...], pd.DataFrame],
    *,
    alpha: float,
    samples: int,
    tasks: tuple[str, ...] | None = None,
    examples_of=None,
) -> pd.DataFrame:
    """Add `vs next` (text), `next delta`, `next ci low`, `next ci high` and `tie` to a ranked frame.

    Args:
        frame: the leaderboard rows in rank order (columns model, revision, kind, source, tasks).
        tables: each row's Scores table as the leaderboard averaged it (suite filter applied).
        alpha: significance level of the intervals.
        samples: bootstrap replicates.
        tasks: only these tasks count (the leaderboard's `--common` set); None: all of each row's.
        examples_of: (model, revision, source) -> per-example scores; default `example_scores`, each
            source listed once (a test may pass its own).

    Returns:
        A copy of `frame` with the new columns.
    """
    rows = list(frame[["model", "revision", "kind", "source"]].itertuples(index=False, name=None))
    if tasks is not None:
        tables = {k: t[t["task"].isin(tasks)] for k, t in tables.items()}
    cache: dict[Key, Mapping[confidence.SplitKey, E.ExampleScores]] = {}
    listed: dict[str, list] = {}
    if examples_of is None:

        def examples_of(model: str, revision: str, source: str) -> dict[confidence.SplitKey, E.ExampleScores]:
            if source not in listed:
                listed[source] = _example_folders(source)
            return example_scores(model, revision, source, folders=listed[source])

    def examples(key: Key) -> Mapping[confidence.SplitKey, E.ExampleScores]:
        if key not in cache:
            cache[key] = examples_of(key[0], key[1], key[3]) if key[2] == "measured" else {}
        return cache[key]

    level = int(round((1 - alpha) * 100))
    text, deltas, lows, highs, tied = [], [], [], [], []
    for i, key in enumerate(rows):
        d = lo = hi = math.nan
        if key[2] != "measured":
            t = CLAIMED
        elif i + 1 == len(rows):
            t = "-"
        elif rows[i + 1][2] != "measured":
            t = "no interval: the next row is claimed (no per-example scores)"
        elif not examples(key) or not examples(rows[i + 1]):
            t = NO_EXAMPLES
        else:
            d, lo, hi, note = step(tables[key], tables[rows[i + 1]], examples(key), examples(rows[i + 1]), alpha=alpha, samples=samples)
            if math.isnan(lo):
                t = note
            else:
                t = f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]" + (f"; {note}" if note else "")
        text.append(t)
        deltas.append(d)
        lows.append(lo)
        highs.append(hi)
        tied.append(not math.isnan(lo) and lo <= 0 <= hi)
    groups = [""] * len(rows)
    start = 0
    for i in range(len(rows)):
        if i + 1 == len(rows) or not tied[i]:
            if i > start:
                for j in range(start, i + 1):
                    groups[j] = f"={int(frame['rank'].iloc[start])}"
            start = i + 1
    out = frame.copy()
    out["vs next"] = text
    out["next delta"] = np.asarray(deltas, dtype=np.float64)
    out["next ci low"] = np.asarray(lows, dtype=np.float64)
    out["next ci high"] = np.asarray(highs, dtype=np.float64)
    out["tie"] = groups
    out.attrs["ties_note"] = TIES_NOTE.format(level=level)
    return out
