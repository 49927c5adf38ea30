"""Domain aliases and small records shared by the modules: closed sets are Literals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TaskType = Literal["STS", "Retrieval", "Reranking", "Classification", "Clustering", "PairClassification"]
TASK_TYPES: tuple[TaskType, ...] = (
    "STS",
    "Retrieval",
    "Reranking",
    "Classification",
    "Clustering",
    "PairClassification",
)
Pooling = Literal["auto", "mean", "cls", "lasttoken"]
DType = Literal["fp32", "fp16", "bf16"]
#: What turned texts into vectors: evalkit's forward loop, sentence-transformers' `model.encode`, or
#: the model object's own `encode` (a Python factory's encoder, mteb's wrapper).
ForwardPath = Literal["evalkit", "sentence-transformers", "model"]
Split = str  # `test`, `dev`, `validation`, ...: open set, checked against the task
MetricKey = str  # an mteb 2.x metric key such as `cosine_spearman`


@dataclass
class EncodeStats:
    """What the encoder saw for one task (or a whole run): counts and seconds, never prose."""

    texts: int = 0
    encoded: int = 0
    cache_hits: int = 0
    empty: int = 0
    truncated: int = 0
    encode_seconds: float = 0.0
    owned_forward: int = 0  # texts encoded by evalkit's forward loop (evalkit.model.forward); the rest by model.encode

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EncodeStats:
        """Read stats back from a record, ignoring keys this version does not know."""
        data = data or {}
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def add(self, other: EncodeStats) -> None:
        """Accumulate another task's stats into these."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def record(self) -> dict[str, float]:
        """JSON-ready values (seconds rounded to ms)."""
        out = asdict(self)
        out["encode_seconds"] = round(self.encode_seconds, 3)
        return out


@dataclass
class ForwardUse:
    """Which code encoded a task's texts and, where `model.encode` ran instead of evalkit's loop, why.

    A task can use both: the loop runs a prompt only when its token ids equal sentence-transformers'
    own. No path at all means every vector came from the embedding cache.
    """

    paths: list[ForwardPath] = field(default_factory=list)  # in the order they first ran
    reason: str = ""  # one line: why evalkit's loop did not run (the first reason met)
    loop: str = ""  # the loop's device, dtype, attention backends and batch budget, when it ran

    def ran(self, path: ForwardPath, *, reason: str = "", loop: str = "") -> None:
        """Note one encode call's path (and the reason, or the loop's description)."""
        if path not in self.paths:
            self.paths.append(path)
        self.reason = self.reason or reason
        self.loop = self.loop or loop

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ForwardUse:
        """Read it back from a task record (records before it existed: an empty one)."""
        data = data or {}
        return cls(paths=list(data.get("paths") or []), reason=str(data.get("reason") or ""), loop=str(data.get("loop") or ""))
