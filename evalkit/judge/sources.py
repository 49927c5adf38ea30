"""The leaderboard's sources: results folders, mteb results checkouts and model cards, read into entries.

Sources (`collect`): an evalkit results folder or a checkout of the public mteb results repository
(both use `<org__name>/<revision>/<Task>.json`), a model card (README.md path or Hub id), or a folder
holding any of these. Results give `measured` entries, cards `claimed` ones; one entry per model,
revision and source. `evalkit.judge.leaderboard.build` averages and ranks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from evalkit import _parse
from evalkit.errors import DataError
from evalkit.results import scores as S
from evalkit.results.folder import ResultsFolder
from evalkit.runner.suite import Suite

Kind = Literal["measured", "claimed"]


@dataclass(frozen=True)
class Entry:
    """One row's scores before averaging: a model at a revision, from one source."""

    model: str
    revision: str
    kind: Kind
    source: str
    scores: pd.DataFrame
    unreadable: tuple[str, ...] = ()  # tasks whose result file could not be read: the row lacks them


def collect(sources: Sequence[str | Path], *, suite: Suite | None = None) -> tuple[list[Entry], list[str]]:
    """Read every source into entries (one per model, revision and source).

    Args:
        sources: results folders, card files or Hub ids, or folders holding any of them.
        suite: when given, only its tasks are read (a whole mteb results checkout stays fast).

    Returns:
        The entries, and warnings for files that could not be read (they are skipped and named).

    Raises:
        DataError: a source that does not exist or holds neither results nor cards, or no scores at all.
    """
    wanted = {t.name for t in suite.tasks} if suite is not None else None
    entries: list[Entry] = []
    warnings: list[str] = []
    for source in sources:
        label = str(source)
        path = Path(source)
        if path.is_file():
            if path.suffix.lower() == ".md":
                entries.append(_card_entry(source, label))
            elif path.suffix.lower() == ".json":
                entries += _results_entries([path], label, warnings)
            else:
                raise DataError(f"leaderboard source {source}: is neither a results folder nor a model card (.md); pass one of those")
        elif path.is_dir():
            found = _results_entries(_result_files(path, wanted), label, warnings) + _card_entries(path, label, warnings)
            if not found and wanted is None:
                raise DataError(
                    f"leaderboard source {source}: holds no results (<model>/<revision>/<Task>.json) and no model card with a model-index"
                )
            if not found:
                warnings.append(f"{source}: no results on the tasks of suite {suite.name if suite is not None else '-'}; left out")
            entries += found
        elif str(source).count("/") == 1 and not str(source).startswith((".", "/", "~")):
            entries.append(_card_entry(source, label))  # a Hub model id: its card
        else:
            raise DataError(f"leaderboard source {source}: no such file or folder; pass a results folder, a README.md card or a Hub id")
    if not entries:
        raise DataError("leaderboard: no scores found in the sources given")
    return entries, warnings


def _result_files(folder: Path, wanted: set[str] | None) -> list[Path]:
    """Every TaskResult file under `folder`, at any depth, in the layout `ResultsFolder` describes."""
    return [p for f in ResultsFolder.anywhere_under(folder) for p in f.result_files() if wanted is None or p.stem in wanted]


def _results_entries(files: list[Path], label: str, warnings: list[str]) -> list[Entry]:
    by_folder: dict[Path, list[Path]] = {}
    for path in files:
        by_folder.setdefault(ResultsFolder.of_file(path).path, []).append(path)  # in-house results: evalkit/local/
    # One results root keeps the name the user gave; several (runs side by side in one folder) are
    # told apart by their own paths, so that two runs of one model are never averaged together.
    roots = {folder.parent.parent for folder in by_folder}
    entries = []
    for folder, paths in sorted(by_folder.items()):
        tables, unreadable = [], []
        for path in paths:
            try:
                tables.append(S.read_results(path))
            except DataError as exc:
                warnings.append(f"skipped {exc}")
                unreadable.append(path.stem)
        if not tables:
            continue
        table = pd.concat(tables, ignore_index=True)
        source = label if len(roots) == 1 else str(folder.parent.parent)
        for (model, revision), frame in table.groupby(["model", "revision"], sort=True):
            entries.append(Entry(str(model), str(revision), "measured", source, frame.reset_index(drop=True), tuple(unreadable)))
    return entries


def _card_entries(folder: Path, label: str, warnings: list[str]) -> list[Entry]:
    out = []
    for path in sorted(folder.rglob("*.md")):
        try:
            head = _parse.read_bytes(path, str(path), limit=_parse.MAX_CARD_BYTES)[:200_000].decode("utf-8", errors="replace")
        except DataError:
            continue
        # A folder of results may hold plain READMEs: only files with a model-index are cards.
        if not head.startswith("---") or "model-index" not in head:
            continue
        try:
            out.append(_card_entry(path, str(path)))
        except DataError as exc:
            warnings.append(f"skipped {exc}")
    return out


def _card_entry(ref: str | Path, label: str) -> Entry:
    from evalkit.card import read_card

    card = read_card(ref)
    # A Hub id names the model better than the model-index's short name does.
    name = str(ref) if not Path(ref).exists() else str(card.model_name)
    table = card.scores.assign(model=name)
    return Entry(name, "-", "claimed", label, table)
