"""The leaderboard: many models from results folders and model cards, averaged as C-MTEB does.

(Named `ranking` so that the module never shadows the `evalkit.leaderboard` function.)

Sources (`collect`, in `evalkit.judge.sources`): results folders, mteb results checkouts and model
cards; results give `measured` rows, cards `claimed` rows; one row per model, revision and source.

Averages (`build`) follow mteb's benchmark tables (`mteb/benchmarks/_create_table.py`): a task's
score is the mean of its main score over its splits and subsets, and a task that lacks one of the
(subset, split) pairs seen for it elsewhere counts as missing, not as a partial mean; a type's
score is the mean over its tasks; `mean (task)` is the mean over all tasks and `mean (type)` the
mean of the type means. With `average="own"` each row averages the tasks it has and lists those it
lacks; with `average="common"` every row averages only the tasks that every row has.

Example (two results folders and the reference card, on the cmteb suite)::

    | rank | model | kind | tasks | STS | ... | mean (task) | mean (type) | vs claimed | lacks |
    | 1 | jina-embeddings-v2-base-zh | claimed | 35/35 | 0.5939 | ... | 0.6341 | 0.6383 | - | - |
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from evalkit._compat.mteb import has_task
from evalkit._types import TASK_TYPES
from evalkit.errors import DataError
from evalkit.judge import ties
from evalkit.judge.basis import in_suite, lacking
from evalkit.judge.sources import Entry
from evalkit.judge.sources import collect as collect  # the leaderboard's first step, named here too
from evalkit.results import main_score as M
from evalkit.results import scores as S
from evalkit.results.names import same_model, task_type_of
from evalkit.runner.settings import BOOTSTRAP_SAMPLES, COMPARE_TOLERANCE, REGRESS_ALPHA
from evalkit.runner.suite import Suite

Average = Literal["own", "common"]
KEY = ["model", "revision", "kind", "source"]
#: The largest per-task |measured - claimed| that still counts as a match (card compare's default).
CLAIM_TOLERANCE = COMPARE_TOLERANCE


@dataclass(frozen=True)
class Leaderboard:
    """The ranking, the per-task scores behind it and measured-vs-claimed differences.

    The pages (`evalkit.report.leaderboard`) render it; `files` are the pages written, filled in by
    `evalkit.api`.
    """

    rows: pd.DataFrame
    tasks: pd.DataFrame
    claimed_vs_measured: pd.DataFrame
    task_set: tuple[str, ...]
    task_types: tuple[str, ...]
    common: tuple[str, ...]
    average: Average
    suite: str | None
    warnings: tuple[str, ...]
    files: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def largest_claim_gap(self) -> float | None:
        """The largest |measured - claimed| of one task split over every measured row with its card (None: no pair)."""
        return None if self.claimed_vs_measured.empty else float(self.claimed_vs_measured["max |Δ|"].max())

    @property
    def verdict(self) -> Literal["ranked", "match", "off"]:
        """`ranked` without cards to check; else `match` when every claim holds within `CLAIM_TOLERANCE`, or `off`."""
        gap = self.largest_claim_gap
        return "ranked" if gap is None else ("match" if gap <= CLAIM_TOLERANCE else "off")


# --- averaging --------------------------------------------------------------------------------------


def _type_order(types: set[str]) -> tuple[str, ...]:
    known = [t for t in TASK_TYPES if t in types]
    return tuple(known + sorted(types - set(known)))


def _pre_1_11(version: object) -> bool:
    """True for an mteb version before 1.11 (a result file mteb converts from its oldest format)."""
    from packaging.version import InvalidVersion, Version

    try:
        return isinstance(version, str) and Version(version) < Version("1.11.0")
    except InvalidVersion:
        return False


def build(entries: Sequence[Entry], *, suite: Suite | None = None, average: Average = "own", warnings: Sequence[str] = ()) -> Leaderboard:
    """Average, rank and compare the entries.

    Args:
        entries: from `collect`.
        suite: restricts tasks, splits and subsets to the suite's (as the C-MTEB benchmark does).
        average: `own` (each row over the tasks it has, listing those it lacks) or `common` (every
            row over the tasks all rows have).
        warnings: notes from reading the sources, shown with the results.

    Returns:
        The leaderboard (`evalkit.report.leaderboard` renders it).

    Raises:
        DataError: when no entry has a main score (on the suite's tasks, if a suite is given).
    """
    per_task: dict[tuple[str, ...], dict[str, float]] = {}
    pairs_of: dict[tuple[str, ...], dict[str, set[tuple[str, str]]]] = {}
    types: dict[str, str] = {}
    tables: dict[tuple[str, ...], pd.DataFrame] = {}
    seen: set[tuple[str, ...]] = set()
    unreadable: dict[tuple[str, ...], tuple[str, ...]] = {}
    notes = list(warnings)
    for e in entries:
        key: tuple[str, ...] = (e.model, e.revision, e.kind, e.source)
        unreadable[key] = e.unreadable
        if key in seen:
            notes.append(f"{e.model}@{e.revision} from {e.source} appears twice; kept once")
            continue
        seen.add(key)
        main = S.main_scores(in_suite(e.scores, suite))
        if suite is None:
            # In-house tasks are not MTEB tasks: without a suite naming them they stay out of the
            # MTEB type columns and means (a 10-query smoke task is no C-MTEB Retrieval score).
            local = [t for t in dict.fromkeys(main["task"]) if not has_task(str(t))]
            if local:
                notes.append(
                    f"{e.model} ({e.kind}, {e.source}): in-house tasks {', '.join(map(str, local))} left out; name them in a --suite to show them"
                )
                main = main[~main["task"].isin(local)]
        old_rerank = sorted(
            {
                str(t)
                for t, ty, v in zip(main["task"], main["task_type"], main["mteb_version"], strict=True)
                if ty == "Reranking" and _pre_1_11(v)
            }
        )
        if old_rerank and e.kind == "measured":
            notes.append(
                f"{e.model}@{e.revision[:12]}: {', '.join(old_rerank)} read from the file's reranking `map` (mteb before 1.11); "
                "mteb 2.26's own leaderboard shows these tasks empty (its reader finds no map_at_1000 there)"
            )
        tables[key] = main  # issue 23: what ties.mark resamples
        if main.empty:
            where = f" on the tasks of suite {suite.name}" if suite is not None else ""
            notes.append(f"{e.model} ({e.kind}, {e.source}): no main scores{where}; left out")
            continue
        grouped = main.groupby("task", sort=False)
        per_task[key] = {str(t): float(f["value"].mean()) for t, f in grouped}
        pairs_of[key] = {str(t): set(zip(f["subset"], f["split"], strict=True)) for t, f in grouped}
        for t, ttype in zip(main["task"], main["task_type"], strict=True):
            if isinstance(ttype, str) and ttype:
                types.setdefault(str(t), ttype)
    if not per_task:
        raise DataError(
            "leaderboard: no main scores in the sources" + (f" on the tasks of suite {suite.name}" if suite is not None else "")
        )
    incomplete: dict[tuple[str, ...], dict[str, list[str]]] = {}
    if suite is not None:
        # The suite fixes each task's splits and subsets, as a benchmark does in mteb's tables: a row
        # that lacks one of them lacks the task (a mean over fewer splits would not be comparable).
        task_set = tuple(t.name for t in suite.tasks)
        for spec in suite.tasks:
            # In-house tasks get their own columns, never an MTEB type's.
            types[spec.name] = (
                f"{spec.local.type} (in-house)" if spec.local is not None else (types.get(spec.name) or task_type_of(spec.name))
            )
            for key, pairs in pairs_of.items():
                have = pairs.get(spec.name)
                if have is None:
                    continue
                short = lacking(have, spec.splits, spec.subsets)
                if short:
                    incomplete.setdefault(key, {})[spec.name] = short
                    del per_task[key][spec.name]
    else:
        # No suite, no fixed splits: each row keeps its own (as mteb's get_score does) and the
        # tasks whose rows differ are named, so that a mean over other splits is never silent.
        order = _type_order(set(types.values()))
        task_set = tuple(sorted({t for p in pairs_of.values() for t in p}, key=lambda t: (order.index(types[t]) if t in types else 99, t)))
        for task in task_set:
            variants = {frozenset(p[task]) for p in pairs_of.values() if task in p}
            if len(variants) > 1:
                shown = " vs ".join(sorted(", ".join(sorted(sp if sub == "default" else f"{sub}/{sp}" for sub, sp in v)) for v in variants))
                notes.append(f"{task}: rows cover different splits ({shown}); pass --suite to fix each task's splits")
    common = tuple(t for t in task_set if all(t in scores for scores in per_task.values()))
    type_cols = _type_order({types.get(t) or "" for t in task_set} - {""})
    rows = []
    for key, scores in per_task.items():
        model, revision, kind, source = key
        lacks = [t for t in task_set if t not in scores and t not in incomplete.get(key, {})]
        lacks += [f"{t} [{'/'.join(s)} missing]" for t, s in incomplete.get(key, {}).items()]
        lacks += [f"{t} [unreadable file]" for t in unreadable.get(key, ()) if t in task_set or suite is None]
        counted = [t for t in (common if average == "common" else task_set) if t in scores]
        row = {"model": model, "revision": revision, "kind": kind, "source": source, "tasks": len(scores), "of": len(task_set)}
        type_means: list[float] = []
        partial = []
        for ttype in type_cols:
            of_type = [t for t in counted if types.get(t) == ttype]
            wanted = [t for t in (common if average == "common" else task_set) if types.get(t) == ttype]
            row[ttype] = type_mean = M.mean([scores[t] for t in of_type])
            if of_type and len(of_type) < len(wanted):
                partial.append(ttype)
            if of_type:
                type_means.append(type_mean)
        row["mean (task)"] = M.mean([scores[t] for t in counted])
        row["mean (type)"] = M.mean(type_means)
        row["partial"] = partial
        row["lacks"] = lacks
        rows.append(row)
    frame = pd.DataFrame(rows)
    # Rank only on a common basis: rows holding every task of the basis (the suite's or all found;
    # with --common the tasks every row has) are ranked; the others follow, unranked, with what they lack.
    basis_held = frame["lacks"].map(len) == 0 if average == "own" else pd.Series(bool(common), index=frame.index)
    frame["ranked"] = basis_held & frame["mean (task)"].notna()
    frame = frame.sort_values(["ranked", "mean (task)"], ascending=[False, False], na_position="last", kind="stable")
    ranked = int(frame["ranked"].sum())
    frame.insert(0, "rank", pd.array(list(range(1, ranked + 1)) + [None] * (len(frame) - ranked), dtype="Int64"))
    frame = frame.drop(columns="ranked").reset_index(drop=True)
    # Issue 23 (judge/ties.py): paired intervals between adjacent measured rows, tie groups.
    frame = ties.mark(frame, tables, alpha=REGRESS_ALPHA, samples=BOOTSTRAP_SAMPLES, tasks=common if average == "common" else None)
    versus = _claimed_vs_measured({k: tables[k] for k in per_task}, types, type_cols)
    frame["vs claimed"] = [
        _lookup(versus, r.model, r.revision, r.source) if r.kind == "measured" else math.nan for r in frame.itertuples(index=False)
    ]
    tasks_wide = pd.DataFrame(
        [{**dict(zip(KEY, key, strict=True)), **{t: scores.get(t, math.nan) for t in task_set}} for key, scores in per_task.items()]
    )
    rank_of = {tuple(r): i for i, r in enumerate(frame[KEY].itertuples(index=False, name=None))}
    tasks_wide = tasks_wide.iloc[sorted(range(len(tasks_wide)), key=lambda i: rank_of[tuple(tasks_wide.loc[i, KEY])])].reset_index(
        drop=True
    )
    suite_name = suite.name if suite is not None else None
    return Leaderboard(frame, tasks_wide, versus, task_set, type_cols, common, average, suite_name, tuple(notes))


def _claimed_vs_measured(tables: dict[tuple[str, ...], pd.DataFrame], types: dict[str, str], type_cols: tuple[str, ...]) -> pd.DataFrame:
    """Each measured row against each card of its model, judged as card compare judges (`judge.compare`).

    Main scores are joined on (task, subset, split): only the pairs both sides have count, so a
    measured validation split never moves a claim about the test split. A task's Δ is the mean of
    its pairs' Δ; `max |Δ|`, the verdict's number, is the largest |Δ| of one pair, as compare's `off`.
    """
    pair = ["task", "subset", "split"]
    claimed = {k: v for k, v in tables.items() if k[2] == "claimed"}
    rows = []
    for key, measured in tables.items():
        if key[2] != "measured":
            continue
        for ckey, card in claimed.items():
            if not same_model(ckey[0], key[0]):
                continue
            joined = measured[[*pair, "value"]].merge(card[[*pair, "value"]], on=pair, suffixes=("", "_card"))
            joined = joined[joined["value"].notna() & joined["value_card"].notna()]
            delta = (joined["value"] - joined["value_card"]).astype(float)
            deltas = {str(t): float(d.mean()) for t, d in delta.groupby(joined["task"], sort=True)}
            row = {"model": key[0], "revision": key[1], "measured": key[3], "claimed": ckey[3], "shared tasks": len(deltas)}
            for ttype in type_cols:
                row[f"{ttype} Δ"] = M.mean([d for t, d in deltas.items() if types.get(t) == ttype])
            row["mean Δ"] = M.mean(list(deltas.values()))
            worst = int(delta.abs().to_numpy().argmax()) if len(delta) else None
            row["max |Δ|"] = abs(float(delta.iloc[worst])) if worst is not None else math.nan
            row["at task"] = _pair_name(joined.iloc[worst]) if worst is not None else "-"
            rows.append(row)
    return pd.DataFrame(rows)


def _pair_name(row: pd.Series) -> str:
    """`ATEC test`, or `MIRACL zh/dev` for a subset other than default."""
    split = row["split"] if row["subset"] == "default" else f"{row['subset']}/{row['split']}"
    return f"{row['task']} {split}"


def _lookup(versus: pd.DataFrame, model: str, revision: str, source: str) -> float:
    if versus.empty:
        return math.nan
    hit = versus[(versus["model"] == model) & (versus["revision"] == revision) & (versus["measured"] == source)]
    return float(hit["mean Δ"].iloc[0]) if len(hit) else math.nan
