"""The weight guard: did every weight of a loaded model come from its checkpoint?

`check_loaded_weights` compares, on public API only, the tensor names in the checkpoint's own files
(safetensors headers, index files) against the loaded module's parameters. That is the jina-v2
trap: without its own code, the checkpoint loads as plain BERT with newly initialised layers, and
scores are silently wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit import _parse
from evalkit.errors import DataError, ModelError

if TYPE_CHECKING:
    from evalkit.model.settings import ModelSettings

logger = logging.getLogger(__name__)


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
                return dict.fromkeys(_parse.read_json(index)["weight_map"])
            except (DataError, ValueError, KeyError, TypeError):
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
            paths = {int(m["idx"]): str(m.get("path") or "") for m in _parse.read_json(modules_json)}
        except (DataError, ValueError, KeyError, TypeError, AttributeError):
            paths = {}
    found = []
    for idx, module in enumerate(model):
        inner = getattr(module, "auto_model", None)
        if inner is not None and hasattr(inner, "named_parameters"):
            found.append((root / paths.get(idx, ""), inner))
    return found


def check_loaded_weights(model: Any, name: str, root: Path, settings: ModelSettings) -> None:
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
            name,
        )
        return
    opt_out = (
        f"if you are sure it loads as intended, pass --unchecked-weights {settings.model or name} "
        "or set `unchecked_weights: true` next to its name in the suite's model section"
    )
    modules = _transformer_modules(model, root)
    if not modules:
        raise ModelError(f"model {name}: evalkit cannot check which weights loaded (no transformers module in the model); {opt_out}")
    for folder, module in modules:
        tensors = checkpoint_tensors(folder)
        if not tensors:
            raise ModelError(
                f"model {name}: evalkit cannot read the tensor names of the weights in {folder} "
                f"(no safetensors, index or pytorch_model.bin file it can open); {opt_out}"
            )
        check = compare_weights(module, tensors)
        missing = [k for k in check.missing if not k.startswith("pooler.")]
        if missing or check.mismatched:
            newly = missing + list(check.mismatched)
            raise ModelError(
                f"model {name}: {len(newly)} weights were newly initialised (e.g. {', '.join(newly[:3])})"
                + (
                    f" and {len(check.unused)} checkpoint weights were not used (e.g. {', '.join(check.unused[:3])})"
                    if check.unused
                    else ""
                )
                + "; the checkpoint does not match the architecture that loaded; if the model ships its own code set "
                "`trust_remote_code: true`, otherwise repair the checkpoint"
            )
