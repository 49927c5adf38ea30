"""mteb's task classes, hooked for one evaluation: speed-ups and per-example capture (see `mteb.HOOKS`).

Each hook wraps one method of one task *instance* (or, for the text dataloader, one module function)
for the duration of one evaluation, binds the call by parameter name, and is always undone. The
per-example scores come back as plain dicts; `evalkit.results.per_example` owns their record.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

from evalkit._compat.mteb import HOOKS_BY_NAME, Hook, params_problem, self_check


class _Patches:
    """Instance attributes and module attributes set for one evaluation, all undone at the end."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def wrap_method(self, obj: Any, hook: Hook, before: Callable[[inspect.BoundArguments], None]) -> bool:
        """Wrap `obj.<attr>` so `before` sees (and may replace) its arguments, bound by name."""
        if hook.name in self_check():
            return False
        original = getattr(obj, hook.attr, None)
        if isinstance(obj, types.ModuleType):
            with _MODULE_LOCK:  # another evaluation's wrapper may be in place: check mteb's own function
                original = _MODULE_USERS.get((obj.__name__, hook.attr), (0, original))[1]
        if original is None or params_problem(original, hook.params):
            return False  # this task's class overrides the method with other parameters: leave it
        signature = inspect.signature(original)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            before(bound)
            return original(*bound.args, **bound.kwargs)

        if isinstance(obj, types.ModuleType):
            self._wrap_module(obj, hook.attr, original, wrapped)
        else:
            # On the instance only: the class, and every other task, keep mteb's own method.
            setattr(obj, hook.attr, wrapped)
            self._undo.append(lambda: obj.__dict__.pop(hook.attr, None))
        return True

    def _wrap_module(self, module: types.ModuleType, attr: str, original: Any, wrapped: Any) -> None:
        # Evaluations may overlap in one process (a resident encoder records one task while it runs
        # another): the first sets the module's wrapper, the last one out restores mteb's function.
        # Module hooks give the same values as mteb's own, so a wrapper set by another evaluation serves.
        key = (module.__name__, attr)
        with _MODULE_LOCK:
            users, first = _MODULE_USERS.get(key, (0, original))
            if users == 0:
                setattr(module, attr, wrapped)
            _MODULE_USERS[key] = (users + 1, first)

        def release() -> None:
            with _MODULE_LOCK:
                users, first = _MODULE_USERS.pop(key)
                if users > 1:
                    _MODULE_USERS[key] = (users - 1, first)
                else:
                    setattr(module, attr, first)

        self._undo.append(release)

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


_MODULE_LOCK = threading.Lock()
_MODULE_USERS: dict[tuple[str, str], tuple[int, Any]] = {}  # (module, attribute): (evaluations using it, mteb's own)


class _ListColumns:
    """A Dataset view whose column access returns a list.

    With datasets >= 4, `dataset[column]` is a lazy Column: every `[i]`, and every `np.asarray`
    of it, formats the rows one by one. mteb's classification reads label columns that way in
    `_undersample_data` (row by row) and in `_run_experiment` (sklearn converts the labels once
    per metric), which cost ~2.6 s and ~3.4 s per classifier run on Banking77, ten runs a task.
    Everything else is delegated, so mteb's own logic sees the same values in the same order.
    """

    def __init__(self, dataset: Any) -> None:
        self._dataset = dataset

    def __len__(self) -> int:
        return len(self._dataset)

    def __getitem__(self, key: Any) -> Any:
        value = self._dataset[key]
        return as_list(value) if isinstance(key, str) else value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)


def as_list(values: Any) -> Any:
    """A datasets Column as a plain list (read in one go); anything else unchanged."""
    from datasets.arrow_dataset import Column

    return values[:] if isinstance(values, Column) else values


def _replace(*names: str, by: Callable[[Any], Any]) -> Callable[[inspect.BoundArguments], None]:
    def before(bound: inspect.BoundArguments) -> None:
        for name in names:
            bound.arguments[name] = by(bound.arguments[name])

    return before


@contextlib.contextmanager
def task_hooks(task: Any, *, capture: bool = True) -> Iterator[Capture]:
    """Within the block, evaluating `task` uses evalkit's speed-ups and records per-example scores.

    Speed-ups hand mteb whole columns where it would read datasets' lazy columns row by row (same
    values, same order). Per-example capture records, per split and subset, what mteb's scoring
    steps see (see `evalkit.results.per_example`). Every patch is on this task instance or, for the text
    dataloader, on mteb's module for the duration of the block, and is always undone.
    """
    from mteb import _create_dataloaders as loaders

    ttype = task.metadata.type
    patches = _Patches()
    recorder = Capture(task)
    try:
        if ttype == "Classification":
            patches.wrap_method(task, HOOKS_BY_NAME["classification-undersample"], _replace("dataset", by=_ListColumns))
            patches.wrap_method(task, HOOKS_BY_NAME["classification-experiment"], _replace("train_split", "eval_split", by=_ListColumns))
        elif ttype == "Clustering":
            patches.wrap_method(task, HOOKS_BY_NAME["clustering-labels"], _replace("labels", by=as_list))
        patches.wrap_method(loaders, HOOKS_BY_NAME["text-dataloader"], _replace("text", by=as_list))
        if capture:
            recorder.attach(patches)
        yield recorder
    finally:
        patches.undo()


class Capture:
    """Per-example data of one task, collected from mteb's scoring steps while it evaluates."""

    def __init__(self, task: Any) -> None:
        self.task = task
        self.entries: list[dict[str, Any]] = []  # per split and subset: ExampleScores fields
        self._where = ("", "")
        self._split_data: Any = None

    def attach(self, patches: _Patches) -> None:
        ttype = self.task.metadata.type
        if not patches.wrap_method(self.task, HOOKS_BY_NAME["subset"], self._enter_subset):
            return  # without knowing the split and subset, nothing can be filed
        if ttype == "STS":
            patches.wrap_method(self.task, HOOKS_BY_NAME["sts-scores"], self._sts)
        elif ttype == "PairClassification":
            patches.wrap_method(self.task, HOOKS_BY_NAME["pair-scores"], self._pairs)
        elif ttype == "Classification":
            self._runs: dict[tuple[str, str], list[Any]] = {}
            patches.wrap_method(self.task, HOOKS_BY_NAME["classification-scores"], self._classification)
        elif ttype in ("Retrieval", "Reranking"):
            patches.wrap_method(self.task, HOOKS_BY_NAME["retrieval-scores"], self._retrieval)

    def _enter_subset(self, bound: inspect.BoundArguments) -> None:
        self._where = (bound.arguments.get("hf_split", ""), bound.arguments.get("hf_subset", ""))
        self._split_data = bound.arguments.get("data_split")

    def _texts(self, *columns: str) -> list[list[str]]:
        """Text columns of the split being scored, for the report; [] when they cannot be read."""
        data = self._split_data
        try:
            if isinstance(data, dict) or hasattr(data, "keys") and self._where[0] in data:
                data = data[self._where[0]]
            if len(data) == 1 and isinstance(data[0][columns[0]], list):
                return [list(data[0][c]) for c in columns]  # v1 layout: one row holding the lists
            return [[str(t) for t in as_list(data[c])] for c in columns]
        except Exception:  # noqa: BLE001 - texts are for display; scores never depend on them
            return []

    def _add(self, **data: Any) -> None:
        # Plain data: `evalkit.results.per_example.ExampleScores(**entry)` is its record.
        split, subset = self._where
        self.entries = [e for e in self.entries if (e["split"], e["subset"]) != (split, subset)]
        self.entries.append({"split": split, "subset": subset, **data})

    def _sts(self, bound: inspect.BoundArguments) -> None:
        texts = self._texts(*getattr(self.task, "column_names", ("sentence1", "sentence2")))
        self._add(
            kind="correlation",
            gold=[float(x) for x in bound.arguments["normalized_scores"]],
            pred=[float(x) for x in bound.arguments["scores"]["cosine_scores"]],
            texts=texts[0] if texts else [],
            texts2=texts[1] if texts else [],
        )

    def _pairs(self, bound: inspect.BoundArguments) -> None:
        cols = (getattr(self.task, "input1_column_name", "sentence1"), getattr(self.task, "input2_column_name", "sentence2"))
        texts = self._texts(*cols)
        self._add(
            kind="threshold_accuracy",
            gold=[float(x) for x in as_list(bound.arguments["labels"])],
            pred=[float(x) for x in bound.arguments["similarity_scores"]["cosine_scores"]],
            texts=texts[0] if texts else [],
            texts2=texts[1] if texts else [],
        )

    def _classification(self, bound: inspect.BoundArguments) -> None:
        import numpy as np

        y_test = np.asarray(as_list(bound.arguments["y_test"]))
        right = (y_test == np.asarray(bound.arguments["y_pred"])).astype(np.float64)
        runs = self._runs.setdefault(self._where, [])
        runs.append(right)
        first = len(runs) == 1
        texts = self._texts(getattr(self.task, "input_column_name", "text")) if first else []
        previous = next((e for e in self.entries if (e["split"], e["subset"]) == self._where), None)
        if first or previous is None:
            names = self._label_names()
            answers = [names.get(x, str(x)) for x in y_test.tolist()]
        else:
            answers = previous["answers"]  # every run scores the same test items
        self._add(
            kind="mean",
            values=np.mean(runs, axis=0).tolist(),
            texts=texts[0] if texts else (previous["texts"] if previous else []),
            answers=answers,
        )

    def _label_names(self) -> dict[Any, str]:
        """Label id -> name for the split being scored, as the dataset knows them; {} when it does not.

        mteb scores integer ids and keeps no names, and it drops every column but text and label
        before scoring, so the names come from the task's whole dataset: the label column's
        `ClassLabel` names (in-house tasks are built that way), else a text column beside it
        (`label_text`, as in mteb/banking77) when it gives each id exactly one name. Labels that
        already are text need no names.
        """
        try:
            split, subset = self._where
            dataset = self.task.dataset
            if subset not in dataset and subset == "default":  # as mteb picks the subset
                data = dataset[split]
            else:
                data = dataset[subset][split]
            column = self.task.label_column_name
            feature = data.features.get(column)
            if hasattr(feature, "names") and feature.names:
                return dict(enumerate(str(n) for n in feature.names))
            for text_column in _LABEL_TEXT_COLUMNS:
                if text_column in data.column_names:
                    pairs = set(zip(as_list(data[column]), as_list(data[text_column]), strict=True))
                    names = {label: str(name) for label, name in pairs}
                    return names if len(names) == len(pairs) else {}  # an id with two names: keep ids
        except Exception:  # noqa: BLE001 - names are for display; scores never depend on them
            pass
        return {}

    def _retrieval(self, bound: inspect.BoundArguments) -> None:
        scores, qrels, results = bound.arguments["scores"], bound.arguments["qrels"], bound.arguments["results"]
        self._where = (bound.arguments["hf_split"], bound.arguments["hf_subset"])
        main = self.task.metadata.main_score
        prefix, _, k = main.rpartition("_")
        key = _PYTREC_KEY[prefix] + k if prefix in _PYTREC_KEY else None
        if key is None:
            return
        ids = sorted(scores)
        ranks = []
        for q in ids:
            relevant = {d for d, rel in (qrels.get(q) or {}).items() if rel > 0}
            ranked = sorted((results.get(q) or {}).items(), key=lambda kv: -kv[1])
            ranks.append(next((i + 1 for i, (d, _) in enumerate(ranked) if d in relevant), 0))
        queries, answers = self._query_texts(ids, qrels)
        self._add(kind="mean", ids=ids, values=[float(scores[q][key]) for q in ids], ranks=ranks, texts=queries, answers=answers)

    def _query_texts(self, ids: list[str], qrels: dict[str, dict[str, int]]) -> tuple[list[str], list[str]]:
        """Query texts and each query's best relevant document (cut to 300 characters), for the report."""
        try:
            data = self._split_data
            queries = data["queries"]
            q_text = dict(zip(as_list(queries["id"]), as_list(queries["text"]), strict=True))
            corpus = data["corpus"]
            wanted = {max(qrels[q], key=qrels[q].__getitem__) for q in ids if qrels.get(q)}
            doc_ids = as_list(corpus["id"])
            rows = [i for i, d in enumerate(doc_ids) if d in wanted]
            picked = corpus.select(rows)
            titles = as_list(picked["title"]) if "title" in picked.column_names else [""] * len(rows)
            d_text = {doc_ids[i]: ((t + " " if t else "") + x)[:300] for i, t, x in zip(rows, titles, as_list(picked["text"]), strict=True)}
            best = [d_text.get(max(qrels[q], key=qrels[q].__getitem__), "") if qrels.get(q) else "" for q in ids]
            return [str(q_text.get(q, "")) for q in ids], best
        except Exception:  # noqa: BLE001 - texts are for display; scores never depend on them
            return [], []


_LABEL_TEXT_COLUMNS = ("label_text",)  # the name column Hub classification datasets keep beside `label`
_PYTREC_KEY = {"ndcg_at": "ndcg_cut_", "map_at": "map_cut_", "recall_at": "recall_", "precision_at": "P_"}
