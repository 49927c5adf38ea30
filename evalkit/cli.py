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
from typing import Any, NoReturn

from evalkit._console import Console, ShortFormatter, format_run_summary
from evalkit._text import printable
from evalkit.errors import EvalkitError
from evalkit.model.settings import RUN_FLAGS, choices, default
from evalkit.runner.settings import COMPARE_TOLERANCE, REGRESS_ALPHA, REGRESS_TOLERANCE, default_reports_dir

_EPILOG_RUN = """examples:
  evalkit run configs/smoke.yaml                      bundled tasks of all six types, offline, the embedded model
  evalkit run configs/cmteb.yaml --model BAAI/bge-small-zh-v1.5 --dtype bf16
  evalkit run configs/sts.yaml --model ./ckpt/step-1000 --data-dir ~/mteb-mirror
  evalkit run --tasks STSBenchmark,Banking77Classification --data-dir ../shared/mirror
  evalkit run configs/cmteb.yaml --shard 2/4 --output results/   (then: evalkit merge ...)
  evalkit run configs/cmteb.yaml --ray auto          one Ray task per suite task on the running cluster
"""


def _version() -> str:
    from evalkit._util import package_versions

    v = package_versions("evalkit", "mteb", python=True)
    return f"evalkit {v['evalkit']} (mteb {v['mteb']}, Python {v['python']})"


_EPILOG_LEADERBOARD = """examples:
  evalkit leaderboard results/ --suite configs/cmteb.yaml             every model under results/, C-MTEB columns
  evalkit leaderboard results/ README.md BAAI/bge-small-zh-v1.5       measured rows next to claimed (card) rows
  evalkit leaderboard ~/mteb-results/results cards/ --suite cmteb     a checkout of the public mteb results, a folder of cards
"""


_EPILOG_EXPORT = """examples:
  evalkit card export results/org__model/<rev>                       C-MTEB card style, to stdout
  evalkit card export README.md                                      the card's model-index, in its own style
  evalkit card export README.md --style mteb                         the same entries, mteb 2.x names, 0-1
  evalkit card export results/org__model/<rev> --into README.md --dry-run   the diff, nothing written
  evalkit card export results/org__model/<rev> --into README.md --include-local MyFAQ

--into refuses (exit 2) another model's card unless --model-name is given, keeps every card metric
unless --drop-missing, and prints entries updated/added/kept/dropped and the values that changed
beyond the card's printed precision.
"""


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
    text = page.markdown(report) + "\n" + page.verdict_line(report) if args.full else page.terminal_summary(report)
    _print_report(text.rstrip("\n"), report.files, verdict_last=True)
    return 1 if report.failed else 0


def _print_report(text: str, files: tuple[Path, ...], *, verdict_last: bool = False) -> None:
    """Print a report; with `verdict_last`, the files written come first so that the verdict ends the output."""
    if not verdict_last:
        print(text)
    for path in files:
        print(f"wrote {path}", file=sys.stderr)
    if verdict_last:
        sys.stderr.flush()
        print(text, flush=True)


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


def _include_local(value: str) -> bool | tuple[str, ...]:
    return True if value == "*" else tuple(v.strip() for v in value.split(",") if v.strip())


def _cmd_regress(args: argparse.Namespace) -> int:
    from evalkit import api
    from evalkit.report import regress as page

    api.offline_if(args.data_dir)
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
    )
    text = page.markdown(report) + "\n" + page.verdict_line(report) if args.full else page.terminal_summary(report)
    _print_report(text.rstrip("\n"), report.files, verdict_last=True)
    return 1 if report.failed else 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from evalkit import api
    from evalkit.report import leaderboard as page

    board = api.leaderboard(args.sources, suite=args.suite, common=args.common, reports_dir=args.reports)
    _print_report(page.markdown(board), board.files)
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from evalkit import api

    written = api.merge(args.folders, output_dir=args.output)
    print(f"merged {len(written)} result files into {args.output}")
    return 0


def _split_list(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value}: must be 0 or more")
    return number


def _shard(value: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError("use K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"{value}: K must be between 1 and N")
    return k, n


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other bad input
        self.exit(2, f"evalkit: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `evalkit` command."""
    p = _Parser(prog="evalkit", description="Evaluate text-embedding models on MTEB / C-MTEB and keep model cards honest.")
    p.add_argument("--debug", action="store_true", help="show tracebacks and library logs")
    p.add_argument("--version", action="version", version=_version(), help="print the evalkit and mteb versions and exit")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run a suite on a model", epilog=_EPILOG_RUN, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("suite", nargs="?", help="suite YAML path or packaged name (smoke, cmteb, sts, ...)")
    g = r.add_argument_group("what to run")
    g.add_argument("--model", help="Hub id or local checkpoint folder (default: the suite's, else the embedded all-MiniLM-L6-v2)")
    g.add_argument("--model-name", help="name to file results under (default: the Hub id, or the folder name)")
    g.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    g.add_argument("--tasks", help="comma-separated task names: narrows the suite, or runs mteb tasks without one")
    g.add_argument("--shard", type=_shard, help="run shard K of N (deterministic split of the suite's tasks)")
    g = r.add_argument_group("where")
    g.add_argument("--output", type=Path, default=Path("results"), help="results folder (default: results/)")
    g.add_argument("--reports", type=Path, default=default_reports_dir(), help="where to write run.md and run.html (default: reports/)")
    g.add_argument("--data-dir", type=Path, help="offline mirror root: load every dataset from here, never the network")
    g.add_argument("--cache-dir", type=Path, help="embedding cache folder (default: $EVALKIT_CACHE or ~/.cache/evalkit/embeddings)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    g.add_argument(
        "--ray",
        nargs="?",
        const=True,
        metavar="ADDRESS",
        help="run each task as a Ray task, largest first: local (start Ray here), auto (the running cluster), HOST:PORT "
        "or ray://HOST:10001; bare --ray: $RAY_ADDRESS, else local (pip install 'evalkit[ray]')",
    )
    g = r.add_argument_group("encoder")
    # Choices and defaults are the settings schema's (evalkit.model.settings.ModelSettings).
    g.add_argument(
        "--batch-size", type=int, metavar="N", help=f"texts per encoder batch (default: the suite's, else {default('batch_size')})"
    )
    g.add_argument("--device", help=f"{default('device')} (default), cpu, cuda, cuda:1, mps; several (cuda:0,cuda:1) encode data-parallel")
    g.add_argument(
        "--dtype",
        choices=choices("dtype"),
        help=f"weights and activations (default: the suite's, else {default('dtype')}); similarities stay fp32",
    )
    g.add_argument(
        "--max-seq-length", type=int, metavar="TOKENS", help="truncate texts to this many tokens (default: the suite's, else the model's)"
    )
    g.add_argument(
        "--loader",
        choices=choices("loader"),
        help=f"{default('loader')} (default): evalkit loads the model; mteb: mteb's own wrapper (registry models such as jina-embeddings-v3)",
    )
    g.add_argument(
        "--trust-remote-code", metavar="MODEL", help="let MODEL (same as --model) run its own Python code; only for models you trust"
    )
    g.add_argument("--allow-pickle", metavar="MODEL", help="let MODEL (same as --model) load pickle weights (*.bin), which can run code")
    g.add_argument(
        "--unchecked-weights",
        metavar="MODEL",
        help="skip the check that every weight of MODEL (same as --model) came from its checkpoint; only when evalkit cannot read them",
    )
    g = r.add_argument_group("behaviour")
    g.add_argument("--overwrite", action="store_true", help="rerun tasks that already have results")
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan: settings and their sources, every prompt, which tasks would run; loads no weights",
    )
    g.add_argument("--json", action="store_true", help="with --dry-run: print the plan as JSON")
    g.add_argument("--quiet", action="store_true", help="print only the final table")
    r.set_defaults(func=_cmd_run)

    mo = sub.add_parser("models", help="list mteb's registry models and the presets evalkit takes from it")
    mo.add_argument("--language", help="ISO 639-3 language code, e.g. zho")
    mo.add_argument(
        "--type",
        choices=["sentence-transformers", "plain", "instruct", "mteb", "refused"],
        help="only models of this kind (plain = sentence-transformers)",
    )
    mo.set_defaults(func=_cmd_models)

    d = sub.add_parser("data", help="offline mirror of task datasets")
    dsub = d.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    dp = dsub.add_parser("pull", help="snapshot each task's dataset repo at its pinned revision")
    dp.add_argument("suite", help="suite YAML path or packaged name whose datasets to snapshot (e.g. cmteb)")
    dp.add_argument("--data-dir", type=Path, required=True, help="mirror root to write into (then: evalkit run ... --data-dir DIR)")
    dp.add_argument("--tasks", help="comma-separated subset of the suite's tasks")
    dp.set_defaults(func=_cmd_data_pull)

    c = sub.add_parser("card", help="compare with or export a model card's model-index")
    csub = c.add_subparsers(dest="card_command", required=True, parser_class=_Parser)
    cc = csub.add_parser(
        "compare",
        help="compare results with a card's model-index",
        description="Compare a results folder with a card's model-index (any card style). The report's first line names "
        "both models; exit 1 when a main score is off by more than --tolerance, or when no main score is on both sides.",
    )
    cc.add_argument("results", type=Path, help="results folder of one model")
    cc.add_argument("--card", required=True, help="README.md path or Hub model id")
    cc.add_argument(
        "--tolerance", type=float, default=COMPARE_TOLERANCE, help=f"allowed |delta| on the 0-1 scale (default {COMPARE_TOLERANCE})"
    )
    cc.add_argument("--reports", type=Path, default=default_reports_dir(), help="where to write compare.md/.csv/.html")
    cc.add_argument("--full", action="store_true", help="print the whole comparison (every metric row), not the summary")
    cc.set_defaults(func=_cmd_card_compare)
    ce = csub.add_parser(
        "export",
        help="write model-index YAML from results or a card",
        epilog=_EPILOG_EXPORT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ce.add_argument("source", help="results folder, README.md, or Hub model id")
    ce.add_argument(
        "--style",
        choices=["card", "mteb"],
        help="card: C-MTEB cards (old names, percents, every metric); mteb: mteb 2.x names, 0-1, main score "
        "(default: a card's own style; card for results)",
    )
    ce.add_argument("--model-name", help="the model-index name (default: the model's); with --into, writes into another model's card")
    ce.add_argument(
        "--include-local",
        nargs="?",
        const="*",
        type=_include_local,
        default=False,
        metavar="NAMES",
        help="export in-house tasks of the results too: all, or a comma list (they are not MTEB tasks: left out by default)",
    )
    g = ce.add_argument_group("--into")
    g.add_argument("--into", type=Path, help="update the model-index of this README.md in place (keeps its style and order)")
    g.add_argument("--drop-missing", action="store_true", help="with --into: drop card entries and metrics the source lacks")
    g.add_argument("--dry-run", action="store_true", help="with --into: print the unified diff, write nothing")
    ce.set_defaults(func=_cmd_card_export)

    g = sub.add_parser("regress", help="gate a candidate against a baseline")  # type: ignore[assignment]  # g names each group in turn; a parser takes the same add_argument
    g.add_argument("baseline", help="results folder or model card (README.md or Hub id)")
    g.add_argument("candidate", type=Path, help="results folder of the candidate")
    g.add_argument("--suite", help="suite for per-task tolerances (and for --candidate-model)")
    g.add_argument("--tolerance", type=float, help=f"allowed drop on the 0-1 scale (default: suite's, else {REGRESS_TOLERANCE})")
    g.add_argument("--alpha", type=float, help=f"significance level of the bootstrap interval (default: suite's, else {REGRESS_ALPHA})")
    g.add_argument("--no-significance", action="store_true", help="judge by tolerance alone")
    g.add_argument(
        "--allow-missing",
        action="store_true",
        help="pass even when the candidate lacks some of the baseline's tasks (they are still listed first); default: exit 1",
    )
    g.add_argument(
        "--examples",
        type=_non_negative,
        default=10,
        metavar="N",
        help="per regressed task, list the N examples that got worse the most (default 10; 0: none)",
    )
    g.add_argument("--candidate-model", help="checkpoint to run first on what the candidate folder lacks")
    g.add_argument("--data-dir", type=Path, help="offline mirror for --candidate-model runs")
    g.add_argument("--reports", type=Path, default=default_reports_dir(), help="where to write regress.md/.json/.xml/.html")
    g.add_argument("--full", action="store_true", help="print the whole report (every task split), not the summary")
    g.set_defaults(func=_cmd_regress)

    lb = sub.add_parser(
        "leaderboard",
        help="rank many models from results folders and model cards",
        epilog=_EPILOG_LEADERBOARD,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lb.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="results folder (evalkit's or an mteb results checkout), README.md card, Hub model id, or a folder of them",
    )
    lb.add_argument(
        "--suite", help="suite whose tasks, splits and subsets make the columns (e.g. configs/cmteb.yaml); default: every task found"
    )
    lb.add_argument("--common", action="store_true", help="average every row over the tasks all rows have (default: each row over its own)")
    lb.add_argument(
        "--reports", type=Path, default=default_reports_dir(), help="where to write leaderboard.md/.csv/.json/.html (default: reports/)"
    )
    lb.set_defaults(func=_cmd_leaderboard)

    m = sub.add_parser("merge", help="join results folders of several shards into one")
    m.add_argument("folders", nargs="+", type=Path, help="results folders to join (e.g. the --output of each --shard run)")
    m.add_argument("--output", type=Path, required=True, help="results folder to write the joined results into")
    m.set_defaults(func=_cmd_merge)
    return p


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
