"""Model settings: one schema for the model and encoder, one merge of its sources, every default once.

A run's model settings come from up to four sources, highest first::

    cli  >  suite  >  registry (mteb's model registry)  >  checkpoint (its own config files)

`ModelSettings` is the schema (a pydantic dataclass: unknown keys refused, closed sets as
`Literal`s, strict types) and the defaults. Each source is a `SettingsLayer`: the values it gives,
already checked against that schema. `merge` takes, field by field, the value of the highest layer
that gives one, and records which layer that was (`Merged.sources`); fields no layer gives keep the
defaults. The command line's choices and the suite's `model:` keys are read from the schema.

Example::

    >>> merged = merge([SettingsLayer("cli", {"batch_size": 8}), SettingsLayer("suite", {"batch_size": 64, "dtype": "bf16"})])
    >>> merged.settings.batch_size, merged.settings.dtype, merged.sources["dtype"]
    (8, 'bf16', 'suite')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypedDict, Unpack

from pydantic import StrictStr, ValidationError
from pydantic.dataclasses import dataclass as schema

from evalkit._schema import FORBID, Flag, Positive, Text, describe, literal_args, pydantic_fields, unknown_key
from evalkit._types import DType, Pooling
from evalkit.errors import SuiteError

Source = Literal["cli", "suite", "registry", "checkpoint", "default"]
Loader = Literal["auto", "mteb"]
Similarity = Literal["cosine", "dot"]
#: Which code turns texts into vectors: "auto" runs evalkit's forward loop (evalkit.model.forward)
#: where it runs the model exactly and `model.encode` elsewhere; "evalkit" insists on the loop (a model
#: it cannot run is an error); "sentence-transformers" always calls `model.encode`.
Forward = Literal["auto", "evalkit", "sentence-transformers"]
PYTHON_PREFIX = "py:"  # a model given as `py:module:factory` (evalkit.model.source)

#: Defaults, each defined here only (the fields below use them).
DEFAULT_BATCH_SIZE = 32
DEFAULT_DEVICE = "auto"
DEFAULT_DTYPE: DType = "fp32"


@schema(frozen=True, config=FORBID)
class ModelSettings:
    """Everything that decides which model runs and how texts become vectors.

    The suite's `model:` section and the command line fill the same fields (the suite spells
    `model` as `name`). `trust_remote_code`, `allow_pickle` and `unchecked_weights` are opt-ins
    that hold only for the model they were given with. Built from any source, the values are
    checked: `ModelSettings(batch_size=0)` raises pydantic's `ValidationError`.
    """

    model: Text | None = None  # Hub id, local folder, or None for the embedded default
    revision: Text | None = None
    model_name: Text | None = None  # the name results are filed under
    pooling: Pooling = "auto"
    normalize: Flag | None = None
    max_seq_length: Positive | None = None
    batch_size: Positive = DEFAULT_BATCH_SIZE
    device: Text = DEFAULT_DEVICE
    dtype: DType = DEFAULT_DTYPE
    trust_remote_code: Flag = False
    allow_pickle: Flag = False
    unchecked_weights: Flag = False
    prompts: Mapping[str, StrictStr] = field(default_factory=dict)  # keys: query, document, a task type or name; "" for none
    loader: Loader = "auto"  # "mteb": load through mteb.get_model (models that need mteb's own wrapper)
    similarity: Similarity | None = None  # None: the model's own (sentence-transformers' config)
    tokenizer_kwargs: Mapping[str, Any] = field(default_factory=dict)  # e.g. add_eos_token, padding_side
    include_prompt: Flag | None = None  # False: pooling leaves the prompt's tokens out
    truncate_dim: Positive | None = None
    forward: Forward = "auto"

    def vector_key(self) -> dict[str, Any]:
        """The settings that change the embeddings (not batch size or device).

        The newer fields join the key only when set, so caches and records of earlier runs stay valid.
        `forward` joins it only below fp32: in fp32 evalkit's loop and `model.encode` give vectors
        equal within 1e-6 (tests/test_forward.py), in bf16 and fp16 they are close, not equal.
        """
        key: dict[str, Any] = {
            "pooling": self.pooling,
            "normalize": self.normalize,
            "max_seq_length": self.max_seq_length,
            "dtype": self.dtype,
        }
        for name in ("tokenizer_kwargs", "include_prompt", "truncate_dim"):
            value = getattr(self, name)
            if value not in (None, {}):
                key[name] = dict(value) if isinstance(value, Mapping) else value
        if self.dtype != "fp32":
            key["forward"] = self.forward
        return key

    def record(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values, for the manifest."""
        out = asdict(self)
        out["prompts"] = dict(self.prompts)
        out["tokenizer_kwargs"] = dict(self.tokenizer_kwargs)
        return out


FIELDS = tuple(f.name for f in fields(ModelSettings))
OPT_INS = ("trust_remote_code", "allow_pickle", "unchecked_weights")


class RunFlags(TypedDict, total=False):
    """The settings the command line (`evalkit run --FLAG`) and `evalkit.run(FLAG=...)` take; None: not given.

    The one list of them: `RUN_FLAGS`, the keywords of `evalkit.run` and `run_config` and the
    options of `evalkit run` come from here. The other fields come from suites and presets.
    """

    model: str | None  # Hub id or local folder; default: the suite's model, else the embedded default
    model_name: str | None  # the name results are filed under
    revision: str | None  # Hub revision
    batch_size: int | None  # encoder batch size
    device: str | None  # auto, cpu, cuda, cuda:1, mps; several ("cuda:0,cuda:1") encode data-parallel
    dtype: DType | None  # fp32, fp16, bf16
    max_seq_length: int | None  # truncation length in tokens
    loader: Loader | None  # "mteb": load a registry model through mteb's own wrapper
    forward: Forward | None  # auto, evalkit, sentence-transformers (see `Forward`)
    trust_remote_code: str | bool | None  # the model reference whose own code may run (True from Python: the one run)
    allow_pickle: str | bool | None  # the model reference whose pickle weights may load
    unchecked_weights: str | bool | None  # the model reference whose weight check is skipped


RUN_FLAGS = tuple(RunFlags.__annotations__)
#: The suite's `model:` keys: the fields, with the model spelled `name`; results are filed under a name per run, not per suite.
SUITE_KEYS = tuple("name" if f == "model" else f for f in FIELDS if f != "model_name")


def choices(name: str) -> tuple[str, ...]:
    """The allowed values of a closed-set field (`dtype` -> fp32, fp16, bf16), for `--help` and argparse."""
    return literal_args(pydantic_fields(ModelSettings)[name].annotation)


def default(name: str) -> Any:
    """A field's default, as the schema defines it."""
    return pydantic_fields(ModelSettings)[name].default


def check_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check some settings against the schema; returns them as checked (mappings become dicts).

    Raises:
        pydantic.ValidationError: the caller words it for where the values came from.
    """
    settings = ModelSettings(**values)
    return {key: getattr(settings, key) for key in values}


@dataclass(frozen=True)
class SettingsLayer:
    """The settings one source gives (only those it gives), already checked."""

    source: Source
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Merged:
    """Merged settings and, per field, the source whose value won."""

    settings: ModelSettings
    sources: Mapping[str, Source]


def merge(layers: Sequence[SettingsLayer]) -> Merged:
    """Merge layers, highest first: each field takes the first layer's value that gives one.

    The opt-ins (`trust_remote_code`, `allow_pickle`, `unchecked_weights`) hold only for the model
    that is finally run. On the command line they name it (`--trust-remote-code org/m`), and
    naming another is an error; a suite's opt-in for its own model does not carry over to a
    `--model` given on the command line.

    Raises:
        SuiteError: a command-line opt-in that names another model than the one being run, or a
            layer value the schema refuses.
    """
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for layer in layers:
        for key, value in layer.values.items():
            if key not in values and value is not None and key not in OPT_INS:
                values[key] = value
                sources[key] = layer.source
    model = values.get("model")
    for key in OPT_INS:
        for layer in layers:
            given = layer.values.get(key)
            if given is None or given is False:
                continue
            if layer.source == "cli" and given is not True and given != model:
                flag = "--" + key.replace("_", "-")
                raise SuiteError(
                    f"{flag} {given}: names another model than the one being run ({model or 'the default'}); name the model you trust"
                )
            if layer.source == "cli" or layer.values.get("model") == model:
                values[key], sources[key] = True, layer.source
                break
    for name in FIELDS:
        sources.setdefault(name, "default")
    try:
        settings = ModelSettings(**values)
    except ValidationError as exc:  # only a layer that skipped `check_values` (a registry preset) gets here
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "model"
        raise SuiteError(
            f"model setting `{key}` from the {sources.get(key, 'registry')}: {describe(error)}; report it to evalkit"
        ) from None
    own = encodes_itself(settings)
    if own and settings.forward == "evalkit":  # said before anything loads, so --dry-run says it too
        where = "--forward" if sources["forward"] == "cli" else f"forward in the {sources['forward']}"
        raise SuiteError(f"{where} evalkit: {own} encodes itself, evalkit's forward loop cannot run it; use auto")
    return Merged(settings, sources)


def encodes_itself(settings: ModelSettings) -> str | None:
    """What encodes texts by itself under these settings (evalkit's forward loop never runs it), or None."""
    if settings.model is not None and settings.model.startswith(PYTHON_PREFIX):
        return "a Python factory's encoder"
    if settings.loader == "mteb" and settings.model is not None:
        return "mteb's wrapper (loader mteb)"
    return None


def cli_layer(**flags: Unpack[RunFlags]) -> SettingsLayer:
    """The command line's (or `evalkit.run()`'s) settings as a layer; None means "not given".

    An opt-in flag names the model it is for (`--trust-remote-code org/m`); `merge` checks that it
    is the model being run. From Python, `True` means "for the model being run".

    Raises:
        TypeError: a keyword that is not one of `RUN_FLAGS` (as Python's own for an unknown keyword).
        SuiteError: a value the schema refuses, naming the flag: "--batch-size 0: must be positive, not 0".
    """
    values: dict[str, Any] = {}
    for key, value in flags.items():
        if key not in RUN_FLAGS:
            raise TypeError(unknown_key(key, RUN_FLAGS))
        if value is None or key in OPT_INS:
            continue
        try:
            values.update(check_values({key: value}))
        except ValidationError as exc:
            raise SuiteError(f"--{key.replace('_', '-')} {value}: {describe(exc.errors()[0])}") from None
    for key in OPT_INS:
        named = flags.get(key)
        if named is not None and named is not False:
            values[key] = named
    return SettingsLayer("cli", values)
