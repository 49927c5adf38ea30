"""The library API: the operations of the CLI as plain functions (re-exported by `evalkit`).

Each function merges its sources in one stated order (explicit arguments over the suite over
defaults), validates before any work starts, and raises an `EvalkitError` on bad input.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Unpack

    import pandas as pd

    from evalkit.model.presets import Preset
    from evalkit.model.settings import RunFlags
    from evalkit.runner.loop import RunSummary
    from evalkit.runner.mirror import MirrorEntry
    from evalkit.runner.plan import Plan
    from evalkit.runner.settings import RunConfig
    from evalkit.runner.suite import Suite


def run(
    suite: str | Path | Suite | None = None,
    *,
    tasks: tuple[str, ...] | None = None,
    output_dir: Path = Path("results"),
    data_dir: Path | None = None,
    overwrite: bool = False,
    cache_dir: Path | None = None,
    no_cache: bool = False,
    shard: tuple[int, int] | None = None,
    show_progress: bool = False,
    on_task: Callable[[Any], None] | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
    ray: str | bool | None = None,
    **model: Unpack[RunFlags],
) -> RunSummary:
    """Run a suite (or plain mteb task names) on a model and write mteb results.

    Behaves as `evalkit run`: the same merge of settings (arguments over the suite over the
    defaults), the same embedding cache, and with `data_dir` the Hub is switched to offline.

    Args:
        suite: suite path, packaged suite name, `Suite`, or None with `tasks`.
        tasks: narrows the suite, or names mteb tasks when `suite` is None.
        output_dir: results root.
        data_dir: offline mirror root.
        overwrite: rerun tasks that have results.
        cache_dir: embedding cache folder (default: `$EVALKIT_CACHE` or ~/.cache/evalkit/embeddings).
        no_cache: keep embeddings in memory only.
        shard: (K, N) to run the K-th of N deterministic shards.
        show_progress: progress bars on stderr.
        on_task: callback after each task.
        on_start: callback `(task, index, total)` before each task.
        ray: run each task as a Ray task (`evalkit.runner.on_ray.run_on_ray`): `local`, `auto`,
            `HOST:PORT`, `ray://HOST:PORT`, or True for `$RAY_ADDRESS` else `local`.
        **model: the model settings of the command line (`evalkit.model.settings.RunFlags`: model,
            model_name, revision, batch_size, device, dtype, max_seq_length, loader, forward and the
            opt-ins), each None or left out when not given.

    Returns:
        The run summary.

    Raises:
        EvalkitError: on bad input, before any task runs.
    """
    from evalkit.runner.loop import run as run_tasks

    config = run_config(
        suite,
        tasks=tasks,
        output_dir=output_dir,
        data_dir=data_dir,
        overwrite=overwrite,
        cache_dir=cache_dir,
        no_cache=no_cache,
        shard=shard,
        show_progress=show_progress,
        **model,
    )
    if ray is not None and ray is not False:
        from evalkit.runner.on_ray import run_on_ray

        return run_on_ray(config, address=ray, on_task=on_task, on_start=on_start)
    return run_tasks(config, on_task=on_task, on_start=on_start)


def run_config(
    suite: str | Path | Suite | None = None,
    *,
    tasks: tuple[str, ...] | None = None,
    output_dir: Path = Path("results"),
    data_dir: Path | None = None,
    overwrite: bool = False,
    cache_dir: Path | None = None,
    no_cache: bool = False,
    shard: tuple[int, int] | None = None,
    show_progress: bool = False,
    **model: Unpack[RunFlags],
) -> RunConfig:
    """The checked configuration of a run (what `run` and `--dry-run` use), before any work.

    Takes `run`'s arguments (see there), less the callbacks and `ray`. A model argument left at
    None is not given: the suite's value, else the registry's, else `ModelSettings`' default holds.

    Raises:
        EvalkitError: bad input: suite, flags, or a registry model evalkit cannot run as asked.
        TypeError: a keyword that is neither an argument nor one of `RunFlags`.
    """
    from evalkit.model.presets import check_runnable, find_preset, registry_layer
    from evalkit.model.settings import cli_layer
    from evalkit.runner.settings import RunConfig

    # Unreachable Hub: offline from here on; the failures that need it say so (evalkit._hub).
    offline_if(data_dir)
    from evalkit.runner.suite import resolve_suite

    resolved_suite, only = resolve_suite(suite, tasks)
    flags = cli_layer(**model)
    config = RunConfig.from_sources(
        resolved_suite,
        flags,
        output_dir=Path(output_dir),
        data_dir=Path(data_dir) if data_dir else None,
        only_tasks=only,
        overwrite=overwrite,
        cache_dir=None if no_cache else (Path(cache_dir) if cache_dir else "default"),
        shard=shard,
        show_progress=show_progress,
        preset=registry_layer,
    )
    if config.model.model is not None:
        check_runnable(find_preset(config.model.model), config.model.loader, config.model.model)
    if config.model.loader == "mteb":
        note = (
            "loader mteb: mteb's wrapper applies its prompts and loads the model; evalkit's dtype, pooling, "
            "batching and weight check do not apply, its cache and de-duplication do"
        )
        config = replace(config, notes=(*config.notes, note))
    return config


def plan(suite: str | Path | Suite | None = None, **run_args: Any) -> Plan:
    """What `run` would do with the same arguments, without loading or downloading weights.

    Returns:
        The plan: resolved settings and their sources, every (task, side) prompt and its source,
        and which tasks are done already.

    Raises:
        EvalkitError: the bad input `run` would refuse.
    """
    from evalkit.runner.plan import make_plan

    return make_plan(run_config(suite, **run_args))


def list_models(*, language: str | None = None, kind: str | None = None) -> list[Preset]:
    """Mteb's registry text models with their presets (see `evalkit.model.presets`).

    Args:
        language: an ISO 639-3 code such as `zho`.
        kind: sentence-transformers, instruct, mteb or refused.
    """
    from evalkit.model.presets import list_presets

    return list_presets(language=language, kind=kind)


def _reports(reports_dir: Path | str) -> Path:
    """A reports folder; "default" is `$EVALKIT_REPORTS` or reports/, as on the command line."""
    from evalkit.runner.settings import default_reports_dir

    return default_reports_dir() if reports_dir == "default" else Path(reports_dir)


def offline_if(data_dir: Path | str | None) -> str | None:
    """Decide whether the Hub is asked at all; returns a note when evalkit switched to offline mode.

    With a mirror, the Hub is never asked. Without one, one quick probe (a few seconds at most)
    tells whether the Hub answers; when it does not, huggingface_hub and datasets go offline, so
    what is cached works at once and the rest fails in one line with the way forward, instead of
    minutes of retries. Both libraries read the switch when imported, so this runs before evalkit
    imports them; once they are imported, it asks nothing.
    """
    from evalkit import _hub

    if data_dir is not None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
        return None
    if "huggingface_hub" in sys.modules and not _hub.switched():
        return None  # too late to switch: the library has read its setting
    return _hub.offline_unless_reachable()


def pull(suite: str | Path | Suite, *, data_dir: Path, tasks: tuple[str, ...] | None = None, download: Any = None) -> list[MirrorEntry]:
    """Snapshot the datasets of a suite's mteb tasks into an offline mirror.

    Raises:
        EvalkitError: invalid suite or a failed download.
    """
    import mteb

    from evalkit.runner.mirror import pull as pull_datasets
    from evalkit.runner.suite import resolve_suite

    resolved, only = resolve_suite(suite, tasks)
    wanted = [t for t in resolved.tasks if t.local is None and (not only or t.name in only)]
    datasets = []
    for spec in wanted:
        meta = mteb.get_task(spec.name).metadata
        datasets.append((spec.name, meta.dataset["path"], meta.dataset["revision"]))
    return pull_datasets(datasets, Path(data_dir), download=download)


def read_results(folder: Path, *, single_model: bool = False) -> pd.DataFrame:
    """Read a results folder into the Scores table (see `evalkit.results.scores`)."""
    from evalkit.results.scores import read_results as _read

    return _read(Path(folder), single_model=single_model)


# The judging half of the API lives in its own module; `evalkit.api` is the one surface.
from evalkit.api_judge import compare_card, export_card, leaderboard, merge, regress, run_report  # noqa: E402

__all__ = [
    "compare_card",
    "export_card",
    "leaderboard",
    "list_models",
    "merge",
    "offline_if",
    "plan",
    "pull",
    "read_results",
    "regress",
    "run",
    "run_config",
    "run_report",
]
