"""evalkit on Ray: the overhead per task against a local run, and the full C-MTEB suite projected on N GPUs.

overhead: on a local Ray instance, the same suites run locally and with `--ray` (in-process, the Ray
instance started once and timed apart), with a warm embedding cache so both sides do the same
work and the difference is what Ray adds: scheduling, the worker's own task build and weight
check, and bringing the results back. Repeat 1 of the Ray side meets a cold worker (process start,
imports, model load: what every GPU task pays, as Ray gives each GPU task a fresh process); the
later repeats meet a warm one. From the task records: `waited` (submitted to started), `ran`,
`returned` (worker done to driver holding the result), and the gap between one task's end and the
next one's start on the single slot.

project: per-task times for every task of `configs/cmteb.yaml`, either measured (`--times`: a results
folder whose manifest has each task's seconds) or estimated from mteb's statistics (tokens per task
at `--tokens-per-s`, the H100 rate bench_cmteb_shape measured, plus `--fixed-s` per task for data
and scoring, plus the Ray overheads above). Makespan on N GPUs for: `--shard K/N` (static, by
name), Ray in suite order (greedy), Ray largest first by texts (what evalkit submitted before
resident encoders), and the lower bound max(total / N, longest task).

resident: the same suite with resident encoders and split corpora: the schedule before commit
06399bf (`_simulate_before`, the old queue) and now (`evalkit.runner.schedule.simulate`, the
executor's own queue and split choice, so the projection is the real schedule), against the lower
bound (every GPU busy from the start, one model load each). `--measured` takes the model load and
the per-shard costs from `shard --out`.

shard: on a local Ray instance, a resident encoder's start and model load, a shard's round trip
with every text cached, a cache write, and the encoding of the same shards in-process.

compare-ray-data: shards as Ray actor calls on a resident encoder (what evalkit does) against Ray
Data's `map_batches` over an actor pool: fixed cost, time per shard encoding and cached.

    python benchmarks/bench_ray.py overhead [--repeats 3] [--mirror ../shared/mirror] [--cache-dir DIR]
    python benchmarks/bench_ray.py project [--times results/org__m/rev] [--task-start-s 12.0] [--overhead-s 0.1]
    python benchmarks/bench_ray.py shard --out /tmp/shard.json && python benchmarks/bench_ray.py resident --measured /tmp/shard.json
    python benchmarks/bench_ray.py compare-ray-data [--texts 4096] [--shard-texts 256] [--repeats 2]
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

LOG = logging.getLogger("bench_ray")


def _records(folder: Path, tasks: list[str]) -> dict[str, dict]:
    # Only this run's tasks: the suites share the model's results folder.
    return {t: json.loads((folder / "evalkit" / "tasks" / f"{t}.json").read_text()) for t in tasks}


def _ray_breakdown(records: dict[str, dict]) -> dict[str, float]:
    runs = sorted((r["run"] for r in records.values()), key=lambda r: r["started_at"])
    gaps = [b["started_at"] - (a["started_at"] + a["ran"]) for a, b in zip(runs, runs[1:], strict=False)]
    extra = [r["run"]["ran"] - r["seconds"] for r in records.values()]
    return {
        "first_waited": runs[0]["waited"],
        "gap": statistics.mean(gaps) if gaps else 0.0,
        "worker_extra": statistics.mean(extra),
        "returned": statistics.mean(r["returned"] for r in runs),
    }


def overhead(args: argparse.Namespace) -> None:
    import ray

    import evalkit
    from evalkit.model.encoder import load_encoder
    from evalkit.model.settings import ModelSettings

    suites = [("smoke", None)] + ([("mirror", Path(args.mirror))] if args.mirror and Path(args.mirror).is_dir() else [])
    work = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    cache = Path(args.cache_dir) if args.cache_dir else work / "cache"
    for name, data in suites:  # fill the embedding cache (not timed)
        evalkit.run(name, output_dir=work / "warm", data_dir=data, cache_dir=cache)
    started = time.perf_counter()
    load_encoder(ModelSettings(), cache_dir=None)
    model_load = time.perf_counter() - started
    started = time.perf_counter()
    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    ray_start = time.perf_counter() - started
    print(f"Ray local start: {ray_start:.1f} s; model load (all-MiniLM-L6-v2, in a warm process): {model_load:.2f} s")
    print()
    print(
        "| suite | repeat | tasks | local wall s | Ray wall s | (Ray - local) / task s | adjusted / task s | first task waited s | gap between tasks s | worker extra / task s | returned / task s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for repeat in range(1, args.repeats + 1):
        for name, data in suites:
            common = {"data_dir": data, "cache_dir": cache, "overwrite": True}
            t0 = time.perf_counter()
            local = evalkit.run(name, output_dir=work / f"local{repeat}", **common)
            t1 = time.perf_counter()
            on_ray = evalkit.run(name, output_dir=work / f"ray{repeat}", ray="auto", **common)
            t2 = time.perf_counter()
            n = len(on_ray.outcomes)
            assert not local.failed and not on_ray.failed
            diff = (t2 - t1) - (t1 - t0)
            cold = repeat == 1 and name == suites[0][0]
            # The local run loads the model each time; a warm Ray worker already holds it.
            adjusted = (diff + (0.0 if cold else model_load)) / n
            b = _ray_breakdown(_records(on_ray.folder, [o.task for o in on_ray.outcomes]))
            print(
                f"| {name} | {repeat}{' (cold worker)' if cold else ''} | {n} | {t1 - t0:.2f} | {t2 - t1:.2f} "
                f"| {diff / n:+.2f} | {adjusted:+.2f} | {b['first_waited']:.2f} | {b['gap']:.3f} | {b['worker_extra']:.3f} | {b['returned']:.3f} |"
            )
    ray.shutdown()


def _makespan_greedy(times: list[float], n: int) -> float:
    free = [0.0] * n
    for t in times:
        heapq.heappush(free, heapq.heappop(free) + t)
    return max(free)


def project(args: argparse.Namespace) -> None:
    from bench_cmteb_shape import workload  # text groups of configs/cmteb.yaml from mteb's statistics

    from evalkit.runner.sizes import texts_to_encode
    from evalkit.runner.suite import load_suite
    from evalkit.runner.tasks import build_task

    specs = load_suite("cmteb").tasks
    names = [s.name for s in specs]
    texts = {s.name: texts_to_encode(build_task(s)) for s in specs}
    if args.times:
        manifest = json.loads((Path(args.times) / "evalkit" / "manifest.json").read_text())
        seconds = {t: float(manifest["tasks"][t]["seconds"]) + args.task_start_s + args.overhead_s for t in names}
        source = f"measured ({args.times})"
    else:
        tokens = dict.fromkeys(names, 0)
        for task, count, mean_chars in workload():
            tokens[task] += int(count * min(512, mean_chars + 2))
        seconds = {t: tokens[t] / args.tokens_per_s + args.fixed_s + args.task_start_s + args.overhead_s for t in names}
        source = (
            f"estimated: tokens / {args.tokens_per_s:,.0f} tokens/s + {args.fixed_s} s data and scoring "
            f"+ {args.task_start_s} s fresh worker and model load + {args.overhead_s} s Ray, per task"
        )
    total = sum(seconds.values())
    print(f"C-MTEB, {len(names)} tasks, {sum(texts.values()):,} texts; per-task times {source}")
    top = sorted(names, key=lambda t: -seconds[t])[:5]
    print("longest: " + ", ".join(f"{t} {seconds[t] / 60:.1f} min ({texts[t]:,} texts)" for t in top))
    print(f"sum of task times: {total / 60:.1f} min")
    print()
    print(
        "| GPUs | --shard K/N (by name) min | Ray, suite order min | Ray, largest first (evalkit) min | lower bound min | largest first / bound |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.gpus:
        by_name = sorted(names)
        shards = [sum(seconds[t] for i, t in enumerate(by_name) if i % n == k) for k in range(n)]
        suite_order = _makespan_greedy([seconds[t] for t in names], n)
        largest = _makespan_greedy([seconds[t] for t in sorted(names, key=lambda t: -texts[t])], n)
        bound = max(total / n, max(seconds.values()))
        print(f"| {n} | {max(shards) / 60:.1f} | {suite_order / 60:.1f} | {largest / 60:.1f} | {bound / 60:.1f} | {largest / bound:.2f}x |")


def shard_overhead(args: argparse.Namespace) -> None:
    """What one shard costs on top of its encoding: a resident encoder on a local Ray instance, against the same calls in-process.

    Fixed costs for the projection (`--out`, read by `resident --measured`): the encoder's start and
    model load, a shard's round trip with the cache check (every text cached), and a cache write of
    `--write-texts` vectors of BERT-base's 768 dimensions.
    """
    import numpy as np
    import ray

    from evalkit.model.cache import EmbeddingCache
    from evalkit.model.encoder import load_encoder
    from evalkit.model.settings import ModelSettings
    from evalkit.runner.loop import package_versions
    from evalkit.runner.suite import load_suite
    from evalkit.runner.task import ModelJob, record_task
    from evalkit.runner.tasks import build_task
    from evalkit.runner.worker import VERSIONED, ResidentEncoder, ShardJob, TaskJob

    work = Path(tempfile.mkdtemp(prefix="bench_shard_"))
    spec = next(s for s in load_suite("smoke").tasks if s.name == "SmokeRetrieval")
    built = build_task(spec)
    local = load_encoder(ModelSettings(), cache_dir=work / "local")
    calls, _ = record_task(built, local)
    texts = [t for c in calls for t in c.texts]
    k = args.shard_texts
    parts = [(c, c.texts[i : i + k]) for c in calls for i in range(0, len(c.texts), k)] * args.repeats
    # Distinct texts per repeat (a suffix), so every shard encodes: the overhead of a shard that works.
    shards = [(c, [f"{t} #{n}" for t in part]) for n, (c, part) in enumerate(parts)]
    started = time.perf_counter()
    for c, part in shards:
        local.encode_ahead(c.part(part))
    in_process = time.perf_counter() - started

    cache = EmbeddingCache(work / "write", "bench")
    vectors = np.random.default_rng(0).standard_normal((args.write_texts, 768)).astype(np.float32)
    writes = []
    for n in range(3):
        started = time.perf_counter()
        cache.put("", [f"text {n} {i}" for i in range(args.write_texts)], vectors)
        writes.append(time.perf_counter() - started)
    write = statistics.median(writes)

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    from evalkit.model.prompts import default_prompts
    from evalkit.model.source import prepare_model

    resolved = prepare_model(ModelSettings())
    model = ModelJob(resolved, ModelSettings(device="cpu"), default_prompts(resolved, ModelSettings()), None)
    job = TaskJob(spec, None, model, work / "ray", package_versions(*VERSIONED), {})
    actor = ray.remote(num_cpus=2, max_concurrency=2)(ResidentEncoder).remote()
    started = time.perf_counter()
    ray.get(actor.ready.remote())
    ray.get(actor.encode.remote(ShardJob(job, calls[0].part(["warm-up"]), 0, 1)))  # the model load, once
    load = time.perf_counter() - started
    started = time.perf_counter()
    for n, (c, part) in enumerate(shards):
        ray.get(actor.encode.remote(ShardJob(job, c.part(part), n, len(shards))))
    on_ray = time.perf_counter() - started
    started = time.perf_counter()
    for n, (c, part) in enumerate(shards):  # all cached now: the round trip and the cache check alone
        ray.get(actor.encode.remote(ShardJob(job, c.part(part), n, len(shards))))
    cached = time.perf_counter() - started
    ray.kill(actor)
    ray.shutdown()
    n = len(shards)
    print(f"{n} shards of <= {k} texts ({len(texts)} distinct texts of SmokeRetrieval x {args.repeats}), all-MiniLM-L6-v2 on CPU")
    print(f"resident encoder start + model load (once per GPU per run): {load:.2f} s")
    print(f"in-process encode_ahead: {in_process / n * 1000:.1f} ms/shard; on the resident actor: {on_ray / n * 1000:.1f} ms/shard")
    print(
        f"per-shard overhead (actor - in-process): {(on_ray - in_process) / n * 1000:.1f} ms; a shard found cached: {cached / n * 1000:.1f} ms"
    )
    print(f"cache write of {args.write_texts:,} vectors x 768 (median of 3): {write * 1000:.0f} ms")
    if args.out:
        measured = {"load_s": load, "dispatch_s": cached / n, "write_s": write, "write_texts": args.write_texts}
        Path(args.out).write_text(json.dumps(measured, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}: the projection's fixed costs (resident --measured {args.out})")


def _simulate_before(
    pieces: dict[str, float],
    fixed: dict[str, float],
    texts: dict[str, int],
    n: int,
    *,
    split: int,
    shard_texts: int,
    shard_s: float,
    task_s: float,
    load_s: float,
) -> float:
    """Makespan of the resident-encoder schedule before commit 06399bf (the old RayExecutor queue), on n GPUs.

    `pieces[t]`: encoding seconds of task t; `fixed[t]`: its data and scoring seconds. Tasks of
    `split` texts and more are recorded on an encoder (fixed cost, no encoding), cut into shards of
    `shard_texts` texts (each + `shard_s`), then run (fixed cost again). Records first (most texts
    first), then whole tasks by texts; each recording's shards go to the head of the queue, and a
    split task's run too once its last shard is back. One lane per encoder. (The first version of
    this simulation let an idle encoder start a shard before its recording had ended, at the time
    the encoder fell idle: fixed here, which is why its 32-GPU figure is higher than the 0.96 min
    recorded on 2026-12-06.)
    """
    order = sorted(pieces, key=lambda t: -texts[t])
    split_tasks = {t for t in order if split and texts[t] >= split}
    queue = [("record", t, 0.0) for t in order if t in split_tasks] + [("run", t, 0.0) for t in order if t not in split_tasks]
    free = [(load_s, k) for k in range(n)]  # every encoder loads the model once
    heapq.heapify(free)
    events: list[tuple[float, int, str, str, int]] = []
    waiting: dict[str, int] = {}
    seq, end, now = 0, 0.0, 0.0
    while queue or events:
        while queue and free:
            kind, t, cost = queue.pop(0)
            at, k = heapq.heappop(free)
            if kind == "record":
                took = fixed[t] + task_s
            elif kind == "shard":
                took = cost
            else:
                took = (0.0 if t in split_tasks else pieces[t]) + fixed[t] + task_s
            seq += 1
            heapq.heappush(events, (max(at, now) + took, seq, kind, t, k))
        now, _, kind, t, k = heapq.heappop(events)
        end = max(end, now)
        heapq.heappush(free, (now, k))
        if kind == "record":
            count = max(1, -(-texts[t] // shard_texts))
            waiting[t] = count
            queue[:0] = [("shard", t, pieces[t] / count + shard_s)] * count
        elif kind == "shard":
            waiting[t] -= 1
            if waiting[t] == 0:
                queue.insert(0, ("run", t, 0.0))
    return end


def project_resident(args: argparse.Namespace) -> None:
    """The full C-MTEB suite on N GPUs: today's task-level schedule, the resident schedule before, and now (the executor's queue)."""
    from bench_cmteb_shape import workload

    from evalkit.runner.schedule import Costs, choose_split, simulate
    from evalkit.runner.sizes import texts_to_encode, tokens_to_encode
    from evalkit.runner.suite import load_suite
    from evalkit.runner.tasks import build_task

    specs = load_suite("cmteb").tasks
    names = [s.name for s in specs]
    built = [build_task(s) for s in specs]
    texts = {b.name: texts_to_encode(b) for b in built}
    estimated = {b.name: tokens_to_encode(b) for b in built}  # what the executor sees
    tokens = dict.fromkeys(names, 0)  # what the projection charges (bench_cmteb_shape's workload)
    for task, count, mean_chars in workload():
        tokens[task] += int(count * min(512, mean_chars + 2))
    load_s, shard_s, source = args.task_start_s, args.shard_s, "given"
    if args.measured:
        m = json.loads(Path(args.measured).read_text())
        # A shard's round trip with the cache check, plus writing its vectors (measured for write_texts; SHARD_TEXTS at most).
        load_s, shard_s, source = m["load_s"], m["dispatch_s"] + m["write_s"] * 8192 / m["write_texts"], f"measured ({args.measured})"
    encode = {t: tokens[t] / args.tokens_per_s for t in names}
    fixed = {t: args.fixed_s for t in names}
    today = {t: encode[t] + fixed[t] + args.task_start_s + args.overhead_s for t in names}
    total_today = sum(today.values())
    work = sum(encode.values()) + sum(fixed.values()) + len(names) * args.overhead_s
    costs = Costs(fixed=args.fixed_s, load=load_s, task=args.overhead_s, shard=shard_s)
    print(
        f"C-MTEB, {len(names)} tasks, {sum(texts.values()):,} texts; encoding at {args.tokens_per_s:,.0f} tokens/s, "
        f"{args.fixed_s} s data and scoring per task; today {args.task_start_s} s model load + {args.overhead_s} s Ray per task "
        f"(sum {total_today / 60:.1f} min); resident: {load_s:.1f} s load once per GPU, {args.overhead_s} s per task, "
        f"{shard_s * 1000:.0f} ms per shard ({source})"
    )
    one_gpu = simulate(encode, estimated, 1, set(), costs)
    print(f"resident, one GPU: {one_gpu / 60:.2f} min")
    print()
    print(
        "| GPUs | today: largest first min | before: resident min | now: resident min | split now | lower bound min "
        "| speed-up now (vs today 1 GPU) | (vs resident 1 GPU) | before / bound | now / bound |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.gpus:
        largest = _makespan_greedy([today[t] for t in sorted(names, key=lambda t: -texts[t])], n)
        threshold = max(16384, sum(texts.values()) // (2 * n)) if n > 1 else 0  # the old split_threshold
        before = _simulate_before(
            encode,
            fixed,
            texts,
            n,
            split=threshold,
            shard_texts=8192,
            shard_s=shard_s,
            task_s=args.overhead_s,
            load_s=load_s,
        )
        split = choose_split(estimated, n)  # as the executor chooses: its own estimate, the reference rate
        now = simulate(encode, estimated, n, split, costs)
        # Nothing beats every GPU busy from the start with the suite's encoding and fixed costs, one model load each.
        bound = work / n + load_s
        print(
            f"| {n} | {largest / 60:.2f} | {before / 60:.2f} | {now / 60:.2f} | {len(split)} | {bound / 60:.2f} "
            f"| {total_today / now:.1f}x ({total_today / now / n:.0%}) | {one_gpu / now:.1f}x ({one_gpu / now / n:.0%}) "
            f"| {before / bound:.2f}x | {now / bound:.3f}x |"
        )
        if n in args.show_split:
            print(f"|   | split: {', '.join(sorted(split, key=lambda t: -estimated[t]))} |")


def compare_ray_data(args: argparse.Namespace) -> None:
    """Shards on resident encoders (Ray actor calls, what evalkit does) against Ray Data's map_batches over an actor pool.

    The same texts (distinct banking77 training texts from the mirror), the same encoder code
    (`ResidentEncoder.encode`: `encode_ahead` into a fresh embedding cache), one encoder of 2 CPUs
    on a local Ray instance. Per variant: the fixed cost (actor or pool start and model load), the
    time per shard when encoding and when every text is cached (the overhead of a shard).
    """
    import pandas as pd
    import ray

    from evalkit.model.prompts import default_prompts
    from evalkit.model.settings import ModelSettings
    from evalkit.model.source import prepare_model
    from evalkit.runner.loop import package_versions
    from evalkit.runner.suite import load_suite
    from evalkit.runner.task import ModelJob, record_task
    from evalkit.runner.tasks import build_task
    from evalkit.runner.worker import VERSIONED, ResidentEncoder, ShardJob, TaskJob

    mirror = Path(args.mirror) / "mteb" / "banking77" / "train.parquet"
    texts = list(dict.fromkeys(pd.read_parquet(mirror)["text"].astype(str)))[: args.texts]
    work = Path(tempfile.mkdtemp(prefix="bench_raydata_"))
    spec = next(s for s in load_suite("smoke").tasks if s.name == "SmokeRetrieval")
    from evalkit.model.encoder import load_encoder

    calls, _ = record_task(build_task(spec), load_encoder(ModelSettings(), cache_dir=None))
    call = calls[0]  # a real recorded call: its key, prompt and task context; the texts are replaced
    resolved = prepare_model(ModelSettings())
    model = ModelJob(resolved, ModelSettings(device="cpu"), default_prompts(resolved, ModelSettings()), None)
    k = args.shard_texts
    parts = [texts[i : i + k] for i in range(0, len(texts), k)]

    def job(cache: Path) -> TaskJob:
        return TaskJob(spec, None, model, cache, package_versions(*VERSIONED), {})

    class EncodeBatches:
        """Ray Data's callable class: one per pool actor, the same encoder code as a resident encoder's shard."""

        def __init__(self, cache: str) -> None:
            self.encoder = ResidentEncoder()
            self.job = job(Path(cache))

        def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
            info = self.encoder.encode(ShardJob(self.job, call.part([str(t) for t in batch["text"]]), 0, 1))
            return {"encoded": [info["encoded"]]}

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    rows = []
    for repeat in range(1, args.repeats + 1):
        # Ray tasks on a resident actor, one shard at a time (as the executor sends them).
        cache = work / f"actor{repeat}"
        started = time.perf_counter()
        actor = ray.remote(num_cpus=2, max_concurrency=2)(ResidentEncoder).remote()
        ray.get(actor.encode.remote(ShardJob(job(cache), call.part(["warm-up"]), 0, 1)))
        fixed = time.perf_counter() - started
        passes = []
        for _ in ("encode", "cached"):
            started = time.perf_counter()
            encoded = sum(
                ray.get(actor.encode.remote(ShardJob(job(cache), call.part(p), n, len(parts))))["encoded"] for n, p in enumerate(parts)
            )
            passes.append((time.perf_counter() - started, encoded))
        ray.kill(actor)
        rows.append(("Ray tasks on a resident actor", repeat, fixed, passes))

        # Ray Data: map_batches over an actor pool of one; each execution starts its pool (and loads the model).
        cache = work / f"data{repeat}"
        dataset = ray.data.from_items([{"text": t} for t in texts])
        started = time.perf_counter()
        ray.data.from_items([{"text": "warm-up"}]).map_batches(
            EncodeBatches, fn_constructor_kwargs={"cache": str(cache)}, batch_size=k, compute=ray.data.ActorPoolStrategy(size=1), num_cpus=2
        ).take_all()
        fixed = time.perf_counter() - started
        passes = []
        for _ in ("encode", "cached"):
            started = time.perf_counter()
            out = dataset.map_batches(
                EncodeBatches,
                fn_constructor_kwargs={"cache": str(cache)},
                batch_size=k,
                compute=ray.data.ActorPoolStrategy(size=1),
                num_cpus=2,
            ).take_all()
            passes.append((time.perf_counter() - started, sum(int(r["encoded"]) for r in out)))
        rows.append(("Ray Data map_batches, actor pool", repeat, fixed, passes))
    ray.shutdown()

    print(f"{len(texts):,} distinct banking77 texts in {len(parts)} shards of {k}; all-MiniLM-L6-v2 on 2 CPUs, one encoder; local Ray")
    print()
    # A resident actor pays its start once per run; a Ray Data pass starts its pool (and loads the model) every time.
    print(
        "| variant | repeat | start + model load s | encode pass s | texts/s | per shard ms | cached pass s | per cached shard ms "
        "| per shard beyond a pass's start ms | encoded |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, repeat, fixed, ((enc_s, encoded), (cached_s, again)) in rows:
        start = fixed if name.startswith("Ray Data") else 0.0
        print(
            f"| {name} | {repeat} | {fixed:.2f} | {enc_s:.2f} | {len(texts) / enc_s:,.0f} | {enc_s / len(parts) * 1000:.0f} "
            f"| {cached_s:.2f} | {cached_s / len(parts) * 1000:.0f} | {(enc_s - start) / len(parts) * 1000:.0f} | {encoded:,} then {again} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    o = sub.add_parser("overhead", help="per-task overhead of --ray local against a local run")
    o.add_argument("--repeats", type=int, default=3)
    o.add_argument("--cache-dir", help="an embedding cache to reuse (default: a new one, filled first)")
    o.add_argument("--mirror", default=str(Path(__file__).resolve().parents[2] / "shared" / "mirror"))
    o.set_defaults(func=overhead)
    p = sub.add_parser("project", help="full C-MTEB on N GPUs, largest first")
    p.add_argument("--times", help="a results folder of a full C-MTEB run (its manifest's per-task seconds)")
    p.add_argument("--gpus", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8, 16])
    p.add_argument("--tokens-per-s", type=float, default=340_331.0, help="H100, BERT-base, bf16 (bench_cmteb_shape)")
    p.add_argument("--fixed-s", type=float, default=8.0, help="per task: data loading and scoring")
    p.add_argument("--task-start-s", type=float, default=12.0, help="per task: a fresh worker process and model load")
    p.add_argument("--overhead-s", type=float, default=0.1, help="per task: Ray scheduling and result transfer")
    p.set_defaults(func=project)
    r = sub.add_parser("resident", help="full C-MTEB on N GPUs: resident encoders and split corpora, before and now, against today")
    r.add_argument("--gpus", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8, 12, 16, 24, 32])
    r.add_argument("--tokens-per-s", type=float, default=340_331.0, help="H100, BERT-base, bf16 (bench_cmteb_shape)")
    r.add_argument("--fixed-s", type=float, default=8.0, help="per task: data loading and scoring")
    r.add_argument("--task-start-s", type=float, default=12.0, help="a model load: today per task, resident once per GPU")
    r.add_argument("--overhead-s", type=float, default=0.1, help="per task: Ray scheduling and result transfer")
    r.add_argument("--shard-s", type=float, default=0.05, help="per shard: Ray's round trip and the cache write")
    r.add_argument("--measured", help="a JSON written by `shard --out`: the model load and the per-shard costs measured here")
    r.add_argument(
        "--show-split", type=lambda s: [int(x) for x in s.split(",")], default=[8, 16], help="GPU counts to list the split tasks of"
    )
    r.set_defaults(func=project_resident)
    h = sub.add_parser("shard", help="per-shard overhead of a resident encoder on a local Ray instance")
    h.add_argument("--repeats", type=int, default=4)
    h.add_argument("--shard-texts", type=int, default=8)
    h.add_argument("--write-texts", type=int, default=8192, help="vectors in the timed cache write")
    h.add_argument("--out", help="write the fixed costs as JSON, for `resident --measured`")
    h.set_defaults(func=shard_overhead)
    c = sub.add_parser("compare-ray-data", help="shards as Ray tasks on a resident actor against Ray Data map_batches over an actor pool")
    c.add_argument("--texts", type=int, default=4096)
    c.add_argument("--shard-texts", type=int, default=256)
    c.add_argument("--repeats", type=int, default=2)
    c.add_argument("--mirror", default=str(Path(__file__).resolve().parents[2] / "shared" / "mirror"))
    c.set_defaults(func=compare_ray_data)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
