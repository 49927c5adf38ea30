"""Where a task runs with `--ray`: one Ray task per suite task; the driver stays the only writer.

The run itself is the local run's loop (`evalkit.runner.loop.run_prepared`): same plans, locks,
settings hashes, prompt table, results folder and manifest. `RayExecutor` only sends each planned
task to a worker, which calls the function a local run calls (`evalkit.runner.task.run_task`),
and hands the report back to the loop::

    driver (the loop)                               Ray worker (any node)
    prepare_run: tasks built, model, prompt table
    per task: its lock, plan_task (reuse?)
    submit, largest first ──────── TaskJob ───────▶ build_task; resolve the model and check its
                                                    weights are the driver's; run_task (the
                                                    encoder opened once per worker process)
    persist_task, manifest ◀────── TaskReport ──── mteb result, per-example scores, encode stats,
                                                    node, device, times

Resources: a task takes one GPU when the run's device is `cuda` (or `auto` on a cluster with
GPUs), else the CPUs a local run would use (`evalkit.runner.sizes.task_resources`). A CPU worker
process keeps the loaded model for its next task; a GPU task gets a fresh process (Ray's default
for GPU functions), so each GPU task loads the model again.

Faults: a worker process that dies (killed, out of memory, node lost) is retried by Ray
(`max_retries`); a task that fails on its own (bad data) comes back as a failed evaluation and is
recorded, never retried; a checkpoint that cannot load stops the run with exit 2, as locally. On
Ctrl-C the driver persists what already came back, cancels the rest and releases its locks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalkit._util import first_line, package_versions
from evalkit.errors import EvalkitError
from evalkit.runner import ray_cluster
from evalkit.runner.loop import Done, RunSummary, prepare_run, run_prepared
from evalkit.runner.sizes import task_resources, texts_to_encode
from evalkit.runner.task import Evaluated, ModelJob, TaskOutcome, TaskPlan, TaskReport
from evalkit.runner.worker import VERSIONED, TaskJob, run_job

if TYPE_CHECKING:
    from evalkit.runner.settings import RunConfig

logger = logging.getLogger(__name__)

#: How many times Ray reruns a task whose worker process died (a kill, out of memory, a lost node).
MAX_RETRIES = 2
# The run's switches a worker must see as the driver does (offline Hub with --data-dir, quiet
# tokenizers); the rest of the environment (HF_HOME, caches) stays each node's own.
_ENV_PASSED = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM", "HF_DATASETS_DISABLE_PROGRESS_BARS")


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


class RayExecutor:
    """Sends each planned task to a Ray worker, largest first, and hands each report to the loop as it comes back."""

    def __init__(self, ray: Any, address: str, max_retries: int = MAX_RETRIES) -> None:
        self.ray, self.address, self.max_retries = ray, address, max_retries
        self.pending: dict[Any, tuple[TaskPlan, TaskJob, int]] = {}
        self.cluster: ray_cluster.Cluster | None = None
        self.resources: dict[str, float] = {}

    def execute(self, plans: Iterable[TaskPlan], model: ModelJob, config: RunConfig, done: Done) -> None:
        """Lock and plan every task (drawing `plans`), submit those to run, report each as it finishes."""
        todo = list(plans)
        if not todo:
            return  # everything reused: Ray is not even started
        self.cluster = ray_cluster.connect(self.ray, self.address)
        try:
            self._submit(todo, model, config)
            while self.pending:
                # A short timeout keeps Ctrl-C responsive: signals are handled between waits.
                ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=0.5)
                for ref in ready:
                    self._collect(ref, done)
        except BaseException:
            self._stop(done)
            raise
        finally:
            if self.cluster.started:
                self.ray.shutdown()

    def _submit(self, todo: list[TaskPlan], model: ModelJob, config: RunConfig) -> None:
        from evalkit.runner.settings import default_cache_dir

        resolved = model.resolved
        self.resources, device = task_resources(config.model.device, self.ray.nodes())
        settings = replace(model.settings, device=device)
        if resolved.source == "hub":
            settings = replace(settings, revision=resolved.revision)  # every node fetches the driver's commit
        # The default cache is each node's own; a folder given with --cache-dir (shared storage) is shared.
        cache: Path | Literal["node"] | None = "node" if config.cache_dir == default_cache_dir() else config.cache_dir
        base = TaskJob(
            spec=todo[0].built.spec,
            data_dir=config.data_dir.resolve() if config.data_dir else None,
            model=replace(model, settings=settings),  # the run's prompt table travels with it
            cache=cache.resolve() if isinstance(cache, Path) else cache,
            versions=package_versions(*VERSIONED),
            env={k: os.environ[k] for k in _ENV_PASSED if k in os.environ},
        )
        sizes = {p.built.name: texts_to_encode(p.built) for p in todo}
        # Largest first, so the long tasks do not finish last; ties keep the suite's order.
        todo = sorted(todo, key=lambda p: -sizes[p.built.name])
        # Resources given here, not in .options(): then Ray's default for GPU functions holds, a
        # fresh worker process per GPU task (the GPU Ray assigns, its memory freed after), while
        # CPU workers are reused and keep the loaded model.
        remote = self.ray.remote(**self.resources)(run_job)
        for plan in todo:
            job = replace(base, spec=plan.built.spec, submitted=time.time())
            # retry_exceptions=False: only a dead worker is retried; a failing task comes back as a
            # report. The name shows in `ray list tasks`, the dashboard and `ps` (ray::evalkit:<task>).
            options = {"max_retries": self.max_retries, "retry_exceptions": False, "name": f"evalkit:{plan.built.name}"}
            ref = remote.options(**options).remote(job)
            self.pending[ref] = (plan, job, sizes[plan.built.name])

    def _collect(self, ref: Any, done: Done, *, interrupted: bool = False) -> None:
        plan, job, size = self.pending.pop(ref)
        try:
            report = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            if interrupted:
                return  # cancelled or interrupted along with the driver: rerun next time
            report = self._lost(exc)
        received = time.time()
        if report.fatal and interrupted:
            return
        done(plan, report, self._run_info(report, job, size, received))

    def _lost(self, exc: Exception) -> TaskReport:
        ray = self.ray
        if isinstance(exc, ray.exceptions.RayTaskError):
            cause = getattr(exc, "cause", None) or exc
            reason = f"{first_line(cause, with_type=True)} (in the Ray worker)"
        else:
            text = str(exc).strip().splitlines()
            first = text[0][:200] if text else ""
            reason = f"Ray lost the task {self.max_retries + 1} times ({type(exc).__name__}: {first})"
        return TaskReport(Evaluated.failed(reason))

    def _run_info(self, report: TaskReport, job: TaskJob, size: int, received: float) -> dict[str, Any]:
        assert self.cluster is not None  # noqa: S101 - a report exists only after connecting
        ran = report.finished > 0
        return {
            "executor": "ray",
            "address": self.cluster.address,
            "cluster": self.cluster.gcs,
            "node": report.node,
            "node_ip": report.node_ip,
            "node_id": report.node_id,
            "pid": report.pid,
            "device": report.device,
            "gpu_ids": report.gpu_ids,
            "resources": self.resources,
            "texts": size,
            # Across machines these mix the driver's and the worker's clocks (NTP-close).
            "started_at": round(report.started, 3) if ran else None,
            "waited": round(max(0.0, report.started - job.submitted), 3) if ran else None,
            "ran": round(report.finished - report.started, 3) if ran else None,
            "returned": round(max(0.0, received - report.finished), 3) if ran else None,
        }

    def _stop(self, done: Done) -> None:
        """Keep what already came back, cancel the rest: after Ctrl-C, a fatal error or a bug."""
        if not self.pending:
            return
        ray = self.ray
        try:
            ready, _ = ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0)
            for ref in ready:
                self._collect(ref, done, interrupted=True)
        finally:
            for ref in list(self.pending):
                with contextlib.suppress(Exception):  # already finished or gone: nothing to cancel
                    ray.cancel(ref, force=True)
            self.pending.clear()
