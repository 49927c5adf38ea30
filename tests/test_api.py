"""The public surface: exactly the operations of the CLI, importable without heavy libraries."""

from __future__ import annotations

import subprocess
import sys

import evalkit
from evalkit.cli import main


def test_exported_members_are_exact():
    assert sorted(evalkit.__all__) == [
        "DataError",
        "EncodingError",
        "EvalkitError",
        "ModelError",
        "OutputError",
        "SuiteError",
        "compare_card",
        "export_card",
        "leaderboard",
        "merge",
        "pull",
        "read_results",
        "regress",
        "run",
        "run_report",
    ]
    for name in evalkit.__all__:
        assert getattr(evalkit, name) is not None


def test_import_and_help_do_not_load_torch_or_mteb():
    code = "import sys, evalkit.cli as c; c.build_parser(); print('torch' in sys.modules, 'mteb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_help_exits_zero(capsys):
    assert main(["run", "--help"]) == 0
    assert "evalkit run configs/smoke.yaml" in capsys.readouterr().out


def test_data_pull_snapshots_each_dataset_at_its_pinned_revision(tmp_path):
    calls = []

    def fake_download(*, repo_id, repo_type, revision, local_dir):
        calls.append((repo_id, repo_type, revision))
        (tmp_path / "m" / repo_id).mkdir(parents=True, exist_ok=True)
        return local_dir

    entries = evalkit.pull("sts", data_dir=tmp_path / "m", tasks=("ATEC", "STSB"), download=fake_download)
    assert calls == [
        ("C-MTEB/ATEC", "dataset", "0f319b1142f28d00e055a6770f3f726ae9b7d865"),
        ("mteb/STSB", "dataset", "e036defee8f190911de6fc825a944b928c8cda53"),
    ]
    assert [e.task for e in entries] == ["ATEC", "STSB"]
    assert (tmp_path / "m" / "C-MTEB" / "ATEC" / "MIRROR.json").is_file()


def test_mirror_at_another_revision_is_warned_about(tmp_path):
    import json

    from evalkit.suite import TaskSpec
    from evalkit.tasks import build_task

    (tmp_path / "C-MTEB" / "ATEC").mkdir(parents=True)
    (tmp_path / "C-MTEB" / "ATEC" / "MIRROR.json").write_text(json.dumps({"revision": "abc"}))
    (tmp_path / "C-MTEB" / "ATEC" / "test.parquet").write_text("")
    built = build_task(TaskSpec(name="ATEC", splits=("test",)), data_dir=tmp_path)
    assert built.warnings and "mirror holds C-MTEB/ATEC at revision abc" in built.warnings[0]
    assert built.task.metadata.dataset["path"] == str(tmp_path / "C-MTEB" / "ATEC")
    assert built.task.metadata.dataset["revision"] == "0f319b1142f28d00e055a6770f3f726ae9b7d865"


def _label_dataset(n: int, classes: int, seed: int):
    import datasets

    labels = [i % classes for i in range(n + 1000)]
    ds = datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(n + 1000)], "label": labels})
    return ds.shuffle(seed=seed).select(range(n))


def test_fast_columns_pick_the_same_rows_as_mteb():
    import mteb

    from evalkit.tasks import _fast_columns

    ds = _label_dataset(2000, 7, 3)
    plain = mteb.get_task("Banking77Classification")
    fast = mteb.get_task("Banking77Classification")
    _fast_columns(fast)
    for experiment in range(3):
        a_ds, a_idx, a_sel = plain._undersample_data(ds, experiment)
        b_ds, b_idx, b_sel = fast._undersample_data(ds, experiment)
        assert a_idx == b_idx and a_sel == b_sel and a_ds["text"][:] == b_ds["text"][:]


def test_fast_columns_score_a_classifier_run_exactly_as_mteb():
    import mteb
    import numpy as np
    from mteb.timing import TimingStack

    from evalkit.tasks import _fast_columns

    train, test = _label_dataset(300, 5, 1), _label_dataset(200, 5, 2)
    rng = np.random.default_rng(0)
    # Embeddings that carry the label plus noise: the classifier is right on most, not all, items.
    centers = rng.normal(size=(5, 16))
    x_train = (centers[train["label"][:]] + rng.normal(scale=1.5, size=(300, 16))).astype(np.float32)
    x_test = (centers[test["label"][:]] + rng.normal(scale=1.5, size=(200, 16))).astype(np.float32)
    plain = mteb.get_task("Banking77Classification")
    fast = mteb.get_task("Banking77Classification")
    _fast_columns(fast)
    a_scores, a_pred = plain._run_experiment(train, test, x_train, x_test, timer=TimingStack())
    b_scores, b_pred = fast._run_experiment(train, test, x_train, x_test, timer=TimingStack())
    assert a_pred == b_pred
    assert a_scores == b_scores
    assert 0.3 < a_scores["accuracy"] < 0.99


def test_token_budget_batches_pack_short_texts_and_cap_long_ones():
    from evalkit.encoder import token_budget_batches

    # budget = 4 x 100 = 400 estimated tokens. A batch led by a 300-char text (capped at 100 tokens)
    # holds 400 // 100 = 4 texts; one led by an 8-char text (10 tokens) holds 400 // 10 = 40, capped
    # at 8 x batch_size = 32.
    lengths = [300] * 6 + [8] * 40
    batches = token_budget_batches(lengths, batch_size=4, max_tokens=100)
    assert [len(b) for b in batches] == [4, 4, 32, 6]
    assert sorted(i for b in batches for i in b) == list(range(46))


def test_fast_text_columns_build_the_same_dataloader_and_undo_the_patch():
    import datasets
    import mteb
    from mteb import _create_dataloaders as loaders

    from evalkit.tasks import fast_text_columns

    ds = datasets.Dataset.from_dict({"sentence1": [f"第{i}句" for i in range(500)], "score": [float(i) for i in range(500)]})
    meta = mteb.get_task("ATEC").metadata
    plain = [t for batch in loaders.create_dataloader(ds, task_metadata=meta, input_column="sentence1") for t in batch["text"]]
    original = loaders._create_dataloader_from_texts
    with fast_text_columns():
        assert loaders._create_dataloader_from_texts is not original
        fast = [t for batch in loaders.create_dataloader(ds, task_metadata=meta, input_column="sentence1") for t in batch["text"]]
    assert loaders._create_dataloader_from_texts is original
    assert fast == plain == [f"第{i}句" for i in range(500)]


def test_fast_label_metrics_score_clustering_exactly_as_mteb():
    import mteb

    from evalkit.tasks import _fast_label_metrics

    ds = _label_dataset(3000, 13, 4)
    assignment = [(label * 7 + i % 3) % 13 for i, label in enumerate(ds["label"][:])]  # imperfect clusters
    plain = mteb.get_task("CLSClusteringS2S")
    fast = mteb.get_task("CLSClusteringS2S")
    _fast_label_metrics(fast)
    a = plain._compute_metrics(ds["label"], assignment, v_measure_only=True)
    b = fast._compute_metrics(ds["label"], assignment, v_measure_only=True)
    assert a == b and 0.3 < a["v_measure"] < 1.0
