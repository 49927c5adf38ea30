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
name), Ray in suite order (greedy), Ray largest first by texts (what evalkit submits), and the lower
bound max(total / N, longest task).

    python benchmarks/bench_ray.py overhead [--repeats 3] [--mirror ../shared/mirror] [--cache-dir DIR]
    python benchmarks/bench_ray.py project [--times results/org__m/rev] [--task-start-s 12.0] [--overhead-s 0.1]
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
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
