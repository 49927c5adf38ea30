"""The `evalkit` command: argument parsing, printing and exit codes over the library API.

Exit codes: 0 success; 1 a verdict against the numbers (a task failed, a card score is off, a
regression); 2 bad input (one line on stderr, no traceback unless --debug); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from evalkit._console import Console, ShortFormatter, format_run_summary
from evalkit._text import printable
from evalkit.errors import EvalkitError
from evalkit.model.settings import RUN_FLAGS


def _quiet_libraries(debug: bool) -> None:
    # Library chatter drowns the one-line messages users need; --debug brings it back.
    level = logging.DEBUG if debug else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        # The terminal shows warnings; a run's log file (runner/loop.py) keeps its INFO lines too.
        handler.setLevel(level)
        if not debug:
            handler.setFormatter(ShortFormatter())
    if not debug:
        for name in ("mteb", "sentence_transformers", "transformers", "datasets", "huggingface_hub", "httpx", "urllib3"):
            logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not debug:
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


def _model_args(args: argparse.Namespace) -> dict[str, Any]:
    # The model flags are the schema's RUN_FLAGS, each `--flag-name` stored under its field name.
    return {
        **{name: getattr(args, name) for name in RUN_FLAGS},
        "tasks": _split_list(args.tasks),
        "output_dir": args.output,
        "data_dir": args.data_dir,
        "overwrite": args.overwrite,
        "cache_dir": args.cache_dir,
        "no_cache": args.no_cache,
        "shard": args.shard,
    }


def _cmd_run(args: argparse.Namespace) -> int:
    from evalkit import api

    api.offline_if(args.data_dir)
    if args.dry_run:
        plan = api.plan(args.suite, **_model_args(args))
        print(json.dumps(plan.to_json(), indent=2, ensure_ascii=False) if args.json else plan.markdown())
        return 0
    if args.json:
        raise EvalkitError("--json: goes with --dry-run (a run's results are JSON files already); add --dry-run or drop --json")
    _check_outputs(args)
    with Console(enabled=not args.quiet and sys.stderr.isatty(), lines=not args.quiet) as progress:
        summary = api.run(
            args.suite,
            **_model_args(args),
            show_progress=progress.enabled,
            on_task=progress.done,
            on_start=progress.start,
            ray=args.ray,
        )
    print(format_run_summary(summary))
    if args.reports is not None:
        for path in api.run_report(summary.folder, reports_dir=args.reports):
            print(f"wrote {path}", file=sys.stderr)
    return 1 if summary.failed else 0


def _check_outputs(args: argparse.Namespace) -> None:
    """Prove --output and --reports writable before any model loads (not after the whole run)."""
    from evalkit._io import check_writable, remove_stale_temps

    if getattr(args, "revision", None) and args.revision.strip() == "evalkit":
        raise EvalkitError("--revision evalkit: is reserved for evalkit's record folder; pass another revision")
    check_writable(Path(args.output), "--output", create=False)
    if args.reports is not None:
        check_writable(Path(args.reports), "--reports", create=False)
        if Path(args.reports).is_dir():
            remove_stale_temps(Path(args.reports), recursive=False)


def _cmd_models(args: argparse.Namespace) -> int:
    from evalkit import api

    presets = api.list_models(language=args.language, kind={"plain": "sentence-transformers"}.get(args.type, args.type))
    print("| model | kind | revision | preset prompts |")
    print("|---|---|---|---|")
    for p in presets:
        detail = p.reason if p.kind == "refused" else p.summary()
        print(f"| {p.name} | {p.kind} | {(p.revision or '-')[:12]} | {detail.replace('|', '/')} |")
    print(f"\n{len(presets)} models", file=sys.stderr)
    return 0


def _cmd_data_pull(args: argparse.Namespace) -> int:
    from evalkit import api

    entries = api.pull(args.suite, data_dir=args.data_dir, tasks=_split_list(args.tasks))
    for e in entries:
        print(f"pulled {e.task}: {e.path} @ {e.revision}")
    return 0


def _cmd_card_compare(args: argparse.Namespace) -> int:
    from evalkit import api
    from evalkit.report import compare as page

    report = api.compare_card(args.results, card=args.card, tolerance=args.tolerance, reports_dir=args.reports)
    _print_report(page.terminal_summary(report, full=args.full), report.files)
    return 1 if report.failed else 0


def _print_report(text: str, files: tuple[Path, ...]) -> None:
    """Print a judging command's text after the files it wrote, so that its verdict ends the output."""
    for path in files:
        print(f"wrote {path}", file=sys.stderr)
    sys.stderr.flush()
    print(text.rstrip("\n"), flush=True)


def _cmd_card_export(args: argparse.Namespace) -> int:
    from evalkit import api

    result = api.export_card(
        args.source,
        style=args.style,
        model_name=args.model_name,
        into=args.into,
        drop_missing=args.drop_missing,
        dry_run=args.dry_run,
        include_local=args.include_local,
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.into is None:
        sys.stdout.write(result.text)
        return 0
    if args.dry_run:
        sys.stdout.write(result.diff)
    for line in result.summary:
        print(line, file=sys.stderr)
    if args.dry_run:
        print(f"dry run: {args.into} not written", file=sys.stderr)
    elif not result.written:
        print(f"{args.into} unchanged", file=sys.stderr)
    else:
        print(f"updated model-index of {args.into}", file=sys.stderr)
    return 0


def _cmd_regress(args: argparse.Namespace) -> int:
    from evalkit import api
    from evalkit.report import regress as page

    api.offline_if(args.data_dir)
    # With --candidate-model the candidate runs first: the same bar and task lines as `evalkit run`.
    with Console(enabled=bool(args.candidate_model) and sys.stderr.isatty(), lines=bool(args.candidate_model)) as progress:
        report = api.regress(
            args.baseline,
            args.candidate,
            suite=args.suite,
            tolerance=args.tolerance,
            alpha=args.alpha,
            candidate_model=args.candidate_model,
            data_dir=args.data_dir,
            reports_dir=args.reports,
            require_significance=False if args.no_significance else None,
            allow_missing=args.allow_missing,
            examples_shown=args.examples,
            on_task=progress.done,
            on_start=progress.start,
            show_progress=progress.enabled,
        )
    _print_report(page.terminal_summary(report, full=args.full), report.files)
    return 1 if report.failed else 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from evalkit import api
    from evalkit.report import leaderboard as page

    board = api.leaderboard(args.sources, suite=args.suite, common=args.common, reports_dir=args.reports)
    _print_report(page.terminal_summary(board, full=args.full), board.files)
    return 1 if board.verdict == "off" else 0  # a measured row off its card is a verdict against the numbers


def _cmd_merge(args: argparse.Namespace) -> int:
    from evalkit import api

    written = api.merge(args.folders, output_dir=args.output)
    print(f"merged {len(written)} result files into {args.output}")
    return 0


def _split_list(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


COMMANDS = {
    "run": _cmd_run,
    "models": _cmd_models,
    "data_pull": _cmd_data_pull,
    "card_compare": _cmd_card_compare,
    "card_export": _cmd_card_export,
    "regress": _cmd_regress,
    "leaderboard": _cmd_leaderboard,
    "merge": _cmd_merge,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `evalkit` command."""
    from evalkit._cli_parser import build_parser as parser_for

    return parser_for(COMMANDS)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `evalkit` console script."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): return the code, as a library call should
        return int(exc.code or 0)
    _quiet_libraries(args.debug)
    try:
        return int(args.func(args))
    except EvalkitError as exc:
        if args.debug:
            raise
        print(f"evalkit: error: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("evalkit: interrupted; finished tasks are saved, run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        if not _stdout_gone():
            raise  # another pipe or socket broke: not the reader going away
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose pipe closed


def _stdout_gone() -> bool:
    """True when stdout's reader went away (`evalkit ... | head`); stdout then goes to /dev/null.

    What was asked is done; like `cat`, evalkit then says nothing more. Python would otherwise print
    a traceback, and another one when it flushes stdout at exit.
    """
    import select

    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):
        return False  # not a real file (a library caller's stream): not ours to judge
    if hasattr(select, "poll"):
        # The write end of a pipe whose reader closed polls as an error; any other stdout does not.
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        if not any(event & select.POLLERR for _, event in poller.poll(0)):
            return False
    os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
