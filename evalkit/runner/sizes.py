"""How big a task is and what it asks Ray for: the order and the resources of a Ray run."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from evalkit.errors import EvalkitError
from evalkit.model.batching import CPU_MAX_WORKERS, GPU_TOKENIZER_THREADS

if TYPE_CHECKING:
    from evalkit.runner.tasks import BuiltTask

logger = logging.getLogger(__name__)


#: Tokens a text counts for at most when a task's cost is estimated: a BERT-style encoder truncates there.
TOKEN_CAP = 512


def texts_to_encode(built: BuiltTask) -> int:
    """About how many texts a task encodes (what a Ray task record reports as its `texts`).

    Registered tasks: from mteb's descriptive statistics of the evaluated splits and subsets
    (both sides of a pair, documents and queries, a classifier's training draws). In-house tasks:
    the rows of their loaded files. 0 when unknown.

    For example Ocnli's 1,847 pairs give 3,694 (tests/test_ray.py checks this and others).
    """
    return _size(built)[0]


def tokens_to_encode(built: BuiltTask) -> int:
    """About how many tokens a task encodes: the cost by which a Ray run orders and splits its tasks.

    Each group of texts counts its number of texts times its mean length in characters plus 2
    (the special tokens), capped at `TOKEN_CAP`: one character a token, as for Chinese text; for
    English it overcounts about 4 times, alike for every task of a language, so the order holds.
    Text counts alone misjudge: EcomRetrieval and DuRetrieval both encode ~102k texts, but
    DuRetrieval's documents are 10 times longer. 0 when unknown (such a task is submitted last).

    For example Ocnli: 1,847 x (24.3 + 2) + 1,847 x (11.9 + 2) = 74,197 (tests/test_schedule.py).
    """
    return _size(built)[1]


def _size(built: BuiltTask) -> tuple[int, int]:
    try:
        groups = _local_groups(built) if built.spec.local is not None else _registered_groups(built.task)
    except (KeyError, TypeError, AttributeError, ValueError):
        # Only a scheduling hint: a task whose size cannot be read still runs, last.
        logger.debug("size of task %s unknown", built.name, exc_info=True)
        return 0, 0
    return sum(n for n, _ in groups), sum(int(n * min(TOKEN_CAP, chars + 2)) for n, chars in groups)


def _groups_in(stats: dict[str, Any]) -> list[tuple[int, float]]:
    """(number of texts, mean characters) of each text column in one split's (or subset's) statistics."""
    groups = []
    for key, value in stats.items():
        is_text = key.startswith(("text", "documents_text", "queries_text")) and key.endswith("_statistics")
        if is_text and isinstance(value, dict):
            side = "num_documents" if key.startswith("documents") else "num_queries" if key.startswith("queries") else "num_samples"
            groups.append((int(value.get("num_texts") or stats.get(side) or 0), float(value.get("average_text_length") or 0.0)))
    return groups


def _per_subset(split_stats: dict[str, Any], subsets: list[str]) -> list[dict[str, Any]]:
    per_subset = split_stats.get("hf_subset_descriptive_stats")
    if per_subset and set(subsets) < set(per_subset):
        return [per_subset[s] for s in subsets if s in per_subset]
    return [split_stats]


def _registered_groups(task: Any) -> list[tuple[int, float]]:
    stats = task.metadata.descriptive_stats or {}
    subsets = list(task.hf_subsets)
    groups = [g for split in task.eval_splits for part in _per_subset(stats.get(split) or {}, subsets) for g in _groups_in(part)]
    if task.metadata.type == "Classification" and "train" in stats:
        # Each classifier run draws `samples_per_label` texts per label from the training split.
        for part in _per_subset(stats["train"], subsets):
            labels = int((part.get("label_statistics") or {}).get("unique_labels") or 0)
            drawn = int(getattr(task, "n_experiments", 1)) * int(getattr(task, "samples_per_label", 8)) * labels
            have = int(part.get("num_samples") or 0)
            chars = float((part.get("text_statistics") or {}).get("average_text_length") or 0.0)
            groups.append((min(have, drawn or have), chars))
    return groups


def _local_groups(built: BuiltTask) -> list[tuple[int, float]]:
    data = built.task.dataset

    def group(texts: list[str]) -> tuple[int, float]:
        return len(texts), sum(map(len, texts)) / max(1, len(texts))

    if built.task_type in ("Retrieval", "Reranking"):
        groups = []
        for split in data["default"].values():
            groups.append(group([str(row.get("text") or "") for row in split["corpus"]]))
            groups.append(group([str(row.get("text") or "") for row in split["queries"]]))
        return groups
    splits = list(built.task.eval_splits) + (["train"] if built.task_type == "Classification" else [])
    groups = []
    for split in splits:
        ds = data[split]
        groups += [group([str(t) for t in ds[c]]) for c in ("sentence1", "sentence2", "text") if c in ds.column_names]
        if "sentences" in ds.column_names:
            groups.append(group([str(t) for row in ds["sentences"] for t in row]))
    return groups


def task_resources(device: str, nodes: list[dict[str, Any]]) -> tuple[dict[str, float], str]:
    """What one evalkit task asks Ray for, and the device its worker encodes on.

    Args:
        device: the run's `--device` (one device: Ray assigns GPUs).
        nodes: `ray.nodes()`.

    Returns:
        (Ray resource options, worker device).

    Raises:
        EvalkitError: a GPU device on a cluster without GPUs, or a cluster without CPUs.

    Example::

        >>> task_resources("auto", [{"Alive": True, "Resources": {"CPU": 2.0}}])
        ({'num_cpus': 2, 'num_gpus': 0}, 'cpu')
        >>> task_resources("auto", [{"Alive": True, "Resources": {"CPU": 32.0, "GPU": 4.0}}])
        ({'num_cpus': 8, 'num_gpus': 1}, 'cuda')
    """
    alive = [n.get("Resources") or {} for n in nodes if n.get("Alive", True)]
    has_gpu = any(r.get("GPU", 0) >= 1 for r in alive)
    if device.startswith("cuda") or (device == "auto" and has_gpu):
        if not has_gpu:
            raise EvalkitError(f"--device {device}: the Ray cluster has no GPU; use --device cpu, or add GPU nodes")
        return {"num_cpus": gpu_task_cpus(alive), "num_gpus": 1}, "cuda"
    cpus = [int(r["CPU"]) for r in alive if r.get("CPU", 0) >= 1]
    if not cpus:
        raise EvalkitError("--ray: the Ray cluster has no node with CPUs; add a worker node")
    return {"num_cpus": min(CPU_MAX_WORKERS, min(cpus)), "num_gpus": 0}, "cpu" if device == "auto" else device


def gpu_task_cpus(resources: list[dict[str, Any]]) -> int:
    """The CPUs a GPU task asks for: the forward loop's tokenizer threads and the thread driving the GPU.

    A GPU node's CPUs shared by its GPUs (the smallest share of any GPU node, so that every GPU still
    gets a task), at most the threads the loop uses (`GPU_TOKENIZER_THREADS` + 1). The loop then
    tokenizes on what Ray granted (`evalkit.model.batching.granted_cpus`).

    Args:
        resources: the `Resources` of each live node.

    Example::

        >>> gpu_task_cpus([{"CPU": 32.0, "GPU": 4.0}]), gpu_task_cpus([{"CPU": 64.0, "GPU": 2.0}, {"CPU": 4.0}])
        (8, 9)
        >>> gpu_task_cpus([{"CPU": 4.0, "GPU": 8.0}])
        1
    """
    shares = [int(r.get("CPU", 0) // r["GPU"]) for r in resources if r.get("GPU", 0) >= 1]
    return max(1, min([GPU_TOKENIZER_THREADS + 1, *shares]))


def actor_slots(resources: dict[str, float], nodes: list[dict[str, Any]]) -> int:
    """How many resident encoders the cluster holds: one per GPU, or per CPU slot of a task's size.

    Example::

        >>> actor_slots({"num_cpus": 2, "num_gpus": 0}, [{"Alive": True, "Resources": {"CPU": 5.0}}])
        2
        >>> actor_slots({"num_cpus": 1, "num_gpus": 1}, [{"Alive": True, "Resources": {"CPU": 8.0, "GPU": 4.0}}])
        4
    """
    total = 0
    for node in nodes:
        if not node.get("Alive", True):
            continue
        have = node.get("Resources") or {}
        fits = [int(have.get("CPU", 0) // resources["num_cpus"])] if resources.get("num_cpus") else []
        if resources.get("num_gpus"):
            fits.append(int(have.get("GPU", 0) // resources["num_gpus"]))
        total += min(fits) if fits else 0
    return max(1, total)


def one_machine(nodes: list[dict[str, Any]]) -> bool:
    """True when every live node of the cluster is this one machine (its default cache is then shared)."""
    return len({n.get("NodeManagerAddress") for n in nodes if n.get("Alive", True)}) <= 1


def env_int(name: str) -> int | None:
    """A whole number of texts from the environment, or None when unset."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise EvalkitError(f"{name}={value!r}: expected a whole number of texts") from None
