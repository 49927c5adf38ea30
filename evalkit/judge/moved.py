"""The examples that got worse the most between a baseline and a candidate, per task split.

`evalkit.judge.regress` lists them under each regressed task split; what "worse" means follows
the task's own statistic (see `moved_examples`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evalkit.results import per_example as E

MOVED_CAP = 10
MOVED_COLUMNS = ["task", "subset", "split", "example", "text", "text2", "gold", "before", "after", "worse by", "note"]


def _rank_text(rank: str) -> str:
    return "?" if rank == "" else ("not retrieved" if rank == "0" else f"rank {rank}")


def _percentile_ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    n = len(values)
    return (rankdata(values) - 1) / (n - 1) if n > 1 else np.zeros(n)


def moved_examples(
    task: str, base: E.ExampleScores, cand: E.ExampleScores, *, metric: str, cap: int = MOVED_CAP
) -> tuple[pd.DataFrame, str, int]:
    """The examples of one task split that got worse the most from baseline to candidate.

    What "worse" means follows the task's own statistic:

    - Retrieval, Reranking (per-query mean): the query's main metric dropped; the note gives the
      rank of the first relevant document before and after (0: not retrieved);
    - Classification (per-item mean): fewer of the classifier runs got the item right;
    - STS (Spearman): the pair's similarity rank moved away from its gold rank (rank error, as a
      fraction of the list), since Spearman scores ranks;
    - PairClassification (best-threshold accuracy): right before, wrong after, at each side's own
      best threshold; ordered by how far the candidate's similarity sits on the wrong side.

    Args:
        task: task name (for the rows).
        base: the baseline's per-example data.
        cand: the candidate's per-example data.
        metric: the task's main metric, named in the explanation.
        cap: at most this many examples.

    Returns:
        Rows (`MOVED_COLUMNS`, worst first, at most `cap`), one line saying what before and after
        measure, and how many examples got worse in all; an empty frame when the two sides'
        examples cannot be paired.
    """
    empty = pd.DataFrame(columns=MOVED_COLUMNS)
    if base.kind != cand.kind or cap <= 0:
        return empty, "", 0

    def at(values: Sequence[object], i: int | np.integer) -> str:
        return str(values[int(i)]) if i < len(values) else ""

    rows = []
    if base.kind == "mean":
        if base.ids and cand.ids:
            ci = {q: i for i, q in enumerate(cand.ids)}
            pairs = [(i, ci[q]) for i, q in enumerate(base.ids) if q in ci]
        elif len(base) == len(cand) and (not base.texts or not cand.texts or base.texts == cand.texts):
            pairs = [(i, i) for i in range(len(base))]
        else:
            return empty, "", 0
        retrieval = bool(base.ranks or cand.ranks)
        for bi, ci_ in pairs:
            before, after = base.values[bi], cand.values[ci_]
            if after >= before:
                continue
            note = ""
            if retrieval:
                rb, rc = (_rank_text(at(x.ranks, i)) for x, i in ((base, bi), (cand, ci_)))
                note = f"first relevant: {rb} -> {rc}"
            example = base.ids[bi] if base.ids else f"#{bi + 1}"
            rows.append([example, at(base.texts, bi) or at(cand.texts, ci_), "", at(base.answers, bi), before, after, before - after, note])
        what = (
            f"before/after: the query's {metric}; gold: its best relevant document; note: rank of the first relevant document"
            if retrieval
            else "before/after: the share of classifier runs that got the item right; gold: its label"
        )
    else:
        if len(base) != len(cand) or len(base) < 2 or not np.array_equal(np.asarray(base.gold), np.asarray(cand.gold)):
            return empty, "", 0
        gold, pb, pc = (np.asarray(v, dtype=np.float64) for v in (base.gold, base.pred, cand.pred))
        if base.kind == "correlation":
            g = _percentile_ranks(gold)
            eb, ec = np.abs(_percentile_ranks(pb) - g), np.abs(_percentile_ranks(pc) - g)
            for i in np.flatnonzero(ec - eb > 1e-9):  # ranks of ties make exact equality unreliable
                note = f"cosine {pb[i]:.3f} -> {pc[i]:.3f}"
                rows.append([f"#{i + 1}", at(base.texts, i), at(base.texts2, i), f"{gold[i]:g}", eb[i], ec[i], ec[i] - eb[i], note])
            what = "before/after: rank error, how far the pair's similarity rank is from its gold rank (0-1 of the list; Spearman scores ranks); gold: the pair's score"
        else:
            tb, tc = E.best_threshold(gold, pb)[1], E.best_threshold(gold, pc)[1]
            right_b, right_c = (pb >= tb) == (gold > 0), (pc >= tc) == (gold > 0)
            for i in np.flatnonzero(right_b & ~right_c):
                note = f"right -> wrong (thresholds {tb:.3f} -> {tc:.3f})"
                rows.append([f"#{i + 1}", at(base.texts, i), at(base.texts2, i), f"{gold[i]:g}", pb[i], pc[i], abs(pc[i] - tc), note])
            what = "before/after: the pair's cosine similarity, judged at each side's best threshold; gold: the pair's label; worse by: distance to the candidate's threshold"
    if not rows:
        return empty, what, 0
    frame = pd.DataFrame([[task, base.subset, base.split, *r] for r in rows], columns=MOVED_COLUMNS)
    frame = frame.sort_values("worse by", ascending=False, kind="stable").head(cap).reset_index(drop=True)
    return frame, what, len(rows)
