"""Hostile inputs, each spelled once: the table that tests/test_faults.py asserts and scripts/hostile_inputs.py measures.

A case builds its input in a fresh scratch folder `t` and returns the command line. It names the exit
code it expects (2: one `evalkit: error:` line holding `phrase`; 0: evalkit copes, printing `phrase`
on stderr where one is given) and may carry a `check` that describes any damage left in `t` (a file
written through a planted link, a temp file, a partial merge, a silently wrong "done"). Nothing may
appear in `t/outside`, where planted links point. A `slow` case runs a model: the fast test layer
leaves it out and the script runs it only with `--slow`.

The test runs each case in-process and pins the phrase and the one line; the script runs each in a
forked, memory-capped child and counts clean / traceback / damaged.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CARD = Path(__file__).parent / "data" / "jina-embeddings-v2-base-zh.md"

Build = Callable[[Path], list[str]]
Check = Callable[[Path], "str | None"]


class Unavailable(RuntimeError):
    """This machine cannot build the input (mounting a tmpfs needs root): the case is skipped, not failed."""


@dataclass(frozen=True)
class Case:
    """One hostile input: how to build it in a scratch folder and what evalkit must do with it."""

    name: str
    build: Build
    code: int  # the exit code: 2 for a refused input, 0 for one evalkit copes with
    phrase: str  # in the one `evalkit: error:` line; with code 0, somewhere on stderr ("" asks nothing)
    slow: bool = False  # runs a model
    check: Check | None = None  # a description of the damage left in the scratch folder, None when none
    prime: Build | None = None  # a run that must pass before `build` (it fills the cache that `build` spoils)


def outside(t: Path) -> set[Path]:
    """What lies in `t/outside`, the folder no run may write into (planted links point there)."""
    folder = t / "outside"
    folder.mkdir(exist_ok=True)
    return set(folder.rglob("*"))


def damage(case: Case, t: Path, before: set[Path]) -> str | None:
    """The damage a run of `case` left in `t`: its own check first, then anything new in `t/outside`.

    Run it once after every run: a full-disk check also unmounts its tmpfs.
    """
    found = case.check(t) if case.check else None
    new = outside(t) - before
    return found or (f"wrote outside: {sorted(map(str, new))[:3]}" if new else None)


# --- building inputs -------------------------------------------------------------------------------


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def results_folder(tmp: Path, name: str = "org/model-a", task: str = "STSBenchmark", value: float = 0.8) -> Path:
    """A minimal, valid mteb results folder with one task, written by hand."""
    rev = tmp / "res" / name.replace("/", "__") / "rev1"
    write(rev / "model_meta.json", json.dumps({"name": name, "revision": "rev1"}))
    result = {
        "dataset_revision": "b0fddb56ed78048fa8b90373c8a3cfc37b684831",
        "task_name": task,
        "mteb_version": "2.26.24",
        "scores": {"test": [{"cosine_spearman": value, "main_score": value, "hf_subset": "default", "languages": ["eng-Latn"]}]},
        "evaluation_time": 1.0,
        "kg_co2_emissions": None,
    }
    write(rev / f"{task}.json", json.dumps(result))
    return tmp / "res"


def suite(tmp: Path, text: str) -> str:
    return str(write(tmp / "suite.yaml", text))


def run_args(tmp: Path, *args: str) -> list[str]:
    return ["run", *args, "--output", str(tmp / "out"), "--no-cache", "--quiet"]


def dry(tmp: Path, text: str) -> list[str]:
    """A dry run of a suite: a suite that should be refused loads nothing even when it is not."""
    return run_args(tmp, suite(tmp, text), "--dry-run")


def local_sts(tmp: Path, rows: str, *, encoding: str = "utf-8") -> list[str]:
    write(tmp / "sts.jsonl", rows.encode(encoding))
    return run_args(tmp, suite(tmp, "tasks:\n  - name: MySTS\n    local: {type: STS, files: {test: sts.jsonl}}\n"))


def card_file(tmp: Path, text: str) -> str:
    return str(write(tmp / "README.md", text))


def card_text(value: str, extra: str = "") -> str:
    return (
        "---\nmodel-index:\n- name: model-a\n  results:\n  - task: {type: STS}\n"
        "    dataset: {type: mteb/stsbenchmark-sts, name: MTEB STSBenchmark, config: default, split: test}\n"
        f"    metrics:\n    - {{type: cos_sim_spearman, value: {value}}}\n{extra}---\n"
    )


def compare_args(tmp: Path, card: str) -> list[str]:
    return ["card", "compare", str(results_folder(tmp)), "--card", card, "--reports", str(tmp / "rep")]


def compare_results(tmp: Path, res: Path) -> list[str]:
    return ["card", "compare", str(res), "--card", str(CARD), "--reports", str(tmp / "rep")]


def results_text(tmp: Path, text: str) -> list[str]:
    res = results_folder(tmp)
    write(next(res.glob("*/*/STSBenchmark.json")), text)
    return compare_results(tmp, res)


def examples_file(tmp: Path, entries: str) -> list[str]:
    base = results_folder(tmp)
    entries_json = '{"task": "STSBenchmark", "task_type": "STS", "main_score": 0.8, "entries": ' + entries + "}"
    write(next(base.glob("*/*")) / "evalkit" / "examples" / "STSBenchmark.json", entries_json)
    return ["regress", str(base), str(base), "--reports", str(tmp / "rep")]


def _entry(**fields: object) -> str:
    return json.dumps([{"split": "test", "subset": "default", "kind": "correlation", **fields}])


def _sts_rows(score: str) -> str:
    return "".join(f'{{"sentence1": "a{i}", "sentence2": "b{i}", "score": {score}}}\n' for i in range(4))


BOMB = (
    "a: &a ["
    + ", ".join(["lol"] * 9)
    + "]\n"
    + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
)


def named_task(tmp: Path, name: str) -> list[str]:
    write(tmp / "x.jsonl", "{}")
    return dry(tmp, f"tasks:\n  - name: {name}\n    local: {{type: STS, files: {{test: x.jsonl}}}}\n")


def huge_score(tmp: Path) -> list[str]:
    res = results_folder(tmp)
    result = next(res.glob("*/*/STSBenchmark.json"))
    result.write_text(result.read_text().replace("0.8", "1" * 400))
    return compare_results(tmp, res)


def include_chain(tmp: Path) -> list[str]:
    for i in range(1500):
        write(tmp / f"s{i}.yaml", f"include: s{i + 1}.yaml\n" if i < 1499 else "tasks: [ATEC]\n")
    return run_args(tmp, str(tmp / "s0.yaml"), "--dry-run")


def into_huge(tmp: Path) -> list[str]:
    card_file(tmp / "target", card_text("0.5"))
    return ["card", "export", card_file(tmp, card_text("1" * 400)), "--into", str(tmp / "target" / "README.md")]


def target_kept(tmp: Path) -> str | None:
    target = tmp / "target" / "README.md"
    return None if target.read_text(encoding="utf-8") == card_text("0.5") else f"{target} changed"


def into_symlink(tmp: Path) -> list[str]:
    card_file(tmp / "real", card_text("0.5"))
    (tmp / "link").mkdir()
    (tmp / "link" / "README.md").symlink_to(tmp / "real" / "README.md")
    return ["card", "export", str(results_folder(tmp, value=0.9)), "--into", str(tmp / "link" / "README.md")]


def link_kept_and_card_updated(tmp: Path) -> str | None:
    if not (tmp / "link" / "README.md").is_symlink():
        return "the link was replaced by a file"
    if "0.9" not in (tmp / "real" / "README.md").read_text(encoding="utf-8"):
        return "the real card was not updated"
    return no_temps(tmp)


def no_temps(root: Path) -> str | None:
    left = [p.name for p in root.rglob("*.tmp")]
    return f"temp files left: {left[:3]}" if left else None


def merge_bad_manifest(tmp: Path) -> list[str]:
    a, b = results_folder(tmp / "a"), results_folder(tmp / "b", task="ATEC")
    write(next(b.glob("*/*")) / "evalkit" / "manifest.json", '{"tasks": {')
    return ["merge", str(a), str(b), "--output", str(tmp / "m")]


def nothing_merged(tmp: Path) -> str | None:
    return f"partial merge: {tmp / 'm'} written" if (tmp / "m").exists() else None


def merge_linked_result(tmp: Path) -> list[str]:
    a = results_folder(tmp / "a")
    secret = write(tmp / "outside" / "secret.json", json.dumps({"task_name": "X", "scores": {}}))
    (next(a.glob("*/*")) / "X.json").symlink_to(secret)
    return ["merge", str(a), "--output", str(tmp / "m")]


def link_not_followed(tmp: Path) -> str | None:
    copied = [p for p in (tmp / "m").rglob("X.json") if not p.is_symlink()]
    return f"followed a link from outside: {copied}" if copied else None


def said(tmp: Path) -> str | None:
    # A degenerate task must not be a silent "done": the record says failed or carries a warning.
    for rec in (tmp / "out").rglob("evalkit/tasks/MySTS.json"):
        data = json.loads(rec.read_text())
        if data.get("status") == "done" and not data.get("warnings"):
            return "degenerate data gave a silent done"
    return None


# --- runs of the smoke suite's SmokeSTS (the embedded model: slow, unless refused before it loads) ------

SMOKE = ["run", "smoke", "--tasks", "SmokeSTS"]


def unwritable_reports(tmp: Path) -> list[str]:
    write(tmp / "ro", "")  # a file where the folder should be (chmod would not stop root): refused before the model loads
    return [*SMOKE, "--output", str(tmp / "out"), "--reports", str(tmp / "ro" / "rep"), "--no-cache", "--quiet"]


def not_run(tmp: Path) -> str | None:
    return "ran the whole run before failing" if list((tmp / "out").rglob("SmokeSTS.json")) else None


def planted_lock(tmp: Path) -> list[str]:
    locks = tmp / "out" / "sentence-transformers__all-MiniLM-L6-v2" / "5076c6045d315992" / "evalkit" / "locks"
    locks.mkdir(parents=True)
    (locks / "SmokeSTS.lock").symlink_to(tmp / "outside" / "victim")
    return [*SMOKE, "--output", str(tmp / "out"), "--no-cache", "--reports", str(tmp / "rep"), "--quiet"]


def victim_untouched(tmp: Path) -> str | None:
    victim = tmp / "outside" / "victim"
    return f"created {victim} through a planted link" if victim.exists() else None


def full_disk(size: str, *, cache_only: bool = False) -> Build:
    """A run whose cache (and --output, unless `cache_only`) lie on a tmpfs of `size`."""

    def build(tmp: Path) -> list[str]:
        full = tmp / "full"
        full.mkdir()
        mounted = (
            os.geteuid() == 0
            and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(full)], capture_output=True).returncode == 0
        )
        if not mounted:
            raise Unavailable("cannot mount a tmpfs here (it needs root)")
        out = tmp / "out" if cache_only else full / "out"
        return [*SMOKE, "--output", str(out), "--cache-dir", str(full / "cache"), "--reports", str(tmp / "rep"), "--quiet"]

    return build


def unmounted(*, results_fit: bool) -> Check:
    """Check a full-disk run, then unmount its tmpfs."""

    def check(tmp: Path) -> str | None:
        full = tmp / "full"
        left = no_temps(full)
        done = list(tmp.rglob("evalkit/local/SmokeSTS.json"))
        subprocess.run(["umount", str(full)], capture_output=True)
        if left:
            return left
        return "no result although the results fit" if results_fit and not done else None

    return check


def cache_run(output: str) -> Build:
    return lambda tmp: [*SMOKE, "--cache-dir", str(tmp / "cache"), "--output", str(tmp / output), "--reports", str(tmp / "rep"), "--quiet"]


def spoiled_cache(spoil: Callable[[np.ndarray], np.ndarray]) -> Build:
    """Replace the vectors of every shard the prime run filled with `spoil(vectors)`, then run again.

    The keys and the meta stay, so the shard is refused for what `spoil` did, not for a missing meta.
    """

    def build(tmp: Path) -> list[str]:
        for shard in (tmp / "cache").rglob("shard-*.npz"):
            with np.load(shard) as data:
                arrays = {name: data[name] for name in data.files}
            arrays["vectors"] = spoil(arrays["vectors"])
            with shard.open("wb") as f:
                np.savez(f, **arrays)
        return cache_run("out")(tmp)

    return build


def cache_told_no_lie(tmp: Path) -> str | None:
    rec = next((tmp / "out").rglob("evalkit/local/SmokeSTS.json"), None)
    if rec is None:
        return "no result"
    score = json.loads(rec.read_text())["scores"]["test"][0]["main_score"]
    return None if abs(score - 0.6441) < 1e-3 else f"cache lied: SmokeSTS {score:.4f}"


def _nan_first(vectors: np.ndarray) -> np.ndarray:
    spoiled = vectors.copy()
    spoiled[0, 0] = np.nan
    return spoiled


def _cache_case(name: str, spoil: Callable[[np.ndarray], np.ndarray], said: str) -> Case:
    return Case(name, spoiled_cache(spoil), 0, said, slow=True, check=cache_told_no_lie, prime=cache_run("first"))


# --- the table ---------------------------------------------------------------------------------------

CASES: list[Case] = [
    Case(
        "yaml bomb as a card",
        lambda t: compare_args(t, card_file(t, "---\n" + BOMB + "model-index: [{name: m, results: *i}]\n---\n")),
        2,
        "aliases repeated",
    ),
    Case(
        "yaml bomb as a suite",
        lambda t: dry(t, "tasks: [ATEC]\ndescription: [" + ", ".join(line.split(": ", 1)[1] for line in BOMB.splitlines()) + "]\n"),
        2,
        "aliases repeated",
    ),
    Case(
        "card: results: []",
        lambda t: compare_args(t, card_file(t, "---\nmodel-index:\n- name: m\n  results: []\n---\n")),
        2,
        "has no usable number",
    ),
    *[
        Case(f"card: value {label}", lambda t, v=value: compare_args(t, card_file(t, card_text(v))), 2, "has no usable number")
        for label, value in [
            ("a string", '"high"'),
            ("null", "null"),
            ("NaN", ".nan"),
            ("bool", "true"),
            ("list", "[1, 2]"),
            ("date", "2024-01-01"),
        ]
    ],
    Case(
        "card: 400-digit value (compare)",
        lambda t: compare_args(t, card_file(t, card_text("1" * 400))),
        2,
        "a number of 400 digits at line 8 is out of range",
    ),
    Case("card: 400-digit float (compare)", lambda t: compare_args(t, card_file(t, card_text("1" * 400 + ".5"))), 2, "is out of range"),
    Case("card: 400-digit value (export)", lambda t: ["card", "export", card_file(t, card_text("1" * 400))], 2, "is out of range"),
    Case("card: 400-digit value (export --into)", into_huge, 2, "is out of range", check=target_kept),
    Case(
        "card: model-index a string",
        lambda t: compare_args(t, card_file(t, "---\nmodel-index: hello\n---\n")),
        2,
        "model-index is malformed (it is not a list of models)",
    ),
    Case(
        "card: duplicate model-index key",
        lambda t: compare_args(t, card_file(t, card_text("0.5", "model-index: []\n"))),
        2,
        "the key `model-index` appears twice",
    ),
    Case("card: /dev/zero", lambda t: compare_args(t, "/dev/zero"), 2, "is not a regular file"),
    Case("card --into a symlinked card", into_symlink, 0, "", check=link_kept_and_card_updated),
    Case("suite: 1,500-deep include chain", include_chain, 2, "includes nested more than 32 deep"),
    Case("suite: 1,500-deep nesting", lambda t: dry(t, "tasks: " + "[" * 1500 + "]" * 1500 + "\n"), 2, "nest"),
    Case("suite: 5,000-digit integer", lambda t: dry(t, "model: {batch_size: " + "9" * 5000 + "}\ntasks: [ATEC]\n"), 2, "5000 digits"),
    Case("suite: two tasks: lists", lambda t: dry(t, "tasks: [ATEC]\ntasks: [AFQMC]\n"), 2, "the key `tasks` appears twice"),
    Case(
        "suite: control characters in a task name", lambda t: named_task(t, '"Evil\\e[31mRed"'), 2, "control or invisible character U+001B"
    ),
    Case("suite: task name of 300 bytes", lambda t: named_task(t, "名" * 100), 2, "is 300 bytes long"),
    Case("suite: /dev/zero", lambda t: run_args(t, "/dev/zero", "--dry-run"), 2, "is not a regular file"),
    Case(
        "suite: a folder named .yaml",
        lambda t: (t / "dir.yaml").mkdir() or run_args(t, str(t / "dir.yaml"), "--dry-run"),
        2,
        "is a folder, not a YAML file",
    ),
    Case(
        "run: --output is a file",
        lambda t: ["run", "smoke", "--output", str(write(t / "file", "")), "--no-cache", "--reports", str(t / "rep")],
        2,
        "it is a file, not a folder",
    ),
    Case("run: --revision evalkit", lambda t: run_args(t, "smoke", "--revision", "evalkit"), 2, "reserved"),
    Case("run: --reports not writable", unwritable_reports, 2, "--reports folder", check=not_run),
    Case("results: 100,000-deep JSON", lambda t: results_text(t, "[" * 100000 + "]" * 100000), 2, "nested too deeply"),
    Case(
        "results: duplicate JSON key",
        lambda t: results_text(t, '{"task_name": "STSBenchmark", "task_name": "ATEC", "scores": {}}'),
        2,
        "the key `task_name` appears twice",
    ),
    Case("results: 400-digit score", huge_score, 2, "400 digits"),
    Case("per-example: gold a string", lambda t: examples_file(t, _entry(gold="abc", pred=[1])), 2, "per-example file"),
    Case("per-example: lists of lists", lambda t: examples_file(t, _entry(gold=[[1]], pred=[[1]])), 2, "per-example file"),
    Case("per-example: gold and pred lengths differ", lambda t: examples_file(t, _entry(gold=[1, 2, 3], pred=[1])), 2, "per-example file"),
    Case("per-example: entries a string", lambda t: examples_file(t, '"x"'), 2, "per-example file"),
    Case("merge: corrupt shard manifest", merge_bad_manifest, 2, "truncated or invalid JSON", check=nothing_merged),
    Case("merge: symlinked result from outside", merge_linked_result, 2, "is a symbolic link", check=link_not_followed),
    Case('data: score "high"', lambda t: local_sts(t, _sts_rows('"high"')), 2, "row 1 has score 'high', not a finite number"),
    Case("data: NaN gold scores", lambda t: local_sts(t, _sts_rows("NaN")), 2, "not a finite number", check=said),
    Case("data: constant gold scores", lambda t: local_sts(t, _sts_rows("1")), 2, "a correlation needs differing gold scores", check=said),
    Case("run: planted symlinked lock", planted_lock, 2, "is a symbolic link or not a file", slow=True, check=victim_untouched),
    # No shard of vectors fits 8k: the run goes on without caching them and writes its results elsewhere.
    Case("run: the cache's disk is full", full_disk("8k", cache_only=True), 0, "", slow=True, check=unmounted(results_fit=True)),
    Case("run: full disk", full_disk("8k"), 2, "the disk is full", slow=True, check=unmounted(results_fit=False)),
    _cache_case(
        "cache: planted random vectors",
        lambda v: np.random.default_rng(0).standard_normal(v.shape).astype(np.float32),
        "does not fit (checksum mismatch)",
    ),
    _cache_case("cache: 3-dimensional vectors", lambda v: np.ones((len(v), 3), dtype=np.float32), "does not fit (dimension 3, not 384)"),
    _cache_case("cache: NaN in a shard", _nan_first, "does not fit (checksum mismatch)"),
    _cache_case("cache: fewer vectors than keys", lambda v: v[:-1], "vectors for 16 keys"),
]
