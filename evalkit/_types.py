"""Domain aliases and small records shared by the modules: closed sets are Literals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
