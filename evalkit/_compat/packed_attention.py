"""Packed variable-length attention through transformers' attention interface: no padding at all.

A packed batch is one row of all its texts' tokens back to back (`input_ids` of shape 1 x T, the
position ids restarting at 0 for each text). Every linear layer then computes real tokens only, and
attention runs per text: on CUDA in fp16/bf16 with torch's flash-attention varlen kernel
(`torch.nn.attention.varlen.varlen_attn`, cumulative lengths, no mask, no padding anywhere); elsewhere
by scattering the row into a padded (texts x longest) layout around SDPA with a mask, so the CPU
tests run the same layout and pooling code.

What this leans on in transformers 5 (checked by `evalkit.model.forward`'s equality check on a
sample before a loop trusts it): attention modules call `ALL_ATTENTION_FUNCTIONS[config._attn_implementation]`
with the model's keyword arguments passed through, and a 4-D `attention_mask` is passed down as
given (a packed call hands a one-element placeholder, so no texts x texts mask is ever built). The
implementation is registered with SDPA's mask function and falls back to SDPA for a call without a
packing, so `model.encode` on a switched model still gets its padding mask. A model that computes
positions another way (RoBERTa's start after the padding id) or does not route attention through
the interface gives other vectors, so the check refuses it and the loop keeps padded batches.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

NAME = "evalkit_packed"
KWARG = "evalkit_packing"  # the keyword that carries a batch's `Packing` down to the attention calls
_registered = threading.Lock()
_switch = threading.Lock()
_switched: dict[int, tuple[int, str]] = {}  # per switched config (by id, while switched): callers inside, the implementation to restore


@dataclass(frozen=True)
class Packing:
    """Where each text sits in a packed row (tensors on the model's device)."""

    cu_lengths: Any  # int32, texts + 1: where each text starts, and the total
    max_length: int
    slots: Any  # int64, one per token: its place in a texts x max_length padded layout
    mask: Any  # bool, texts x 1 x 1 x max_length: the padded layout's real tokens
    rows: Any  # int64, one per token: which text it belongs to (pooling)
    lengths: Any  # fp32, one per text (mean pooling)


def host_arrays(lengths: np.ndarray) -> dict[str, np.ndarray]:
    """The packing's index arrays for texts of these token counts, plus the position ids (host side)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rows = np.repeat(np.arange(len(lengths)), lengths)
    columns = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    return {
        "cu_lengths": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32),
        "slots": rows * int(lengths.max()) + columns,
        "rows": rows,
        "positions": columns[None, :],
        "lengths": lengths,
    }


def packing(arrays: dict[str, Any], device: Any) -> tuple[Packing, Any]:
    """The `Packing` on `device`, and the position ids, from `host_arrays` (tensors or arrays)."""
    import torch

    def on(name: str) -> Any:
        value = arrays[name]
        value = torch.from_numpy(value) if isinstance(value, np.ndarray) else value
        return value.to(device, non_blocking=True)

    lengths = on("lengths")
    max_length = int(np.asarray(arrays["lengths"]).max())
    mask = (torch.arange(max_length, device=device)[None, :] < lengths[:, None])[:, None, None, :]
    found = Packing(
        cu_lengths=on("cu_lengths"),
        max_length=max_length,
        slots=on("slots"),
        mask=mask,
        rows=on("rows"),
        lengths=lengths.float(),
    )
    return found, on("positions")


def register() -> None:
    """Make `NAME` an attention implementation transformers knows (once per process)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    with _registered:  # registering again replaces the entries with the same functions
        AttentionMaskInterface.register(NAME, sdpa_mask)
        AttentionInterface.register(NAME, _attention)


@contextlib.contextmanager
def switched(auto_model: Any) -> Iterator[None]:
    """Run `auto_model`'s attention through the packed implementation for the duration.

    The switch is the config's `_attn_implementation`, shared by the model's layers; a loop in
    packed mode switches around each encode call (re-entrant: the first in switches, the last out
    restores). A call without a packing meanwhile runs as SDPA, mask included.
    """
    config = auto_model.config
    with _switch:
        depth, saved = _switched.get(id(config), (0, config._attn_implementation))
        if depth == 0:
            config._attn_implementation = NAME
        _switched[id(config)] = (depth + 1, saved)
    try:
        yield
    finally:
        with _switch:
            depth, saved = _switched.pop(id(config))
            if depth > 1:
                _switched[id(config)] = (depth - 1, saved)
            else:
                config._attn_implementation = saved


def forward(auto_model: Any, ids: Any, positions: Any, packing: Packing) -> Any:
    """Hidden states, one row per token (T x hidden), of a packed row of texts."""
    # The placeholder 4-D mask is passed down untouched (no mask is built); the attention reads the packing.
    placeholder = packing.mask[:1, :, :, :1]
    out = auto_model(input_ids=ids, position_ids=positions, attention_mask=placeholder, return_dict=True, **{KWARG: packing})
    return out.last_hidden_state[0]


def pool(hidden: Any, packing: Packing, mode: str) -> Any:
    """sentence-transformers' pooling of packed fp32 token vectors: one vector per text."""

    texts = int(packing.lengths.shape[0])
    if mode == "cls":
        return hidden[packing.cu_lengths[:-1].long()]
    if mode == "lasttoken":
        return hidden[packing.cu_lengths[1:].long() - 1]
    out = hidden.new_zeros((texts, hidden.shape[1]))
    if mode == "mean":
        return out.index_add_(0, packing.rows, hidden) / packing.lengths.clamp(min=1e-9)[:, None]  # as sentence-transformers
    index = packing.rows[:, None].expand_as(hidden)
    return out.scatter_reduce_(0, index, hidden, reduce="amax", include_self=False)


def _attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0, scaling: Any = None, **kwargs: Any
) -> tuple[Any, None]:
    """transformers' attention signature: (batch, heads, tokens, dim) in, (batch, tokens, heads, dim) out."""
    import torch.nn.functional as F

    found: Packing | None = kwargs.pop(KWARG, None)
    if found is None:  # a call that is not packed (model.encode on the same model): plain SDPA
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    heads, dim = query.shape[1], query.shape[3]
    q, k, v = (x[0].transpose(0, 1) for x in (query, key, value))  # tokens x heads x dim
    if q.is_cuda and q.dtype in _half_types():
        from torch.nn.attention.varlen import varlen_attn

        n = found.max_length
        out: Any = varlen_attn(q, k, v, found.cu_lengths, found.cu_lengths, n, n, scale=scaling)  # tokens x heads x dim
        return out.unsqueeze(0), None
    texts, width = int(found.mask.shape[0]), found.max_length

    def padded(x: Any) -> Any:
        out = x.new_zeros((texts * width, heads, dim))
        out[found.slots] = x
        return out.view(texts, width, heads, dim).transpose(1, 2)

    out = F.scaled_dot_product_attention(padded(q), padded(k), padded(v), attn_mask=found.mask, scale=scaling)
    return out.transpose(1, 2).reshape(texts * width, heads, dim)[found.slots][None], None


def _half_types() -> tuple[Any, ...]:
    import torch

    return (torch.float16, torch.bfloat16)
