"""Domain aliases shared by the modules: closed sets are Literals."""

from __future__ import annotations

from typing import Literal

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
