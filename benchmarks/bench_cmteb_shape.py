"""A C-MTEB-shaped encoding workload on a BERT-base-shaped model: tokens/s and the projected full-suite time.

The workload has the text counts and mean lengths of every evaluation split of `configs/cmteb.yaml`,
taken from mteb's shipped descriptive statistics (about 1.2M texts); lengths are drawn from a
log-normal around each group's mean (Chinese text: about one token per character), capped at 512.
The model is `BertModel(BertConfig(vocab_size=21128))` with random weights (speed only).

A sample of the workload is encoded two ways, in the same run:
- plain: what mteb's defaults do: texts sorted by length, fixed batches of 32, fp32;
- evalkit: texts sorted by length, batches filled to a token budget (on a GPU: evalkit's default,
  32 x 512 tokens and at most 256 texts a batch), inference mode, bf16 weights on a GPU as
  `--dtype bf16` loads them (fp32 on a CPU, where bf16 matmuls are not faster).
Both project the full suite from their measured tokens/s. On a GPU the script also reports the
fraction of the card's dense bf16 peak that the evalkit encoder reaches.

    python benchmarks/bench_cmteb_shape.py [--sample 2000] [--device cpu|cuda] [--peak-tflops 989]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from evalkit.model.batching import CPU_BATCH_TOKENS


def workload() -> list[tuple[str, int, float]]:
    """(task, number of texts, mean length in characters) for each text group of the suite."""
    import mteb

    from evalkit.runner.suite import load_suite

    groups = []
    for spec in load_suite("cmteb").tasks:
        task = mteb.get_task(spec.name)
        stats = task.metadata.descriptive_stats or {}
        for split in spec.splits or task.metadata.eval_splits:
            s = stats.get(split) or {}
            if spec.subsets and "hf_subset_descriptive_stats" in s:
                s = s["hf_subset_descriptive_stats"].get(spec.subsets[0], s)
            for key, value in s.items():
                is_text = key.startswith(("text", "documents_text", "queries_text")) and key.endswith("_statistics")
                if is_text and isinstance(value, dict) and value.get("total_text_length"):
                    count = value.get("num_texts") or s.get(
                        "num_documents" if key.startswith("documents") else "num_queries" if key.startswith("queries") else "num_samples"
                    )
                    groups.append((spec.name, int(count), float(value["average_text_length"])))
    return groups


def sample_lengths(groups: list[tuple[str, int, float]], n: int, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    counts = np.array([g[1] for g in groups], dtype=float)
    means = np.array([g[2] for g in groups])
    pick = rng.choice(len(groups), size=n, p=counts / counts.sum())
    lengths = np.clip(rng.lognormal(np.log(means[pick]) - 0.125, 0.5), 4, 510).astype(int) + 2
    total_texts = int(counts.sum())
    total_tokens = int(sum(c * min(512, m + 2) for _, c, m in groups))
    return lengths, total_texts, total_tokens


def batches_fixed(lengths: np.ndarray, size: int) -> list[np.ndarray]:
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + size] for i in range(0, len(order), size)]


def batches_budget(lengths: np.ndarray, budget: int, cap: int) -> list[np.ndarray]:
    order = np.argsort(-lengths, kind="stable")
    out, start = [], 0
    while start < len(order):
        longest = lengths[order[start]]
        count = max(1, min(cap, budget // longest))
        out.append(order[start : start + count])
        start += count
    return out


def run(model, lengths: np.ndarray, batches: list[np.ndarray], device: str) -> float:
    import torch

    rng = np.random.default_rng(0)
    tokens = 0
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        for idx in batches:
            width = int(lengths[idx].max())
            ids = torch.from_numpy(rng.integers(100, 21000, size=(len(idx), width))).to(device)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                mask[row, : lengths[i]] = 1
            mask = mask.to(device)
            model(input_ids=ids, attention_mask=mask)
            tokens += int(lengths[idx].sum())
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return tokens / (time.perf_counter() - t0)


def main() -> None:
    import torch
    from transformers import BertConfig, BertModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--budget", type=int, default=16384, help="evalkit's tokens per batch")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100/H200 SXM: 989)")
    args = parser.parse_args()

    groups = workload()
    lengths, total_texts, total_tokens = sample_lengths(groups, args.sample, np.random.default_rng(0))
    config = BertConfig(vocab_size=21128)
    model = BertModel(config, add_pooling_layer=False).eval().to(args.device)
    n_params = sum(p.numel() for p in model.parameters()) - model.embeddings.word_embeddings.weight.numel()
    fast_dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    run(model, lengths[:64], batches_fixed(lengths[:64], 32), args.device)  # warm-up
    plain = run(model, lengths, batches_fixed(lengths, 32), args.device)
    if args.device.startswith("cuda"):
        # evalkit's GPU policy: batch_size x max_seq_length tokens, at most 8x the batch size per batch.
        ours_batches = batches_budget(lengths, args.budget, 256)
        model = model.to(fast_dtype)  # weights in bf16, as evalkit loads them with --dtype bf16
        run(model, lengths[:64], batches_fixed(lengths[:64], 32), args.device)  # warm-up
        plain_bf16 = run(model, lengths, batches_fixed(lengths, 32), args.device)  # dtype alone, mteb's batches
    else:
        # evalkit's CPU policy (encoder.CPU_BATCH_TOKENS, at most 2x the batch size per batch).
        ours_batches = batches_budget(lengths, CPU_BATCH_TOKENS, 64)
    ours = run(model, lengths, ours_batches, args.device)
    mean_len = float(lengths.mean())
    flops_per_token = 2 * n_params + 4 * config.num_hidden_layers * config.hidden_size * mean_len
    print(
        f"workload: {len(groups)} text groups of {len({g[0] for g in groups})} tasks, {total_texts:,} texts, about {total_tokens:,} tokens"
    )
    print(
        f"sample: {args.sample} texts, mean {mean_len:.0f} tokens; model: BERT-base shape, {n_params / 1e6:.0f}M non-embedding parameters; device: {args.device}"
    )
    print("| encoder | dtype | tokens/s | projected full suite | achieved TFLOP/s | fraction of bf16 peak |")
    print("|---|---|---:|---:|---:|---:|")
    rows = [("plain mteb defaults (batch 32)", plain, "fp32")]
    if args.device.startswith("cuda"):
        rows.append(("batch 32, bf16 weights", plain_bf16, "bfloat16"))
    for label, rate, dtype in (
        *rows,
        (
            f"evalkit (token budget {args.budget if args.device.startswith('cuda') else CPU_BATCH_TOKENS})",
            ours,
            str(fast_dtype).split(".")[-1],
        ),
    ):
        tflops = rate * flops_per_token / 1e12
        frac = f"{tflops / args.peak_tflops:.1%}" if args.device.startswith("cuda") else "n/a (CPU)"
        print(f"| {label} | {dtype} | {rate:,.0f} | {total_tokens / rate / 60:,.1f} min | {tflops:.3f} | {frac} |")
    print(f"speed-up: {ours / plain:.2f}x")


if __name__ == "__main__":
    main()
