"""Joining results folders (for example the shards of `evalkit run --shard K/N`) into one.

Every results file, evalkit task record and per-example file is copied atomically into the same
`<model>/<revision>/` place under the output; the manifests' task entries are merged. Two shards
with different results for the same task are refused rather than silently picking one.
"""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

from evalkit import _parse
from evalkit.errors import DataError
from evalkit.results.folder import MODEL_META, ResultsFolder


def _folders(folder: Path) -> list[ResultsFolder]:
    if not folder.is_dir():
        raise DataError(f"merge {folder}: no such folder; pass the --output folders of the shard runs")
    try:
        return ResultsFolder.find(folder)
    except DataError:
        raise DataError(f"merge {folder}: holds no evalkit results (<model>/<revision>/<Task>.json); run the shards first") from None


def _files(folder: ResultsFolder) -> list[Path]:
    """The files a merge copies: results (mteb's and in-house), model meta, records, per-example scores."""
    meta = folder.path / MODEL_META
    return folder.result_files() + ([meta] if meta.is_file() else []) + folder.record_files() + folder.example_files()


def merge_folders(folders: list[Path], output: Path) -> list[Path]:
    """Copy the results of `folders` into `output`; returns the result files written.

    Raises:
        DataError: a folder without results, or conflicting results for one task.
    """
    written: list[Path] = []
    plan: list[tuple[Path, ResultsFolder, Path]] = []  # (source file, target folder, path inside it)
    sources = [(src, ResultsFolder(output / src.path.parent.name / src.path.name)) for f in folders for src in _folders(Path(f))]
    for src, target in sources:
        for file in _files(src):
            if file.is_symlink() or not file.resolve().is_relative_to(src.path.resolve()):
                raise DataError(f"merge: {file} is a symbolic link; merge copies real files only, replace the link with the file")
            plan.append((file, target, file.relative_to(src.path)))
    # Check every file and conflict before writing anything: a refused merge writes nothing.
    manifests = {src.path: _read_manifest(src) for src, _ in sources}
    seen: dict[Path, Path] = {}
    for file, target, rel in plan:
        if file.suffix == ".json":
            _parse.read_json(file, f"merge: {file}")
        dst = target.path / rel
        if rel.name == MODEL_META or rel.parent.name == "tasks":
            continue  # records and model metadata may differ in timings only
        other = seen.get(dst)
        if other is not None and not filecmp.cmp(other, file, shallow=False):
            raise DataError(f"merge: {dst.relative_to(output)} differs between {other} and {file}; rerun that task in one shard only")
        if other is None and dst.exists() and not filecmp.cmp(dst, file, shallow=False):
            raise DataError(f"merge: {dst} already exists with other results; merge into an empty folder")
        seen[dst] = file
    results = {p for src, _ in sources for p in src.result_files()}
    for file, target, rel in plan:
        dst = target.write_bytes(rel, file.read_bytes())
        if file in results:
            written.append(dst)
    for src, target in sources:
        _merge_manifest(src, target, manifests[src.path])
    return written


def _read_manifest(src: ResultsFolder) -> dict[str, Any] | None:
    if src.manifest_path.is_symlink():
        raise DataError(f"merge: {src.manifest_path} is a symbolic link; merge copies real files only, replace the link with the file")
    if not src.manifest_path.is_file():
        return None
    manifest = _parse.read_json(src.manifest_path, f"merge: manifest {src.manifest_path}")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tasks", {}), dict):
        raise DataError(f"merge: manifest {src.manifest_path} is not an evalkit manifest; restore it or remove it from the shard")
    return manifest


def _merge_manifest(src: ResultsFolder, dst: ResultsFolder, incoming: dict[str, Any] | None) -> None:
    if incoming is None:
        return

    def update(current: dict[str, Any]) -> dict[str, Any]:
        if not current:
            return {**incoming, "merged_from": [str(src.path)]}
        return {
            **current,
            "tasks": {**current.get("tasks", {}), **incoming.get("tasks", {})},
            "merged_from": [*current.get("merged_from", []), str(src.path)],
        }

    dst.update_manifest(update)
