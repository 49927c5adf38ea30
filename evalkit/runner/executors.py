"""Where a task runs with `--ray`: resident encoders on the cluster; the driver stays the only writer.

The run itself is the local run's loop (`evalkit.runner.loop.run_prepared`): same plans, locks,
settings hashes, prompt table, results folder and manifest. `RayExecutor` starts one resident
encoder (a Ray actor, `evalkit.runner.worker.ResidentEncoder`) per GPU, or per CPU slot of a local
run's size, each loading the model once for the whole run, and hands them work from one queue::

    driver (the loop)                                  resident encoders (one per GPU, any node)
    prepare_run: tasks built, model, prompt table
    per task: its lock, plan_task (reuse?)
    split tasks (choose_split: where it shortens the run)
      record ──────────── TaskJob ──────────────────▶  side lane: evaluate with the encoder recording
             ◀─────────── encode calls (key, texts) ─  what mteb asks (record_task: its own cache key)
      shards, every encoder ── ShardJob ────────────▶  main lane: encode the texts the cache lacks,
             ◀─────────── count, seconds, node ──────  write a shard of the embedding cache (atomically)
    every task: run ───── TaskJob ──────────────────▶  main lane: run_job, run_task as a local run (a
    persist_task, manifest ◀── TaskReport ──────────   split task finds every text cached)

The order is `evalkit.runner.schedule.WorkQueue`'s: an encoder's main lane takes a split task's
run once its last shard is back, else shards in the order their tasks were recorded, else whole
tasks costliest first (estimated tokens, `tokens_to_encode`), else a recording; its side lane
(a second thread of the actor) records the next split task meanwhile, so recording is CPU work
beside the GPU's encoding. The tasks to split are the costliest ones for which a simulation of
this very queue (`choose_split`) gives a shorter run. Splitting needs a shared embedding cache:
`--cache-dir` on shared storage, or the default cache on one machine.

Resources: an encoder takes one GPU when the run's device is `cuda` (or `auto` on a cluster with
GPUs), else the CPUs a local run would use (`evalkit.runner.sizes.task_resources`).

Faults: an encoder that dies (killed, out of memory, node lost) is replaced and its work (both
lanes) put back at the head of its line for a live one (`max_retries` times); a shard it was
writing leaves at most a temporary file (the cache renames whole shards into place). A task that
fails on its own is recorded, never retried; a shard that fails is left to its task, which
encodes what it misses. A checkpoint that cannot load stops the run with exit 2, as locally. On
Ctrl-C (or any error) the driver persists what already came back, cancels the rest, kills the
encoders (freeing their GPUs) and releases its locks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evalkit._util import first_line, package_versions
from evalkit.runner import ray_cluster
from evalkit.runner.loop import Done
from evalkit.runner.schedule import SHARD_TEXTS, Item, Lane, WorkQueue, choose_split, cut_shards, shard_budget, task_seconds
from evalkit.runner.sizes import actor_slots, env_int, one_machine, task_resources, texts_to_encode, tokens_to_encode
from evalkit.runner.task import Evaluated, ModelJob, TaskPlan, TaskReport
from evalkit.runner.worker import VERSIONED, TaskJob

if TYPE_CHECKING:
    from evalkit.runner.settings import RunConfig

logger = logging.getLogger(__name__)

#: How many times Ray reruns a task whose worker process died (a kill, out of memory, a lost node).
MAX_RETRIES = 2
# The run's switches a worker must see as the driver does (offline Hub with --data-dir, quiet
# tokenizers); the rest of the environment (HF_HOME, caches) stays each node's own.
_ENV_PASSED = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM", "HF_DATASETS_DISABLE_PROGRESS_BARS")
_LANES: tuple[Lane, ...] = ("main", "side")  # main first: it records only when nothing else is left


#: How long the driver waits for a resident encoder to start when none is alive (a lost node, no room).
ACTOR_START_SECONDS = 300.0


class RayExecutor:
    """Resident encoders (one Ray actor per GPU or CPU slot, two lanes each) serve every task and shard; the loop gets each report.

    The tasks chosen to split (`choose_split`, or those of `split_texts` texts and more) are first
    recorded (what mteb asks the encoder for), their distinct texts cut into shards encoded by all
    actors into the shared embedding cache, then run as any task, finding every text cached.
    """

    def __init__(
        self, ray: Any, address: str, max_retries: int = MAX_RETRIES, *, split_texts: int | None = None, shard_texts: int | None = None
    ) -> None:
        self.ray, self.address, self.max_retries = ray, address, max_retries
        self.split_texts = split_texts if split_texts is not None else env_int("EVALKIT_RAY_SPLIT_TEXTS")
        self.shard_texts = shard_texts or env_int("EVALKIT_RAY_SHARD_TEXTS") or SHARD_TEXTS
        self.cluster: ray_cluster.Cluster | None = None
        self.resources: dict[str, float] = {}
        self.slots = 1
        self.queue = WorkQueue([])
        self.plans: dict[str, TaskPlan] = {}
        self.texts: dict[str, int] = {}
        self.tokens: dict[str, int] = {}
        self.inflight: dict[Any, tuple[Item, Any, Lane]] = {}
        self.starting: dict[Any, tuple[Any, float]] = {}
        self.free: dict[Lane, list[Any]] = {lane: [] for lane in _LANES}
        self.actors: list[Any] = []
        self.shard_log: list[dict[str, Any]] = []  # what each shard did: the benchmark and tests read it
        self._actor_class: Any = None

    def execute(self, plans: Iterable[TaskPlan], model: ModelJob, config: RunConfig, done: Done) -> None:
        """Lock and plan every task (drawing `plans`), start the resident encoders, report each task as it finishes."""
        todo = list(plans)
        if not todo:
            return  # everything reused: Ray is not even started
        self.cluster = ray_cluster.connect(self.ray, self.address)
        try:
            self._plan_work(todo, model, config)
            self._start_actors()
            self._drive(done)
        except BaseException:
            self._stop(done)
            raise
        finally:
            self._release()
            if self.cluster.started:
                self.ray.shutdown()

    def _plan_work(self, todo: list[TaskPlan], model: ModelJob, config: RunConfig) -> None:
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
        self.plans = {p.built.name: p for p in todo}
        self.texts = {name: texts_to_encode(p.built) for name, p in self.plans.items()}
        self.tokens = {name: tokens_to_encode(p.built) for name, p in self.plans.items()}
        self.slots = actor_slots(self.resources, self.ray.nodes())
        if self.split_texts is not None:
            split = {t for t, n in self.texts.items() if self.split_texts and n >= self.split_texts}
        else:
            split = choose_split(self.tokens, self.slots)
        if split and (base.cache is None or base.cache == "node" and not one_machine(self.ray.nodes())):
            logger.info("no embedding cache shared by every node (--cache-dir on shared storage): no task is split")
            split = set()  # shards could not hand their vectors to the task
        items = []
        for name, plan in self.plans.items():
            job = replace(base, spec=plan.built.spec, submitted=time.time())
            # Whole tasks go costliest first (estimated seconds at the reference encoder).
            items.append(Item("record" if name in split else "run", name, task_seconds(self.tokens[name]), job))
        self.queue = WorkQueue(items)

    def _start_actors(self) -> None:
        from evalkit.runner.worker import ResidentEncoder

        # max_restarts=0: a dead actor is replaced by the driver, which re-queues its work on a live one.
        # max_concurrency=2: one call per lane (the driver never sends more).
        self._actor_class = self.ray.remote(**self.resources, max_restarts=0, max_concurrency=len(_LANES))(ResidentEncoder)
        for _ in range(self.slots):
            self._start_actor()

    def _start_actor(self) -> None:
        actor = self._actor_class.options(name=None).remote()
        self.actors.append(actor)
        self.starting[actor.ready.remote()] = (actor, time.monotonic())

    def _drive(self, done: Done) -> None:
        alive_since = time.monotonic()
        while self.queue.pending() or self.inflight:
            for lane in _LANES:
                while self.free[lane] and (item := self.queue.take(lane)) is not None:
                    actor = self.free[lane].pop()
                    self.inflight[getattr(actor, item.kind).remote(item.payload)] = (item, actor, lane)
            # A short timeout keeps Ctrl-C responsive: signals are handled between waits.
            refs = list(self.inflight) + list(self.starting)
            ready, _ = self.ray.wait(refs, num_returns=1, timeout=0.5)
            for ref in ready:
                if ref in self.starting:
                    self._started(ref)
                else:
                    self._finished(ref, done)
            if any(self.free.values()) or self.inflight:
                alive_since = time.monotonic()
            elif time.monotonic() - alive_since > ACTOR_START_SECONDS:
                self._give_up(done, f"no resident encoder could start in {ACTOR_START_SECONDS:.0f} s (resources {self.resources})")

    def _started(self, ref: Any) -> None:
        actor, _ = self.starting.pop(ref)
        try:
            self.ray.get(ref)
        except self.ray.exceptions.RayError:
            self._retire(actor)
            self._start_actor()
            return
        for lane in _LANES:
            self.free[lane].append(actor)

    def _finished(self, ref: Any, done: Done) -> None:
        item, actor, lane = self.inflight.pop(ref)
        received = time.time()
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:
            self._free(actor, lane)  # the work failed on its own; the actor is fine
            if item.kind == "run":
                done(self.plans[item.task], self._lost(exc), self._run_info(TaskReport(Evaluated.failed("")), item, received))
            elif item.kind == "record":
                self._recorded(item, [], first_line(exc))
            else:
                self._shard_done(item, {"error": str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""})
            return
        except self.ray.exceptions.RayError as exc:
            # The actor died (killed, out of memory, its node lost): replace it, retry the work elsewhere.
            if actor in self.actors:  # its other lane's call comes back lost too: one replacement
                self._retire(actor)
                self._start_actor()
            item.tries += 1
            if item.tries <= self.max_retries:
                self.queue.put_back(item)
            elif item.kind == "encode":
                self._shard_done(item, {"error": f"lost {item.tries} times"})
            else:
                done(self.plans[item.task], self._lost(exc), self._run_info(TaskReport(Evaluated.failed("")), item, received))
            return
        self._free(actor, lane)
        if item.kind == "run":
            done(self.plans[item.task], result, self._run_info(result, item, received))
        elif item.kind == "record":
            self._recorded(item, *result)
        else:
            self._shard_done(item, result)

    def _free(self, actor: Any, lane: Lane) -> None:
        if actor in self.actors:
            self.free[lane].append(actor)

    def _recorded(self, record: Item, calls: list[Any], error: str) -> None:
        from evalkit.runner.worker import ShardJob

        run = Item("run", record.task, record.cost, record.payload)
        budget = shard_budget(self.tokens[record.task], self.slots)
        parts = [(call, texts) for call in calls for texts in cut_shards(call.texts, budget, self.shard_texts)]
        shards = [
            Item("encode", record.task, 0.0, ShardJob(record.payload, call.part(texts), n, len(parts)))
            for n, (call, texts) in enumerate(parts)
        ]
        # With an error, the task runs (and fails) as usual and says why.
        self.queue.recorded(record.task, [] if error else shards, run)

    def _shard_done(self, item: Item, info: dict[str, Any]) -> None:
        shard = item.payload
        self.shard_log.append({"task": item.task, "shard": shard.index, "of": shard.of, **info})
        if "error" in info:
            logger.warning(
                "task %s: shard %d not encoded ahead (%s); the task encodes its texts itself", item.task, shard.index, info["error"]
            )
        self.queue.shard_done(item)

    def _retire(self, actor: Any) -> None:
        with contextlib.suppress(Exception):
            self.ray.kill(actor, no_restart=True)
        if actor in self.actors:
            self.actors.remove(actor)
        for lane in _LANES:
            if actor in self.free[lane]:
                self.free[lane].remove(actor)

    def _give_up(self, done: Done, reason: str) -> None:
        for item in self.queue.drain():
            done(
                self.plans[item.task],
                TaskReport(Evaluated.failed(reason)),
                self._run_info(TaskReport(Evaluated.failed("")), item, time.time()),
            )

    def _release(self) -> None:
        """Kill every resident encoder: its GPU or CPUs are free again."""
        for actor in list(self.actors):
            self._retire(actor)
        self.starting.clear()

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

    def _run_info(self, report: TaskReport, item: Item, received: float) -> dict[str, Any]:
        assert self.cluster is not None  # noqa: S101 - a report exists only after connecting
        ran = report.finished > 0
        job = item.payload
        shards = [s for s in self.shard_log if s["task"] == item.task]
        info = {
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
            "texts": self.texts[item.task],
            "tokens": self.tokens[item.task],
            # Across machines these mix the driver's and the worker's clocks (NTP-close).
            "started_at": round(report.started, 3) if ran else None,
            "waited": round(max(0.0, report.started - job.submitted), 3) if ran else None,
            "ran": round(report.finished - report.started, 3) if ran else None,
            "returned": round(max(0.0, received - report.finished), 3) if ran else None,
        }
        if shards:
            info["encoded_ahead"] = {
                "shards": len(shards),
                "texts": sum(s.get("encoded", 0) for s in shards),
                "nodes": sorted({s.get("node", "") for s in shards}),
                "failed": sum("error" in s for s in shards),
            }
        return info

    def _stop(self, done: Done) -> None:
        """Keep what already came back, cancel the rest: after Ctrl-C, a fatal error or a bug."""
        ray = self.ray
        try:
            if self.inflight:
                ready, _ = ray.wait(list(self.inflight), num_returns=len(self.inflight), timeout=0)
                for ref in ready:
                    item, _actor, _lane = self.inflight.pop(ref)
                    if item.kind != "run":
                        continue
                    with contextlib.suppress(ray.exceptions.RayError):
                        report = ray.get(ref)
                        if not report.fatal:
                            done(self.plans[item.task], report, self._run_info(report, item, time.time()))
        finally:
            for ref in list(self.inflight):
                with contextlib.suppress(Exception):  # already finished or gone: nothing to cancel
                    ray.cancel(ref)  # the encoders are killed next (force is not for actor calls)
            self.inflight.clear()
            self.queue.drain()
