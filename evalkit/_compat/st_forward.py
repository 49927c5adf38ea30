"""What evalkit's forward loop reads from a loaded SentenceTransformer, and when it must not.

`evalkit.model.forward` runs a sentence-transformers model's modules itself (tokenizer, transformer,
pooling, normalisation) for the common shape: a text-only `Transformer` module, one `Pooling`
module, an optional `Normalize`. This module is the only place that knows how those modules look
inside: it returns their parts as plain values (`Parts`), or the reason the model is not that
shape, so the loop falls back to `model.encode` and the run says why. Anything it does not
recognise (a Dense layer, pooling over several modes, query expansion, chat templates, unpadded
flash-attention inputs, left padding, a slow tokenizer) is a reason, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

POOLING_MODES = ("mean", "cls", "lasttoken", "max")


@dataclass(frozen=True)
class Parts:
    """The pieces of a Transformer + Pooling (+ Normalize) SentenceTransformer the loop runs."""

    transformer: Any  # the sentence-transformers Transformer module (its `preprocess` is the reference)
    auto_model: Any  # the transformers model: called with input_ids and attention_mask
    tokenizer: Any  # a fast tokenizer (encodings say what truncation cut)
    tokenizer_kwargs: dict[str, Any] = field(default_factory=dict)  # what sentence-transformers passes it
    pooling: str = "mean"
    normalize: bool = False  # a Normalize module follows the pooling
    truncate_dim: int | None = None
    default_prompt: str | None = None  # the prompt sentence-transformers applies when none is given


def parts(model: Any) -> Parts | str:
    """The model's parts, or one line saying why evalkit's loop does not run it."""
    from evalkit._compat.sentence_transformers import modules as st_modules

    # One owner of where sentence-transformers keeps these classes (it moved Normalize between 5.4 and 6).
    classes = st_modules()
    if classes is None:  # a sentence-transformers release with another layout
        return "sentence-transformers layout not recognised (no Transformer, Pooling and Normalize module classes found)"
    Transformer, Pooling, Normalize = classes
    try:
        modules = list(model)
    except TypeError:
        return f"{type(model).__name__} is not a sequence of sentence-transformers modules"
    if len(modules) not in (2, 3) or not isinstance(modules[0], Transformer) or not isinstance(modules[1], Pooling):
        names = ", ".join(type(m).__name__ for m in modules)
        return f"modules are ({names}), not Transformer + Pooling (+ Normalize)"
    if len(modules) == 3 and not isinstance(modules[2], Normalize):
        return f"a {type(modules[2]).__name__} module follows the pooling"
    transformer, pooling = modules[0], modules[1]
    reason = _transformer_reason(transformer) or _pooling_reason(pooling)
    if reason:
        return reason
    text_kwargs = dict((getattr(transformer, "processing_kwargs", None) or {}).get("text") or {})
    if set(getattr(transformer, "processing_kwargs", None) or {}) - {"text"} or set(text_kwargs) - {"max_length"}:
        return f"processor settings {dict(transformer.processing_kwargs)} are not handled"
    prompts = getattr(model, "prompts", None) or {}
    default_name = getattr(model, "default_prompt_name", None)
    return Parts(
        transformer=transformer,
        auto_model=transformer.auto_model,
        tokenizer=transformer.tokenizer,
        tokenizer_kwargs=text_kwargs,
        pooling=pooling.pooling_mode,
        normalize=len(modules) == 3,
        truncate_dim=getattr(model, "truncate_dim", None),
        default_prompt=prompts.get(default_name) if default_name else None,
    )


def _transformer_reason(transformer: Any) -> str | None:
    config = getattr(transformer, "modality_config", None)
    if config != {"text": {"method": "forward", "method_output_name": "last_hidden_state"}}:
        return f"the transformer module's modalities are {config}, not text through forward"
    if getattr(transformer, "transformer_task", "feature-extraction") != "feature-extraction":
        return f"the transformer task is {transformer.transformer_task}"
    if getattr(transformer, "query_expansion", None) is not None:
        return "the model expands queries (ColBERT style)"
    if any(getattr(transformer, name, None) is not None for name in ("query_length", "document_length")):
        return "the model has per-side maximum lengths"
    can_flatten = getattr(transformer, "_can_flatten_inputs", None)
    if getattr(transformer, "can_flatten_inputs", False) or (callable(can_flatten) and can_flatten()):
        return "the model packs inputs for flash-attention (sentence-transformers' unpadded path)"
    tokenizer = getattr(transformer, "tokenizer", None)
    if tokenizer is None or not getattr(tokenizer, "is_fast", False):
        return "no fast tokenizer"
    if getattr(tokenizer, "padding_side", "right") != "right":
        return f"the tokenizer pads on the {tokenizer.padding_side}"
    return None


def _pooling_reason(pooling: Any) -> str | None:
    mode = getattr(pooling, "pooling_mode", None)
    if mode not in POOLING_MODES:
        return f"pooling mode {mode!r} is not one of {', '.join(POOLING_MODES)}"
    if getattr(pooling, "include_prompt", True) is False:
        return "the pooling leaves the prompt's tokens out"
    return None


def attention_implementation(auto_model: Any) -> str:
    """The attention implementation transformers loaded the model with (`sdpa`, `eager`, ...)."""
    config = getattr(auto_model, "config", None)
    return str(getattr(config, "_attn_implementation", None) or "unknown")


def reference_ids(transformer: Any, texts: list[str], prompt: str | None) -> list[list[int]]:
    """The token ids sentence-transformers' own preprocessing gives these texts (padding removed)."""
    features = transformer.preprocess(texts, prompt=prompt)
    ids, mask = features["input_ids"], features.get("attention_mask")
    if mask is None:
        return [row.tolist() for row in ids]
    return [row[m.bool()].tolist() for row, m in zip(ids, mask, strict=True)]


def pool_hidden(hidden: Any, mask: Any | None, mode: str) -> Any:
    """sentence-transformers' pooling of fp32 token vectors (mask None: every position is a token)."""
    import torch

    if mask is None:
        if mode == "mean":
            return hidden.sum(dim=1) / float(hidden.shape[1])
        if mode == "cls":
            return hidden[:, 0]
        if mode == "lasttoken":
            return hidden[:, -1]
        return hidden.max(dim=1).values
    if mode == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / torch.clamp(weights.sum(dim=1), min=1e-9)
    if mode == "cls":
        return hidden[:, 0]  # right padding: the first position is a token
    if mode == "lasttoken":
        last = mask.sum(dim=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    return hidden.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).max(dim=1).values
