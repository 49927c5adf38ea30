"""The command line around the reports: --version, help text on every option, the run's --reports."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import version

import evalkit
from evalkit.cli import build_parser, main


def _parsers(parser: argparse.ArgumentParser, path: str = "evalkit"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_and_argument_has_help():
    missing = [
        f"{path} {'/'.join(a.option_strings) or a.dest}"
        for path, parser in _parsers(build_parser())
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction) and not (a.help and a.help.strip())
    ]
    assert missing == []


def test_version_names_evalkit_and_mteb(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"evalkit {version('evalkit')} (mteb {version('mteb')}, Python ")


def test_version_and_help_stay_instant():
    # --version must not import torch or mteb (it reads installed package metadata only).
    code = "import sys; from evalkit.cli import main; main(['--version']); print('torch' in sys.modules, 'mteb' in sys.modules, 'jinja2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[-1] == "False False False"


def test_leaderboard_without_sources_is_a_usage_error(capsys):
    assert main(["leaderboard"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SOURCE" in err


def test_exported_functions_survive_importing_every_module():
    # Importing `evalkit.x` sets the module as the package's attribute `x`: no module may be named
    # like an exported function, or `evalkit.regress(...)` would stop working after an import.
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(evalkit.__path__)}
    assert not modules & set(evalkit.__all__)
    code = (
        "import importlib, pkgutil, types, evalkit; "
        "[importlib.import_module('evalkit.' + m.name) for m in pkgutil.iter_modules(evalkit.__path__)]; "
        "print(all(isinstance(getattr(evalkit, n), (types.FunctionType, type)) for n in evalkit.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    # `evalkit models | head -1`: the reader is gone before evalkit prints (its read end is closed at
    # once, while evalkit is still importing mteb), so every write to stdout is a broken pipe.
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalkit.cli", "models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141  # 128 + SIGPIPE, as a shell reports a writer whose reader left
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_the_run_page_says_what_this_run_did_and_what_earlier_runs_left(tmp_path):
    from pathlib import Path

    tiny = Path(__file__).parent / "data" / "tiny" / "tiny.yaml"
    keywords = "py:tests.keyword_encoder:make_encoder"
    out = tmp_path / "results"
    evalkit.run(tiny, tasks=("TinySTS",), model=keywords, output_dir=out, no_cache=True)
    evalkit.run(tiny, tasks=("TinySTS",), model=keywords, output_dir=out, no_cache=True)  # reuses TinySTS
    folder = evalkit.run(tiny, tasks=("TinyPairs",), model=keywords, output_dir=out, no_cache=True).folder
    evalkit.run_report(folder, reports_dir=tmp_path / "rep")
    page = (tmp_path / "rep" / "run.md").read_text(encoding="utf-8")
    # The last run computed TinyPairs alone; TinySTS is the first run's result (the second only reused it).
    assert ", suite tiny. This run: 1 task: 1 done; 1 more from earlier runs into this folder;" in page
    assert "| TinyPairs | PairClassification | default | test | max_accuracy | 0.8000 | done |" in page
    assert "| TinySTS | STS | default | test | cosine_spearman | 0.8000 | done (earlier run) |" in page
