"""The one seam to mteb's and transformers' internals.

Every use of a name that mteb or transformers do not document as public lives here, so a new
release breaks one module, and the start-up self-check (`self_check`) says which piece no longer
fits. Public API (`mteb.get_task`, `mteb.get_model_meta`, `TaskResult`) is used directly elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal


@functools.cache
def _registry() -> dict[str, Any]:  # task classes, each with a `metadata` attribute
    # mteb.get_task() builds a task object (and warns for superseded tasks); name lookups for
    # validation, card parsing and table building only need the class and its metadata.
    from mteb.get_tasks import _TASKS_REGISTRY

    return dict(_TASKS_REGISTRY)


def task_metadata(name: str) -> Any | None:
    """The `TaskMetadata` of a registered mteb task, or None when `name` is not one."""
    cls = _registry().get(name)
    return cls.metadata if cls is not None else None


def has_task(name: str) -> bool:
    """True when `name` is a task in mteb's registry."""
    return name in _registry()


def task_names() -> list[str]:
    """Every task name in mteb's registry."""
    return list(_registry())


def renamed_tasks() -> dict[str, str]:
    """Old task names that mteb renamed (as mteb itself maps them when loading old results)."""
    from mteb.results.task_result import renamed_tasks as renamed

    return dict(renamed)


# ---------------------------------------------------------------------------------------------
# Hooks into mteb's task classes: speed-ups and per-example capture.
#
# Each hook wraps one method of one task *instance* (or, for the text dataloader, one module
# function) for the duration of one evaluation, binds the call by parameter name, and is always
# undone. `self_check` verifies at start-up that every hooked name still exists with the parameters
# the wrapper reads; a hook that no longer fits is switched off (the run says which and what that
# costs) and mteb's own code runs unchanged, so scores stay correct.


@dataclass(frozen=True)
class Hook:
    """One wrapped mteb function: what it is for, where it lives, which parameters it reads."""

    name: str
    purpose: Literal["speed", "per-example scores"]
    owner: str  # "module:Class" or "module"
    attr: str
    params: tuple[str, ...]


HOOKS: tuple[Hook, ...] = (
    Hook("classification-undersample", "speed", "mteb.abstasks.classification:AbsTaskClassification", "_undersample_data", ("dataset",)),
    Hook(
        "classification-experiment",
        "speed",
        "mteb.abstasks.classification:AbsTaskClassification",
        "_run_experiment",
        ("train_split", "eval_split"),
    ),
    Hook("clustering-labels", "speed", "mteb.abstasks.clustering_legacy:AbsTaskClusteringLegacy", "_compute_metrics", ("labels",)),
    Hook("text-dataloader", "speed", "mteb._create_dataloaders", "_create_dataloader_from_texts", ("text",)),
    Hook("subset", "per-example scores", "mteb.abstasks.abstask:AbsTask", "_evaluate_subset", ("data_split", "hf_split", "hf_subset")),
    Hook("sts-scores", "per-example scores", "mteb.abstasks.sts:AbsTaskSTS", "_calculate_scores", ("scores", "normalized_scores")),
    Hook(
        "pair-scores",
        "per-example scores",
        "mteb.abstasks.pair_classification:AbsTaskPairClassification",
        "_compute_metrics",
        ("similarity_scores", "labels"),
    ),
    Hook(
        "classification-scores",
        "per-example scores",
        "mteb.abstasks.classification:AbsTaskClassification",
        "_calculate_scores",
        ("y_test", "y_pred"),
    ),
    Hook(
        "retrieval-scores",
        "per-example scores",
        "mteb.abstasks.retrieval:AbsTaskRetrieval",
        "task_specific_scores",
        ("scores", "qrels", "results", "hf_split", "hf_subset"),
    ),
)
_BY_NAME = {h.name: h for h in HOOKS}


def _resolve(owner: str) -> Any:
    module_name, _, cls_name = owner.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, cls_name) if cls_name else module


def _params_problem(func: Any, params: tuple[str, ...]) -> str | None:
    try:
        names = set(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return "has no readable signature"
    absent = [p for p in params if p not in names]
    return f"lost parameter(s) {', '.join(absent)}" if absent else None


@functools.cache
def self_check() -> dict[str, str]:
    """Which hooks do not fit this mteb: {hook name: problem}. Empty when all fit.

    `EVALKIT_DISABLE_HOOKS` (comma-separated hook names, or `all`) switches hooks off by hand.
    """
    problems: dict[str, str] = {}
    off = {s.strip() for s in os.environ.get("EVALKIT_DISABLE_HOOKS", "").split(",") if s.strip()}
    for hook in HOOKS:
        if "all" in off or hook.name in off:
            problems[hook.name] = "switched off by EVALKIT_DISABLE_HOOKS"
            continue
        try:
            func = getattr(_resolve(hook.owner), hook.attr)
        except (ImportError, AttributeError):
            problems[hook.name] = f"{hook.owner.replace(':', '.')}.{hook.attr} no longer exists"
            continue
        problem = _params_problem(func, hook.params)
        if problem:
            problems[hook.name] = f"{hook.owner.replace(':', '.')}.{hook.attr} {problem}"
    return problems


def self_check_notes() -> list[str]:
    """One line per hook that is off, saying what that costs; empty when every hook fits."""
    return prompt_lookup_notes() + [
        f"mteb hook {name} is off ({problem}): "
        + (
            "that speed-up is skipped; scores are unaffected"
            if _BY_NAME[name].purpose == "speed"
            else "no per-example scores for it; regress falls back to tolerance alone"
        )
        for name, problem in self_check().items()
    ]


# ---------------------------------------------------------------------------------------------
# mteb's prompt lookup (`mteb.models.abs_encoder.get_prompt_name`, not exported): the model
# prompt table's key for a task and side. When it no longer fits, evalkit's copy of mteb 2.26's
# documented order is used instead, and the run says so.


def _mteb_prompt_name() -> Callable[..., str | None] | None:
    if "prompt-lookup" in {s.strip() for s in os.environ.get("EVALKIT_DISABLE_HOOKS", "").split(",")}:
        return None
    try:
        from mteb.models.abs_encoder import get_prompt_name
    except ImportError:
        return None
    if _params_problem(get_prompt_name, ("model_prompts", "task_metadata", "prompt_type")):
        return None
    return get_prompt_name


def _own_prompt_name(prompts: dict[str, str], task_metadata: Any, side: str | None) -> str | None:
    # mteb 2.26's order: <task>-<side>, <task>, <type>-<side>, <type>, <side>.
    task, kind = task_metadata.name, task_metadata.type
    candidates = [f"{task}-{side}" if side else None, task, f"{kind}-{side}" if side and kind else None, kind, side]
    return next((c for c in candidates if c and c in prompts), None)


def table_prompt(prompts: dict[str, str], task_metadata: Any, side: str | None) -> tuple[str | None, str | None]:
    """(key, prompt) a model prompt table gives a task on a side, as mteb picks it; (None, None) when none."""
    if not prompts:
        return None, None
    lookup = _mteb_prompt_name()
    if lookup is None:
        key = _own_prompt_name(prompts, task_metadata, side)
    else:
        from mteb.types import PromptType

        key = lookup(prompts, task_metadata, PromptType(side) if side else None)
    return key, (prompts.get(key) if key else None)


def prompt_lookup_notes() -> list[str]:
    """One line when mteb's prompt lookup is not used, else none."""
    if _mteb_prompt_name() is not None:
        return []
    return [
        "mteb's prompt lookup (mteb.models.abs_encoder.get_prompt_name) is off or no longer fits: "
        "evalkit resolves prompts with its own copy of mteb 2.26's order (task-side, task, type-side, type, side)"
    ]


class _Patches:
    """Instance attributes and module attributes set for one evaluation, all undone at the end."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def wrap_method(self, obj: Any, hook: Hook, before: Callable[[inspect.BoundArguments], None]) -> bool:
        """Wrap `obj.<attr>` so `before` sees (and may replace) its arguments, bound by name."""
        if hook.name in self_check():
            return False
        original = getattr(obj, hook.attr, None)
        if original is None or _params_problem(original, hook.params):
            return False  # this task's class overrides the method with other parameters: leave it
        signature = inspect.signature(original)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            before(bound)
            return original(*bound.args, **bound.kwargs)

        if isinstance(obj, types.ModuleType):
            setattr(obj, hook.attr, wrapped)
            self._undo.append(lambda: setattr(obj, hook.attr, original))
        else:
            # On the instance only: the class, and every other task, keep mteb's own method.
            setattr(obj, hook.attr, wrapped)
            self._undo.append(lambda: obj.__dict__.pop(hook.attr, None))
        return True

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


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
            patches.wrap_method(task, _BY_NAME["classification-undersample"], _replace("dataset", by=_ListColumns))
            patches.wrap_method(task, _BY_NAME["classification-experiment"], _replace("train_split", "eval_split", by=_ListColumns))
        elif ttype == "Clustering":
            patches.wrap_method(task, _BY_NAME["clustering-labels"], _replace("labels", by=as_list))
        patches.wrap_method(loaders, _BY_NAME["text-dataloader"], _replace("text", by=as_list))
        if capture:
            recorder.attach(patches)
        yield recorder
    finally:
        patches.undo()


class Capture:
    """Per-example data of one task, collected from mteb's scoring steps while it evaluates."""

    def __init__(self, task: Any) -> None:
        self.task = task
        self.entries: list[Any] = []
        self._where = ("", "")
        self._split_data: Any = None

    def attach(self, patches: _Patches) -> None:
        ttype = self.task.metadata.type
        if not patches.wrap_method(self.task, _BY_NAME["subset"], self._enter_subset):
            return  # without knowing the split and subset, nothing can be filed
        if ttype == "STS":
            patches.wrap_method(self.task, _BY_NAME["sts-scores"], self._sts)
        elif ttype == "PairClassification":
            patches.wrap_method(self.task, _BY_NAME["pair-scores"], self._pairs)
        elif ttype == "Classification":
            self._runs: dict[tuple[str, str], list[Any]] = {}
            patches.wrap_method(self.task, _BY_NAME["classification-scores"], self._classification)
        elif ttype in ("Retrieval", "Reranking"):
            patches.wrap_method(self.task, _BY_NAME["retrieval-scores"], self._retrieval)

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
        from evalkit.results.per_example import ExampleScores

        split, subset = self._where
        self.entries = [e for e in self.entries if (e.split, e.subset) != (split, subset)]
        self.entries.append(ExampleScores(split=split, subset=subset, **data))

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
        texts = self._texts(getattr(self.task, "input_column_name", "text")) if len(runs) == 1 else []
        previous = next((e for e in self.entries if (e.split, e.subset) == self._where), None)
        self._add(
            kind="mean",
            values=np.mean(runs, axis=0).tolist(),
            texts=texts[0] if texts else (previous.texts if previous else []),
            answers=[str(x) for x in y_test.tolist()],
        )

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


_PYTREC_KEY = {"ndcg_at": "ndcg_cut_", "map_at": "map_cut_", "recall_at": "recall_", "precision_at": "P_"}


# ---------------------------------------------------------------------------------------------
# mteb's model registry, read without weights.
#
# For a registry entry that mteb builds around a SentenceTransformer, mteb's own loader is run
# while `sentence_transformers.SentenceTransformer` is replaced by a stand-in that records how it
# was built and what it was asked to encode. Calling the wrapper's own `encode` on one row then
# shows the exact prompt or instruction mteb would hand the model for a (task, side): mteb's
# prompt logic (instruction templates, prompts_dict, apply_instruction_to_passages) runs as
# shipped, and nothing of it is copied here.


class _RecordingSentenceTransformer:
    """A weightless stand-in for SentenceTransformer: records its construction and encode calls."""

    def __init__(self, model_name_or_path: str | None = None, *args: Any, **kwargs: Any) -> None:
        self.init_kwargs = kwargs
        self.prompts: dict[str, str] = {}
        self.default_prompt_name = None
        self.max_seq_length: int | None = None
        self.include_prompt = True
        self.calls: list[dict[str, Any]] = []
        tokenizer = kwargs.get("tokenizer_kwargs") or kwargs.get("processor_kwargs") or {}
        self._module = types.SimpleNamespace(
            auto_model=types.SimpleNamespace(config=types.SimpleNamespace(_attn_implementation="sdpa")),
            tokenizer=types.SimpleNamespace(padding_side=tokenizer.get("padding_side")),
        )

    def _first_module(self) -> Any:
        return self._module

    def set_pooling_include_prompt(self, include_prompt: bool) -> None:
        self.include_prompt = include_prompt

    def _record(self, method: str, inputs: Any, prompt: Any = None, prompt_name: Any = None, **kwargs: Any) -> Any:
        import numpy as np

        self.calls.append({"method": method, "prompt": prompt, "prompt_name": prompt_name})
        return np.zeros((len(inputs), 4), dtype=np.float32)

    def encode(self, inputs: Any, prompt: Any = None, prompt_name: Any = None, **kwargs: Any) -> Any:
        return self._record("encode", inputs, prompt, prompt_name)

    def encode_query(self, inputs: Any, prompt: Any = None, prompt_name: Any = None, **kwargs: Any) -> Any:
        return self._record("encode_query", inputs, prompt, prompt_name)

    def encode_document(self, inputs: Any, prompt: Any = None, prompt_name: Any = None, **kwargs: Any) -> Any:
        return self._record("encode_document", inputs, prompt, prompt_name)


def registry_wrapper_class(meta: Any) -> str:
    """What mteb builds for a registry entry: "sentence-transformers", "instruct" or "other".

    Decided from the loader itself: the sentence-transformers wrapper, mteb's instruct wrapper (a
    class, or a loader function that builds one), or anything else (mteb's own wrapper classes).
    """
    from mteb.models.instruct_wrapper import InstructSentenceTransformerModel
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    loader = meta.loader
    while isinstance(loader, functools.partial):
        loader = loader.func
    if loader is SentenceTransformerEncoderWrapper or getattr(loader, "__name__", "") == "sentence_transformers_loader":
        return "sentence-transformers"
    if loader is InstructSentenceTransformerModel:
        return "instruct"
    if inspect.isfunction(loader):
        try:
            if "InstructSentenceTransformerModel(" in inspect.getsource(loader):
                return "instruct"
        except (OSError, TypeError):
            pass
    return "other"


@functools.lru_cache(maxsize=16)
def registry_shell(name: str) -> Any:
    """mteb's wrapper for registry model `name`, built by mteb's own loader around the stand-in.

    Requirements of the real model (extras, versions) are not checked: no weights load here.

    Raises:
        TypeError: when the loader does not build a SentenceTransformer-based wrapper.
    """
    import warnings

    import mteb
    import sentence_transformers

    meta = mteb.get_model_meta(name)
    if meta.loader is None:
        raise TypeError(f"{name}: mteb has no loader for this model")
    saved = sentence_transformers.SentenceTransformer
    sentence_transformers.SentenceTransformer = _RecordingSentenceTransformer  # type: ignore[misc, assignment]  # a stand-in for the loader's one call
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no instruction template" notes of mteb's loaders
            wrapper = meta.loader(meta.name, revision=meta.revision, **dict(meta.loader_kwargs))
    finally:
        sentence_transformers.SentenceTransformer = saved  # type: ignore[misc]
    if not isinstance(getattr(wrapper, "model", None), _RecordingSentenceTransformer):
        raise TypeError(f"{name}: mteb's loader did not build a SentenceTransformer-based wrapper")
    wrapper.mteb_model_meta = meta  # type: ignore[misc]  # mteb's protocols declare it read-only; its wrappers store it
    return wrapper


def shell_prompt(wrapper: Any, task_metadata: Any, side: str | None) -> str | None:
    """The prompt mteb's wrapper hands the model for this task and side (None: no prompt)."""
    from datasets import Dataset
    from mteb.types import PromptType
    from torch.utils.data import DataLoader

    stand_in = wrapper.model
    stand_in.calls.clear()
    # A datasets-backed loader, as mteb builds them: some wrappers read `inputs.dataset.features`.
    loader = DataLoader(Dataset.from_dict({"text": ["x"]}), batch_size=1)
    wrapper.encode(
        loader, task_metadata=task_metadata, hf_split="test", hf_subset="default", prompt_type=PromptType(side) if side else None
    )
    (call,) = stand_in.calls
    return call["prompt"]


def shell_load_settings(wrapper: Any) -> dict[str, Any]:
    """How mteb's loader built the SentenceTransformer: kwargs and what it set afterwards."""
    stand_in = wrapper.model
    kwargs = dict(stand_in.init_kwargs)
    tokenizer = dict(kwargs.get("tokenizer_kwargs") or kwargs.get("processor_kwargs") or {})
    padding = stand_in._module.tokenizer.padding_side
    if padding:
        tokenizer["padding_side"] = padding
    return {
        "model_kwargs": dict(kwargs.get("model_kwargs") or {}),
        "tokenizer_kwargs": tokenizer,
        "truncate_dim": kwargs.get("truncate_dim"),
        "max_seq_length": stand_in.max_seq_length,
        "include_prompt": stand_in.include_prompt,
        "trust_remote_code": bool(kwargs.get("trust_remote_code")),
    }


def registry_missing_extras(meta: Any) -> list[str]:
    """Packages a registry entry needs that are not installed (empty when none)."""
    try:
        return [str(x) for x in meta._missing_dependencies(meta._resolve_extras_groups())]
    except Exception:  # noqa: BLE001 - a check for a friendlier message; loading reports the rest
        return []
