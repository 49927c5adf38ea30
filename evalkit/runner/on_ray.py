"""`evalkit run --ray`: reach the cluster, prepare the run as locally, and hand its tasks to the resident encoders."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from evalkit.errors import EvalkitError
from evalkit.runner import ray_cluster
from evalkit.runner.executors import MAX_RETRIES, RayExecutor
from evalkit.runner.loop import RunSummary, prepare_run, run_prepared
from evalkit.runner.task import TaskOutcome

if TYPE_CHECKING:
    from evalkit.runner.settings import RunConfig

logger = logging.getLogger(__name__)


def run_on_ray(
    config: RunConfig,
    *,
    address: str | bool = True,
    max_retries: int = MAX_RETRIES,
    on_task: Callable[[TaskOutcome], None] | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
) -> RunSummary:
    """Run the suite's selected tasks as Ray tasks, largest first; this process writes the results.

    The results folder is the one a local run writes (same files, layout, atomic writes and
    locks); each task's record and manifest entry also say where it ran (`run`: address, node,
    device, seconds waited and ran). Tasks done with the same settings are not submitted, and
    when nothing is left to run Ray is not even started.

    Args:
        config: the resolved run configuration (one device: Ray assigns GPUs per task).
        address: `local` (start a Ray instance here), `auto` (the running cluster), `HOST:PORT`,
            `ray://HOST:PORT`, or True for `$RAY_ADDRESS` else `local`. A Ray session this
            process already holds is used as it is (with `auto`, True or its own address).
        max_retries: reruns of a task whose worker process died.
        on_task: callback after each task, in the order they finish.
        on_start: callback `(task, index, total)` as each task is planned.

    Returns:
        The summary, tasks in suite order.

    Raises:
        EvalkitError: Ray missing or unreachable, another address than the session this process
            holds, a device list, bad input found before any task runs, or a checkpoint that does
            not load on the workers.
    """
    ray = ray_cluster.import_ray()
    target = ray_cluster.check_address(address)
    if "," in config.model.device:
        raise EvalkitError(f"--device {config.model.device}: with --ray each task gets one device from Ray; use --device auto, cuda or cpu")
    if ray.is_initialized():
        held = ray.get_runtime_context().gcs_address
        if address is not True and target not in ("auto", held):
            raise EvalkitError(
                f"--ray {target}: this process is already connected to the Ray cluster at {held}; pass auto to use it, or call ray.shutdown() first"
            )
    else:
        ray_cluster.reach(target)
    from evalkit._compat import ray as ray_compat

    state, built = prepare_run(config)
    for note in ray_compat.self_check_notes():
        logger.warning(note)
        state.notes.append(note)
    return run_prepared(state, built, RayExecutor(ray, target, max_retries), on_task=on_task, on_start=on_start)
