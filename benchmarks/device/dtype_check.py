"""bf16 against fp32 on the mirror's real tasks: per-text cosine and main scores (issue 21's exactness gate).

    python3 benchmarks/device/dtype_check.py --model DIR --mirror DIR [--device cuda]

1. Every distinct text of the mirror's four tasks encoded by evalkit's forward loop with fp32 and
   with bf16 weights: per-text cosine between the two (target: >= 0.999 for every text). In fp32 also
   through two loops on the device (data parallel, `evalkit.model.parallel`): within 1e-6 of one loop.
2. `evalkit.run("mirror")` in fp32 and in bf16: each main score's difference (target: within 1e-3)
   and the difference of their mean (target: within 5e-4). The fp32 run's agreement with plain
   mteb (within 1e-6) is measured by bench_vs_mteb in the same device session.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def mirror_texts(mirror: Path) -> list[str]:
    import pandas as pd

    texts: list[str] = []
    for split in ("validation", "test"):
        df = pd.read_parquet(mirror / "C-MTEB/ATEC" / f"{split}.parquet")
        texts += df.sentence1.tolist() + df.sentence2.tolist()
    row = pd.read_parquet(mirror / "C-MTEB/OCNLI/validation.parquet").iloc[0]
    texts += list(row["sent1"]) + list(row["sent2"])
    df = pd.read_parquet(mirror / "mteb/stsbenchmark-sts/test.parquet")
    texts += df.sentence1.tolist() + df.sentence2.tolist()
    for split in ("train", "test"):
        texts += pd.read_parquet(mirror / "mteb/banking77" / f"{split}.parquet").text.tolist()
    return list(dict.fromkeys(texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint folder (default: the embedded all-MiniLM-L6-v2)")
    parser.add_argument("--mirror", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--skip-run", action="store_true", help="only the per-text cosines")
    parser.add_argument("--limit", type=int, default=None, help="only the first N distinct texts (a quick try on a CPU)")
    args = parser.parse_args()

    import evalkit
    from evalkit.model.encoder import load_encoder
    from evalkit.model.forward import owned_loop
    from evalkit.model.parallel import device_loops
    from evalkit.results.scores import main_scores, read_results
    from evalkit.runner.settings import ModelSettings

    texts = mirror_texts(args.mirror)[: args.limit]
    vectors = {}
    for dtype in ("fp32", "bf16"):
        enc = load_encoder(ModelSettings(model=args.model, device=args.device, dtype=dtype))
        loop = owned_loop(enc.model)
        if isinstance(loop, str):
            raise SystemExit(f"the forward loop does not run this model: {loop}")
        t0 = time.perf_counter()
        vectors[dtype], truncated = loop.encode(texts, prompt=None, normalize=False)
        print(f"{dtype}: {len(texts)} distinct texts in {time.perf_counter() - t0:.2f} s ({truncated} truncated); {loop.describe()}")
        if dtype == "fp32":
            # Data parallel as `--device cuda:0,cuda:1` runs it, on this one device named twice: two loops on
            # their own threads, the texts dealt out by length (one GPU: the copy per device is not exercised).
            two = device_loops(enc.model, [args.device, args.device])
            if isinstance(two, str):
                raise SystemExit(f"data parallel does not run this model: {two}")
            t0 = time.perf_counter()
            split, _ = two.encode(texts, prompt=None, normalize=False)
            print(
                f"fp32 data parallel ({two.describe()}): {time.perf_counter() - t0:.2f} s; "
                f"max |diff| against one loop {np.abs(split - vectors['fp32']).max():.2e} (target: within 1e-6)"
            )
        del enc, loop
    a, b = vectors["fp32"], vectors["bf16"]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(
        f"per-text cosine bf16 vs fp32: min {cos.min():.6f}, 0.1th percentile {np.percentile(cos, 0.1):.6f}, "
        f"mean {cos.mean():.6f}; below 0.999: {(cos < 0.999).sum()} of {len(cos)} (target: none)"
    )
    if args.skip_run:
        return
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("fp32", "bf16"):
            t0 = time.perf_counter()
            summary = evalkit.run(
                "mirror", model=args.model, data_dir=args.mirror, output_dir=Path(tmp) / dtype, device=args.device, dtype=dtype
            )
            table = main_scores(read_results(summary.folder))
            scores[dtype] = {f"{r.task}/{r.split}/{r.subset}": r.value for r in table.itertuples()}
            print(f"evalkit run mirror, {dtype}: {time.perf_counter() - t0:.1f} s")
    print("| task/split/subset | fp32 | bf16 | bf16 - fp32 |")
    print("|---|---:|---:|---:|")
    for key, value in scores["fp32"].items():
        print(f"| {key} | {value:.6f} | {scores['bf16'][key]:.6f} | {scores['bf16'][key] - value:+.2e} |")
    worst = max(abs(scores["bf16"][k] - v) for k, v in scores["fp32"].items())
    mean = abs(np.mean(list(scores["bf16"].values())) - np.mean(list(scores["fp32"].values())))
    print(f"largest main-score difference {worst:.2e} (target <= 1e-3); mean difference {mean:.2e} (target <= 5e-4)")


if __name__ == "__main__":
    main()
