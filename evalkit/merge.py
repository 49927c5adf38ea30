"""Joining results folders (for example the shards of `evalkit run --shard K/N`) into one.

Every results file, evalkit task record and per-example file is copied atomically into the same
`<model>/<revision>/` place under the output; the manifests' task entries are merged. Two shards
with different results for the same task are refused rather than silently picking one.
"""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

from evalkit._io import locked, write_atomic, write_json
from evalkit.errors import DataError


def _revision_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"merge {folder}: no such folder; pass the --output folders of the shard runs")
    dirs = sorted({p.parent for p in folder.glob("*/*/model_meta.json")} | {p.parent for p in folder.glob("*/model_meta.json")})
    if not dirs:
        raise DataError(f"merge {folder}: holds no evalkit results (<model>/<revision>/model_meta.json); run the shards first")
    return dirs


def merge_folders(folders: list[Path], output: Path) -> list[Path]:
    """Copy the results of `folders` into `output`; returns the result files written.

    Raises:
        DataError: a folder without results, or conflicting results for one task.
    """
    written: list[Path] = []
    plan: list[tuple[Path, Path]] = []
    for folder in folders:
        for rev_dir in _revision_dirs(folder):
            target_dir = output / rev_dir.parent.name / rev_dir.name
            for src in (
                sorted(rev_dir.glob("*.json"))
                + sorted(rev_dir.glob("evalkit/tasks/*.json"))
                + sorted(rev_dir.glob("evalkit/examples/*.json"))
            ):
                dst = target_dir / src.relative_to(rev_dir)
                plan.append((src, dst))
    # Check every conflict before writing anything: a refused merge writes nothing.
    seen: dict[Path, Path] = {}
    for src, dst in plan:
        if dst.name == "model_meta.json" or dst.parent.name == "tasks":
            continue  # records and model metadata may differ in timings only
        other = seen.get(dst)
        if other is not None and not filecmp.cmp(other, src, shallow=False):
            raise DataError(f"merge: {dst.relative_to(output)} differs between {other} and {src}; rerun that task in one shard only")
        if other is None and dst.exists() and not filecmp.cmp(dst, src, shallow=False):
            raise DataError(f"merge: {dst} already exists with other results; merge into an empty folder")
        seen[dst] = src
    for src, dst in plan:
        write_atomic(dst, src.read_bytes())
        if src.parent.name != "tasks" and src.parent.name != "examples" and src.name != "model_meta.json":
            written.append(dst)
    for folder in folders:
        for rev_dir in _revision_dirs(folder):
            _merge_manifest(
                rev_dir / "evalkit" / "manifest.json", output / rev_dir.parent.name / rev_dir.name / "evalkit" / "manifest.json"
            )
    return written


def _merge_manifest(src: Path, dst: Path) -> None:
    if not src.is_file():
        return
    with locked(dst.with_name("manifest.lock")):
        incoming = json.loads(src.read_text(encoding="utf-8"))
        if dst.is_file():
            current = json.loads(dst.read_text(encoding="utf-8"))
            current["tasks"] = {**current.get("tasks", {}), **incoming.get("tasks", {})}
            current.setdefault("merged_from", []).append(str(src.parent.parent))
            write_json(dst, current)
        else:
            incoming["merged_from"] = [str(src.parent.parent)]
            write_json(dst, incoming)
