"""Data parallel with evalkit's forward loop: one loop per device, each encode call split across them.

`--device cuda:0,cuda:1` gives each device a loop (`evalkit.model.forward.ForwardLoop`) over its own
copy of the model; a device named twice shares one copy (on a CPU, `cpu,cpu` is two loops over the
same weights, each on half the cores). Each call's texts are dealt out by length, so every device
gets about the same number of tokens; each loop runs on its own thread, tokenizing ahead on its
share of the CPUs; the vectors come back in input order. Every loop runs the same model exactly
(fp32: `model.encode`'s vectors within 1e-6), so the split changes no vector.

A model the loop cannot run keeps sentence-transformers' multi-process pool
(`Encoder._encode_data_parallel`); `device_loops` returns the reason.

Example::

    loops = device_loops(model, ["cuda:0", "cuda:1"])     # a DeviceLoops, or a string saying why not
    vectors, truncated = loops.encode(texts, prompt=None, normalize=False)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from typing import Any

import numpy as np

from evalkit.model import batching
from evalkit.model.forward import ForwardLoop, LoopStats, owned_loop


def deal_by_length(lengths: Sequence[int], parts: int) -> list[np.ndarray]:
    """Positions of the texts dealt into `parts` shares of about equal length, longest first.

    Example::

        >>> [p.tolist() for p in deal_by_length([1, 9, 5, 7, 3], 2)]
        [[1, 2, 0], [3, 4]]
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[k::parts] for k in range(parts)]


class DeviceLoops:
    """Several forward loops, one per device, behind the one loop's interface (`encode`, `check_tokens`)."""

    def __init__(self, loops: list[ForwardLoop], *, cpu_threads: int) -> None:
        """Use `device_loops` rather than calling this."""
        self.loops = loops
        self.cpu_threads = cpu_threads  # torch threads of each loop's own thread (CPU loops)

    @property
    def stats(self) -> LoopStats:
        """The loops' counts added up."""
        total = LoopStats()
        for loop in self.loops:
            for f in fields(LoopStats):
                if f.name != "seconds":
                    setattr(total, f.name, getattr(total, f.name) + getattr(loop.stats, f.name))
            for key, value in loop.stats.seconds.items():
                total.seconds[key] = total.seconds.get(key, 0.0) + value
        return total

    def describe(self) -> str:
        """One line: the devices, then what the first loop runs."""
        devices = ", ".join(str(loop.device) for loop in self.loops)
        return f"{len(self.loops)} loops, one per device ({devices}); each: {self.loops[0].describe()}"

    def check_tokens(self, texts: list[str], prompt: str | None) -> str | None:
        """As `ForwardLoop.check_tokens`: every loop holds a copy of the same tokenizer."""
        return self.loops[0].check_tokens(texts, prompt)

    def encode(self, texts: list[str], *, prompt: str | None, normalize: bool = False) -> tuple[np.ndarray, int]:
        """fp32 vectors for `texts` in input order and the count truncated, each device encoding its share."""
        import torch

        shares = deal_by_length([len(t) for t in texts], len(self.loops))

        def run(k: int) -> tuple[np.ndarray, int]:
            return self.loops[k].encode([texts[i] for i in shares[k].tolist()], prompt=prompt, normalize=normalize)

        # Each loop on its own thread: a GPU loop only launches kernels and waits (the GIL is free meanwhile),
        # a CPU loop's torch ops run on this thread's `cpu_threads` (set per thread, as batching.worker_threads does).
        with ThreadPoolExecutor(
            len(self.loops), thread_name_prefix="evalkit-device", initializer=torch.set_num_threads, initargs=(self.cpu_threads,)
        ) as pool:
            done = list(pool.map(run, range(len(self.loops))))
        dim = done[0][0].shape[1]
        vectors = np.empty((len(texts), dim), dtype=np.float32)
        for share, (part, _) in zip(shares, done, strict=True):
            vectors[share] = part
        return vectors, sum(cut for _, cut in done)


def device_loops(model: Any, devices: list[str], **options: Any) -> DeviceLoops | str:
    """One forward loop per device for a model loaded on `devices[0]`, or the reason the loop cannot run it.

    Args:
        model: the SentenceTransformer, on the first device.
        devices: the devices, as `--device` names them ("cuda:0", "cuda:1"); one named twice shares a copy.
        **options: `ForwardLoop` options for every loop.
    """
    import torch

    # The CPUs are shared: a GPU's tokenizer threads or a CPU loop's forward threads get their part.
    cpus = max(1, batching.granted_cpus() // len(devices))
    cpu_threads = max(1, torch.get_num_threads() // len(devices))
    models: dict[str, Any] = {devices[0]: model}
    loops = []
    for device in devices:
        if device not in models:
            # A copy moved to its device: the weights of the first, bit for bit.
            models[device] = copy.deepcopy(model).to(device)
        on_gpu = batching.on_accelerator(device)
        mine = {"tokenizer_threads": batching.tokenizer_threads(cpus, on_gpu=on_gpu), "cpu_threads": cpu_threads, **options}
        loop = owned_loop(models[device], **mine)
        if isinstance(loop, str):  # the first: the model's shape (no copy made yet); a copy: said with its device
            return loop if device == devices[0] else f"device {device}: {loop}"
        loops.append(loop)
    return DeviceLoops(loops, cpu_threads=cpu_threads)
