"""The ray stage's verdict: a `--ray local` run against the same tasks run locally (issue 22, item 5).

    python3 benchmarks/device/ray_compare.py RAY_OUTPUT LOCAL_OUTPUT --ray-seconds S --local-seconds S

Prints both runs' main scores, their largest difference (target: within 1e-6), and from each task's
record of the Ray run where it ran (device, GPU ids, process) and what was encoded ahead in shards
(`run.encoded_ahead`) against what the task itself encoded (`encoder_stats`: 0 after its shards).
Exits 1 when a score differs by more than 1e-6, a task is missing, or no corpus was sharded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TOLERANCE = 1e-6


def scores(output: Path) -> dict[str, float]:
    from evalkit.results.scores import main_scores, read_results

    table = main_scores(read_results(output))
    return {f"{r.task}/{r.split}/{r.subset}": float(r.value) for r in table.itertuples()}


def records(output: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(output.glob("**/evalkit/tasks/*.json"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ray_output", type=Path)
    parser.add_argument("local_output", type=Path)
    parser.add_argument("--ray-seconds", type=float, required=True)
    parser.add_argument("--local-seconds", type=float, required=True)
    args = parser.parse_args()

    on_ray, local = scores(args.ray_output), scores(args.local_output)
    print("| task/split/subset | --ray local | local | difference |")
    print("|---|---:|---:|---:|")
    worst = 0.0
    for key in sorted(set(on_ray) | set(local)):
        a, b = on_ray.get(key), local.get(key)
        if a is None or b is None:
            print(f"| {key} | {a} | {b} | missing |")
            worst = float("inf")
            continue
        worst = max(worst, abs(a - b))
        print(f"| {key} | {a:.8f} | {b:.8f} | {a - b:+.1e} |")
    sharded = 0
    for task, record in records(args.ray_output).items():
        run, stats = record.get("run", {}), record.get("encoder_stats", {})
        ahead = run.get("encoded_ahead")
        sharded += bool(ahead and ahead.get("shards"))
        print(
            f"{task}: executor {run.get('executor')}, device {run.get('device')}, gpu_ids {run.get('gpu_ids')}, pid {run.get('pid')}, "
            f"texts {run.get('texts')}; encoded ahead {ahead or 'none (run whole)'}; "
            f"the task itself encoded {stats.get('encoded')} texts, cache hits {stats.get('cache_hits')}"
        )
    print(f"wall: --ray local {args.ray_seconds:.1f} s, local {args.local_seconds:.1f} s")
    ok = worst <= TOLERANCE and sharded > 0 and len(on_ray) > 0
    print(f"max |difference| {worst:.2e} (target <= {TOLERANCE:.0e}); tasks with a sharded corpus: {sharded}; {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
