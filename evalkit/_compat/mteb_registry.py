"""mteb's model registry read without weights: the loader of an entry run around a recording stand-in."""

from __future__ import annotations

import functools
import inspect
import types
from typing import Any

# ---------------------------------------------------------------------------------------------
# mteb's model registry, read without weights.
#
# For a registry entry that mteb builds around a SentenceTransformer, mteb's own loader is run
# while `sentence_transformers.SentenceTransformer` is replaced by a stand-in that records how it
# was built and what it was asked to encode. Calling the wrapper's own `encode` on one row then
# shows the exact prompt or instruction mteb would hand the model for a (task, side): mteb's
# prompt logic (instruction templates, prompts_dict, apply_instruction_to_passages) runs as
# shipped, and nothing of it is copied here.


class _RecordingSentenceTransformer:
    """A weightless stand-in for SentenceTransformer: records its construction and encode calls."""

    def __init__(self, model_name_or_path: str | None = None, *args: Any, **kwargs: Any) -> None:
        self.init_kwargs = kwargs
        self.prompts: dict[str, str] = {}
        self.default_prompt_name = None
        self.max_seq_length: int | None = None
        self.include_prompt = True
        self.calls: list[dict[str, Any]] = []
        tokenizer = kwargs.get("tokenizer_kwargs") or kwargs.get("processor_kwargs") or {}
        self._module = types.SimpleNamespace(
            auto_model=types.SimpleNamespace(config=types.SimpleNamespace(_attn_implementation="sdpa")),
            tokenizer=types.SimpleNamespace(padding_side=tokenizer.get("padding_side")),
        )

    def _first_module(self) -> Any:
        return self._module

    def set_pooling_include_prompt(self, include_prompt: bool) -> None:
        self.include_prompt = include_prompt

    def _record(self, method: str, inputs: Any, prompt: Any = None, prompt_name: Any = None, **kwargs: Any) -> Any:
        import numpy as np

        self.calls.append({"method": method, "prompt": prompt, "prompt_name": prompt_name})
        return np.zeros((len(inputs), 4), dtype=np.float32)

    def encode(self, inputs: Any, prompt: Any = None, prompt_name: Any = None, **kwargs: Any) -> Any:
        return self._record("encode", inputs, prompt, prompt_name)

    def encode_query(self, inputs: Any, prompt: Any = None, prompt_name: Any = None, **kwargs: Any) -> Any:
        return self._record("encode_query", inputs, prompt, prompt_name)

    def encode_document(self, inputs: Any, prompt: Any = None, prompt_name: Any = None, **kwargs: Any) -> Any:
        return self._record("encode_document", inputs, prompt, prompt_name)


def registry_wrapper_class(meta: Any) -> str:
    """What mteb builds for a registry entry: "sentence-transformers", "instruct" or "other".

    Decided from the loader itself: the sentence-transformers wrapper, mteb's instruct wrapper (a
    class, or a loader function that builds one), or anything else (mteb's own wrapper classes).
    """
    from mteb.models.instruct_wrapper import InstructSentenceTransformerModel
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    loader = meta.loader
    while isinstance(loader, functools.partial):
        loader = loader.func
    if loader is SentenceTransformerEncoderWrapper or getattr(loader, "__name__", "") == "sentence_transformers_loader":
        return "sentence-transformers"
    if loader is InstructSentenceTransformerModel:
        return "instruct"
    if inspect.isfunction(loader):
        try:
            if "InstructSentenceTransformerModel(" in inspect.getsource(loader):
                return "instruct"
        except (OSError, TypeError):
            pass
    return "other"


@functools.lru_cache(maxsize=16)
def registry_shell(name: str) -> Any:
    """mteb's wrapper for registry model `name`, built by mteb's own loader around the stand-in.

    Requirements of the real model (extras, versions) are not checked: no weights load here.

    Raises:
        TypeError: when the loader does not build a SentenceTransformer-based wrapper.
    """
    import warnings

    import mteb
    import sentence_transformers

    meta = mteb.get_model_meta(name)
    if meta.loader is None:
        raise TypeError(f"{name}: mteb has no loader for this model")
    saved = sentence_transformers.SentenceTransformer
    sentence_transformers.SentenceTransformer = _RecordingSentenceTransformer  # type: ignore[misc, assignment]  # a stand-in for the loader's one call
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no instruction template" notes of mteb's loaders
            wrapper = meta.loader(meta.name, revision=meta.revision, **dict(meta.loader_kwargs))
    finally:
        sentence_transformers.SentenceTransformer = saved  # type: ignore[misc]
    if not isinstance(getattr(wrapper, "model", None), _RecordingSentenceTransformer):
        raise TypeError(f"{name}: mteb's loader did not build a SentenceTransformer-based wrapper")
    wrapper.mteb_model_meta = meta  # type: ignore[misc]  # mteb's protocols declare it read-only; its wrappers store it
    return wrapper


def shell_prompt(wrapper: Any, task_metadata: Any, side: str | None) -> str | None:
    """The prompt mteb's wrapper hands the model for this task and side (None: no prompt)."""
    from datasets import Dataset
    from mteb.types import PromptType
    from torch.utils.data import DataLoader

    stand_in = wrapper.model
    stand_in.calls.clear()
    # A datasets-backed loader, as mteb builds them: some wrappers read `inputs.dataset.features`.
    loader = DataLoader(Dataset.from_dict({"text": ["x"]}), batch_size=1)
    wrapper.encode(
        loader, task_metadata=task_metadata, hf_split="test", hf_subset="default", prompt_type=PromptType(side) if side else None
    )
    (call,) = stand_in.calls
    return call["prompt"]


def shell_load_settings(wrapper: Any) -> dict[str, Any]:
    """How mteb's loader built the SentenceTransformer: kwargs and what it set afterwards."""
    stand_in = wrapper.model
    kwargs = dict(stand_in.init_kwargs)
    tokenizer = dict(kwargs.get("tokenizer_kwargs") or kwargs.get("processor_kwargs") or {})
    padding = stand_in._module.tokenizer.padding_side
    if padding:
        tokenizer["padding_side"] = padding
    return {
        "model_kwargs": dict(kwargs.get("model_kwargs") or {}),
        "tokenizer_kwargs": tokenizer,
        "truncate_dim": kwargs.get("truncate_dim"),
        "max_seq_length": stand_in.max_seq_length,
        "include_prompt": stand_in.include_prompt,
        "trust_remote_code": bool(kwargs.get("trust_remote_code")),
    }


def registry_missing_extras(meta: Any) -> list[str]:
    """Packages a registry entry needs that are not installed (empty when none)."""
    try:
        return [str(x) for x in meta._missing_dependencies(meta._resolve_extras_groups())]
    except Exception:  # noqa: BLE001 - a check for a friendlier message; loading reports the rest
        return []
