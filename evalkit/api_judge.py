"""The judging half of the library API: card compare and export, regress, leaderboard, run report, merge.

`evalkit.api` is the one surface and re-exports these; running suites (run, plan, pull) lives there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalkit.errors import DataError, SuiteError
from evalkit.runner.settings import COMPARE_TOLERANCE

if TYPE_CHECKING:
    from evalkit.card import CardExport
    from evalkit.judge.compare import CompareReport
    from evalkit.judge.leaderboard import Leaderboard
    from evalkit.judge.regress import RegressReport


def _reports(reports_dir: Path | str) -> Path:
    """A reports folder; "default" is `$EVALKIT_REPORTS` or reports/, as on the command line."""
    from evalkit.runner.settings import default_reports_dir

    return default_reports_dir() if reports_dir == "default" else Path(reports_dir)


def compare_card(
    results: Path, *, card: str | Path, tolerance: float = COMPARE_TOLERANCE, reports_dir: Path | None | Literal["default"] = "default"
) -> CompareReport:
    """Compare a results folder with a model card's model-index; writes reports when `reports_dir`.

    The report's first line names both models; `report.failed` is the verdict (a main score off by
    more than `tolerance`, or no main score in common).

    Raises:
        EvalkitError: broken card or results folder.
    """
    from evalkit.card import read_card
    from evalkit.judge.compare import compare
    from evalkit.report import pages as R
    from evalkit.report.compare import write_reports
    from evalkit.results.scores import read_results as _read
    from evalkit.runner.settings import check_tolerance

    check_tolerance(tolerance)
    card_scores = read_card(card)
    ours = _read(Path(results), single_model=True)
    report = compare(
        card_scores.scores,
        ours,
        tolerance=tolerance,
        extras=card_scores.extras,
        card_names=card_scores.names,
        notes=tuple(card_scores.warnings),
    )
    if reports_dir is not None:
        about = R.About(
            models=(R.ModelRef("card (claimed)", f"{card_scores.model_name} ({card})"), *R.models_of(ours, "results (measured)")),
            suite=R.suite_of(Path(results)),
            result_versions=R.mteb_versions(ours),
        )
        report = replace(report, files=write_reports(report, _reports(reports_dir), about=about))
    return report


def export_card(
    source: str | Path,
    *,
    style: str | None = None,
    model_name: str | None = None,
    into: Path | None = None,
    drop_missing: bool = False,
    dry_run: bool = False,
    include_local: bool | tuple[str, ...] = False,
) -> CardExport:
    """Export model-index YAML from a results folder or a card; with `into`, update that card in place.

    Args:
        source: a results folder, a README.md, or a Hub model id.
        style: `card` or `mteb`; None keeps a card's own style (`card` for results).
        model_name: the model-index name; with `into`, also writes into another model's card on purpose.
        into: a README.md whose model-index is updated (created above its first line when it has no
            front matter).
        drop_missing: with `into`, drop card entries and metrics the source lacks.
        dry_run: with `into`, compute the diff and write nothing.
        include_local: in-house tasks of a results folder to export (True: all); left out otherwise.

    Returns:
        The YAML (or the card's new text), notes, and with `into` the summary and the diff.

    Raises:
        EvalkitError: unreadable source or target card; `into` another model's card.
    """
    from evalkit.card import CardExport, export, export_card_text, read_card, select_exportable, update_card
    from evalkit.card.write import left_out
    from evalkit.results.scores import read_results as _read

    if (drop_missing or dry_run) and into is None:
        raise DataError(f"--{'drop-missing' if drop_missing else 'dry-run'}: only with --into README.md")
    src = Path(source)
    card = None
    if src.is_dir():
        table, notes = select_exportable(_read(src, single_model=True), include_local)
        source_model = str(table["model"].iloc[0]) if not table.empty else None
        if table.empty:
            raise DataError(f"nothing to export from {src}: {notes[0] if notes else 'no results'}")
    else:
        card = read_card(source)
        table, notes, source_model = card.scores, list(card.warnings), card.model_name
    if into is None:
        if card is not None:
            text = export_card_text(card, style=style, model_name=model_name)  # type: ignore[arg-type]
        else:
            text = export(table, style=style or "card", model_name=model_name or str(source_model).split("/")[-1])  # type: ignore[arg-type]
            notes += [n for n in [left_out(table, style or "card")] if n]  # type: ignore[arg-type]
        return CardExport(text, tuple(notes))
    update = update_card(
        Path(into),
        table,
        style=style,  # type: ignore[arg-type]
        model_name=model_name,
        drop_missing=drop_missing,
        dry_run=dry_run,
        source_model=source_model,
    )
    summary = (update.summary.line(str(into)), *(f"  {line}" for line in update.summary.changed))
    return CardExport(update.text, tuple(notes), summary, update.diff, update.written)


def regress(
    baseline: str | Path,
    candidate: Path,
    *,
    suite: str | Path | None = None,
    tolerance: float | None = None,
    alpha: float | None = None,
    require_significance: bool | None = None,
    allow_missing: bool = False,
    examples_shown: int = 10,
    candidate_model: str | None = None,
    data_dir: Path | None = None,
    output_dir: Path | None = None,
    reports_dir: Path | None | Literal["default"] = "default",
    on_task: Callable[[Any], None] | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
    show_progress: bool = False,
) -> RegressReport:
    """Gate a candidate's results against a baseline (results folder or model card).

    With `candidate_model` and `suite`, first runs the suite's tasks the candidate folder lacks.

    Args:
        baseline: results folder, README.md card or Hub id.
        candidate: results folder of the candidate.
        suite: suite path or name: per-task tolerances, and the tasks for `candidate_model`.
        tolerance: default allowed drop (0-1 scale).
        alpha: significance level of the bootstrap interval.
        require_significance: a drop must also be significant to count (default True).
        allow_missing: baseline tasks the candidate lacks do not fail the gate.
        examples_shown: per regressed task split, how many of the examples that got worse to list.
        candidate_model: checkpoint to run first on what the candidate folder lacks.
        data_dir: offline mirror for `candidate_model` runs.
        output_dir: results root for `candidate_model` runs (default: `candidate`).
        on_task: with `candidate_model`, called after each task of its run (the CLI prints its line).
        on_start: with `candidate_model`, called as each task of its run starts (the CLI's bar).
        show_progress: with `candidate_model`, progress bars on stderr for its run.
        reports_dir: where regress.md/.json/.xml/.html go (None: write nothing).

    Returns:
        The report; `report.failed` decides the exit code.

    Raises:
        EvalkitError: missing folders, no common task, corrupt per-example files.
    """
    from evalkit.judge.regress import gate, load_side
    from evalkit.report import pages as R
    from evalkit.report.regress import write_reports
    from evalkit.runner.suite import resolve_suite

    resolved_suite = resolve_suite(suite, None)[0] if suite is not None else None
    if candidate_model is not None:
        if resolved_suite is None:
            raise SuiteError("--candidate-model needs --suite to know which tasks to run")
        import evalkit  # the public run, exactly as `evalkit run` does it

        summary = evalkit.run(
            resolved_suite,
            model=candidate_model,
            output_dir=Path(output_dir or candidate),
            data_dir=data_dir,
            on_task=on_task,
            on_start=on_start,
            show_progress=show_progress,
        )
        candidate = summary.folder
    base = load_side(baseline, role="baseline")
    cand = load_side(candidate, role="candidate")
    report = gate(
        base,
        cand,
        suite=resolved_suite,
        tolerance=tolerance,
        alpha=alpha,
        require_significance=require_significance,
        allow_missing=allow_missing,
        moved_cap=examples_shown,
    )
    if reports_dir is not None:
        suite_name = resolved_suite.name if resolved_suite is not None else None
        if suite_name is None and Path(candidate).is_dir():
            suite_name = R.suite_of(Path(candidate))
        about = R.About(
            models=(*_side_models(base, "baseline"), *_side_models(cand, "candidate")),
            suite=suite_name,
            result_versions=R.mteb_versions(base.scores, cand.scores),
        )
        report = replace(report, files=write_reports(report, _reports(reports_dir), about=about))
    return report


def _side_models(side: Any, role: str) -> tuple[Any, ...]:
    from evalkit.report import pages as R

    refs = R.models_of(side.scores, role)
    if side.label.startswith("card "):
        refs = tuple(R.ModelRef(f"{role} (card)", r.name, r.revision) for r in refs)
    return refs


def run_report(folder: Path, *, reports_dir: Path | Literal["default"] = "default") -> tuple[Path, ...]:
    """Write run.md and run.html for a results folder of one model (what `evalkit run` writes after a run).

    Args:
        folder: the model's results folder (`<output>/<org__name>/<revision>/`), or a root holding one model.
        reports_dir: where the files go.

    Returns:
        The paths written.

    Raises:
        DataError: a folder with neither results nor a run manifest, or one that mixes models.
    """
    from evalkit.report.run import run_report as _run_report

    return _run_report(Path(folder), _reports(reports_dir))


def leaderboard(
    sources: list[str | Path] | tuple[str | Path, ...],
    *,
    suite: str | Path | None = None,
    common: bool = False,
    reports_dir: Path | None | Literal["default"] = "default",
) -> Leaderboard:
    """Rank many models from results folders and model cards, averaged as the C-MTEB leaderboard does.

    Args:
        sources: results folders (evalkit's or an mteb results checkout), README.md cards, Hub ids,
            or folders holding any of them.
        suite: suite path or name: its tasks, splits and subsets define the columns (e.g. cmteb).
        common: average every row over the tasks all rows have, instead of each row's own tasks.
        reports_dir: where leaderboard.md/.csv/.json/.html go (None: write nothing).

    Returns:
        The leaderboard; `evalkit.report.leaderboard.markdown(board)` is what the command prints.

    Raises:
        EvalkitError: a missing source, a broken card, or no scores at all.
    """
    from evalkit.judge import leaderboard as L
    from evalkit.report.leaderboard import write_reports

    if not sources:
        raise DataError("leaderboard: no SOURCE given; pass results folders, README.md cards or Hub ids")
    from evalkit.runner.suite import resolve_suite

    resolved = resolve_suite(suite, None)[0] if suite is not None else None
    entries, warnings = L.collect(list(sources), suite=resolved)
    board = L.build(entries, suite=resolved, average="common" if common else "own", warnings=warnings)
    if reports_dir is not None:
        board = replace(board, files=write_reports(board, _reports(reports_dir)))
    return board


def merge(folders: list[Path], *, output_dir: Path) -> list[Path]:
    """Join results folders (e.g. of `--shard` runs) into one; returns the files written.

    Raises:
        DataError: a folder without results, or two folders with different results for one task.
    """
    from evalkit.results.merge import merge_folders

    return merge_folders([Path(f) for f in folders], Path(output_dir))
