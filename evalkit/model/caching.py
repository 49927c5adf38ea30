"""mteb's encoder protocol around any backend: each distinct text encoded once, cached, counted.

`CachingEncoder` is the part every evalkit encoder shares (`evalkit.model.encoder`): mteb calls
`encode` per task, split and side; identical (key, text) pairs are encoded once per task in
memory and, with an `EmbeddingCache`, once ever; empty, truncated and non-finite vectors are
counted or refused. Similarities are mteb's own public functions.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from evalkit._notices import phase
from evalkit._types import EncodeStats, ForwardUse
from evalkit.errors import EncodingError

if TYPE_CHECKING:
    from evalkit.model.cache import EmbeddingCache
    from evalkit.model.settings import ModelSettings
    from evalkit.model.source import ResolvedModel

_MEMO_LIMIT = 200_000  # vectors kept in memory between encode calls of one task


class CachingEncoder:
    """mteb's encoder protocol around a backend, with de-duplication, the embedding cache and counts.

    Subclasses say how a (task, side) maps to a cache key and how missing texts are encoded.
    Identical (key, text) pairs are encoded once per run; with an `EmbeddingCache`, once ever.
    """

    mteb_model_meta: Any

    def __init__(self, resolved: ResolvedModel, settings: ModelSettings, *, cache: EmbeddingCache | None) -> None:
        self.resolved = resolved
        self.settings = settings
        self.cache = cache
        self.task_prompts: Mapping[str, str] = {}
        self.current_task: str | None = None
        self.stats = EncodeStats()  # the whole run
        self.task_stats = EncodeStats()  # the current task
        self.task_forward = ForwardUse()  # which code encoded the current task's texts
        self._memo: dict[tuple[str, str], np.ndarray] = {}
        self._recording: list[EncodeCall] | None = None

    def recorder(self) -> Self:
        """A copy to record a task with while this encoder runs another (a resident encoder's second lane).

        It shares what is loaded (model, embedding cache, prompt table) and has its own per-task
        state (task and prompts, counts, in-memory vectors, the recording), so neither sees the other's.
        """
        view = copy.copy(self)
        view.task_prompts, view.current_task = {}, None
        view.stats, view.task_stats = EncodeStats(), EncodeStats()
        view._memo, view._recording = {}, None
        return view

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[EncodeCall]]:
        """Within the block, `encode` records what mteb asks for and returns stand-in vectors.

        Each call is recorded with the cache key and prompt this encoder's own `_key` gives, so the
        texts can be encoded ahead (`encode_ahead`, on any encoder of the same model job) into the
        cache the real run reads. Nothing is encoded, cached or counted while recording.
        """
        calls: list[EncodeCall] = []
        self._recording = calls
        try:
            yield calls
        finally:
            self._recording = None

    def encode_ahead(self, call: EncodeCall) -> int:
        """Encode those texts of a recorded call the embedding cache lacks, into the cache; returns how many.

        Raises:
            EncodingError: no embedding cache, or the model returns NaN or infinite values.
        """
        if self.cache is None:
            raise EncodingError("encoding ahead needs an embedding cache (--cache-dir)")
        key = self._stored_key(call.key, call.prompt, call.texts)
        todo = list(dict.fromkeys(self.cache.missing(key, call.texts)))
        if not todo:
            return 0
        vectors = self._check_finite(self._encode_unique(todo, call.prompt, call.context()), call.task_metadata.name)
        self.cache.put(key, todo, vectors)
        return len(todo)

    @contextlib.contextmanager
    def for_task(self, name: str, prompts: Mapping[str, str]) -> Iterator[None]:
        """Within the block, per-task prompts from the suite override the model-level ones."""
        self.current_task, self.task_prompts = name, dict(prompts)
        self.task_stats, self.task_forward = EncodeStats(), ForwardUse()
        try:
            yield
        finally:
            # Sharing across tasks goes through the disk cache: memory stays bounded by one task.
            self.current_task, self.task_prompts = None, {}
            self._memo.clear()

    def _key(self, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any) -> tuple[str, str | None]:
        """(cache key of this task and side, prompt text to encode with or None)."""
        raise NotImplementedError

    def _encode_unique(self, texts: list[str], prompt: str | None, context: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def _stored_key(self, key: str, prompt: str | None, texts: list[str]) -> str:
        """The embedding cache's key for these texts: the cache key, plus what encodes them where that changes the vectors."""
        return key

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
        key_prompt, prompt = self._key(task_metadata, hf_split, hf_subset, prompt_type)
        if self._recording is not None:
            self._recording.append(EncodeCall(key_prompt, prompt, texts, task_metadata, hf_split, hf_subset, prompt_type, dict(kwargs)))
            return _stand_in(len(texts), int(self.mteb_model_meta.embed_dim))
        # Empty and over-long texts are encoded as mteb does (empty string, truncation); counted to report.
        self._count("texts", len(texts))
        self._count("empty", sum(1 for t in texts if not t or not t.strip()))
        unique = list(dict.fromkeys(t for t in texts if (key_prompt, t) not in self._memo))
        stored = self._stored_key(key_prompt, prompt, unique) if unique and self.cache is not None else key_prompt
        if unique and self.cache is not None:
            found = self.cache.get(stored, unique, dim=getattr(self.mteb_model_meta, "embed_dim", None))
            self._count("cache_hits", len(found))
            for text, vec in found.items():
                self._memo[(key_prompt, text)] = vec
            unique = [t for t in unique if t not in found]
        if unique:
            self._count("truncated", self._over_limit(unique, prompt))
            started = time.monotonic()
            context = {
                "task_metadata": task_metadata,
                "hf_split": hf_split,
                "hf_subset": hf_subset,
                "prompt_type": prompt_type,
                "kwargs": kwargs,
            }
            with phase("encoding"):
                vectors = self._check_finite(self._encode_unique(unique, prompt, context), task_metadata.name)
            # The rest of a task's time is data loading and mteb's scoring: the CPU side.
            self._count("encode_seconds", time.monotonic() - started)
            self._count("encoded", len(unique))
            for text, vec in zip(unique, vectors, strict=True):
                self._memo[(key_prompt, text)] = vec
            if self.cache is not None:
                self.cache.put(stored, unique, vectors)
        if not texts:
            return np.zeros((0, self.mteb_model_meta.embed_dim), dtype=np.float32)
        out = np.stack([self._memo[(key_prompt, t)] for t in texts])
        if len(self._memo) > _MEMO_LIMIT:
            # Corpus chunks of big retrieval tasks would pile up here; the disk cache still has them.
            self._memo.clear()
        return out

    def _count(self, key: str, n: float) -> None:
        for stats in (self.stats, self.task_stats):
            setattr(stats, key, getattr(stats, key) + n)

    def _over_limit(self, texts: list[str], prompt: str | None) -> int:
        return 0

    def _check_finite(self, vectors: np.ndarray, task: str) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if not np.isfinite(vectors).all():
            bad = int((~np.isfinite(vectors)).any(axis=1).sum())
            raise EncodingError(
                f"model {self.resolved.name} on task {task}: {bad} embeddings hold NaN or infinite values; "
                "try --dtype fp32, or check the checkpoint"
            )
        return vectors

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Similarity matrix with mteb's function for the declared scoring function (fp32 in, as mteb computes it)."""
        return _similarity(self.mteb_model_meta.similarity_fn_name, pairwise=False)(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Pairwise similarities with mteb's function for the declared scoring function."""
        return _similarity(self.mteb_model_meta.similarity_fn_name, pairwise=True)(embeddings1, embeddings2)

    def close(self) -> None:
        """Release what the backend holds (worker pools); the default holds nothing."""


@dataclass
class EncodeCall:
    """One `encode` call of mteb, as recorded: the cache key, the prompt, the texts and the call's context."""

    key: str
    prompt: str | None
    texts: list[str]
    task_metadata: Any
    hf_split: str
    hf_subset: str
    prompt_type: Any
    kwargs: dict[str, Any] = field(default_factory=dict)

    def context(self) -> dict[str, Any]:
        """The context `_encode_unique` gets, as in `encode`."""
        return {
            "task_metadata": self.task_metadata,
            "hf_split": self.hf_split,
            "hf_subset": self.hf_subset,
            "prompt_type": self.prompt_type,
            "kwargs": self.kwargs,
        }

    def part(self, texts: list[str]) -> EncodeCall:
        """The same call for some of its texts: a shard."""
        return replace(self, texts=texts)


def _stand_in(n: int, dim: int) -> np.ndarray:
    # Unit vectors, finite and distinct, so mteb's scoring runs as usual on them (the scores are discarded).
    vectors = np.random.default_rng(n).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-6)


def _similarity(name: Any, *, pairwise: bool) -> Any:
    # mteb's public similarity functions, chosen as mteb's AbsEncoder chooses them (cosine when undeclared).
    from mteb import similarity_functions as sim

    value = str(getattr(name, "value", name) or "cosine")
    chosen = {
        "cosine": ("cos_sim", "pairwise_cos_sim"),
        "dot": ("dot_score", "pairwise_dot_score"),
        "MaxSim": ("max_sim", "pairwise_max_sim"),
    }
    if value not in chosen:
        raise ValueError(f"similarity function {value!r} is not one mteb knows")
    return getattr(sim, chosen[value][pairwise])
