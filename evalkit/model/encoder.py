"""The task-aware encoder: a loaded model wrapped for mteb 2.x.

`Encoder` implements mteb's encoder protocol with a real `mteb_model_meta`: it resolves each
task's prompt as mteb does, encodes each distinct (prompt, text) once per run (and, with an
`EmbeddingCache`, once ever), and counts what it saw. Where the model comes from and whether it
loaded correctly is `evalkit.model.source`; how texts are batched is `evalkit.model.batching`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evalkit.errors import EncodingError, ModelError
from evalkit.model.batching import can_thread, cpu_workers, on_accelerator, plan_batches, worker_threads
from evalkit.model.caching import CachingEncoder
from evalkit.model.prompts import PromptTable, check_table, prompt_table_for
from evalkit.model.settings import ModelSettings, encodes_itself
from evalkit.model.source import ResolvedModel, load_mteb, load_python, load_sentence_transformer, pick_device, prepare_model

if TYPE_CHECKING:
    from evalkit.model.cache import EmbeddingCache
    from evalkit.model.forward import ForwardLoop
    from evalkit.model.parallel import DeviceLoops

logger = logging.getLogger(__name__)


class Encoder(CachingEncoder):
    """A task-aware encoder for mteb 2.x around a SentenceTransformer that evalkit loaded.

    Prompts resolve as mteb resolves them (task-query, task, type-query, type, query/document),
    from one table whose source is known (see `evalkit.model.prompts`); a suite task's own prompts win.
    The cache key is the prompt text, so a text is shared by every task that prompts it alike.

    Example::

        enc = load_encoder(ModelSettings())            # the embedded all-MiniLM-L6-v2
        enc.mteb_model_meta.name                       # 'sentence-transformers/all-MiniLM-L6-v2'
    """

    def __init__(
        self,
        model: Any,
        resolved: ResolvedModel,
        settings: ModelSettings,
        *,
        prompts: PromptTable,
        cache: EmbeddingCache | None = None,
    ) -> None:
        """Wrap a loaded SentenceTransformer; use `load_encoder` rather than calling this."""
        from mteb.models.model_meta import ModelMeta, ScoringFunction

        super().__init__(resolved, settings, cache=cache)
        self.model = model
        self.devices = [d.strip() for d in settings.device.split(",")] if "," in settings.device else [str(model.device)]
        self._pool: Any = None
        # evalkit's forward loop (one per device when data-parallel), or the reason model.encode runs.
        self.forward: ForwardLoop | DeviceLoops | str = self._open_forward()
        self.prompts = check_table(prompts, f"model {resolved.name}")
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

    def prompt_for(self, task_metadata: Any, prompt_type: Any) -> str | None:
        """The prompt text for this task and side, or None."""
        return self.prompts.for_task(self.task_prompts, task_metadata, prompt_type).text

    def _key(self, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any) -> tuple[str, str | None]:
        prompt = self.prompt_for(task_metadata, prompt_type)
        return prompt or "", prompt

    def _encode_unique(self, texts: list[str], prompt: str | None, context: dict[str, Any]) -> np.ndarray:
        loop = self._owned_for(texts, prompt)
        if loop is not None:  # evalkit's forward loop: one tokenizing pass, which also counts truncation
            vectors, truncated = loop.encode(texts, prompt=prompt, normalize=bool(self.settings.normalize))
            self._count("truncated", truncated)
            self._count("owned_forward", len(texts))
            self.task_forward.ran("evalkit", loop=loop.describe())
            return vectors
        self.task_forward.ran("sentence-transformers", reason=self._why_not_owned(texts, prompt))
        return self._encode_texts(texts, prompt, context["task_metadata"].name, context["kwargs"])

    def _stored_key(self, key: str, prompt: str | None, texts: list[str]) -> str:
        if self.settings.dtype == "fp32":
            return key  # both paths give these vectors within 1e-6 (tests/test_forward.py): either serves the other
        # Below fp32 they are close, not equal: cached vectors are used only by the path that made them.
        path = "evalkit" if self._owned_for(texts, prompt) is not None else "sentence-transformers"
        return f"{key}\x1fforward={path}"

    def _open_forward(self) -> ForwardLoop | DeviceLoops | str:
        """The forward loop(s) of evalkit for this model and settings, or the reason `model.encode` runs.

        Raises:
            ModelError: `forward: evalkit` for a model the loop cannot run.
        """
        from evalkit.model.forward import owned_loop
        from evalkit.model.parallel import device_loops

        if self.settings.forward == "sentence-transformers":
            return "forward: sentence-transformers was asked for"
        found = device_loops(self.model, self.devices) if len(self.devices) > 1 else owned_loop(self.model)
        if isinstance(found, str) and self.settings.forward == "evalkit":
            raise ModelError(
                f"model {self.resolved.name}: evalkit's forward loop cannot run it ({found}); use --forward auto or sentence-transformers"
            )
        logger.info("encoder: %s", found if isinstance(found, str) else found.describe())
        return found

    def _owned_for(self, texts: list[str], prompt: str | None) -> ForwardLoop | DeviceLoops | None:
        """The forward loop of evalkit when it runs this model exactly, else None (model.encode runs).

        Raises:
            EncodingError: `forward: evalkit` and this prompt's token ids differ from sentence-transformers' own.
        """
        if isinstance(self.forward, str):
            return None
        why = self.forward.check_tokens(texts, prompt)  # checked once per prompt; the loop logs why not
        if why is None:
            return self.forward
        if self.settings.forward == "evalkit":
            raise EncodingError(f"model {self.resolved.name}, prompt {prompt!r}: {why}; use --forward auto or sentence-transformers")
        return None

    def _why_not_owned(self, texts: list[str], prompt: str | None) -> str:
        if isinstance(self.forward, str):
            return self.forward
        where = f"prompt {prompt!r}" if prompt else "no prompt"
        return f"{where}: {self.forward.check_tokens(texts, prompt)}"  # checked already: the reason it gave

    def _over_limit(self, texts: list[str], prompt: str | None) -> int:
        """How many texts the model truncates: only texts longer in characters than the limit can be."""
        if self._owned_for(texts, prompt) is not None:
            return 0  # counted by the forward loop's own tokenizing pass
        limit = getattr(self.model, "max_seq_length", None)
        tokenizer = getattr(self.model, "tokenizer", None)
        if not limit or tokenizer is None:
            return 0
        extra = len(prompt or "")
        long = [(prompt or "") + t for t in texts if len(t) + extra + 2 > limit]
        if not long:
            return 0
        try:
            # Cut at limit + 1: enough to tell "longer than the limit", and the tokenizer does not warn
            # "will result in indexing errors" about the truncation evalkit reports itself.
            encoded = tokenizer(long, add_special_tokens=True, truncation=True, max_length=limit + 1)
            lengths = [len(ids) for ids in encoded["input_ids"]]
        except Exception:  # noqa: BLE001 - a count for the report, never a reason to fail
            return 0
        return sum(1 for n in lengths if n > limit)

    def _encode_texts(self, texts: list[str], prompt: str | None, task: str, kwargs: Mapping[str, Any]) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        from evalkit._notices import progress_bars_enabled

        batch_size = int(kwargs.get("batch_size") or self.settings.batch_size)
        if len(self.devices) > 1:
            return self._encode_data_parallel(texts, prompt, batch_size)
        limit = getattr(self.model, "max_seq_length", None)
        # Static-embedding models have no length limit (inf): batch them as 512-token texts.
        limit = int(limit) if isinstance(limit, int | float) and math.isfinite(limit) and limit > 0 else 512
        lengths = [len(t) + len(prompt or "") for t in texts]
        batches = plan_batches(lengths, device=str(self.model.device), batch_size=batch_size, max_tokens=limit)
        vectors = np.empty((len(texts), self.mteb_model_meta.embed_dim), dtype=np.float32)
        progress = tqdm(
            total=len(texts), desc=f"encoding {task}", unit="text", leave=False, disable=not progress_bars_enabled()
        )

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
        if not can_thread(self.model):
            workers = 1  # no tokenizing step evalkit can put under a lock: one thread is the safe choice
        with progress:
            if workers == 1:
                for batch in batches:
                    progress.update(encode_batch(batch))
            else:
                with worker_threads(self.model, workers, threads) as pool:
                    for done in pool.map(encode_batch, batches):
                        progress.update(done)
        return vectors

    def _encode_data_parallel(self, texts: list[str], prompt: str | None, batch_size: int) -> np.ndarray:
        # sentence-transformers' multi-process pool: one process per device, chunks fanned out.
        if self._pool is None:
            saved = os.environ.get("OMP_NUM_THREADS")
            if not any(on_accelerator(d) for d in self.devices):
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


class ProtocolEncoder(CachingEncoder):
    """Any object with mteb's encoder protocol (a Python factory's, or one of mteb's own wrappers).

    Its prompts and instructions are its own business, so texts are cached per (task, subset,
    side): never shared across tasks, always correct. evalkit hands it the distinct texts that
    are not cached yet, as mteb would, in a DataLoader of `{"text": [...]}` batches.
    """

    def __init__(self, model: Any, resolved: ResolvedModel, settings: ModelSettings, *, cache: EmbeddingCache | None = None) -> None:
        """Wrap a loaded protocol object; use `load_resolved` rather than calling this."""
        super().__init__(resolved, settings, cache=cache)
        self.model = model
        # The object encodes itself: evalkit's forward loop never runs it (`merge` refuses forward: evalkit for it).
        self.own = encodes_itself(settings) or "the loaded object"
        if settings.forward == "evalkit":
            raise ModelError(f"model {resolved.name}: {self.own} encodes itself, evalkit's forward loop cannot run it; use --forward auto")
        meta = getattr(model, "mteb_model_meta", None)
        if meta is None:
            raise ModelError(
                f"model {resolved.name}: the object has no `mteb_model_meta`; return an mteb encoder "
                "(an AbsEncoder subclass, or any object with mteb_model_meta, encode, similarity, similarity_pairwise)"
            )
        # Filed under evalkit's identity for the model, whatever name the object gives itself.
        self.mteb_model_meta = meta.model_copy(update={"name": resolved.name, "revision": resolved.revision})

    def _key(self, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any) -> tuple[str, str | None]:
        side = getattr(prompt_type, "value", prompt_type) or ""
        return f"\x1f{task_metadata.name}\x1f{hf_subset}\x1f{side}", None

    def _encode_unique(self, texts: list[str], prompt: str | None, context: dict[str, Any]) -> np.ndarray:
        from datasets import Dataset
        from torch.utils.data import DataLoader

        batch_size = int(context["kwargs"].get("batch_size") or self.settings.batch_size)
        self.task_forward.ran("model", reason=f"{self.own} encodes itself")
        # A datasets-backed loader, as mteb builds them: some of mteb's wrappers read `inputs.dataset`.
        loader = DataLoader(Dataset.from_dict({"text": texts}), batch_size=batch_size)
        out = self.model.encode(
            loader,
            task_metadata=context["task_metadata"],
            hf_split=context["hf_split"],
            hf_subset=context["hf_subset"],
            prompt_type=context["prompt_type"],
            **context["kwargs"],
        )
        return np.asarray(out.float().cpu().numpy() if hasattr(out, "cpu") else out, dtype=np.float32)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        """The model's own similarity when it has one, else mteb's for its declared function."""
        own = getattr(self.model, "similarity", None)
        return own(embeddings1, embeddings2) if own is not None else super().similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        """The model's own pairwise similarity when it has one, else mteb's."""
        own = getattr(self.model, "similarity_pairwise", None)
        return own(embeddings1, embeddings2) if own is not None else super().similarity_pairwise(embeddings1, embeddings2)


def load_encoder(settings: ModelSettings, *, cache_dir: Path | None = None) -> Encoder | ProtocolEncoder:
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
    # The prompt table a run would build (a registry instruct model's instructions included); given prompts win.
    table = prompt_table_for(resolved, settings, {"prompts": "cli"} if settings.prompts else {})
    return load_resolved(resolved, settings, table, cache_dir=cache_dir)


def load_resolved(
    resolved: ResolvedModel, settings: ModelSettings, prompts: PromptTable, *, cache_dir: Path | None = None
) -> Encoder | ProtocolEncoder:
    """Load an already resolved and checked model into an encoder for mteb, with the run's prompt table.

    Raises:
        TypeError: `prompts` is not a `PromptTable` (a plain dict would lose instructions and sources).
        ModelError: weights that did not load, a checkpoint that cannot be read, or a factory that fails.
    """
    check_table(prompts, f"model {resolved.name}")
    cache = None
    if cache_dir is not None:
        from evalkit.model.cache import EmbeddingCache

        cache = EmbeddingCache(cache_dir, model_key(resolved, settings))
    if resolved.kind == "python":
        return ProtocolEncoder(load_python(resolved), resolved, settings, cache=cache)
    sys.audit("evalkit.model.load", resolved.name)  # weights from here on; tests/conftest.py keeps them out of the fast layer
    # "cuda:0,cuda:1" (or "cpu,cpu"): load on the first device, encode data-parallel on all.
    device = pick_device(settings.device.split(",")[0].strip())
    if resolved.kind == "mteb":
        return ProtocolEncoder(load_mteb(resolved, settings, device), resolved, settings, cache=cache)
    if settings.dtype == "fp16" and device == "cpu":
        logger.warning("fp16 on CPU is slow and lossy; bf16 or fp32 is the better choice there")
    model = load_sentence_transformer(resolved, settings, device)
    return Encoder(model, resolved, settings, prompts=prompts, cache=cache)


def model_key(resolved: ResolvedModel, settings: ModelSettings) -> str:
    """The embedding-cache namespace: what the vectors come from (`ResolvedModel.identity`) plus the settings that change them."""
    blob = json.dumps({**resolved.identity(settings.model), **settings.vector_key()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]
