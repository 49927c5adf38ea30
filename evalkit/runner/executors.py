"""Where a task runs: in this process (`evalkit.runner.loop.run`), or as one Ray task per suite task.

A Ray run keeps the driver the only writer of the results folder, so no shared filesystem is
needed for results::

    driver                                          Ray worker (any node)
    prepare_run: tasks built, model resolved
    per task: its lock, plan_task (reuse?)
    submit, largest first ──────── TaskJob ───────▶ build_task; resolve the model and check its
                                                    weights are the driver's; load it (once per
                                                    worker process); evaluate_task; writes nothing
    persist_task, manifest ◀────── WorkerReport ─── mteb result, per-example scores, encode stats,
                                                    node, device, times

Resources: a task takes one GPU when the run's device is `cuda` (or `auto` on a cluster with
GPUs), else the CPUs a local run would use, `min(8, the smallest node's CPUs)` (evalkit's encoder
runs at most 8 worker threads; Ray sets the worker's torch threads to that number). A CPU worker
process keeps the loaded model for its next task; a GPU task gets a fresh process (Ray's default
for GPU functions), so each GPU task loads the model again.

Faults: a worker process that dies (killed, out of memory, node lost) is retried by Ray
(`max_retries`); a task that fails on its own (bad data) comes back as a failed evaluation and is
recorded, never retried; a checkpoint that cannot load stops the run with exit 2, as locally. On
Ctrl-C the driver persists what already came back, cancels the rest and releases its locks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalkit._types import EncodeStats
from evalkit._util import first_line, package_versions
from evalkit.model.batching import CPU_MAX_WORKERS
from evalkit.errors import EvalkitError, ModelError

if TYPE_CHECKING:
    from evalkit.runner.loop import Evaluated, RunState, RunSummary, TaskOutcome, TaskPlan
    from evalkit.runner.settings import ModelSettings, RunConfig
    from evalkit.runner.suite import TaskSpec
    from evalkit.runner.tasks import BuiltTask

logger = logging.getLogger(__name__)

#: How many times Ray reruns a task whose worker process died (a kill, out of memory, a lost node).
MAX_RETRIES = 2
INSTALL_HINT = "install it with pip install 'evalkit[ray]'"
_PROBE_SECONDS = 5.0
_ADDRESS = re.compile(r"^(local|auto|(ray://)?[A-Za-z0-9_.-]+:\d{1,5})$")
# The run's switches a worker must see as the driver does (offline Hub with --data-dir, quiet
# tokenizers); the rest of the environment (HF_HOME, caches) stays each node's own.
_ENV_PASSED = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM", "HF_DATASETS_DISABLE_PROGRESS_BARS")
_VERSIONED = ("evalkit", "mteb")  # decide the scores: every node must run the driver's versions


# ---------------------------------------------------------------------------------------------
# What travels: a job to the worker, a report back


@dataclass(frozen=True)
class TaskJob:
    """What a worker needs to evaluate one task: plain data, pickled to the worker."""

    spec: TaskSpec
    data_dir: Path | None
    settings: ModelSettings  # with the device the worker uses and, for Hub models, the driver's commit
    model_name: str
    revision: str  # the driver's revision or weights fingerprint; the worker's must equal it
    cache: Path | Literal["node"] | None  # "node": that node's default embedding cache
    versions: dict[str, str]
    env: dict[str, str]
    submitted: float = 0.0  # the driver's clock


@dataclass
class WorkerReport:
    """What a worker sends back: the evaluation (or why there is none), and where and when it ran."""

    evaluated: Evaluated
    fatal: str = ""  # the checkpoint cannot load: the run stops, as a local run does
    model_meta: dict[str, Any] | None = None
    node: str = ""
    node_ip: str = ""
    node_id: str = ""
    pid: int = 0
    device: str = ""
    gpu_ids: list[str] = field(default_factory=list)
    started: float = 0.0  # the worker's clock
    finished: float = 0.0


# ---------------------------------------------------------------------------------------------
# The worker side


# One loaded model per worker process: Ray reuses CPU workers across tasks, so the next task on
# this process skips resolving, fingerprinting and loading the same checkpoint again.
_NODE: dict[str, Any] = {}


def run_job(job: TaskJob) -> WorkerReport:
    """Evaluate one task where this function runs (a Ray worker, or this process); writes nothing.

    Builds the task from its spec, resolves the model on this node and checks that its weights
    are the driver's (a Hub id is fetched at the driver's commit into this node's cache; a path
    must exist here), then runs `evaluate_task`.

    Args:
        job: the task, the model settings and what the driver resolved.

    Returns:
        The report; a task that cannot run on this node (data or model missing here, other
        weights, other versions) is a failed evaluation with the reason.
    """
    started = time.time()
    os.environ.update(job.env)  # before the Hub libraries are imported: they read it once
    from evalkit.runner.loop import Evaluated, evaluate_task
    from evalkit.runner.tasks import build_task

    where = _where()

    def failed(reason: str) -> WorkerReport:
        evaluated = Evaluated(task_result=None, error=reason, seconds=0.0, stats=EncodeStats(), examples=[])
        return WorkerReport(evaluated, started=started, finished=time.time(), **where)

    node = where["node"]
    mismatch = [f"{p} {v}" for p, v in package_versions(*_VERSIONED).items() if job.versions.get(p) != v]
    if mismatch:
        wanted = ", ".join(f"{p} {job.versions.get(p)}" for p in _VERSIONED)
        return failed(f"node {node} runs {', '.join(mismatch)}, the driver {wanted}; install the same evalkit and mteb on every node")
    try:
        built = build_task(job.spec, data_dir=job.data_dir)
    except EvalkitError as exc:
        return failed(f"node {node}: {exc}")
    try:
        resolved = _resolved_on_node(job)
    except ModelError as exc:
        return failed(f"node {node}: {exc}")
    if (resolved.name, resolved.revision) != (job.model_name, job.revision):
        return failed(
            f"node {node}: model {job.settings.model or resolved.name} resolves to {resolved.name} @ {resolved.revision} there, "
            f"the driver to {job.model_name} @ {job.revision}; put the same checkpoint on every node (shared storage or one Hub revision)"
        )
    try:
        encoder = _encoder_on_node(job, resolved)
    except ModelError as exc:
        # The same weights as the driver's: they fail to load everywhere, as a local run would.
        evaluated = Evaluated(task_result=None, error=str(exc), seconds=0.0, stats=EncodeStats(), examples=[])
        return WorkerReport(evaluated, fatal=str(exc), started=started, finished=time.time(), **where)
    evaluated = evaluate_task(built, encoder)
    return WorkerReport(
        evaluated,
        model_meta=encoder.mteb_model_meta.to_dict(),
        device=str(encoder.model.device),
        started=started,
        finished=time.time(),
        **where,
    )


def _node_key(job: TaskJob) -> str:
    # The driver's revision too: a checkpoint folder rewritten between two runs of one session
    # (a training loop) is resolved and loaded again, not served from this process's memory.
    record = {"settings": job.settings.record(), "cache": str(job.cache), "revision": job.revision}
    return json.dumps(record, sort_keys=True, default=str)


def _resolved_on_node(job: TaskJob) -> Any:
    from evalkit.model.source import prepare_model

    key = _node_key(job)
    if _NODE.get("key") != key:
        _NODE.clear()
        _NODE.update(key=key, resolved=prepare_model(job.settings))
    return _NODE["resolved"]


def _encoder_on_node(job: TaskJob, resolved: Any) -> Any:
    from evalkit.model.encoder import load_resolved
    from evalkit.runner.settings import default_cache_dir

    if "encoder" not in _NODE:
        cache = default_cache_dir() if job.cache == "node" else job.cache
        _NODE["encoder"] = load_resolved(resolved, job.settings, cache_dir=cache)
    return _NODE["encoder"]


def _where() -> dict[str, Any]:
    out: dict[str, Any] = {"node": socket.gethostname(), "pid": os.getpid()}
    try:
        import ray
    except ImportError:
        return out
    if ray.is_initialized():
        ctx = ray.get_runtime_context()
        out.update(
            node_ip=ray.util.get_node_ip_address(),
            node_id=ctx.get_node_id(),
            gpu_ids=[str(g) for g in ctx.get_accelerator_ids().get("GPU", [])],
        )
    return out


# ---------------------------------------------------------------------------------------------
# Sizes and resources


def texts_to_encode(built: BuiltTask) -> int:
    """About how many texts a task encodes: the order in which a Ray run submits tasks.

    Registered tasks: from mteb's descriptive statistics of the evaluated splits and subsets
    (both sides of a pair, documents and queries, a classifier's training draws). In-house tasks:
    the rows of their loaded files. 0 when unknown (such a task is submitted last).

    Example::

        >>> texts_to_encode(build_task(TaskSpec("Ocnli")))   # 1,847 pairs
        3694
    """
    try:
        return _local_texts(built) if built.spec.local is not None else _registered_texts(built.task)
    except (KeyError, TypeError, AttributeError, ValueError):
        # Only an ordering hint: a task whose size cannot be read still runs, last.
        logger.debug("size of task %s unknown", built.name, exc_info=True)
        return 0


def _texts_in(stats: dict[str, Any]) -> int:
    count = 0
    for key, value in stats.items():
        is_text = key.startswith(("text", "documents_text", "queries_text")) and key.endswith("_statistics")
        if is_text and isinstance(value, dict):
            side = "num_documents" if key.startswith("documents") else "num_queries" if key.startswith("queries") else "num_samples"
            count += int(value.get("num_texts") or stats.get(side) or 0)
    return count


def _per_subset(split_stats: dict[str, Any], subsets: list[str]) -> list[dict[str, Any]]:
    per_subset = split_stats.get("hf_subset_descriptive_stats")
    if per_subset and set(subsets) < set(per_subset):
        return [per_subset[s] for s in subsets if s in per_subset]
    return [split_stats]


def _registered_texts(task: Any) -> int:
    stats = task.metadata.descriptive_stats or {}
    subsets = list(task.hf_subsets)
    total = sum(_texts_in(part) for split in task.eval_splits for part in _per_subset(stats.get(split) or {}, subsets))
    if task.metadata.type == "Classification" and "train" in stats:
        # Each classifier run draws `samples_per_label` texts per label from the training split.
        for part in _per_subset(stats["train"], subsets):
            labels = int((part.get("label_statistics") or {}).get("unique_labels") or 0)
            drawn = int(getattr(task, "n_experiments", 1)) * int(getattr(task, "samples_per_label", 8)) * labels
            total += min(int(part.get("num_samples") or 0), drawn or int(part.get("num_samples") or 0))
    return total


def _local_texts(built: BuiltTask) -> int:
    data = built.task.dataset
    if built.task_type in ("Retrieval", "Reranking"):
        return sum(len(s["corpus"]) + len(s["queries"]) for s in data["default"].values())
    splits = list(built.task.eval_splits) + (["train"] if built.task_type == "Classification" else [])
    total = 0
    for split in splits:
        ds = data[split]
        total += len(ds) * sum(c in ds.column_names for c in ("sentence1", "sentence2", "text"))
        if "sentences" in ds.column_names:
            total += sum(len(row) for row in ds["sentences"])
    return total


def task_resources(device: str, nodes: list[dict[str, Any]]) -> tuple[dict[str, float], str]:
    """What one evalkit task asks Ray for, and the device its worker encodes on.

    Args:
        device: the run's `--device` (one device: Ray assigns GPUs).
        nodes: `ray.nodes()`.

    Returns:
        (Ray resource options, worker device).

    Raises:
        EvalkitError: a GPU device on a cluster without GPUs, or a cluster without CPUs.

    Example::

        >>> task_resources("auto", [{"Alive": True, "Resources": {"CPU": 2.0}}])
        ({'num_cpus': 2, 'num_gpus': 0}, 'cpu')
        >>> task_resources("auto", [{"Alive": True, "Resources": {"CPU": 32.0, "GPU": 4.0}}])
        ({'num_cpus': 1, 'num_gpus': 1}, 'cuda')
    """
    alive = [n.get("Resources") or {} for n in nodes if n.get("Alive", True)]
    has_gpu = any(r.get("GPU", 0) >= 1 for r in alive)
    if device.startswith("cuda") or (device == "auto" and has_gpu):
        if not has_gpu:
            raise EvalkitError(f"--device {device}: the Ray cluster has no GPU; use --device cpu, or add GPU nodes")
        return {"num_cpus": 1, "num_gpus": 1}, "cuda"
    cpus = [int(r["CPU"]) for r in alive if r.get("CPU", 0) >= 1]
    if not cpus:
        raise EvalkitError("--ray: the Ray cluster has no node with CPUs; add a worker node")
    return {"num_cpus": min(CPU_MAX_WORKERS, min(cpus)), "num_gpus": 0}, "cpu" if device == "auto" else device


# ---------------------------------------------------------------------------------------------
# Reaching Ray


def import_ray() -> Any:
    """The `ray` module.

    Raises:
        EvalkitError: Ray is not installed, with the command that installs it.
    """
    try:
        import ray
    except ImportError:
        raise EvalkitError(f"--ray: Ray is not installed; {INSTALL_HINT}") from None
    return ray


def check_address(address: str | bool) -> str:
    """The Ray address a run uses: `local`, `auto`, `HOST:PORT` or `ray://HOST:PORT`.

    `True` (a bare `--ray`) means `$RAY_ADDRESS` when set, else `local`, as `ray.init()` does.

    Raises:
        EvalkitError: anything else, e.g. a suite path given after `--ray`.
    """
    if address is True or address == "":
        address = os.environ.get("RAY_ADDRESS") or "local"
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise EvalkitError(
            f"--ray {address}: is not a Ray address; use local, auto, HOST:PORT or ray://HOST:10001 (put the suite before --ray)"
        )
    return address


def _reach(address: str) -> None:
    """Fail in seconds when no cluster answers: ray.init would retry for minutes."""
    if address == "local":
        return
    target = address
    if address == "auto":
        target = os.environ.get("RAY_ADDRESS") or ""
        if target:
            check_address(target)
        else:
            try:
                # Ray's own lookup for "auto" (the last `ray start` on this machine); private, so
                # a moved name only skips this early check and ray.init reports instead.
                from ray._private.services import canonicalize_bootstrap_address_or_die

                target = canonicalize_bootstrap_address_or_die("auto")
            except ConnectionError:
                raise EvalkitError(
                    "--ray auto: no running Ray cluster found (none started on this machine, RAY_ADDRESS unset); "
                    "start one with `ray start --head`, or use --ray local"
                ) from None
            except (ImportError, AttributeError):
                return
    host, _, port = target.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=_PROBE_SECONDS).close()
    except OSError as exc:
        raise EvalkitError(
            f"--ray {address}: no Ray cluster answers at {host}:{port} ({exc.strerror or type(exc).__name__}); "
            f"start one there with `ray start --head --port {port}`, or use --ray local"
        ) from None


class _Captured:
    def __init__(self, file: Any) -> None:
        self.file = file

    def read(self) -> str:
        self.file.seek(0)
        return self.file.read().decode("utf-8", "replace")


@contextlib.contextmanager
def _captured_stderr() -> Iterator[_Captured]:
    """File descriptor 2 (C++ libraries write there directly) into a temporary file for the block."""
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as file:
        os.dup2(file.fileno(), 2)
        try:
            yield _Captured(file)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@dataclass
class _Cluster:
    address: str  # as given: local, auto, HOST:PORT
    gcs: str  # the cluster it reached
    started: bool  # this run started it (a local instance), so shuts it down


def _connect(ray: Any, address: str) -> _Cluster:
    if ray.is_initialized():
        # A notebook or test that already connected: use that session and leave it running.
        return _Cluster(address, ray.get_runtime_context().gcs_address, started=False)
    debug = logging.getLogger().isEnabledFor(logging.DEBUG)
    # Workers' logs go to Ray's session logs; with --debug they are shown here too.
    options: dict[str, Any] = {"logging_level": logging.DEBUG if debug else logging.ERROR, "log_to_driver": debug}
    said = ""
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, **options)
        else:
            # Ray's C++ client warns once a second while it retries a connection (about 20 s);
            # kept out of the terminal unless --debug, and read for the one-line error.
            with contextlib.nullcontext(None) if debug else _captured_stderr() as captured:
                try:
                    ray.init(address=address, **options)
                finally:
                    said = captured.read() if captured is not None else ""
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = first_line(exc, 200)
        fix = "check the address, or use --ray local"
        if "InvalidAuthToken" in said or "Unauthenticated" in said:
            # Ray turns token authentication on for the clusters it starts, but a driver given an
            # explicit address sends the token only when told to.
            fix = "the cluster wants its authentication token: set RAY_AUTH_MODE=token (token in RAY_AUTH_TOKEN or ~/.ray/auth_token)"
        raise EvalkitError(f"--ray {address}: cannot connect ({first}); {fix}") from None
    return _Cluster(address, ray.get_runtime_context().gcs_address, started=address == "local")


# ---------------------------------------------------------------------------------------------
# The driver


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
    from evalkit.runner.loop import prepare_run

    ray = import_ray()
    target = check_address(address)
    if "," in config.model.device:
        raise EvalkitError(f"--device {config.model.device}: with --ray each task gets one device from Ray; use --device auto, cuda or cpu")
    if ray.is_initialized():
        held = ray.get_runtime_context().gcs_address
        if address is not True and target not in ("auto", held):
            raise EvalkitError(
                f"--ray {target}: this process is already connected to the Ray cluster at {held}; pass auto to use it, or call ray.shutdown() first"
            )
    else:
        _reach(target)
    state, built = prepare_run(config)
    return _Driver(ray, target, state, built, max_retries, on_task, on_start).run()


class _Driver:
    """One Ray run's driver: plans under the tasks' locks, submits, and persists as results come back."""

    def __init__(
        self,
        ray: Any,
        address: str,
        state: RunState,
        built: list[BuiltTask],
        max_retries: int,
        on_task: Callable[[TaskOutcome], None] | None,
        on_start: Callable[[str, int, int], None] | None,
    ) -> None:
        self.ray, self.address, self.state, self.built = ray, address, state, built
        self.max_retries, self.on_task, self.on_start = max_retries, on_task, on_start
        self.outcomes: dict[str, TaskOutcome] = {}
        self.locks: dict[str, contextlib.ExitStack] = {}
        self.pending: dict[Any, tuple[TaskPlan, TaskJob, int]] = {}
        self.cluster: _Cluster | None = None
        self.resources: dict[str, float] = {}
        self.meta_written = False

    def run(self) -> RunSummary:
        from evalkit.runner.loop import RunSummary

        state = self.state
        try:
            todo = self._plan()
            if todo:
                self.cluster = _connect(self.ray, self.address)
                self._submit(todo)
                while self.pending:
                    # A short timeout keeps Ctrl-C responsive: signals are handled between waits.
                    ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=0.5)
                    for ref in ready:
                        self._collect(ref)
        except BaseException:
            self._stop()
            raise
        finally:
            for stack in self.locks.values():
                stack.close()
            if self.cluster is not None and self.cluster.started:
                self.ray.shutdown()
        ordered = [self.outcomes[b.name] for b in self.built if b.name in self.outcomes]
        return RunSummary(state.resolved.name, state.resolved.revision, state.folder.path, ordered, state.notes)

    def _finish(self, outcome: TaskOutcome, entry: dict[str, Any] | None) -> None:
        self.outcomes[outcome.task] = outcome
        if entry is not None:
            self.state.update_manifest({outcome.task: entry})
        if self.on_task is not None:
            self.on_task(outcome)

    def _plan(self) -> list[TaskPlan]:
        """Lock each task, as a local run does, and keep those that must run; the rest finish now."""
        from evalkit.runner.loop import TaskOutcome, manifest_entry, plan_task, skipped_outcome

        state, folder, todo = self.state, self.state.folder, []
        for index, b in enumerate(self.built):
            if self.on_start is not None:
                self.on_start(b.name, index, len(self.built))
            stack = contextlib.ExitStack()
            if not stack.enter_context(folder.task_lock(b.name)):
                stack.close()
                reason = "another evalkit run is working on it; rerun later to pick up its result"
                self._finish(TaskOutcome(b.name, b.task_type, "locked", reason=reason), None)
                continue
            # A plain dict where a PromptTable is meant: issue 17's Ray bug (instructions dropped), fixed on branch `ray`.
            plan = plan_task(b, folder, state.resolved, state.config.model, state.encoder.model_prompts, overwrite=state.config.overwrite)  # type: ignore[arg-type]
            if plan.reuse:
                outcome = skipped_outcome(folder, plan)
                stack.close()
                self._finish(outcome, manifest_entry(outcome, plan))
                continue
            self.locks[b.name] = stack
            todo.append(plan)
        return todo

    def _submit(self, todo: list[TaskPlan]) -> None:
        config, resolved = self.state.config, self.state.resolved
        self.resources, device = task_resources(config.model.device, self.ray.nodes())
        settings = replace(config.model, device=device)
        if resolved.source == "hub":
            settings = replace(settings, revision=resolved.revision)  # every node fetches the driver's commit
        from evalkit.runner.settings import default_cache_dir

        # The default cache is each node's own; a folder given with --cache-dir (shared storage) is shared.
        cache: Path | Literal["node"] | None = "node" if config.cache_dir == default_cache_dir() else config.cache_dir
        base = TaskJob(
            spec=todo[0].built.spec,
            data_dir=config.data_dir.resolve() if config.data_dir else None,
            settings=settings,
            model_name=resolved.name,
            revision=resolved.revision,
            cache=cache.resolve() if isinstance(cache, Path) else cache,
            versions=package_versions(*_VERSIONED),
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

    def _collect(self, ref: Any, *, interrupted: bool = False) -> None:
        from evalkit.runner.loop import manifest_entry, persist_task

        plan, job, size = self.pending.pop(ref)
        try:
            report = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            if interrupted:
                return  # cancelled or interrupted along with the driver: rerun next time
            report = self._lost(exc)
        received = time.time()
        if report.fatal:
            if interrupted:
                return
            raise ModelError(report.fatal)
        if report.model_meta and not self.meta_written:
            self.state.folder.write_model_meta(report.model_meta)
            self.meta_written = True
        run_info = self._run_info(report, job, size, received)
        outcome = persist_task(self.state.folder, plan, report.evaluated, run_info=run_info)
        self.locks.pop(plan.built.name).close()
        self._finish(outcome, {**manifest_entry(outcome, plan), "run": run_info})

    def _lost(self, exc: Exception) -> WorkerReport:
        from evalkit.runner.loop import Evaluated

        ray = self.ray
        if isinstance(exc, ray.exceptions.RayTaskError):
            cause = getattr(exc, "cause", None) or exc
            reason = f"{first_line(cause, with_type=True)} (in the Ray worker)"
        else:
            reason = f"Ray lost the task {self.max_retries + 1} times ({first_line(exc, 200, with_type=True)})"
        return WorkerReport(Evaluated(task_result=None, error=reason, seconds=0.0, stats=EncodeStats(), examples=[]))

    def _run_info(self, report: WorkerReport, job: TaskJob, size: int, received: float) -> dict[str, Any]:
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

    def _stop(self) -> None:
        """Keep what already came back, cancel the rest: after Ctrl-C, a fatal error or a bug."""
        if not self.pending:
            return
        ray = self.ray
        try:
            ready, _ = ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0)
            for ref in ready:
                self._collect(ref, interrupted=True)
        finally:
            for ref in list(self.pending):
                with contextlib.suppress(Exception):  # already finished or gone: nothing to cancel
                    ray.cancel(ref, force=True)
            self.pending.clear()
