"""The run's configuration: `RunConfig` (suite, merged model settings, where and how) and run-level defaults.

The model's own settings, their schema and the merge of their sources are the model stage's
(`evalkit.model.settings`); the suite's schema, with the `regress:` defaults, is
`evalkit.runner.schema`. `RunConfig.from_sources` builds the whole run configuration the CLI and
`evalkit.run()` both use, so the two behave alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from evalkit.errors import SuiteError
from evalkit.model.settings import ModelSettings, SettingsLayer, Source, merge
from evalkit.runner.schema import BOOTSTRAP_SAMPLES, REGRESS_ALPHA, REGRESS_TOLERANCE, RegressSettings, check_alpha, check_tolerance
from evalkit.runner.suite import Suite, TaskSpec

# Re-exported for the judge stage, which reads the regress defaults and checks from here.
__all__ = [
    "BOOTSTRAP_SAMPLES",
    "COMPARE_TOLERANCE",
    "REGRESS_ALPHA",
    "REGRESS_TOLERANCE",
    "RegressSettings",
    "RunConfig",
    "check_alpha",
    "check_tolerance",
    "default_cache_dir",
    "default_reports_dir",
]

COMPARE_TOLERANCE = 0.0005  # card compare: allowed |delta| on the 0-1 scale


def default_reports_dir() -> Path:
    """Where report pages go unless told otherwise: $EVALKIT_REPORTS or reports/."""
    return Path(os.environ.get("EVALKIT_REPORTS") or "reports")


def default_cache_dir() -> Path:
    """Where embeddings are cached unless told otherwise: $EVALKIT_CACHE or ~/.cache/evalkit/embeddings."""
    return Path(os.environ.get("EVALKIT_CACHE") or Path.home() / ".cache" / "evalkit" / "embeddings")


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
        """The tasks this run does: the suite's selection (`Suite.select`) by `only_tasks` and `shard`."""
        return self.suite.select(self.only_tasks, self.shard)

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
