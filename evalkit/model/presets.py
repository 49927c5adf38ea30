"""Presets from mteb's model registry: every known model runs as its authors ran it.

mteb 2.26 keeps, for about 960 models, how to load each one and which prompts or instructions it
needs (`mteb.get_model_meta`). evalkit reads that registry instead of copying it (which prompt
each task gets is `evalkit.model.prompts`):

- **sentence-transformers** entries (bge-zh, multilingual-e5, ...): evalkit's own encoder loads
  them, with the registry's prompt table (as a whole), revision pin, dtype and similarity;
- **instruct** entries (gte-Qwen2-instruct, Qwen3-Embedding, e5-mistral, ...): the same, and each
  task's instruction is the one mteb's instruct wrapper would build (template, prompts_dict,
  instructions on passages or not), computed by running that wrapper without weights
  (`evalkit._compat.mteb_registry.registry_shell`);
- entries that need **mteb's own wrapper classes** (jina-v3 task adapters, NV-Embed, ...) run with
  `loader: mteb`, through `mteb.get_model`, wrapped with evalkit's cache;
- cross-encoders, sparse, late-interaction, API-only and non-text entries are refused, in one line.

The registry's `trust_remote_code` never switches remote code on: it only makes the refusal name
the opt-in. Presets sit below the suite and the command line (`evalkit.model.settings.merge`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from evalkit.model.settings import SettingsLayer

PresetKind = Literal["sentence-transformers", "instruct", "mteb", "refused"]
_DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "fp32": "fp32", "fp16": "fp16", "bf16": "bf16"}


@dataclass(frozen=True)
class Preset:
    """What mteb's registry says about one model, in evalkit's terms."""

    name: str
    kind: PresetKind
    loader: str
    revision: str | None
    values: Mapping[str, Any] = field(default_factory=dict)  # settings from the registry
    remote_code: bool = False  # the registry loads it with trust_remote_code
    reason: str = ""  # why a refused entry is refused
    languages: tuple[str, ...] = ()
    model_prompts: Mapping[str, str] = field(default_factory=dict)  # as the registry lists them (any kind)

    def layer(self) -> SettingsLayer:
        """The registry's settings as the layer below the suite's."""
        return SettingsLayer("registry", dict(self.values))

    def summary(self) -> str:
        """One line for `evalkit models`: kind, and the prompt keys or instruction style."""
        if self.kind == "instruct":
            return "instructions per task (mteb's instruct wrapper)"
        prompts = self.values.get("prompts") or {}
        return ", ".join(f"{k}: {v!r}" for k, v in prompts.items()) if prompts else "no prompts"


def _refusal(meta: Any) -> str:
    modalities = list(meta.modalities or [])
    types = list(getattr(meta, "model_type", None) or [])
    framework = list(meta.framework or [])
    if "text" not in modalities:
        return f"it is a {'/'.join(modalities) or 'non-text'} model, not a text-embedding model"
    if meta.loader is None:
        return "mteb has no loader for it (metadata only)"
    if "API" in framework or meta.open_weights is False:
        return "it is served through an API, not open weights evalkit can run"
    if getattr(meta, "is_cross_encoder", False) or "cross-encoder" in types:
        return "it is a cross-encoder (it scores pairs, it does not embed texts)"
    if "late-interaction" in types:
        return "it is a late-interaction (multi-vector) model; evalkit scores single vectors"
    if {"sparse", "hybrid", "router"} & set(types):
        return f"it is a {'/'.join(sorted({'sparse', 'hybrid', 'router'} & set(types)))} model; evalkit scores dense vectors"
    return ""


def _kind(meta: Any) -> tuple[PresetKind, str]:
    from evalkit._compat.mteb_registry import registry_wrapper_class

    reason = _refusal(meta)
    if reason:
        return "refused", reason
    if list(meta.modalities or []) != ["text"]:
        return "mteb", ""
    wrapper = registry_wrapper_class(meta)
    return ("mteb" if wrapper == "other" else wrapper), ""  # type: ignore[return-value]


def _dtype(model_kwargs: Mapping[str, Any]) -> str | None:
    raw = model_kwargs.get("dtype", model_kwargs.get("torch_dtype"))
    if raw is None:
        return None
    text = str(getattr(raw, "value", raw)).replace("torch.", "")
    return _DTYPES.get(text)


def _values(meta: Any, kind: PresetKind) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if meta.revision:
        values["revision"] = meta.revision
    similarity = str(getattr(meta.similarity_fn_name, "value", meta.similarity_fn_name) or "").lower()
    if similarity in ("cosine", "dot"):
        values["similarity"] = similarity
    if kind == "sentence-transformers":
        kwargs = dict(meta.loader_kwargs or {})
        if kwargs.get("model_prompts"):
            values["prompts"] = dict(kwargs["model_prompts"])
        if dtype := _dtype(kwargs.get("model_kwargs") or {}):
            values["dtype"] = dtype
    elif kind == "instruct":
        from evalkit._compat.mteb_registry import registry_shell, shell_load_settings

        load = shell_load_settings(registry_shell(meta.name))
        if dtype := _dtype(load["model_kwargs"]):
            values["dtype"] = dtype
        if load["tokenizer_kwargs"]:
            values["tokenizer_kwargs"] = dict(load["tokenizer_kwargs"])
        if load["max_seq_length"]:
            values["max_seq_length"] = int(load["max_seq_length"])
        if load["include_prompt"] is False:
            values["include_prompt"] = False
        if load["truncate_dim"]:
            values["truncate_dim"] = int(load["truncate_dim"])
    return values


def _remote_code(meta: Any) -> bool:
    import inspect

    if (meta.loader_kwargs or {}).get("trust_remote_code"):
        return True
    loader = meta.loader
    while isinstance(loader, functools.partial):
        loader = loader.func
    try:
        # Some of mteb's loaders switch it on in their code rather than in their metadata.
        return "trust_remote_code=True" in inspect.getsource(loader)
    except (OSError, TypeError):
        return False


def _loader_name(meta: Any) -> str:
    loader = meta.loader
    while isinstance(loader, functools.partial):
        loader = loader.func
    return getattr(loader, "__name__", type(loader).__name__) if loader is not None else "none"


@functools.lru_cache(maxsize=64)
def find_preset(name: str | None) -> Preset | None:
    """The registry's preset for a model name, or None when mteb does not know it.

    Local folders, Python factories and unknown names have no preset.
    """
    if not name or name.startswith(("py:", ".", "/", "~")) or name.count("/") != 1:
        return None
    import mteb

    try:
        meta = mteb.get_model_meta(name)
    except (KeyError, ValueError):
        return None
    return _preset(meta)


def _preset(meta: Any) -> Preset:
    kind, reason = _kind(meta)
    return Preset(
        name=meta.name,
        kind=kind,
        loader=_loader_name(meta),
        revision=meta.revision,
        values=_values(meta, kind)
        if kind in ("sentence-transformers", "instruct")
        else ({"revision": meta.revision} if meta.revision else {}),
        remote_code=_remote_code(meta) if kind != "refused" else False,
        reason=reason,
        languages=tuple(meta.languages or ()),
        model_prompts=dict((meta.loader_kwargs or {}).get("model_prompts") or {}),
    )


def list_presets(*, language: str | None = None, kind: str | None = None) -> list[Preset]:
    """Registry text models, optionally those for a language (ISO 639-3, e.g. zho) or of one kind.

    Instruct entries are classified by their loader alone here (no stand-in is built for a list).
    """
    import mteb

    out = []
    for meta in mteb.get_model_metas():
        if "text" not in (meta.modalities or []):
            continue
        if language and not any(str(lang).split("-")[0] == language for lang in meta.languages or ()):
            continue
        preset_kind, reason = _kind(meta)
        if not meta.name or (kind and preset_kind != kind):
            continue
        values = {"prompts": dict((meta.loader_kwargs or {}).get("model_prompts") or {})} if preset_kind == "sentence-transformers" else {}
        out.append(
            Preset(meta.name, preset_kind, _loader_name(meta), meta.revision, values, reason=reason, languages=tuple(meta.languages or ()))
        )
    return sorted(out, key=lambda p: p.name.lower())


def registry_layer(name: str | None) -> SettingsLayer | None:
    """The registry's settings layer for a model name (None when mteb does not know it)."""
    preset = find_preset(name)
    return preset.layer() if preset is not None and preset.kind in ("sentence-transformers", "instruct") else None


def check_runnable(preset: Preset | None, loader: str, model: str) -> None:
    """Refuse, in one line, a registry model evalkit cannot run as asked.

    Raises:
        ModelError: a refused kind (cross-encoder, sparse, API, ...), or an entry that needs mteb's own
            wrapper without `--loader mteb`.
    """
    from evalkit.errors import ModelError

    if preset is None:
        if loader == "mteb":
            raise ModelError(f"model {model}: --loader mteb needs a model from mteb's registry; see `evalkit models`, or drop --loader")
        return
    if preset.kind == "refused":
        raise ModelError(f"model {model}: evalkit cannot run it: {preset.reason}")
    if preset.kind == "mteb" and loader != "mteb":
        raise ModelError(
            f"model {model}: mteb runs it with its own wrapper ({preset.loader}), not as a plain sentence-transformers model; "
            "run it with --loader mteb or `loader: mteb` in the suite's model section"
        )
