"""A deterministic keyword encoder for exact, hand-checkable tests (no weights, no randomness).

A text's vector counts each vocabulary word in it: "cat dog cat" -> cat 2, dog 1. Cosine
similarity between such vectors is easy to work out by hand, so tests can state exact scores.
Plug it into evalkit as a Python factory: `--model py:tests.keyword_encoder:make_encoder`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

VOCAB = ("cat", "dog", "sun", "rain", "car", "bus", "tea", "milk")
_WORD = re.compile(r"[a-z]+")


def vector(text: str, vocab: tuple[str, ...] = VOCAB, weights: dict[str, float] | None = None) -> np.ndarray:
    """The keyword-count vector of one text."""
    counts = np.zeros(len(vocab), dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        if word in vocab:
            counts[vocab.index(word)] += (weights or {}).get(word, 1.0)
    return counts


class KeywordEncoder:
    """mteb's encoder protocol over keyword counts; `weights` scales words (for a "changed model")."""

    def __init__(self, name: str = "keyword-encoder", weights: dict[str, float] | None = None) -> None:
        from mteb.models.model_meta import ModelMeta, ScoringFunction

        self.weights = weights or {}
        self.calls: list[int] = []  # texts per encode call: tests check de-duplication and caching
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites={
                "name": name,
                "revision": "v1",
                "embed_dim": len(VOCAB),
                "similarity_fn_name": ScoringFunction.COSINE,
                "framework": ["NumPy"],
            }
        )

    def encode(
        self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None, **kwargs: Any
    ) -> np.ndarray:
        texts = [t for batch in inputs for t in batch["text"]]
        self.calls.append(len(texts))
        return np.stack([vector(t, weights=self.weights) for t in texts]) if texts else np.zeros((0, len(VOCAB)), dtype=np.float32)

    def similarity(self, a: Any, b: Any) -> Any:
        from mteb.models.abs_encoder import AbsEncoder

        return AbsEncoder.similarity(self, a, b)  # type: ignore[arg-type]

    def similarity_pairwise(self, a: Any, b: Any) -> Any:
        from mteb.models.abs_encoder import AbsEncoder

        return AbsEncoder.similarity_pairwise(self, a, b)  # type: ignore[arg-type]


def make_encoder() -> KeywordEncoder:
    """The factory `evalkit run --model py:tests.keyword_encoder:make_encoder` calls."""
    return KeywordEncoder()


def make_cat_heavy_encoder() -> KeywordEncoder:
    """The same encoder with "cat" counted three times: a "new checkpoint" whose scores move."""
    return KeywordEncoder(name="keyword-encoder-cat3", weights={"cat": 3.0})


class _BrokenOnBus(KeywordEncoder):
    def encode(self, inputs: Any, **kwargs: Any) -> np.ndarray:
        out = super().encode(inputs, **kwargs)
        texts = [t for batch in inputs for t in batch["text"]]
        out[[i for i, t in enumerate(texts) if "bus" in t]] = np.nan
        return out


def make_nan_on_bus_encoder() -> KeywordEncoder:
    """A broken "model": NaN vectors for every text with "bus" in it."""
    return _BrokenOnBus(name="keyword-encoder-nan")


class _Slow(KeywordEncoder):
    def encode(self, inputs: Any, **kwargs: Any) -> np.ndarray:
        import time

        time.sleep(0.5)  # long enough for a test to kill the process in the middle of an encode call
        return super().encode(inputs, **kwargs)


def make_slow_encoder() -> KeywordEncoder:
    """The keyword encoder, half a second per encode call: a Ray test kills an actor mid-shard with it."""
    return _Slow()


class _Down(KeywordEncoder):
    def encode(self, inputs: Any, **kwargs: Any) -> np.ndarray:
        raise RuntimeError("the encoder server is down")


def make_down_encoder() -> KeywordEncoder:
    """A "model" behind a server that does not answer: every encode call fails, so every task does."""
    return _Down(name="keyword-encoder-down")


def make_blind_encoder() -> KeywordEncoder:
    """An encoder that knows no word: every vector is zero, so a classifier can only guess one class."""
    return KeywordEncoder(name="keyword-encoder-blind", weights=dict.fromkeys(VOCAB, 0.0))
