"""What a suite keeps of a Scores table: its tasks, each at the suite's own splits and subsets.

Compare, regress and the leaderboard judge on the same basis: a suite that names
`AmazonReviewsClassification` with subset `zh` keeps that subset, not the 26 other languages a
results file of that task holds; a task with no splits or subsets named keeps all of its own.
"""

from __future__ import annotations

import pandas as pd

from evalkit.runner.suite import Suite


def in_suite(table: pd.DataFrame, suite: Suite | None) -> pd.DataFrame:
    """The rows of a Scores table on the suite's tasks, splits and subsets (all rows without a suite)."""
    if suite is None:
        return table
    keep = []
    for task, split, subset in zip(table["task"], table["split"], table["subset"], strict=True):
        spec = suite.task(task)
        keep.append(spec is not None and (spec.splits is None or split in spec.splits) and (spec.subsets is None or subset in spec.subsets))
    return table[pd.Series(keep, index=table.index, dtype=bool)]


def lacking(have: set[tuple[str, str]], splits: tuple[str, ...] | None, subsets: tuple[str, ...] | None) -> list[str]:
    """The `(subset/)split`s a suite asks of a task that a side's (subset, split) pairs do not cover."""
    if splits and subsets:
        need = {(sub, sp) for sub in subsets for sp in splits}
        return sorted(sp if sub == "default" else f"{sub}/{sp}" for sub, sp in need - have)
    if splits:
        return sorted(set(splits) - {sp for _, sp in have})
    if subsets:
        return sorted(set(subsets) - {sub for sub, _ in have})
    return []
