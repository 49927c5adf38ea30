"""The mteb seam: every hook gives mteb's own results, is undone after its task, and is self-checked."""

from __future__ import annotations

import pytest

from evalkit._compat import mteb as compat
from evalkit._compat import mteb_capture as capture


def _label_dataset(n: int, classes: int, seed: int):
    import datasets

    labels = [i % classes for i in range(n + 1000)]
    ds = datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(n + 1000)], "label": labels})
    return ds.shuffle(seed=seed).select(range(n))


def test_every_hook_fits_this_mteb():
    compat.self_check.cache_clear()
    assert compat.self_check() == {}
    assert compat.self_check_notes() == []


def test_classification_columns_pick_the_same_rows_and_scores_as_mteb():
    import mteb
    import numpy as np
    from mteb.timing import TimingStack

    ds = _label_dataset(2000, 7, 3)
    plain, fast = mteb.get_task("Banking77Classification"), mteb.get_task("Banking77Classification")
    train, test = _label_dataset(300, 5, 1), _label_dataset(200, 5, 2)
    rng = np.random.default_rng(0)
    # Embeddings that carry the label plus noise: the classifier is right on most, not all, items.
    centers = rng.normal(size=(5, 16))
    x_train = (centers[train["label"][:]] + rng.normal(scale=1.5, size=(300, 16))).astype(np.float32)
    x_test = (centers[test["label"][:]] + rng.normal(scale=1.5, size=(200, 16))).astype(np.float32)
    with capture.task_hooks(fast, capture=False):
        assert "_undersample_data" in vars(fast) and "_run_experiment" in vars(fast)
        for experiment in range(3):
            a_ds, a_idx, a_sel = plain._undersample_data(ds, experiment)
            b_ds, b_idx, b_sel = fast._undersample_data(ds, experiment)
            assert a_idx == b_idx and a_sel == b_sel and a_ds["text"][:] == b_ds["text"][:]
        a_scores, a_pred = plain._run_experiment(train, test, x_train, x_test, timer=TimingStack())
        b_scores, b_pred = fast._run_experiment(train, test, x_train, x_test, timer=TimingStack())
    assert a_pred == b_pred and a_scores == b_scores
    assert 0.3 < a_scores["accuracy"] < 0.99
    assert "_undersample_data" not in vars(fast) and "_run_experiment" not in vars(fast)  # undone


def test_text_dataloader_is_the_same_and_the_module_is_restored():
    import datasets
    import mteb
    from mteb import _create_dataloaders as loaders

    ds = datasets.Dataset.from_dict({"sentence1": [f"第{i}句" for i in range(500)], "score": [float(i) for i in range(500)]})
    task = mteb.get_task("ATEC")
    plain = [t for batch in loaders.create_dataloader(ds, task_metadata=task.metadata, input_column="sentence1") for t in batch["text"]]
    original = loaders._create_dataloader_from_texts
    with capture.task_hooks(task, capture=False):
        assert loaders._create_dataloader_from_texts is not original
        fast = [t for batch in loaders.create_dataloader(ds, task_metadata=task.metadata, input_column="sentence1") for t in batch["text"]]
    assert loaders._create_dataloader_from_texts is original
    assert fast == plain == [f"第{i}句" for i in range(500)]


def test_clustering_labels_score_exactly_as_mteb():
    import mteb

    ds = _label_dataset(3000, 13, 4)
    assignment = [(label * 7 + i % 3) % 13 for i, label in enumerate(ds["label"][:])]  # imperfect clusters
    plain, fast = mteb.get_task("CLSClusteringS2S"), mteb.get_task("CLSClusteringS2S")
    with capture.task_hooks(fast, capture=False):
        b = fast._compute_metrics(ds["label"], assignment, v_measure_only=True)
    a = plain._compute_metrics(ds["label"], assignment, v_measure_only=True)
    assert a == b and 0.3 < a["v_measure"] < 1.0


def test_a_hook_whose_target_changed_is_switched_off_and_said(monkeypatch: pytest.MonkeyPatch):
    from mteb.abstasks.sts import AbsTaskSTS

    def renamed(self, sims, gold):  # a future mteb that renamed the parameters the hook reads
        return {}

    monkeypatch.setattr(AbsTaskSTS, "_calculate_scores", renamed)
    compat.self_check.cache_clear()
    try:
        problems = compat.self_check()
        assert set(problems) == {"sts-scores"}
        assert "lost parameter(s) scores, normalized_scores" in problems["sts-scores"]
        (note,) = compat.self_check_notes()
        assert note.startswith("mteb hook sts-scores is off") and "regress falls back to tolerance alone" in note
    finally:
        compat.self_check.cache_clear()


def test_hooks_can_be_switched_off_by_hand(monkeypatch: pytest.MonkeyPatch):
    import mteb

    monkeypatch.setenv("EVALKIT_DISABLE_HOOKS", "all")
    compat.self_check.cache_clear()
    try:
        assert len(compat.self_check()) == len(compat.HOOKS)
        task = mteb.get_task("Banking77Classification")
        with capture.task_hooks(task):
            assert "_undersample_data" not in vars(task)
    finally:
        compat.self_check.cache_clear()
