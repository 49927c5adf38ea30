"""The order of a Ray run's work, with no Ray in it: which tasks are split, and what a free encoder does next.

`RayExecutor` drives a `WorkQueue` with real resident encoders; `simulate` drives the same queue
on a clock of estimated seconds. The executor chooses the tasks to split by simulating its own
queue (`choose_split`), and benchmarks/bench_ray.py projects a suite on N GPUs with `simulate`:
the projection is the executor's schedule, not an idealised one.

Each resident encoder has two lanes (a Ray actor with two threads):

- main: runs a task, encodes a shard (the GPU's work), or records when nothing else is left;
- side: records a split task, beside whatever the main lane does. Recording evaluates the task
  with stand-in vectors (data loading and scoring, no encoding: CPU work), so the GPU keeps
  encoding while the next big task is recorded.

What a free main lane takes, in this order: a split task's run whose shards are all back, then
shards in the order their tasks were recorded, then whole tasks costliest first (the longest
ones do not finish last), then a recording. The run of a split task waits for its last shard.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from evalkit.runner.sizes import TOKEN_CAP

Kind = Literal["run", "record", "encode"]
Lane = Literal["main", "side"]

#: Tokens per second of the reference encoder: BERT-base, bf16, one H100 (benchmarks/bench_cmteb_shape.py).
#: The split choice weighs encoding at this rate against the fixed costs (`TASK_FIXED_S`, `Costs`).
REFERENCE_TOKENS_PER_S = 340_331.0
#: Seconds of a task that are not encoding: data loading and mteb's scoring (estimated for C-MTEB tasks).
TASK_FIXED_S = 8.0
#: Estimated tokens per shard: about 6 s of the reference encoder, long enough that a shard's round
#: trip and cache write (~0.1 s, bench_ray.py shard) are small, short enough that the last shards
#: of a corpus end close together.
SHARD_TOKENS = 2_000_000
#: Texts per shard at most (EVALKIT_RAY_SHARD_TEXTS lowers it; the tests cut tiny corpora in many shards).
SHARD_TEXTS = 8192


def task_seconds(tokens: int, tokens_per_s: float = REFERENCE_TOKENS_PER_S) -> float:
    """A task's estimated seconds: its tokens at `tokens_per_s`, plus `TASK_FIXED_S` of data loading and scoring.

    Example::

        >>> round(task_seconds(61_020_921), 1)   # T2Retrieval
        187.3
    """
    return tokens / tokens_per_s + TASK_FIXED_S


@dataclass
class Item:
    """One piece of work for a resident encoder: run a task, record what it encodes, or encode a shard."""

    kind: Kind
    task: str
    cost: float  # estimated seconds: the order of whole tasks, and the simulation's clock
    payload: Any = None  # the executor's job (TaskJob, or ShardJob for "encode")
    tries: int = 0


class WorkQueue:
    """What each lane of a free encoder takes next (see the module's docstring for the order).

    Example::

        >>> q = WorkQueue([Item("run", "A", 5.0), Item("record", "B", 8.0), Item("run", "C", 9.0)])
        >>> q.take("side").task, q.take("main").task, q.take("main").task, q.take("main")
        ('B', 'C', 'A', None)
    """

    def __init__(self, items: Iterable[Item]) -> None:
        ordered = sorted(items, key=lambda i: -i.cost)  # stable: ties keep the caller's (suite) order
        self.records = deque(i for i in ordered if i.kind == "record")
        self.whole = deque(i for i in ordered if i.kind == "run")
        self.shards: deque[Item] = deque()
        self.ready: deque[Item] = deque()  # runs of split tasks whose shards are all back
        self.waiting: dict[str, tuple[list[int], Item]] = {}  # task: ([shards still out], its run)

    def take(self, lane: Lane) -> Item | None:
        """The next item for this lane of a free encoder, or None when it has nothing to do."""
        lines = (self.ready, self.shards, self.whole, self.records) if lane == "main" else (self.records,)
        for line in lines:
            if line:
                return line.popleft()
        return None

    def recorded(self, task: str, shards: list[Item], run: Item) -> None:
        """A task was recorded: its shards join the line, its run waits for them (or is ready now, without shards)."""
        if not shards:
            self.ready.append(run)
            return
        self.waiting[task] = ([len(shards)], run)
        self.shards.extend(shards)

    def shard_done(self, shard: Item) -> None:
        """A shard came back (encoded, or failed and left to its task); the last one readies its task's run."""
        left, _ = self.waiting[shard.task]
        left[0] -= 1
        if left[0] == 0:
            self.ready.append(self.waiting.pop(shard.task)[1])

    def put_back(self, item: Item) -> None:
        """Work lost with its encoder goes to the head of its line, to be retried first."""
        {"record": self.records, "encode": self.shards, "run": self.ready}[item.kind].appendleft(item)

    def pending(self) -> bool:
        """True while anything is queued or a split task waits for its shards."""
        return bool(self.records or self.whole or self.shards or self.ready or self.waiting)

    def drain(self) -> list[Item]:
        """Empty the queue; returns one item per task not yet run (its run, or its recording)."""
        left = [*self.ready, *self.records, *self.whole, *(run for _, run in self.waiting.values())]
        for line in (self.records, self.whole, self.shards, self.ready):
            line.clear()
        self.waiting.clear()
        return left


def shard_budget(tokens: int, slots: int) -> int:
    """Estimated tokens per shard of a split task: `SHARD_TOKENS`, less when that leaves an encoder out.

    Example::

        >>> shard_budget(61_000_000, 16), shard_budget(3_000_000, 16)
        (2000000, 187500)
    """
    return max(1, min(SHARD_TOKENS, math.ceil(tokens / max(1, slots))))


def cut_shards(texts: list[str], budget: int, max_texts: int = SHARD_TEXTS) -> list[list[str]]:
    """Cut texts into shards of about `budget` estimated tokens (each text: its characters + 2, capped) and `max_texts` at most.

    Example::

        >>> cut_shards(["a" * 8, "b" * 8, "c" * 18, "d"], 20)
        [['aaaaaaaa', 'bbbbbbbb'], ['cccccccccccccccccc'], ['d']]
    """
    shards: list[list[str]] = []
    current: list[str] = []
    used = 0
    for text in texts:
        cost = min(TOKEN_CAP, len(text) + 2)
        if current and (used + cost > budget or len(current) >= max_texts):
            shards.append(current)
            current, used = [], 0
        current.append(text)
        used += cost
    if current:
        shards.append(current)
    return shards


@dataclass(frozen=True)
class Costs:
    """The seconds `simulate` charges besides encoding: estimated for the split choice, measured for bench_ray.py."""

    fixed: float = TASK_FIXED_S  # a task's data loading and scoring; a recording pays it too
    load: float = 12.0  # an encoder's start and model load, once per run
    task: float = 0.1  # Ray's round trip for a task or a recording
    shard: float = 0.05  # Ray's round trip and the cache write for a shard


def simulate(encode: Mapping[str, float], tokens: Mapping[str, int], slots: int, split: Collection[str], costs: Costs = Costs()) -> float:
    """Makespan in seconds of a run on `slots` encoders, as the executor queues it.

    `encode[t]`: seconds task t spends encoding; `tokens[t]`: its estimated tokens, which order
    the queue (`task_seconds`) and cut its shards, as in the executor. A whole task takes its
    encoding + `fixed` + `task`; a split task is recorded (`fixed` + `task`, on a side lane when
    one is free), cut into shards of `shard_budget` tokens (each its share of the encoding +
    `shard`), then run (`fixed` + `task`, every text cached).

    Example::

        >>> simulate({"A": 20.0, "B": 2.0, "C": 2.0}, {"A": 20, "B": 2, "C": 2}, 2, set(), Costs(1.0, 0.0, 0.0, 0.0))
        21.0
        >>> simulate({"A": 20.0, "B": 2.0, "C": 2.0}, {"A": 20, "B": 2, "C": 2}, 2, {"A"}, Costs(1.0, 0.0, 0.0, 0.0))
        14.0
    """
    shards = {t: math.ceil(n / shard_budget(n, slots)) if n else 1 for t, n in tokens.items()}

    def seconds(item: Item) -> float:
        if item.kind == "encode":
            return encode[item.task] / shards[item.task] + costs.shard
        whole = item.kind == "run" and item.task not in split
        return costs.fixed + costs.task + (encode[item.task] if whole else 0.0)

    queue = WorkQueue(Item("record" if t in split else "run", t, task_seconds(tokens[t])) for t in encode)
    free: dict[Lane, list[tuple[float, int]]] = {lane: [(costs.load, k) for k in range(slots)] for lane in ("main", "side")}
    events: list[tuple[float, int, Lane, int, Item]] = []
    order = itertools.count()  # ties in time: first started, first done
    now = end = 0.0
    while True:
        for lane in ("main", "side"):
            while free[lane] and (item := queue.take(lane)) is not None:
                at, k = heapq.heappop(free[lane])
                heapq.heappush(events, (max(at, now) + seconds(item), next(order), lane, k, item))
        if not events:
            return end
        now, _, lane, k, item = heapq.heappop(events)
        end = max(end, now)
        heapq.heappush(free[lane], (now, k))
        if item.kind == "record":
            parts = [Item("encode", item.task, item.cost) for _ in range(shards[item.task])]
            queue.recorded(item.task, parts, Item("run", item.task, item.cost))
        elif item.kind == "encode":
            queue.shard_done(item)


#: A split set within this fraction of the shortest simulated run is as good: the simulation's
#: tail is finer than its estimates, and each split costs a recording and its shards.
SPLIT_TOLERANCE = 0.01


def choose_split(
    tokens: Mapping[str, int], slots: int, *, tokens_per_s: float = REFERENCE_TOKENS_PER_S, costs: Costs = Costs()
) -> set[str]:
    """The tasks whose corpora are split across the encoders: the fewest costliest ones that make the simulated run about as short as any.

    Each task is estimated at `tokens / tokens_per_s` seconds of encoding plus `costs.fixed`; the
    run is simulated (`simulate`, the executor's own queue) with the k costliest tasks split, for
    every k, and the smallest k within `SPLIT_TOLERANCE` of the shortest makespan wins. A split
    costs a recording (its data loading and scoring once more, mostly beside the encoding) and
    per-shard round trips, so a task is split only where that shortens the run. One encoder
    splits nothing.

    Example::

        >>> choose_split({"A": 20, "B": 2, "C": 2}, 2, tokens_per_s=1.0, costs=Costs(1.0, 0.0, 0.0, 0.0))
        {'A'}
    """
    if slots <= 1:
        return set()
    encode = {t: n / tokens_per_s for t, n in tokens.items()}
    by_cost = sorted(tokens, key=lambda t: -tokens[t])
    makespans = [simulate(encode, tokens, slots, by_cost[:k], costs) for k in range(len(by_cost) + 1)]
    best = min(makespans)
    k = next(k for k, m in enumerate(makespans) if m <= best * (1 + SPLIT_TOLERANCE))
    return set(by_cost[:k])
