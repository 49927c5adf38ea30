"""A complete `--model py:` factory: a character-n-gram hashing encoder with mteb's encoder protocol.

    evalkit run configs/smoke.yaml --model py:examples.hashing_encoder:make_encoder

No weights, no network: each text becomes the normalised counts of its character bigrams hashed
into 256 buckets. Replace `encode` with a call to your ONNX session, quantised engine or in-house
server; keep the rest. evalkit adds its cache and de-duplication, keyed by task, subset and side
(the object applies its own prompts, so it receives `task_metadata` and `prompt_type`).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from mteb.models.model_meta import ModelMeta, ScoringFunction

DIM = 256


class HashingEncoder:
    """mteb's encoder protocol: `mteb_model_meta`, `encode`, `similarity`, `similarity_pairwise`."""

    def __init__(self) -> None:
        # The name and revision are where evalkit files the results: <output>/<org__name>/<revision>/.
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites={
                "name": "example/hashing-bigrams",
                "revision": "v1",
                "embed_dim": DIM,
                "similarity_fn_name": ScoringFunction.COSINE,
                "framework": ["NumPy"],
            }
        )

    def encode(self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None, **kwargs: Any) -> np.ndarray:
        """One vector per text; `inputs` is mteb's DataLoader of batches with a "text" column."""
        texts = [text for batch in inputs for text in batch["text"]]
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for a, b in zip(text, text[1:], strict=False):
                out[row, zlib.crc32((a + b).encode("utf-8")) % DIM] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine similarity of every row of `a` with every row of `b` (the vectors are unit length)."""
        return np.asarray(a) @ np.asarray(b).T

    def similarity_pairwise(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine similarity of row i of `a` with row i of `b`."""
        return np.sum(np.asarray(a) * np.asarray(b), axis=1)


def make_encoder() -> HashingEncoder:
    """What `--model py:examples.hashing_encoder:make_encoder` calls."""
    return HashingEncoder()
