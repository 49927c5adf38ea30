"""From a `TaskSpec` to an mteb task object: splits, subsets, mirror paths, in-house tasks.

Registered mteb tasks keep their own loaders; with a data dir their dataset path is pointed at the
mirror (the pinned revision is kept, so it still ends up in the results). In-house tasks read plain
files and are small subclasses of mteb's task types, one level deep.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit._util import first_line
from evalkit.errors import DataError, SuiteError
from evalkit.runner.mirror import locate
from evalkit.runner.suite import LocalTaskSpec, TaskSpec, check_task_name

logger = logging.getLogger(__name__)

_MAIN_SCORE = {
    "STS": "cosine_spearman",
    "PairClassification": "max_accuracy",
    "Classification": "accuracy",
    "Clustering": "v_measure",
    "Retrieval": "ndcg_at_10",
    "Reranking": "map_at_1000",
}


@dataclass
class BuiltTask:
    """An mteb task ready to run, with where its data came from."""

    spec: TaskSpec
    task: Any  # mteb AbsTask
    data_source: str  # "hub", "mirror:<dir>" or "local:<files>"
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The mteb task name."""
        return self.spec.name

    @property
    def task_type(self) -> str:
        """The mteb task type (STS, Retrieval, ...)."""
        return self.task.metadata.type

    @property
    def dataset_revision(self) -> str:
        """The dataset revision recorded in results."""
        return str(self.task.metadata.dataset.get("revision"))


def build_task(spec: TaskSpec, *, data_dir: Path | None = None) -> BuiltTask:
    """Make the mteb task object for one spec.

    Args:
        spec: the suite's task entry.
        data_dir: an offline mirror root; when given, registered tasks load from it only.

    Returns:
        The task with its eval splits and subsets narrowed as the spec says.

    Raises:
        SuiteError: unknown task, split or subset.
        DataError: data missing from the mirror, or unreadable local files.
    """
    if spec.local is not None:
        return _build_local(spec)
    import mteb

    check_task_name(spec.name)
    task = mteb.get_task(spec.name)
    meta = task.metadata
    if spec.splits:
        bad = [s for s in spec.splits if s not in meta.eval_splits]
        if bad:
            raise SuiteError(f"task {spec.name}: split {bad[0]!r} is not evaluated by mteb; use one of: {', '.join(meta.eval_splits)}")
        task.filter_eval_splits(list(spec.splits))
    if spec.subsets:
        bad = [s for s in spec.subsets if s not in meta.hf_subsets]
        if bad:
            shown = ", ".join(meta.hf_subsets[:12]) + (" ..." if len(meta.hf_subsets) > 12 else "")
            raise SuiteError(f"task {spec.name}: subset {bad[0]!r} does not exist; use one of: {shown}")
        task = task.filter_languages(None, hf_subsets=list(spec.subsets))
    notes: list[str] = []
    source = "hub"
    if data_dir is not None:
        entry = locate(spec.name, meta.dataset["path"], meta.dataset["revision"], data_dir)
        if not entry.revision_matches:
            msg = (
                f"task {spec.name}: the mirror holds {meta.dataset['path']} at revision {entry.revision}, "
                f"mteb pins {entry.expected_revision}; scores may differ from published ones"
            )
            notes.append(msg)
        dataset = dict(meta.dataset)
        dataset["path"] = str(entry.path)  # keep `revision`: it is recorded in the results
        task.metadata = meta.model_copy(update={"dataset": dataset})
        source = f"mirror:{data_dir}"
    return BuiltTask(spec=spec, task=task, data_source=source, warnings=tuple(notes))


# ---------------------------------------------------------------------------------------------
# In-house tasks from local files


def _read_table(path: Path, task: str) -> Any:
    import pandas as pd

    if not path.is_file():
        raise DataError(f"task {task}: file {path} does not exist; fix the path in the suite")
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    try:
        if suffix in (".jsonl", ".jsonl.gz"):
            frame = pd.read_json(path, lines=True, dtype=False, encoding="utf-8")
        elif suffix in (".csv", ".csv.gz"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        elif suffix in (".tsv", ".tsv.gz"):
            frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8")
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            raise DataError(f"task {task}: {path.name} has an unknown format; use .jsonl, .csv, .tsv or .parquet")
    except UnicodeDecodeError:
        raise DataError(f"task {task}: {path} is not UTF-8; convert it to UTF-8") from None
    except (ValueError, OSError) as exc:
        first = first_line(exc)
        raise DataError(f"task {task}: {path} cannot be parsed ({first}); check the file") from None
    if frame.empty:
        raise DataError(f"task {task}: {path} has no rows")
    return frame


def _column(frame: Any, name: str, local: LocalTaskSpec, path: Path, task: str) -> Any:
    actual = local.columns.get(name, name)
    if actual not in frame.columns:
        raise DataError(
            f"task {task}: {path.name} has no column {actual!r} (columns: {', '.join(map(str, frame.columns))}); "
            f"map it with `local.columns: {{{name}: <column>}}`"
        )
    return frame[actual]


def _texts(series: Any, path: Path, task: str, column: str) -> list[str]:
    values = series.tolist()
    for i, v in enumerate(values):
        if not isinstance(v, str) or not v.strip():
            raise DataError(
                f"task {task}: {path.name} row {i + 1} has an empty or missing text in column {column!r}; remove the row or fill it"
            )
    return values


def _gold_scores(raw: list[Any], path: Path, task: str) -> list[float]:
    """STS gold scores as floats: every one a finite number, not all the same (a correlation needs spread)."""
    out = []
    for row, value in enumerate(raw, start=1):
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise DataError(f"task {task}: {path.name} row {row} has score {str(value)[:30]!r}, not a finite number; fix the file")
        out.append(number)
    if len(set(out)) == 1:
        raise DataError(f"task {task}: {path.name} gives every row the score {out[0]:g}; a correlation needs differing gold scores")
    return out


def _fingerprint(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _build_local(spec: TaskSpec) -> BuiltTask:
    from mteb.abstasks.task_metadata import TaskMetadata

    local = spec.local
    assert local is not None  # noqa: S101 - guarded by the caller
    if local.type in ("Retrieval", "Reranking"):
        paths = [local.corpus, local.queries, local.qrels]
        splits = [local.split]
    else:
        paths = list(local.files.values())
        splits = [s for s in local.files if not (local.type == "Classification" and s == "train")]
        if not splits:
            raise SuiteError(f"task {spec.name}: a local Classification task needs an evaluation split besides `train`")
    if spec.splits:
        bad = [s for s in spec.splits if s not in splits]
        if bad:
            raise SuiteError(f"task {spec.name}: split {bad[0]!r} has no file; use one of: {', '.join(splits)}")
        splits = list(spec.splits)
    for p in paths:
        if p is None or not p.is_file():
            raise DataError(f"task {spec.name}: file {p} does not exist; fix the path in the suite")
    files = [p for p in paths if p is not None]  # all of them, as just checked
    metadata = TaskMetadata(
        name=spec.name,
        description=f"In-house {local.type} task read from local files by evalkit.",
        dataset={"path": str(files[0].parent), "revision": _fingerprint(files)},
        type=local.type,
        category="t2t",
        modalities=["text"],
        eval_splits=splits,
        eval_langs=list(local.languages),
        main_score=_MAIN_SCORE[local.type],
        license="not specified",
        annotations_creators="derived",
        sample_creation="found",
        domains=[],
        task_subtypes=[],
        dialect=[],
        bibtex_citation="",
        is_public=False,
    )
    base = _LOCAL_CLASSES[local.type]
    # Class-level metadata: mteb drops instance-level metadata when it unloads a task's data.
    attrs: dict[str, Any] = {"metadata": metadata, "local_spec": local}
    if local.type == "STS":
        attrs.update(min_score=local.min_score, max_score=local.max_score)
    task = type(f"Local{local.type}_{spec.name}", (base,), attrs)()
    # Read and check the files now: bad data is bad input, reported before any model loads.
    task.load_data()
    return BuiltTask(spec=spec, task=task, data_source="local:" + ",".join(str(p) for p in paths))


def _local_classes() -> dict[str, type]:
    """Define the in-house task classes lazily, so importing evalkit does not import mteb."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    from mteb.abstasks.classification import AbsTaskClassification
    from mteb.abstasks.clustering_legacy import AbsTaskClusteringLegacy
    from mteb.abstasks.pair_classification import AbsTaskPairClassification
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.sts import AbsTaskSTS

    class _LocalFiles:
        # Mixed in first: replaces mteb's Hub loading with reading the suite's files.
        local_spec: LocalTaskSpec
        metadata: Any

        def _read(self) -> Any:
            raise NotImplementedError  # each task type below reads its own files

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            if getattr(self, "data_loaded", False):
                return
            self.dataset = self._read()
            self.data_loaded = True

        def _split_files(self) -> dict[str, Path]:
            return dict(self.local_spec.files)

        def _rows(self, texts: tuple[str, ...], other: str) -> Iterator[tuple[str, Path, dict[str, list[str]], list[Any]]]:
            """Per split file: its checked text columns and the raw values of one more column."""
            name = self.metadata.name
            for split, path in self._split_files().items():
                frame = _read_table(path, name)
                columns = {c: _texts(_column(frame, c, self.local_spec, path, name), path, name, c) for c in texts}
                yield split, path, columns, list(_column(frame, other, self.local_spec, path, name))

    class LocalSTS(_LocalFiles, AbsTaskSTS):
        def _read(self) -> Any:
            out = {}
            for split, path, cols, scores in self._rows(("sentence1", "sentence2"), "score"):
                out[split] = Dataset.from_dict({**cols, "score": _gold_scores(scores, path, self.metadata.name)})
            return DatasetDict(out)

    class LocalPairClassification(_LocalFiles, AbsTaskPairClassification):
        def _read(self) -> Any:
            out = {}
            for split, path, cols, raw in self._rows(("sentence1", "sentence2"), "label"):
                labels = [int(x) for x in raw]
                if set(labels) - {0, 1}:
                    raise DataError(f"task {self.metadata.name}: {path.name} labels must be 0 or 1 for PairClassification")
                out[split] = Dataset.from_dict({**cols, "labels": labels})
            return DatasetDict(out)

    class LocalClassification(_LocalFiles, AbsTaskClassification):
        def _read(self) -> Any:
            out = {split: (cols["text"], [str(x) for x in raw]) for split, _, cols, raw in self._rows(("text",), "label")}
            # One label set across splits, so train and test ids agree; the ClassLabel feature keeps
            # the names for the report's examples (mteb itself scores the ids).
            names = sorted({lab for _, labels in out.values() for lab in labels})
            ids = {n: i for i, n in enumerate(names)}
            features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
            return DatasetDict(
                {s: Dataset.from_dict({"text": t, "label": [ids[x] for x in labels]}, features=features) for s, (t, labels) in out.items()}
            )

    class LocalClustering(_LocalFiles, AbsTaskClusteringLegacy):
        def _read(self) -> Any:
            out = {}
            for split, _, cols, raw in self._rows(("text",), "label"):
                ids = {n: i for i, n in enumerate(sorted({str(x) for x in raw}))}
                out[split] = Dataset.from_dict({"sentences": [cols["text"]], "labels": [[ids[str(x)] for x in raw]]})
            return DatasetDict(out)

    class LocalRetrieval(_LocalFiles, AbsTaskRetrieval):
        def _read(self) -> Any:
            spec, name = self.local_spec, self.metadata.name
            assert spec.corpus and spec.queries and spec.qrels  # noqa: S101 - checked by the suite
            corpus = _read_table(spec.corpus, name)
            queries = _read_table(spec.queries, name)
            qrels = _read_table(spec.qrels, name)
            doc_ids = [str(x) for x in _column(corpus, "id", spec, spec.corpus, name)]
            docs = _texts(_column(corpus, "text", spec, spec.corpus, name), spec.corpus, name, "text")
            titles = (
                [str(t) if isinstance(t, str) else "" for t in corpus[spec.columns.get("title", "title")]]
                if spec.columns.get("title", "title") in corpus.columns
                else [""] * len(docs)
            )
            q_ids = [str(x) for x in _column(queries, "id", spec, spec.queries, name)]
            q_text = _texts(_column(queries, "text", spec, spec.queries, name), spec.queries, name, "text")
            rel: dict[str, dict[str, int]] = {}
            known_docs, known_q = set(doc_ids), set(q_ids)
            for q, d, s in zip(
                _column(qrels, "query-id", spec, spec.qrels, name),
                _column(qrels, "corpus-id", spec, spec.qrels, name),
                _column(qrels, "score", spec, spec.qrels, name),
                strict=True,
            ):
                q, d = str(q), str(d)
                if d not in known_docs or q not in known_q:
                    raise DataError(
                        f"task {name}: {spec.qrels.name} names {'document ' + d if d not in known_docs else 'query ' + q}, which is not in the corpus/queries files"
                    )
                rel.setdefault(q, {})[d] = int(float(s))
            top_ranked = None
            if self.metadata.type == "Reranking":
                # The candidates of a query are the documents its qrels list (positives and negatives).
                top_ranked = {q: list(docs_) for q, docs_ in rel.items()}
            split = {
                "corpus": Dataset.from_dict({"id": doc_ids, "text": docs, "title": titles}),
                "queries": Dataset.from_dict({"id": q_ids, "text": q_text}),
                "relevant_docs": rel,
                "top_ranked": top_ranked,
            }
            return {"default": {spec.split: split}}

    return {
        "STS": LocalSTS,
        "PairClassification": LocalPairClassification,
        "Classification": LocalClassification,
        "Clustering": LocalClustering,
        "Retrieval": LocalRetrieval,
        "Reranking": LocalRetrieval,
    }


class _LazyClasses(dict):
    def __missing__(self, key: str) -> type:
        self.update(_local_classes())
        return dict.__getitem__(self, key)


_LOCAL_CLASSES: dict[str, type] = _LazyClasses()
