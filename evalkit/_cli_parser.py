"""The `evalkit` command's arguments: every sub-command, option group, choice, default and example.

Choices and defaults of the model options come from the schema (`evalkit.model.settings`); the
functions that run each command are `evalkit.cli`'s, handed in as `commands`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn

from evalkit.model.settings import choices, default
from evalkit.runner.settings import COMPARE_TOLERANCE, REGRESS_ALPHA, REGRESS_TOLERANCE, default_reports_dir

Command = Callable[[argparse.Namespace], int]


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


def _include_local(value: str) -> bool | tuple[str, ...]:
    return True if value == "*" else tuple(v.strip() for v in value.split(",") if v.strip())


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


def build_parser(commands: Mapping[str, Command]) -> argparse.ArgumentParser:
    """The argument parser of the `evalkit` command; `commands` maps each sub-command to its function."""
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
        "--forward",
        choices=choices("forward"),
        help=f"{default('forward')} (default): evalkit's own forward loop where it runs the model exactly, else model.encode; "
        "evalkit: the loop or an error; sentence-transformers: always model.encode",
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
    r.set_defaults(func=commands["run"])

    mo = sub.add_parser("models", help="list mteb's registry models and the presets evalkit takes from it")
    mo.add_argument("--language", help="ISO 639-3 language code, e.g. zho")
    mo.add_argument(
        "--type",
        choices=["sentence-transformers", "plain", "instruct", "mteb", "refused"],
        help="only models of this kind (plain = sentence-transformers)",
    )
    mo.set_defaults(func=commands["models"])

    d = sub.add_parser("data", help="offline mirror of task datasets")
    dsub = d.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    dp = dsub.add_parser("pull", help="snapshot each task's dataset repo at its pinned revision")
    dp.add_argument("suite", help="suite YAML path or packaged name whose datasets to snapshot (e.g. cmteb)")
    dp.add_argument("--data-dir", type=Path, required=True, help="mirror root to write into (then: evalkit run ... --data-dir DIR)")
    dp.add_argument("--tasks", help="comma-separated subset of the suite's tasks")
    dp.set_defaults(func=commands["data_pull"])

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
    cc.set_defaults(func=commands["card_compare"])
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
    ce.set_defaults(func=commands["card_export"])

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
    g.set_defaults(func=commands["regress"])

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
    lb.add_argument("--full", action="store_true", help="print the whole leaderboard (every row, claims, warnings), not the summary")
    lb.set_defaults(func=commands["leaderboard"])

    m = sub.add_parser("merge", help="join results folders of several shards into one")
    m.add_argument("folders", nargs="+", type=Path, help="results folders to join (e.g. the --output of each --shard run)")
    m.add_argument("--output", type=Path, required=True, help="results folder to write the joined results into")
    m.set_defaults(func=commands["merge"])
    return p
