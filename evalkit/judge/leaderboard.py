"""The leaderboard: many models from results folders and model cards, averaged as C-MTEB does.

(Named `ranking` so that the module never shadows the `evalkit.leaderboard` function.)

Sources (`collect`): an evalkit results folder or a checkout of the public mteb results repository
(both use `<org__name>/<revision>/<Task>.json`), a model card (README.md path or Hub id), or a folder
holding any of these. Results give `measured` rows, cards `claimed` rows; one row per model,
revision and source.

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

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from evalkit import _parse
from evalkit._compat.mteb import has_task
from evalkit._types import TASK_TYPES
from evalkit.errors import DataError
from evalkit.judge import ties
from evalkit.judge.basis import in_suite, lacking
from evalkit.report import pages as R
from evalkit.results import main_score as M
from evalkit.results import scores as S
from evalkit.results.names import same_model, task_type_of
from evalkit.runner.settings import BOOTSTRAP_SAMPLES, COMPARE_TOLERANCE, REGRESS_ALPHA
from evalkit.runner.suite import Suite

Kind = Literal["measured", "claimed"]
Average = Literal["own", "common"]
KEY = ["model", "revision", "kind", "source"]
_LACKS_SHOWN = 8
#: The largest per-task |measured - claimed| that still counts as a match (card compare's default).
CLAIM_TOLERANCE = COMPARE_TOLERANCE


@dataclass(frozen=True)
class Entry:
    """One row's scores before averaging: a model at a revision, from one source."""

    model: str
    revision: str
    kind: Kind
    source: str
    scores: pd.DataFrame
    unreadable: tuple[str, ...] = ()  # tasks whose result file could not be read: the row lacks them


@dataclass(frozen=True)
class Leaderboard:
    """The ranking, the per-task scores behind it, measured-vs-claimed differences and rendered text."""

    rows: pd.DataFrame
    tasks: pd.DataFrame
    claimed_vs_measured: pd.DataFrame
    task_set: tuple[str, ...]
    task_types: tuple[str, ...]
    common: tuple[str, ...]
    average: Average
    suite: str | None
    warnings: tuple[str, ...]
    markdown: str
    files: tuple[Path, ...] = field(default_factory=tuple)


# --- reading sources ---------------------------------------------------------------------------------


def collect(sources: Sequence[str | Path], *, suite: Suite | None = None) -> tuple[list[Entry], list[str]]:
    """Read every source into entries (one per model, revision and source).

    Args:
        sources: results folders, card files or Hub ids, or folders holding any of them.
        suite: when given, only its tasks are read (a whole mteb results checkout stays fast).

    Returns:
        The entries, and warnings for files that could not be read (they are skipped and named).

    Raises:
        DataError: a source that does not exist or holds neither results nor cards, or no scores at all.
    """
    wanted = {t.name for t in suite.tasks} if suite is not None else None
    entries: list[Entry] = []
    warnings: list[str] = []
    for source in sources:
        label = str(source)
        path = Path(source)
        if path.is_file():
            if path.suffix.lower() == ".md":
                entries.append(_card_entry(source, label))
            elif path.suffix.lower() == ".json":
                entries += _results_entries([path], label, warnings)
            else:
                raise DataError(f"leaderboard source {source}: is neither a results folder nor a model card (.md); pass one of those")
        elif path.is_dir():
            found = _results_entries(_result_files(path, wanted), label, warnings) + _card_entries(path, label, warnings)
            if not found and wanted is None:
                raise DataError(
                    f"leaderboard source {source}: holds no results (<model>/<revision>/<Task>.json) and no model card with a model-index"
                )
            if not found:
                warnings.append(f"{source}: no results on the tasks of suite {suite.name if suite is not None else '-'}; left out")
            entries += found
        elif str(source).count("/") == 1 and not str(source).startswith((".", "/", "~")):
            entries.append(_card_entry(source, label))  # a Hub model id: its card
        else:
            raise DataError(f"leaderboard source {source}: no such file or folder; pass a results folder, a README.md card or a Hub id")
    if not entries:
        raise DataError("leaderboard: no scores found in the sources given")
    return entries, warnings


def _result_files(folder: Path, wanted: set[str] | None) -> list[Path]:
    """Every TaskResult file under `folder`, at any depth, in the layout `ResultsFolder` describes."""
    from evalkit.results.folder import ResultsFolder

    owners = {p.parent for p in folder.rglob("*.json") if "evalkit" not in p.relative_to(folder).parts[:-1]}
    owners |= {p.parents[2] for p in folder.rglob("evalkit/local/*.json")}
    files = []
    for owner in sorted(owners):
        if any(part.startswith(".") for part in owner.relative_to(folder).parts):
            continue
        files += [p for p in ResultsFolder(owner).result_files() if wanted is None or p.stem in wanted]
    return files


def _results_entries(files: list[Path], label: str, warnings: list[str]) -> list[Entry]:
    by_folder: dict[Path, list[Path]] = {}
    for path in files:
        # In-house results sit in <revision>/evalkit/local/: they belong to that revision folder.
        owner = path.parents[2] if path.parent.name == "local" and path.parent.parent.name == "evalkit" else path.parent
        by_folder.setdefault(owner, []).append(path)
    # One results root keeps the name the user gave; several (runs side by side in one folder) are
    # told apart by their own paths, so that two runs of one model are never averaged together.
    roots = {folder.parent.parent for folder in by_folder}
    entries = []
    for folder, paths in sorted(by_folder.items()):
        tables, unreadable = [], []
        for path in paths:
            try:
                tables.append(S.read_results(path))
            except DataError as exc:
                warnings.append(f"skipped {exc}")
                unreadable.append(path.stem)
        if not tables:
            continue
        table = pd.concat(tables, ignore_index=True)
        source = label if len(roots) == 1 else str(folder.parent.parent)
        for (model, revision), frame in table.groupby(["model", "revision"], sort=True):
            entries.append(Entry(str(model), str(revision), "measured", source, frame.reset_index(drop=True), tuple(unreadable)))
    return entries


def _card_entries(folder: Path, label: str, warnings: list[str]) -> list[Entry]:
    out = []
    for path in sorted(folder.rglob("*.md")):
        try:
            head = _parse.read_bytes(path, str(path), limit=_parse.MAX_CARD_BYTES)[:200_000].decode("utf-8", errors="replace")
        except DataError:
            continue
        # A folder of results may hold plain READMEs: only files with a model-index are cards.
        if not head.startswith("---") or "model-index" not in head:
            continue
        try:
            out.append(_card_entry(path, str(path)))
        except DataError as exc:
            warnings.append(f"skipped {exc}")
    return out


def _card_entry(ref: str | Path, label: str) -> Entry:
    from evalkit.card import read_card

    card = read_card(ref)
    # A Hub id names the model better than the model-index's short name does.
    name = str(ref) if not Path(ref).exists() else str(card.model_name)
    table = card.scores.assign(model=name)
    return Entry(name, "-", "claimed", label, table)


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
        The leaderboard, rendered as Markdown.

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
    versus = _claimed_vs_measured(per_task, types, type_cols)
    frame["vs claimed"] = [
        _lookup(versus, r.model, r.revision, r.source) if r.kind == "measured" else math.nan for r in frame.itertuples(index=False)
    ]
    tasks_wide = pd.DataFrame(
        [{**dict(zip(KEY, key, strict=True)), **{t: scores.get(t, math.nan) for t in task_set}} for key, scores in per_task.items()]
    )
    rank_of = {tuple(r): i for i, r in enumerate(frame[KEY].itertuples(index=False, name=None))}
    tasks_wide = tasks_wide.iloc[sorted(range(len(tasks_wide)), key=lambda i: rank_of[tuple(tasks_wide.loc[i, KEY])])].reset_index(drop=True)
    suite_name = suite.name if suite is not None else None
    text = _markdown(frame, versus, task_set, common, type_cols, average, suite_name, notes)
    return Leaderboard(frame, tasks_wide, versus, task_set, type_cols, common, average, suite_name, tuple(notes), text)




def _claimed_vs_measured(
    per_task: dict[tuple[str, ...], dict[str, float]], types: dict[str, str], type_cols: tuple[str, ...]
) -> pd.DataFrame:
    claimed = {k: v for k, v in per_task.items() if k[2] == "claimed"}
    rows = []
    for key, measured in per_task.items():
        if key[2] != "measured":
            continue
        for ckey, card in claimed.items():
            if not same_model(ckey[0], key[0]):
                continue
            shared = sorted(set(measured) & set(card))
            row = {
                "model": key[0],
                "revision": key[1],
                "measured": key[3],
                "claimed": ckey[3],
                "shared tasks": len(shared),
            }
            for ttype in type_cols:
                of_type = [t for t in shared if types.get(t) == ttype]
                row[f"{ttype} Δ"] = M.mean([measured[t] - card[t] for t in of_type])
            deltas = {t: measured[t] - card[t] for t in shared}
            row["mean Δ"] = M.mean(list(deltas.values()))
            worst = max(deltas, key=lambda t: abs(deltas[t])) if deltas else None
            row["max |Δ|"] = abs(deltas[worst]) if worst else math.nan
            row["at task"] = worst or "-"
            rows.append(row)
    return pd.DataFrame(rows)


def _lookup(versus: pd.DataFrame, model: str, revision: str, source: str) -> float:
    if versus.empty:
        return math.nan
    hit = versus[(versus["model"] == model) & (versus["revision"] == revision) & (versus["measured"] == source)]
    return float(hit["mean Δ"].iloc[0]) if len(hit) else math.nan


# --- presenting --------------------------------------------------------------------------------------


def _lacks_text(lacks: list[str]) -> str:
    if not lacks:
        return "-"
    shown = ", ".join(lacks[:_LACKS_SHOWN])
    return shown + (f" and {len(lacks) - _LACKS_SHOWN} more" if len(lacks) > _LACKS_SHOWN else "")


def _display(frame: pd.DataFrame, type_cols: tuple[str, ...]) -> pd.DataFrame:
    """The ranking as shown: key columns first, then type means, then what a row lacks.

    Rank, model, means and vs claimed come first so that they stay in view on a laptop; partial
    type means are marked with `*`.
    """
    out = pd.DataFrame(
        {
            "rank": ["-" if pd.isna(r) else str(int(r)) for r in frame["rank"]],
            "model": frame["model"],
            "kind": frame["kind"],
            "tasks": [f"{a}/{b}" for a, b in zip(frame["tasks"], frame["of"], strict=True)],
            "mean (task)": frame["mean (task)"],
            "mean (type)": frame["mean (type)"],
            "vs claimed": [R.fmt(v, signed=True) for v in frame["vs claimed"]],
        }
    )
    for ttype in type_cols:
        out[ttype] = [
            "-" if math.isnan(v) else f"{v:.4f}" + ("*" if ttype in p else "") for v, p in zip(frame[ttype], frame["partial"], strict=True)
        ]
    if "tie" in frame:  # issue 23: beside the means they qualify
        at = list(out.columns).index("vs claimed") + 1
        out.insert(at, "vs next", frame["vs next"])
        out.insert(at + 1, "tie", frame["tie"])
    out["revision"] = [r[:12] for r in frame["revision"]]
    out["lacks"] = [_lacks_text(x) for x in frame["lacks"]]
    out["source"] = frame["source"]
    return out


def _describe(task_set: tuple[str, ...], common: tuple[str, ...], average: Average, suite: str | None, rows: int) -> str:
    where = f"the {len(task_set)} tasks of suite {suite}" if suite else f"the {len(task_set)} tasks found"
    on_every = (
        "no task is on every row"
        if not common
        else (f"only {len(common)} task" + (" is" if len(common) == 1 else "s are") + " on every row")
    )
    if average == "common":
        how = f"every row averages the {len(common)} tasks that all rows have"
        if not common:
            how = "no task is on every row, so there are no common averages (the default averages each row's own tasks)"
    else:
        how = "only rows that have every task are ranked; the others follow unranked, each averaged over the tasks it has, and list what they lack"
        if len(common) < len(task_set):
            how += f" ({on_every}; `--common` averages those alone)"
    return f"{rows} rows over {where}; {how}. A task's score is the mean over its splits and subsets, as in mteb's tables."


def _markdown(
    frame: pd.DataFrame,
    versus: pd.DataFrame,
    task_set: tuple[str, ...],
    common: tuple[str, ...],
    type_cols: tuple[str, ...],
    average: Average,
    suite: str | None,
    notes: list[str],
) -> str:
    lines = [
        "# evalkit leaderboard",
        "",
        _describe(task_set, common, average, suite, len(frame)) + " `*`: over part of that type's tasks.",
        "",
        R.markdown_table(_display(frame, type_cols)),
    ]
    if "tie" in frame:  # issue 23
        lines += ["", frame.attrs.get("ties_note", "")]
    if not versus.empty:
        lines += [
            "",
            "## Measured vs claimed (measured - claimed, over the tasks both have)",
            R.markdown_table(versus.drop(columns=["measured"]).assign(revision=[r[:12] for r in versus["revision"]])),
        ]
    if notes:
        lines += ["", "## Warnings", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def write_reports(board: Leaderboard, folder: Path, *, about: R.About | None = None) -> tuple[Path, ...]:
    """Write leaderboard.md, .csv, .json, .html and leaderboard_tasks.csv (per-task scores) under `folder`.

    Args:
        board: the leaderboard.
        folder: where the files go (created if needed).
        about: header entries (defaults to the board's models and suite).

    Returns:
        The paths written.
    """
    from evalkit.report import charts as C

    frame = board.rows
    csv_frame = frame.assign(partial=[" ".join(p) for p in frame["partial"]], lacks=[" ".join(x) for x in frame["lacks"]])
    payload = {
        "suite": board.suite,
        "average": board.average,
        "task_set": list(board.task_set),
        "common_tasks": list(board.common),
        "rows": json.loads(frame.to_json(orient="records", double_precision=15)),
        "tasks": json.loads(board.tasks.to_json(orient="records", double_precision=15)),
        "claimed_vs_measured": json.loads(board.claimed_vs_measured.to_json(orient="records", double_precision=15)),
        "warnings": list(board.warnings),
    }
    colours = {tuple(r): C.PALETTE[i % len(C.PALETTE)] for i, r in enumerate(frame[KEY].itertuples(index=False, name=None))}

    # Chart labels stay short enough for a phone: the model's own name, a short revision, the kind,
    # and the source only where one model and revision come from several sources.
    import os

    short: dict[tuple[str, ...], str] = {}
    for _, twins in frame.groupby(["model", "revision", "kind"]):
        if len(twins) > 1:
            base = os.path.commonpath([os.path.abspath(x) for x in twins["source"]])
            for r in twins.itertuples(index=False):
                short[(r.model, r.revision, r.kind, r.source)] = ", " + os.path.relpath(os.path.abspath(r.source), base)

    def name(r: Any) -> str:
        rev = "" if r.revision == "-" else f"@{r.revision[:8]}"
        return f"{r.model.rsplit('/', 1)[-1]}{rev} ({r.kind}{short.get((r.model, r.revision, r.kind, r.source), '')})"

    groups = []
    for col in (*board.task_types, "mean (task)"):
        idx = list(frame.columns).index(col)
        bars = []
        for r in frame.itertuples(index=False):
            value = r[idx]
            if math.isnan(value):
                continue
            tip = f"{name(r)}, {col}: {value:.4f}"
            bars.append(C.Row(name(r), f"{value:.4f}", (C.Bar(value, colours[(r.model, r.revision, r.kind, r.source)], tip),), tip=tip))
        if bars:
            groups.append(C.Group(col, tuple(bars)))
    values = [v for col in (*board.task_types, "mean (task)") for v in frame[col] if not math.isnan(v)]
    lo, hi = C.domain(values)
    chart = C.bar_chart(groups, title="Models by task type", axis_label="average main score (0-1 scale)", lo=lo, hi=hi)
    top = frame.iloc[0]
    if pd.isna(top["rank"]):
        summary = "No row holds every task of the basis, so none is ranked; each lists what it lacks."
    else:
        summary = f"#1 {top['model']} ({top['kind']}): mean (task) {R.fmt(top['mean (task)'])} over {top['tasks']} of {top['of']} tasks."
    unranked = int(frame["rank"].isna().sum())
    if unranked and not pd.isna(top["rank"]):
        summary += f" {unranked} row{'s' if unranked > 1 else ''} lacking tasks of the basis listed below, unranked."
    versus = board.claimed_vs_measured
    tone: R.Tone
    if versus.empty:
        verdict, tone = "RANKED", "info"
    else:
        worst = float(versus["max |Δ|"].max())
        verdict, tone = ("MATCH", "good") if worst <= CLAIM_TOLERANCE else ("OFF", "bad")
        summary += f" Measured vs claimed: largest task difference {worst:.4f} (tolerance {CLAIM_TOLERANCE:g})."
    page = R.render_page(
        "leaderboard.html.j2",
        verdict=verdict,
        tone=tone,
        title="evalkit leaderboard",
        summary=summary,
        about=about
        or R.About(
            models=tuple(
                R.ModelRef(f"{'-' if pd.isna(r.rank) else f'#{r.rank}'} {r.kind}", r.model, None if r.revision == "-" else r.revision)
                for r in frame.itertuples()
            ),
            suite=board.suite,
        ),
        description=_describe(board.task_set, board.common, board.average, board.suite, len(frame)),
        charts={"types": chart},
        legend=[(name(r), colours[(r.model, r.revision, r.kind, r.source)]) for r in frame.itertuples(index=False)],
        ties_note=frame.attrs.get("ties_note", ""),  # issue 23
        ranking=R.table(
            _display(frame, board.task_types),
            id="ranking",
            wrap=("lacks", "source"),
            row_class=lambda r: "" if r.rank != "-" else "muted",
        ),
        versus=R.table(board.claimed_vs_measured, id="versus", signed=[c for c in board.claimed_vs_measured.columns if "Δ" in c]),
        tasks=R.table(board.tasks.assign(revision=[r[:12] for r in board.tasks["revision"]]), id="tasks"),
        warnings=list(board.warnings),
    )
    paths = R.write_files(
        folder,
        "leaderboard",
        {"md": board.markdown, "csv": R.csv_text(csv_frame), "json": json.dumps(payload, indent=2) + "\n", "html": page},
    )
    paths += R.write_files(folder, "leaderboard_tasks", {"csv": R.csv_text(board.tasks)})
    return tuple(paths)
