"""How retrieval cost grows with the corpus: 10k, 100k and 1M documents, time and peak memory.

A synthetic retrieval task (1,000 queries, one relevant document each) runs through evalkit's
encoder and mteb's chunked search. The model is a stand-in that maps each text to a fixed 384-d
unit vector computed from its id (no network, no weights), so the numbers measure the harness:
encoding bookkeeping, chunked scoring, top-k merging and metric computation. Each size runs in its
own process; peak memory is that process's maximum RSS minus its RSS before the task ran, compared
with the size of the corpus embeddings (N x 384 x 4 bytes).

    python benchmarks/bench_scale.py [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
from pathlib import Path
import numpy as np
import mteb, torch
from evalkit.model.encoder import Encoder
from evalkit.model.prompts import PromptTable
from evalkit.model.source import ResolvedModel
from evalkit.model.settings import ModelSettings
from evalkit.runner.suite import LocalTaskSpec, TaskSpec
from evalkit.runner.tasks import build_task

folder, n_docs = Path(sys.argv[1]), int(sys.argv[2])
DIM = 384
FREQ = np.random.default_rng(0).normal(size=DIM).astype(np.float32)
PHASE = np.random.default_rng(1).uniform(0, 6.28, size=DIM).astype(np.float32)

class StandIn:
    # The sentence-transformers surface evalkit's Encoder uses.
    max_seq_length, similarity_fn_name, device, prompts = 128, "cosine", "cpu", {}
    def get_embedding_dimension(self): return DIM
    def encode(self, texts, **kw):
        ids = np.array([float(t.split()[-1]) for t in texts], dtype=np.float32)
        v = np.sin(np.outer(ids, FREQ) + PHASE)
        return torch.from_numpy(v / np.linalg.norm(v, axis=1, keepdims=True))

spec = TaskSpec(name="ScaleRetrieval", local=LocalTaskSpec(type="Retrieval", corpus=folder / "corpus.jsonl", queries=folder / "queries.jsonl", qrels=folder / "qrels.tsv"))
built = build_task(spec)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
encoder = Encoder(StandIn(), ResolvedModel("stand-in", folder, "0", "local"), ModelSettings(batch_size=512), prompts=PromptTable())
t0 = time.monotonic()
with encoder.for_task(spec.name, {}):
    res = mteb.evaluate(encoder, built.task, cache=None, show_progress_bar=False, encode_kwargs={"batch_size": 512})
wall = time.monotonic() - t0
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall": wall, "extra_mb": (rss1 - rss0) / 1024, "ndcg_at_10": res.task_results[0].get_score()}))
"""


def make_task(folder: Path, n_docs: int, n_queries: int = 1000) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w") as f:
        for i in range(n_docs):
            f.write(f'{{"id": "d{i}", "text": "document {i}"}}\n')
    step = max(1, n_docs // n_queries)
    with (folder / "queries.jsonl").open("w") as f:
        for q in range(n_queries):
            # The query's vector is its document's: the stand-in maps equal ids to equal vectors.
            f.write(f'{{"id": "q{q}", "text": "query {q * step}"}}\n')
    with (folder / "qrels.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in range(n_queries):
            f.write(f"q{q}\td{q * step}\t1\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    print("| documents | wall s | docs/s | extra peak RSS MB | corpus embeddings MB | peak / embeddings | nDCG@10 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            make_task(Path(tmp), n)
            proc = subprocess.run([sys.executable, "-c", CHILD, tmp, str(n)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-3000:])
            r = json.loads(proc.stdout.strip().splitlines()[-1])
        emb_mb = n * 384 * 4 / 2**20
        print(
            f"| {n:,} | {r['wall']:.1f} | {n / r['wall']:.0f} | {r['extra_mb']:.0f} | {emb_mb:.0f} | {r['extra_mb'] / emb_mb:.2f} | {r['ndcg_at_10']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
