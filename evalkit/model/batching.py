"""How texts are grouped into batches, and how many threads encode them.

Batches are filled to a token budget, longest texts first, so padding stays small. On a GPU the
budget is `batch_size x max_seq_length` tokens (short texts share a batch, up to 8x the batch
size); on a CPU it is about 1k tokens, which measured fastest on 2 cores. On a CPU, independent
batches run on single-threaded worker threads, one per core.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

CPU_BATCH_TOKENS = 1024
CPU_MAX_WORKERS = 8  # past this, the GIL held between ops outweighs another worker thread
GPU_TOKENIZER_THREADS = 8  # at most this many threads tokenize ahead of one GPU (not yet tuned on a GPU: benchmarks/bench_encode.py)


def token_budget_batches(
    lengths: list[int], *, batch_size: int, max_tokens: int, budget: int | None = None, max_count: int | None = None
) -> list[list[int]]:
    """Group text indices longest first so each batch holds about `budget` tokens.

    The default budget, `batch_size x max_tokens`, lets short texts share a batch (up to
    `max_count`, default 8x `batch_size`) while long ones get batches no larger than `batch_size`:
    padding stays small and no batch needs more memory than a fixed batch of `batch_size` texts at
    the model's maximum length. Lengths are in characters, an upper bound on tokens for the
    tokenizers in use (about one token per Chinese character, fewer for English): this is
    `token_batches` over those lengths plus two special tokens, capped at `max_tokens`.

    Example::

        >>> token_budget_batches([5, 300, 5, 5], batch_size=2, max_tokens=10)
        [[1, 0], [2, 3]]
    """
    capped = np.minimum(np.asarray(lengths, dtype=np.int64) + 2, max_tokens)  # special tokens in, the model's limit on
    found = token_batches(capped, budget=budget or batch_size * max_tokens, max_count=max_count or 8 * batch_size, pad_free=False)
    return [batch.tolist() for batch in found]


def on_accelerator(device: str) -> bool:
    """True for a GPU-like device (`cuda:1`, `mps`): GPU batch budgets and tokenizer threads; False for the CPU.

    Example::

        >>> on_accelerator("cuda:1"), on_accelerator("mps"), on_accelerator("cpu")
        (True, True, False)
    """
    return not device.startswith("cpu")


def cpu_workers(device: str, threads: int, batches: int) -> tuple[int, int]:
    """How many encoding threads to run on `device`, and how many torch threads each gets.

    On a CPU, one batch at a time over all cores synchronises the cores on every op; independent
    batches on single-threaded workers keep each core busy (measured on 2 cores: 1.08x the
    throughput with evalkit's ~1k-token batches, 1.17x with batches of 32). GPUs get one worker.

    Example::

        >>> cpu_workers("cpu", threads=16, batches=100)
        (8, 2)
        >>> cpu_workers("cuda:0", threads=16, batches=100)
        (1, 16)
    """
    if on_accelerator(device) or threads < 2 or batches < 2:
        return 1, threads
    workers = min(threads, CPU_MAX_WORKERS, batches)
    return workers, max(1, threads // workers)


def tokenizer_threads(cpus: int, *, on_gpu: bool) -> int:
    """How many threads tokenize ahead of the model, given the CPUs the encoder may use.

    On a GPU the CPUs have nothing else to do: all of them but the one that drives the GPU, at most
    `GPU_TOKENIZER_THREADS`. On a CPU the forward passes need the cores, and tokenizing is a few
    percent of the work: one thread.

    Example::

        >>> tokenizer_threads(16, on_gpu=True), tokenizer_threads(4, on_gpu=True), tokenizer_threads(1, on_gpu=True)
        (8, 3, 1)
        >>> tokenizer_threads(16, on_gpu=False)
        1
    """
    return max(1, min(GPU_TOKENIZER_THREADS, cpus - 1)) if on_gpu else 1


def granted_cpus() -> int:
    """The CPUs this process may use: those Ray granted its task or actor, else the CPU affinity.

    Ray does not pin a worker to its CPUs, so the affinity of a Ray worker is the whole node's; its
    grant (`num_cpus`, see `evalkit.runner.sizes.task_resources`) is what it may use.
    """
    ray = sys.modules.get("ray")  # imported in a Ray worker; never imported here for the question
    if ray is not None and ray.is_initialized():
        try:
            grant = float(ray.get_runtime_context().get_assigned_resources().get("CPU") or 0)
        except Exception:  # noqa: BLE001 - the driver, or a Ray without the call: the affinity holds
            grant = 0
        if grant >= 1:
            return int(grant)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextlib.contextmanager
def worker_threads(model: Any, workers: int, threads: int) -> Iterator[Any]:
    """A thread pool whose threads run torch ops on `threads` threads each.

    The tokenizer is shared and not safe to call from two threads at once, so its step runs under
    a lock for the duration (`evalkit._compat.sentence_transformers.tokenizer_lock`): it is a few
    percent of the time, and the forward passes, the bulk, run in parallel. Call only when
    `can_thread(model)`.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from evalkit._compat.sentence_transformers import tokenizer_lock

    with tokenizer_lock(model), ThreadPoolExecutor(max_workers=workers, initializer=torch.set_num_threads, initargs=(threads,)) as pool:
        yield pool


def can_thread(model: Any) -> bool:
    """True when the model's tokenizing step can be put under a lock, so batches may run on threads."""
    from evalkit._compat.sentence_transformers import lock_fits

    return lock_fits(model)


def plan_batches(lengths: list[int], *, device: str, batch_size: int, max_tokens: int) -> list[list[int]]:
    """The batches for texts of these lengths (characters, prompt included) on `device`.

    Example::

        >>> plan_batches([5, 300, 5, 5], device="cuda", batch_size=2, max_tokens=10)
        [[1, 0], [2, 3]]
    """
    if not on_accelerator(device):
        # Measured on a 2-core CPU: ~1k tokens per batch is fastest (bigger batches fall out of cache).
        return token_budget_batches(
            lengths, batch_size=batch_size, max_tokens=max_tokens, budget=CPU_BATCH_TOKENS, max_count=2 * batch_size
        )
    return token_budget_batches(lengths, batch_size=batch_size, max_tokens=max_tokens)


def token_batches(lengths: Any, *, budget: int, max_count: int | None = None, pad_free: bool = True) -> list[np.ndarray]:
    """Group text positions, longest first, into batches of about `budget` real tokens.

    With `pad_free`, texts of one exact length fill batches of their own (no padding, no mask)
    where at least half a batch of them exists; what is left is packed in length order.

    Example::

        >>> [b.tolist() for b in token_batches([3, 5, 3, 3, 3], budget=6, pad_free=True)]
        [[1], [0, 2], [3, 4]]
        >>> [b.tolist() for b in token_batches([3, 5, 3, 3], budget=10, pad_free=False)]
        [[1, 0], [2, 3]]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")

    def count_for(length: int) -> int:
        count = max(1, budget // max(1, int(length)))
        return min(count, max_count) if max_count else count

    batches: list[np.ndarray] = []
    rest = order
    if pad_free and len(order):
        sorted_lengths = lengths[order]
        starts = np.flatnonzero(np.r_[True, sorted_lengths[1:] != sorted_lengths[:-1]])
        ends = np.r_[starts[1:], len(order)]
        left: list[np.ndarray] = []
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            group, count = order[start:end], count_for(int(sorted_lengths[start]))
            full = len(group) // count * count
            batches += [group[i : i + count] for i in range(0, full, count)]
            if len(group) - full >= max(1, count // 2):
                batches.append(group[full:])
            else:
                left.append(group[full:])
        rest = np.concatenate(left) if left else order[:0]
        # Pad-free batches first, then the padded rest: both longest first within themselves.
    start = 0
    while start < len(rest):
        count = count_for(int(lengths[rest[start]]))
        batches.append(rest[start : start + count])
        start += count
    return batches


def length_chunks(texts: list[str], limit: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """Texts longest first in chunks of about `limit` characters (each text counted up to 1,024, plus 2).

    The forward loop tokenizes one chunk at a time on a worker thread; each chunk's positions say where
    its texts came from.

    Example::

        >>> [(c, p.tolist()) for c, p in length_chunks(["a", "ccc", "bb"], limit=6)]
        [(['ccc', 'bb'], [1, 2]), (['a'], [0])]
    """
    order = np.argsort(-np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)), kind="stable")
    size, start = 0, 0
    for end, i in enumerate(order.tolist(), start=1):
        size += min(len(texts[i]), 1024) + 2
        if size >= limit or end == len(order):
            yield [texts[j] for j in order[start:end].tolist()], order[start:end]
            start, size = end, 0


def id_rows(rows: list[list[int]], lengths: np.ndarray, pad_id: int, *, packed: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """One batch's token ids as a model takes them, and its attention mask (None: no padding).

    Rows of one length stack as they are; others are right-padded with `pad_id` under a mask;
    `packed` puts every row's tokens back to back in one row (`evalkit._compat.packed_attention`).

    Example::

        >>> ids, mask = id_rows([[5, 6], [7]], np.array([2, 1]), pad_id=0)
        >>> ids.tolist(), mask.tolist()
        ([[5, 6], [7, 0]], [[1, 1], [1, 0]])
        >>> id_rows([[5, 6], [7]], np.array([2, 1]), pad_id=0, packed=True)[0].tolist()
        [[5, 6, 7]]
    """
    width = int(lengths.max())
    if packed:
        return np.fromiter((t for row in rows for t in row), dtype=np.int64, count=int(lengths.sum()))[None, :], None
    if int(lengths.min()) == width:
        return np.asarray(rows, dtype=np.int64).reshape(len(rows), width), None
    array = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, row in enumerate(rows):
        array[r, : len(row)] = row
        mask[r, : len(row)] = 1
    return array, mask
