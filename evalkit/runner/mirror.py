"""The offline mirror: where a task's dataset lives on disk, and how to pull it there.

Layout (see the mirror README): `DIR/<metadata.dataset["path"]>/<split>.parquet` plus `MIRROR.json`
with the pinned `revision`. A user's own `huggingface_hub.snapshot_download` of the dataset repo at
its pinned revision works as well: `evalkit data pull` writes exactly that.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evalkit import _parse
from evalkit._io import write_atomic
from evalkit._util import first_line
from evalkit.errors import DataError

#: The marker file the mirror layout keeps per dataset; `pull` writes one too.
MIRROR_FILE = "MIRROR.json"


@dataclass(frozen=True)
class MirrorEntry:
    """Where one task's data sits in a mirror, and at which revision it was made."""

    task: str
    path: Path
    revision: str | None
    expected_revision: str

    @property
    def revision_matches(self) -> bool:
        """True when the mirror holds the revision mteb pins (or the mirror does not say)."""
        return self.revision is None or self.revision == self.expected_revision


def locate(task_name: str, dataset_path: str, revision: str, data_dir: Path) -> MirrorEntry:
    """Find the mirrored copy of a task's dataset repo.

    Args:
        task_name: the mteb task name, for messages.
        dataset_path: the task's `metadata.dataset["path"]`, e.g. `C-MTEB/ATEC`.
        revision: the revision mteb pins for it.
        data_dir: the mirror root.

    Returns:
        The entry, with the revision the mirror records (None when it records none).

    Raises:
        DataError: when the mirror lacks the dataset, naming the `evalkit data pull` that fixes it.
    """
    if not data_dir.is_dir():
        raise DataError(f"data dir {data_dir}: does not exist; create it with `evalkit data pull SUITE --data-dir {data_dir}`")
    _check_relative(dataset_path, task_name)
    local = data_dir / dataset_path
    if not local.is_dir() or not any(local.iterdir()):
        raise DataError(
            f"task {task_name}: {dataset_path} is not in the mirror {data_dir}; "
            f"run `evalkit data pull SUITE --data-dir {data_dir}` with a suite that has {task_name}"
        )
    recorded = None
    marker = local / MIRROR_FILE
    if marker.is_file():
        try:
            recorded = _parse.read_json(marker, f"mirror file {marker}").get("revision")
        except (DataError, AttributeError) as exc:
            raise DataError(f"{exc}; pull {task_name} again") from None
    return MirrorEntry(task=task_name, path=local, revision=recorded, expected_revision=revision)


def _check_relative(dataset_path: str, task_name: str) -> None:
    parts = Path(dataset_path).parts
    if Path(dataset_path).is_absolute() or ".." in parts:
        raise DataError(f"task {task_name}: dataset path {dataset_path!r} would leave the data dir; refusing")


Downloader = Callable[..., str]


def pull(
    datasets: list[tuple[str, str, str]],
    data_dir: Path,
    *,
    download: Downloader | None = None,
) -> list[MirrorEntry]:
    """Snapshot each dataset repo at its pinned revision into `data_dir/<path>/`.

    Args:
        datasets: (task name, dataset path, revision) triples.
        data_dir: the mirror root; created if missing.
        download: the function that downloads; `huggingface_hub.snapshot_download` by default
            (tests pass a fake).

    Returns:
        One entry per dataset pulled.

    Raises:
        DataError: when a download fails, naming the dataset.
    """
    if download is None:
        from huggingface_hub import snapshot_download

        download = snapshot_download
    data_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for task_name, path, revision in datasets:
        _check_relative(path, task_name)
        target = data_dir / path
        try:
            download(repo_id=path, repo_type="dataset", revision=revision, local_dir=str(target))
        except Exception as exc:  # any Hub failure: name the dataset, keep the cause short
            first = first_line(exc)
            raise DataError(
                f"pull {task_name}: downloading {path}@{revision[:12]} failed ({first}); check the network or HF_TOKEN"
            ) from None
        record = {"task": task_name, "path": path, "revision": revision, "source": f"hf://datasets/{path}@{revision}"}
        write_atomic(target / MIRROR_FILE, json.dumps(record, indent=2))  # O_EXCL | O_NOFOLLOW temp, removed on failure
        entries.append(MirrorEntry(task=task_name, path=target, revision=revision, expected_revision=revision))
    return entries
