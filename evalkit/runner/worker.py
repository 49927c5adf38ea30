"""The Ray worker's side of a task: check this node can run it as the driver would, then `run_task`.

A job carries the task's spec and the driver's `ModelJob` (resolved model, settings, the run's
prompt table, embedding cache); the worker builds the task, resolves the model on this node and
checks its weights are the driver's (a Hub id is fetched at the driver's commit into this node's
cache; a path must exist here), then calls `evalkit.runner.task.run_task`, the function a local
run calls for each task. It writes nothing: the driver persists the report.

`ResidentEncoder` is the Ray actor that does this for a whole run with one loaded encoder: it
runs tasks (`run_job`), records what a big task will ask the encoder for (`record_task`), and
encodes shards of those texts ahead into the embedding cache (`CachingEncoder.encode_ahead`).
It serves two calls at once (two threads; see `evalkit.runner.schedule` for the lanes): a
recording beside a task or a shard. The recording runs on a copy of the encoder with its own
per-task state (`CachingEncoder.recorder`) and never encodes, so the two never share a buffer.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalkit.errors import EvalkitError
from evalkit.runner.task import EncoderSlot, Evaluated, ModelJob, TaskReport, run_task

if TYPE_CHECKING:
    from evalkit.model.caching import EncodeCall
    from evalkit.model.source import ResolvedModel
    from evalkit.runner.suite import TaskSpec
    from evalkit.runner.tasks import BuiltTask

VERSIONED = ("evalkit", "mteb")  # decide the scores: every node must run the driver's versions


@dataclass(frozen=True)
class TaskJob:
    """What a worker needs to evaluate one task: plain data, pickled to the worker."""

    spec: TaskSpec
    data_dir: Path | None
    model: ModelJob  # the driver's; settings with the worker's device and, for Hub models, the driver's commit
    cache: Path | Literal["node"] | None  # "node": that node's default embedding cache
    versions: dict[str, str]
    env: dict[str, str]
    submitted: float = 0.0  # the driver's clock


# One slot per worker process: Ray reuses CPU workers across tasks, so the next task on this
# process skips resolving, fingerprinting and loading the same checkpoint again.
_SLOT = EncoderSlot()
_RESOLVED: dict[str, Any] = {}
_RESOLVING = threading.Lock()  # a resident encoder's two lanes may resolve at once


def run_job(job: TaskJob, slot: EncoderSlot = _SLOT) -> TaskReport:
    """Evaluate one task where this function runs (a Ray worker, or this process); writes nothing.

    Args:
        job: the task and the driver's model job.
        slot: the encoder to (re)use: a resident actor's own, else this worker process's.

    Returns:
        The report; a task that cannot run on this node (data or model missing here, other
        weights, other versions) is a failed evaluation with the reason.
    """
    started = time.time()
    opened = _open(job, started)
    if isinstance(opened, TaskReport):
        return opened
    built, model = opened
    assert built is not None  # _open builds the task unless told not to
    report = run_task(built, model, slot)
    return replace(report, started=started, **_where())


def _open(job: TaskJob, started: float, *, build: bool = True) -> tuple[BuiltTask | None, ModelJob] | TaskReport:
    """The task built here and the model job resolved here, after checking this node runs what the driver runs."""
    os.environ.update(job.env)  # before the Hub libraries are imported: they read it once
    from evalkit._util import package_versions
    from evalkit.runner.tasks import build_task

    where = _where()
    node, driver = where["node"], job.model.resolved

    def failed(reason: str) -> TaskReport:
        return TaskReport(Evaluated.failed(reason), started=started, finished=time.time(), **where)

    mine = package_versions(*VERSIONED)
    mismatch = [f"{p} {v}" for p, v in mine.items() if job.versions.get(p) != v]
    if mismatch:
        wanted = ", ".join(f"{p} {job.versions.get(p)}" for p in VERSIONED)
        return failed(f"node {node} runs {', '.join(mismatch)}, the driver {wanted}; install the same evalkit and mteb on every node")
    try:
        built = build_task(job.spec, data_dir=job.data_dir) if build else None
        resolved = _resolved_here(job.model)
    except EvalkitError as exc:
        return failed(f"node {node}: {exc}")
    if (resolved.name, resolved.revision) != (driver.name, driver.revision):
        return failed(
            f"node {node}: model {job.model.settings.model or resolved.name} resolves to {resolved.name} @ {resolved.revision} there, "
            f"the driver to {driver.name} @ {driver.revision}; put the same checkpoint on every node (shared storage or one Hub revision)"
        )
    from evalkit.runner.settings import default_cache_dir

    cache = default_cache_dir() if job.cache == "node" else job.cache
    return built, replace(job.model, resolved=resolved, cache_dir=cache)


@dataclass(frozen=True)
class ShardJob:
    """Some distinct texts of one task's encode call, to encode ahead into the shared embedding cache."""

    job: TaskJob
    call: EncodeCall
    index: int
    of: int


class ResidentEncoder:
    """A Ray actor: one per GPU (or CPU slot), the model loaded once for the whole run.

    Every task and shard placed on it uses its one `EncoderSlot`: `run` is `run_job` (so
    `run_task`, as a local run), `record` evaluates a task with the encoder recording what mteb
    asks for (`record_task`), `encode` encodes a shard of those texts into the embedding cache.
    A recording may run beside a `run` or an `encode` (the actor has two threads). It writes no
    results; the driver does.
    """

    def __init__(self) -> None:
        self.slot = EncoderSlot()
        self.doing: dict[int, tuple[str, str]] = {}  # per thread: ("work" (a run or a shard) or "record", what)

    def ready(self) -> dict[str, Any]:
        """Where this actor runs, once it has started."""
        return _where()

    def run(self, job: TaskJob) -> TaskReport:
        """Evaluate one task with the resident encoder (`run_job`)."""
        with self._titled("work", job.spec.name):
            return run_job(job, self.slot)

    def record(self, job: TaskJob) -> tuple[list[EncodeCall], str]:
        """What the task asks the encoder for, by cache key (`record_task`); ([], reason) when it cannot run here."""
        from evalkit.errors import ModelError
        from evalkit.runner.task import record_task

        with self._titled("record", f"{job.spec.name}:record"):
            opened = _open(job, time.time())
            if isinstance(opened, TaskReport):
                return [], opened.evaluated.error
            built, model = opened
            assert built is not None  # noqa: S101 - built when asked
            try:
                encoder = self.slot.get(model)
            except ModelError as exc:
                return [], str(exc)
            return record_task(built, encoder)

    def encode(self, shard: ShardJob) -> dict[str, Any]:
        """Encode a shard's texts the cache lacks into the cache; how many, how long, where.

        Raises:
            EvalkitError: the model cannot be opened here (the shard is then left to the task).
        """
        with self._titled("work", f"{shard.job.spec.name}:shard-{shard.index}"):
            started = time.time()
            opened = _open(shard.job, started, build=False)
            if isinstance(opened, TaskReport):
                raise EvalkitError(opened.evaluated.error)
            encoder = self.slot.get(opened[1])
            encoded = encoder.encode_ahead(shard.call)
            return {"encoded": encoded, "texts": len(shard.call.texts), "seconds": time.time() - started, **_where()}

    def close(self) -> None:
        """Release the encoder (its worker pool); the driver then kills the actor, freeing its GPU or CPUs."""
        self.slot.close()

    @contextlib.contextmanager
    def _titled(self, part: Literal["work", "record"], what: str) -> Iterator[None]:
        """The process title says what each lane does: `evalkit:<task or shard>` first, then `+<task>:record`."""
        me = threading.get_ident()
        self.doing[me] = (part, what)
        self._show()
        try:
            yield
        finally:
            self.doing.pop(me, None)
            self._show()

    def _show(self) -> None:
        from evalkit._compat.ray import set_title

        doing = list(self.doing.values())
        work = [what for part, what in doing if part == "work"] or ["idle"]
        set_title("evalkit:" + " ".join(work + [f"+{what}" for part, what in doing if part == "record"]))


def _resolved_here(model: ModelJob) -> ResolvedModel:
    # The driver's revision is part of the key: a checkpoint folder rewritten between two runs of
    # one session (a training loop) is resolved and loaded again, not served from memory.
    from evalkit.model.source import prepare_run_model

    key = model.key()
    with _RESOLVING:
        if _RESOLVED.get("key") != key:
            _RESOLVED.clear()
            _RESOLVED.update(key=key, resolved=prepare_run_model(model.settings))
        return _RESOLVED["resolved"]


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
