"""Settings: one record for the model and encoder, one merge of its sources, every default once.

A run's model settings come from up to four sources, highest first::

    cli  >  suite  >  registry (mteb's model registry)  >  checkpoint (its own config files)

Each source is a `SettingsLayer`: the values it gives, already checked. `merge` takes, field by
field, the value of the highest layer that gives one, and records which layer that was
(`Merged.sources`); fields no layer gives keep the defaults below. `RunConfig.from_sources` builds
the whole run configuration the CLI and `evalkit.run()` both use, so the two behave alike.

Example::

    >>> merged = merge([SettingsLayer("cli", {"batch_size": 8}), SettingsLayer("suite", {"batch_size": 64, "dtype": "bf16"})])
    >>> merged.settings.batch_size, merged.settings.dtype, merged.sources["dtype"]
    (8, 'bf16', 'suite')
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalkit._types import DType, Pooling
from evalkit.errors import SuiteError

if TYPE_CHECKING:
    from evalkit.runner.suite import Suite, TaskSpec

Source = Literal["cli", "suite", "registry", "checkpoint", "default"]

#: Defaults, each defined here only.
DEFAULT_BATCH_SIZE = 32
DEFAULT_DEVICE = "auto"
DEFAULT_DTYPE: DType = "fp32"
COMPARE_TOLERANCE = 0.0005  # card compare: allowed |delta| on the 0-1 scale
REGRESS_TOLERANCE = 0.005  # regress: allowed drop on the 0-1 scale
REGRESS_ALPHA = 0.05
BOOTSTRAP_SAMPLES = 1000
POOLINGS: tuple[Pooling, ...] = ("auto", "mean", "cls", "lasttoken")
DTYPES: tuple[DType, ...] = ("fp32", "fp16", "bf16")
Loader = Literal["auto", "mteb"]
Similarity = Literal["cosine", "dot"]
LOADERS: tuple[Loader, ...] = ("auto", "mteb")
SIMILARITIES: tuple[Similarity, ...] = ("cosine", "dot")


def default_reports_dir() -> Path:
    """Where report pages go unless told otherwise: $EVALKIT_REPORTS or reports/."""
    return Path(os.environ.get("EVALKIT_REPORTS") or "reports")


def default_cache_dir() -> Path:
    """Where embeddings are cached unless told otherwise: $EVALKIT_CACHE or ~/.cache/evalkit/embeddings."""
    return Path(os.environ.get("EVALKIT_CACHE") or Path.home() / ".cache" / "evalkit" / "embeddings")


@dataclass(frozen=True)
class ModelSettings:
    """Everything that decides which model runs and how texts become vectors.

    The suite's `model:` section and the command line fill the same fields (the suite spells
    `model` as `name`). `trust_remote_code`, `allow_pickle` and `unchecked_weights` are opt-ins
    that hold only for the model they were given with.
    """

    model: str | None = None  # Hub id, local folder, or None for the embedded default
    revision: str | None = None
    model_name: str | None = None  # the name results are filed under
    pooling: Pooling = "auto"
    normalize: bool | None = None
    max_seq_length: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    device: str = DEFAULT_DEVICE
    dtype: DType = DEFAULT_DTYPE
    trust_remote_code: bool = False
    allow_pickle: bool = False
    unchecked_weights: bool = False
    prompts: Mapping[str, str] = field(default_factory=dict)
    loader: Loader = "auto"  # "mteb": load through mteb.get_model (models that need mteb's own wrapper)
    similarity: Similarity | None = None  # None: the model's own (sentence-transformers' config)
    tokenizer_kwargs: Mapping[str, Any] = field(default_factory=dict)  # e.g. add_eos_token, padding_side
    include_prompt: bool | None = None  # False: pooling leaves the prompt's tokens out
    truncate_dim: int | None = None

    def vector_key(self) -> dict[str, Any]:
        """The settings that change the embeddings (not batch size or device).

        The newer fields join the key only when set, so caches and records of earlier runs stay valid.
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
        return key

    def record(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values, for the manifest."""
        out = asdict(self)
        out["prompts"] = dict(self.prompts)
        out["tokenizer_kwargs"] = dict(self.tokenizer_kwargs)
        return out


FIELDS = tuple(f.name for f in fields(ModelSettings))
_OPT_INS = ("trust_remote_code", "allow_pickle", "unchecked_weights")


class Invalid(ValueError):
    """A value outside what a setting allows; the message says what is allowed."""


def check_value(key: str, value: Any) -> Any:
    """Check one setting's value, wherever it came from; returns it (normalised).

    Raises:
        Invalid: with the problem, e.g. "must be positive, not 0"; callers add where it came from.
    """
    if key in ("model", "revision", "model_name", "device"):
        if not isinstance(value, str) or not value.strip():
            raise Invalid(f"must be a non-empty text, not {value!r}")
        return value
    if key == "pooling":
        return _one_of(value, POOLINGS)
    if key == "dtype":
        return _one_of(value, DTYPES)
    if key == "loader":
        return _one_of(value, LOADERS)
    if key == "similarity":
        return _one_of(value, SIMILARITIES)
    if key in ("normalize", "include_prompt", *_OPT_INS):
        if not isinstance(value, bool):
            raise Invalid(f"must be true or false, not {value!r}")
        return value
    if key == "tokenizer_kwargs":
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise Invalid("must map tokenizer options (e.g. padding_side: left) to values")
        return dict(value)
    if key in ("max_seq_length", "batch_size", "truncate_dim"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"must be a whole number, not {value!r}")
        if value <= 0:
            raise Invalid(f"must be positive, not {value}")
        return value
    if key == "prompts":
        if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise Invalid("must map keys (query, document, a task type or name) to text")
        return dict(value)
    raise Invalid(f"is not a setting; known settings: {', '.join(FIELDS)}")


def _one_of(value: Any, allowed: Sequence[str]) -> Any:
    if value not in allowed:
        raise Invalid(f"is {value!r}; use one of: {', '.join(allowed)}")
    return value


def check_tolerance(value: float, flag: str = "--tolerance") -> float:
    """A tolerance on the 0-1 scale of scores.

    Raises:
        SuiteError: outside [0, 1).
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise SuiteError(f"{flag} {value}: is on the 0-1 scale of scores; use e.g. {REGRESS_TOLERANCE}")
    return float(value)


def check_alpha(value: float, flag: str = "--alpha") -> float:
    """A significance level strictly between 0 and 1.

    Raises:
        SuiteError: outside (0, 1).
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise SuiteError(f"{flag} {value}: must be between 0 and 1, e.g. {REGRESS_ALPHA}")
    return float(value)


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
        SuiteError: a command-line opt-in that names another model than the one being run.
    """
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for layer in layers:
        for key, value in layer.values.items():
            if key not in values and value is not None and key not in _OPT_INS:
                values[key] = value
                sources[key] = layer.source
    model = values.get("model")
    for key in _OPT_INS:
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
    return Merged(ModelSettings(**values), sources)


def cli_layer(
    *,
    trust_remote_code: str | bool | None = None,
    allow_pickle: str | bool | None = None,
    unchecked_weights: str | bool | None = None,
    **flags: Any,
) -> SettingsLayer:
    """The command line's (or `evalkit.run()`'s) settings as a layer.

    An opt-in flag names the model it is for (`--trust-remote-code org/m`); `merge` checks that it
    is the model being run. From Python, `True` means "for the model being run".

    Raises:
        SuiteError: a value out of range, naming the flag.
    """
    values: dict[str, Any] = {}
    for key, value in flags.items():
        if value is None:
            continue
        try:
            values[key] = check_value(key, value)
        except Invalid as exc:
            raise SuiteError(f"--{key.replace('_', '-')} {value}: {exc}") from None
    for key, named in (("trust_remote_code", trust_remote_code), ("allow_pickle", allow_pickle), ("unchecked_weights", unchecked_weights)):
        if named is not None and named is not False:
            values[key] = named
    return SettingsLayer("cli", values)


@dataclass(frozen=True)
class RunConfig:
    """One run, fully resolved and checked before any work starts; the manifest records it."""

    suite: Suite
    model: ModelSettings
    sources: Mapping[str, Source] = field(default_factory=dict)
    output_dir: Path = Path("results")
    data_dir: Path | None = None
    only_tasks: tuple[str, ...] | None = None
    overwrite: bool = False
    cache_dir: Path | None = None  # None: embeddings stay in memory, nothing is cached on disk
    shard: tuple[int, int] | None = None
    show_progress: bool = False
    notes: tuple[str, ...] = ()  # warnings found while resolving (the manifest keeps them)

    @classmethod
    def from_sources(
        cls,
        suite: Suite,
        flags: SettingsLayer,
        *,
        output_dir: Path = Path("results"),
        data_dir: Path | None = None,
        only_tasks: tuple[str, ...] | None = None,
        overwrite: bool = False,
        cache_dir: Path | None | Literal["default"] = "default",
        shard: tuple[int, int] | None = None,
        show_progress: bool = False,
        preset: Callable[[str | None], SettingsLayer | None] | None = None,
    ) -> RunConfig:
        """Merge the command line over the suite over a registry preset (over the defaults).

        Args:
            suite: the loaded suite.
            flags: the command line's layer (`cli_layer`).
            output_dir: results root.
            data_dir: offline mirror root.
            only_tasks: narrows the suite's tasks.
            overwrite: rerun tasks that have results.
            cache_dir: embedding cache folder; "default" for `default_cache_dir()`, None for none.
            shard: (K, N) to run the K-th of N deterministic shards.
            show_progress: progress bars on stderr.
            preset: looks up the registry's layer for the model the command line and suite name.

        Raises:
            SuiteError: an unknown task in `only_tasks`, a bad shard, or an opt-in for another model.
        """
        layers = [flags, suite.model]
        merged = merge(layers)
        notes: list[str] = []
        registry = preset(merged.settings.model) if preset is not None else None
        if registry is not None:
            pinned = registry.values.get("revision")
            if pinned and merged.settings.revision and merged.settings.revision != pinned:
                notes.append(
                    f"model {merged.settings.model}: revision {merged.settings.revision} ({merged.sources['revision']}) "
                    f"instead of {pinned}, the one mteb's registry pins; scores may differ from published ones"
                )
            merged = merge([*layers, registry])
        if shard is not None and not 1 <= shard[0] <= shard[1]:
            raise SuiteError(f"--shard {shard[0]}/{shard[1]}: K must be between 1 and N")
        config = cls(
            suite=suite,
            model=merged.settings,
            sources=merged.sources,
            output_dir=Path(output_dir),
            data_dir=Path(data_dir) if data_dir is not None else None,
            only_tasks=tuple(only_tasks) if only_tasks else None,
            overwrite=overwrite,
            cache_dir=default_cache_dir() if cache_dir == "default" else (Path(cache_dir) if cache_dir is not None else None),
            shard=shard,
            show_progress=show_progress,
            notes=tuple(notes),
        )
        config.selected()  # unknown --tasks names fail now, before anything loads
        return config

    def selected(self) -> tuple[TaskSpec, ...]:
        """The suite's tasks narrowed by `only_tasks` and `shard`.

        Raises:
            SuiteError: when `only_tasks` names a task the suite lacks.
        """
        tasks = self.suite.tasks
        if self.only_tasks:
            names = {t.name for t in tasks}
            missing = [n for n in self.only_tasks if n not in names]
            if missing:
                raise SuiteError(f"--tasks {missing[0]}: not in suite {self.suite.name}; its tasks are {', '.join(sorted(names))}")
            tasks = tuple(t for t in tasks if t.name in self.only_tasks)
        if self.shard is not None:
            k, n = self.shard
            # Deterministic: sorted by name, every n-th task from k (1-based).
            ordered = sorted(tasks, key=lambda t: t.name)
            keep = {t.name for i, t in enumerate(ordered) if i % n == k - 1}
            tasks = tuple(t for t in tasks if t.name in keep)
        return tasks

    def record(self) -> dict[str, Any]:
        """The validated configuration as JSON-ready values, for the manifest."""
        return {
            "model": self.model.record(),
            "sources": dict(self.sources),
            "suite": {"name": self.suite.name, "path": str(self.suite.path) if self.suite.path else None},
            "output_dir": str(self.output_dir),
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "only_tasks": list(self.only_tasks) if self.only_tasks else None,
            "overwrite": self.overwrite,
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "shard": list(self.shard) if self.shard else None,
        }


@dataclass(frozen=True)
class RegressSettings:
    """How `evalkit regress` judges a drop: tolerance, significance level, bootstrap size."""

    tolerance: float = REGRESS_TOLERANCE
    alpha: float = REGRESS_ALPHA
    require_significance: bool = True
    bootstrap_samples: int = BOOTSTRAP_SAMPLES
