"""evalkit's own forward loop: strings in, vectors out, for Transformer + Pooling models.

For a sentence-transformers model of the common shape (`evalkit._compat.st_forward.parts`), the
loop replaces `model.encode`:

- **Tokenizing once, ahead of the model.** Texts are cut into chunks in length order; worker threads
  (one tokenizer copy each; the fast tokenizer releases the GIL) tokenize and pad the next chunks
  while the model runs the current one. The same pass says which texts were truncated.
- **Batches by true token counts**, longest first. Texts of one exact length share a batch with no
  padding and no mask (on a GPU: SDPA's flash kernel); the rest are length-sorted, with a mask.
  Budget: `GPU_BATCH_TOKENS` on a GPU, `batching.CPU_BATCH_TOKENS` on a CPU (measured fastest).
- **On CUDA**: pinned host memory and non-blocking copies; the vectors stay on the device and come
  back with one synchronisation per `encode` call; the SDPA backends are chosen (`ATTENTION`) and
  recorded. On a CPU, independent batches run on single-threaded workers as in `batching.py`.
- **Pooling and normalisation in fp32**, whatever the weights' dtype.
- **Packed batches** (`attention="packed"`, an option): a batch is one row of its texts' tokens, no
  padding, attention per text (`evalkit._compat.packed_attention`; flash varlen on CUDA in bf16),
  trusted once it gives the padded vectors on a sample (`check_packed`); `describe` says which ran.

In fp32 the vectors equal `model.encode`'s within float rounding (tests/test_forward.py: 1e-6). A
model of any other shape keeps `model.encode`; `owned_loop` returns the reason.

Example::

    loop = owned_loop(model)                      # a ForwardLoop, or a string saying why not
    vectors, truncated = loop.encode(["你好", "hello"], prompt=None, normalize=False)
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalkit._compat import packed_attention
from evalkit._compat.st_forward import Parts, attention_implementation, parts, pool_hidden, reference_ids
from evalkit._util import first_line
from evalkit.model import batching

logger = logging.getLogger(__name__)

GPU_BATCH_TOKENS = 32768  # real tokens a GPU batch holds (tune with benchmarks/bench_encode.py)
CHUNK_BATCHES = 8  # a tokenizing chunk holds about this many batches' worth of characters
CHECK_SAMPLE = 6  # texts per prompt whose token ids are checked against sentence-transformers' own

# SDPA backends allowed, by batch kind. "auto" leaves torch's choice; on CUDA the default keeps
# cuDNN attention out (it builds a plan per new shape, and length-sorted batches are nearly all new).
# "packed": no padding at all (module docstring).
ATTENTION = ("auto", "flash", "efficient", "math", "cudnn", "packed")
PACKED_CHECK_TEXTS = 16  # texts of the first call compared between packed and padded batches


@dataclass
class Batch:
    """One model call: text positions, token ids (rows x width) and the mask (None: no padding)."""

    index: Any
    ids: Any
    mask: Any | None
    tokens: int  # real (unpadded) tokens
    packing: dict[str, Any] | None = None  # packed batch: `packed_attention.host_arrays` (ids is 1 x tokens)


@dataclass
class LoopStats:
    """What the loop did across its calls: for the benchmark and the manifest."""

    texts: int = 0
    tokens: int = 0  # real tokens
    padded_tokens: int = 0  # tokens the model computed, padding included
    batches: int = 0
    pad_free_batches: int = 0
    truncated: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


class ForwardLoop:
    """Runs a Transformer + Pooling (+ Normalize) SentenceTransformer: strings in, fp32 vectors out."""

    def __init__(
        self,
        model: Any,
        model_parts: Parts,
        *,
        batch_tokens: int | None = None,
        attention: str = "auto",
        tokenizer_threads: int | None = None,
        cpu_threads: int | None = None,
        pad_free: bool = True,
        max_count: int | None = None,
    ) -> None:
        import torch

        if attention not in ATTENTION:
            raise ValueError(f"attention {attention!r}: choose one of {', '.join(ATTENTION)}")
        self.model = model
        self.parts = model_parts
        self.device = torch.device(str(getattr(model, "device", "cpu")))
        self.on_cuda = self.device.type == "cuda"  # pinned copies, SDPA backends, one synchronisation per call
        accelerator = batching.on_accelerator(str(self.device))  # cuda or mps: GPU batches and tokenizer threads
        self.batch_tokens = batch_tokens or (GPU_BATCH_TOKENS if accelerator else batching.CPU_BATCH_TOKENS)
        self.max_count = max_count
        self.pad_free = pad_free
        self.attention = attention
        # The CPUs Ray granted this worker, else this process's: a GPU's tokenizers use them, a CPU's forward passes.
        self.tokenizer_threads = tokenizer_threads or batching.tokenizer_threads(batching.granted_cpus(), on_gpu=accelerator)
        self.cpu_threads = cpu_threads  # None: torch's thread count (on a CPU, the forward workers share them)
        self.stats = LoopStats()
        self._checked: dict[str, str | None] = {}  # per prompt: None (ids equal) or why the loop does not run it
        self._free: queue.SimpleQueue = queue.SimpleQueue()  # tokenizer copies not in use
        self._lock = threading.Lock()
        tokenizer = model_parts.tokenizer
        self.pad_id = int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else 0
        # Packed batches: None once checked and trusted, a reason when refused, "unchecked" before the first call.
        self.packed_reason: str | None = "unchecked" if attention == "packed" else "not asked for"
        if attention == "packed":
            packed_attention.register()

    # -- what ran ------------------------------------------------------------------------------
    def describe(self) -> str:
        """One line for logs and the benchmark: backend, dtype, batch budget."""
        dtype = str(next(self.parts.auto_model.parameters()).dtype).replace("torch.", "")
        if self.attention == "packed":
            kind = "packed varlen" if self.on_cuda and dtype in ("bfloat16", "float16") else "packed, SDPA per text"
            how = kind if self.packed_reason is None else f"packed refused ({self.packed_reason}), padded"
        else:
            how = f"SDPA backends {self.sdpa_backends(True)} unpadded / {self.sdpa_backends(False)} padded"
        return (
            f"evalkit forward loop on {self.device} ({dtype}; attention {attention_implementation(self.parts.auto_model)}, {how}; "
            f"{self.batch_tokens} tokens a batch; {self.tokenizer_threads} tokenizer threads)"
        )

    def sdpa_backends(self, pad_free: bool) -> str:
        """The SDPA backends allowed for a batch with (False) or without (True) padding."""
        names = self._backend_names(pad_free)
        return "+".join(names) if names else "torch default"

    def _backend_names(self, pad_free: bool) -> tuple[str, ...]:
        if self.attention == "packed":
            return ()
        if self.attention != "auto":
            return (self.attention,)
        if not self.on_cuda:
            return ()
        # Flash takes no mask; memory-efficient does. Math is the last resort either way.
        return ("flash", "efficient", "math") if pad_free else ("efficient", "math")

    # -- tokenizing ------------------------------------------------------------------------------
    def _borrow(self) -> Any:
        # One copy per concurrent caller: a fast tokenizer's truncation state is shared, not thread-safe.
        # Copies are kept between calls (a copy costs tens of milliseconds) and never outnumber the threads.
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return copy.deepcopy(self.parts.tokenizer)

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], int]:
        """Token ids as the model's tokenizer gives them (truncated to its limit), and how many were cut."""
        # The limit is read from the model's own tokenizer each time: `max_seq_length` may change after a copy.
        kwargs = {"max_length": self.parts.tokenizer.model_max_length, **self.parts.tokenizer_kwargs}
        tok = self._borrow()
        try:
            out = tok(texts, padding=False, truncation="longest_first", return_attention_mask=False, return_token_type_ids=False, **kwargs)
        finally:
            self._free.put(tok)
        truncated = sum(1 for enc in out.encodings if enc.overflowing)
        return out["input_ids"], truncated

    def _prepare(self, texts: list[str], positions: np.ndarray, packed: bool = False) -> tuple[list[Batch], int]:
        """Tokenize one chunk and make its batches (host arrays, pinned when the model is on CUDA)."""
        import time

        import torch

        started = time.perf_counter()
        ids, truncated = self.tokenize(texts)
        tokenized = time.perf_counter()
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
        out = []
        for local in batching.token_batches(
            lengths, budget=self.batch_tokens, max_count=self.max_count, pad_free=self.pad_free and not packed
        ):
            array, mask = batching.id_rows([ids[i] for i in local.tolist()], lengths[local], self.pad_id, packed=packed)
            packing: dict[str, Any] | None = packed_attention.host_arrays(lengths[local]) if packed else None
            tensors = [torch.from_numpy(array), None if mask is None else torch.from_numpy(mask), torch.from_numpy(positions[local])]
            if self.on_cuda:
                tensors = [t.pin_memory() if t is not None else None for t in tensors]
                packing = packing and {k: torch.from_numpy(v).pin_memory() for k, v in packing.items()}
            out.append(Batch(index=tensors[2], ids=tensors[0], mask=tensors[1], tokens=int(lengths[local].sum()), packing=packing))
        self._add_seconds(tokenize=tokenized - started, pack=time.perf_counter() - tokenized)
        return out, truncated

    def _add_seconds(self, **seconds: float) -> None:
        with self._lock:
            for key, value in seconds.items():
                self.stats.seconds[key] = self.stats.seconds.get(key, 0.0) + value

    def batches(self, texts: list[str], packed: bool = False) -> Iterator[tuple[Batch, int]]:
        """(batch, texts truncated in its chunk or 0) in order, tokenized ahead on worker threads."""
        import time

        with ThreadPoolExecutor(max_workers=self.tokenizer_threads, thread_name_prefix="evalkit-tokenize") as pool:
            pending: list[Future] = []
            chunks = batching.length_chunks(texts, self.batch_tokens * CHUNK_BATCHES)
            ahead = self.tokenizer_threads + 1

            def fill() -> None:
                while len(pending) < ahead:
                    chunk = next(chunks, None)
                    if chunk is None:
                        return
                    pending.append(pool.submit(self._prepare, *chunk, packed))

            fill()
            while pending:
                waited = time.perf_counter()
                ready, truncated = pending.pop(0).result()
                self._add_seconds(wait=time.perf_counter() - waited)  # the model waited for the tokenizers
                fill()
                for k, batch in enumerate(ready):
                    yield batch, truncated if k == 0 else 0

    # -- the check against sentence-transformers ------------------------------------------------
    def check_tokens(self, texts: list[str], prompt: str | None) -> str | None:
        """None when this loop's token ids equal sentence-transformers' own on a sample; else why not."""
        prompt = self.parts.default_prompt if prompt is None else prompt  # as encode resolves it
        key = prompt or ""
        if key in self._checked:
            return self._checked[key]
        by_length = sorted(set(texts), key=len)
        sample = list(dict.fromkeys(by_length[-2:] + by_length[:2] + by_length[:: max(1, len(by_length) // 2)]))[:CHECK_SAMPLE]
        ours, _ = self.tokenize([(prompt or "") + t for t in sample])
        try:
            theirs = reference_ids(self.parts.transformer, sample, prompt or None)
        except Exception as exc:  # noqa: BLE001 - any failure means: do not trust the owned loop here
            theirs, why = None, f"sentence-transformers' preprocessing could not be compared ({first_line(exc, with_type=True)})"
        else:
            why = "token ids differ from sentence-transformers' own"
        self._checked[key] = None if ours == theirs else why
        if self._checked[key] is not None:
            logger.warning("model.encode runs for prompt %r: %s", prompt, why)
        return self._checked[key]

    # -- encode -----------------------------------------------------------------------------------
    def encode(
        self, texts: list[str], *, prompt: str | None, normalize: bool = False, progress: Callable[[int], Any] | None = None
    ) -> tuple[np.ndarray, int]:
        """fp32 vectors for `texts` in input order, and how many texts the tokenizer truncated.

        `prompt` is prepended as sentence-transformers does (None: the model's default prompt, if
        any); `normalize` is `encode(normalize_embeddings=...)`.
        """
        import time

        started = time.perf_counter()
        prompt = self.parts.default_prompt if prompt is None else prompt
        full = [prompt + t for t in texts] if prompt else list(texts)
        if not full:
            return np.zeros((0, self._dimension()), dtype=np.float32), 0
        if self.packed_reason == "unchecked":
            self.packed_reason = self.check_packed(full)
        if self.packed_reason is None:
            with packed_attention.switched(self.parts.auto_model):
                vectors, truncated = self._run(full, normalize, progress, packed=True)
        else:
            vectors, truncated = self._run(full, normalize, progress)
        self.stats.texts += len(full)
        self.stats.truncated += truncated
        self._add_seconds(encode=time.perf_counter() - started)
        return vectors, truncated

    def check_packed(self, texts: list[str]) -> str | None:
        """None when packed batches give the padded ones' vectors on a sample (fp32: 1e-5; else cosine 0.999)."""
        import torch

        by_length = sorted(set(texts), key=len)
        step = max(1, len(by_length) // PACKED_CHECK_TEXTS)
        sample = list(dict.fromkeys(by_length[::step] + by_length[-2:]))
        counted = copy.deepcopy(self.stats)  # the check's batches are not the caller's work
        try:
            padded, _ = self._run(sample, False, None)
            with packed_attention.switched(self.parts.auto_model):
                packed, _ = self._run(sample, False, None, packed=True)
        except Exception as exc:  # noqa: BLE001 - any failure means: this model does not take packed rows
            return f"packed batches failed: {first_line(exc, with_type=True)}"
        finally:
            self.stats = counted
        if next(self.parts.auto_model.parameters()).dtype == torch.float32:
            worst = float(np.abs(packed - padded).max())
            ok, seen = worst <= 1e-5, f"max difference {worst:.1e}"
        else:
            cosine = (packed * padded).sum(1) / (np.linalg.norm(packed, axis=1) * np.linalg.norm(padded, axis=1) + 1e-12)
            ok, seen = float(cosine.min()) >= 0.999, f"lowest cosine {float(cosine.min()):.4f}"
        if ok:
            return None
        logger.warning("packed batches refused: they differ from padded ones (%s)", seen)
        return f"packed vectors differ from padded ones: {seen}"

    def _run(self, full: list[str], normalize: bool, progress: Callable[[int], Any] | None, packed: bool = False) -> tuple[np.ndarray, int]:
        """The vectors of `full` (prompts applied) in order, through this loop's batches, and the truncated count."""
        import torch

        dim, truncated = self._dimension(), 0
        if self.on_cuda:
            # This thread's current device is this loop's: with one loop per GPU (data parallel), each
            # runs on its own thread, and anything allocated without a device lands on the right GPU.
            with torch.cuda.device(self.device), torch.inference_mode():
                out = torch.empty((len(full), dim), dtype=torch.float32, device=self.device)
                for batch, cut in self.batches(full, packed):
                    truncated += cut
                    index = batch.index.to(self.device, non_blocking=True)
                    out.index_copy_(0, index, self._forward(batch, normalize))
                    if progress is not None:
                        progress(len(batch.index))
            vectors = out.cpu().numpy()  # the one synchronisation of this call
        else:
            vectors = np.empty((len(full), dim), dtype=np.float32)
            threads_here = self.cpu_threads or torch.get_num_threads()
            workers, threads = batching.cpu_workers(str(self.device), threads_here, max(2, len(full) // 8))

            def run(item: tuple[Batch, int]) -> int:
                batch, cut = item
                with torch.inference_mode():
                    vectors[batch.index.numpy()] = self._forward(batch, normalize).cpu().numpy()  # a no-op on a CPU; mps copies
                return cut

            if workers == 1:
                for item in self.batches(full, packed):
                    truncated += run(item)
                    if progress is not None:
                        progress(len(item[0].index))
            else:
                with ThreadPoolExecutor(max_workers=workers, initializer=torch.set_num_threads, initargs=(threads,)) as pool:
                    for cut in pool.map(run, self.batches(full, packed)):
                        truncated += cut
        return vectors, truncated

    def _dimension(self) -> int:
        dim = int(self.model.get_embedding_dimension())
        return min(dim, self.parts.truncate_dim) if self.parts.truncate_dim else dim

    def _forward(self, batch: Batch, normalize: bool) -> Any:
        """One batch through the model, pooled and normalised in fp32 (stays on the model's device)."""
        import torch.nn.functional as F

        ids = batch.ids.to(self.device, non_blocking=True)
        mask = None if batch.mask is None else batch.mask.to(self.device, non_blocking=True)
        if batch.packing is not None:
            packing, positions = packed_attention.packing(batch.packing, self.device)
            hidden = packed_attention.forward(self.parts.auto_model, ids, positions, packing).float()
            pooled = packed_attention.pool(hidden, packing, self.parts.pooling)
        else:
            with self._sdpa(mask is None):
                hidden = self.parts.auto_model(input_ids=ids, attention_mask=mask, return_dict=True).last_hidden_state
            pooled = pool_hidden(hidden.float(), mask, self.parts.pooling)
        if self.parts.normalize:
            pooled = F.normalize(pooled, p=2, dim=-1)
        if self.parts.truncate_dim:
            pooled = pooled[:, : self.parts.truncate_dim]
        if normalize:
            pooled = F.normalize(pooled, p=2, dim=1)
        stats = self.stats
        stats.batches += 1
        stats.pad_free_batches += mask is None
        stats.tokens += batch.tokens
        stats.padded_tokens += int(batch.ids.numel())
        return pooled

    def _sdpa(self, pad_free: bool) -> Any:
        import contextlib

        names = self._backend_names(pad_free)
        if not names:
            return contextlib.nullcontext()
        from torch.nn.attention import SDPBackend, sdpa_kernel

        kinds = {
            "flash": SDPBackend.FLASH_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "math": SDPBackend.MATH,
            "cudnn": SDPBackend.CUDNN_ATTENTION,
        }
        return sdpa_kernel([kinds[n] for n in names])


def owned_loop(model: Any, **options: Any) -> ForwardLoop | str:
    """The forward loop of evalkit for this model, or the reason it keeps `model.encode`."""
    found = parts(model)
    if isinstance(found, str):
        return found
    if attention_implementation(found.auto_model) not in ("sdpa", "eager"):
        return f"attention implementation {attention_implementation(found.auto_model)} (the loop runs sdpa and eager)"
    return ForwardLoop(model, found, **options)
