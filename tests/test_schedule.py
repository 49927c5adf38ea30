"""The order of a Ray run's work (`evalkit.runner.schedule`): the queue, the shards, the split choice.

No Ray here: the queue is plain data, and the split choice simulates it on a clock of seconds.
"""

from __future__ import annotations

from evalkit.runner.schedule import Costs, Item, WorkQueue, choose_split, cut_shards, shard_budget, simulate

# Only data loading and scoring (1 s a task) besides encoding: makespans checkable by hand.
PLAIN = Costs(fixed=1.0, load=0.0, task=0.0, shard=0.0)


def test_main_lanes_take_ready_runs_then_shards_then_whole_tasks_costliest_first_then_recordings():
    q = WorkQueue([Item("run", "small", 2.0), Item("record", "big", 9.0), Item("run", "mid", 5.0), Item("record", "huge", 20.0)])
    assert q.take("side").task == "huge"  # a side lane only records, costliest first
    assert [q.take("main").task for _ in range(2)] == ["mid", "small"]  # whole tasks, costliest first
    assert q.take("main").task == "big"  # then the recordings left
    assert q.take("main") is None and q.take("side") is None

    # "huge" was recorded first, then "big": their shards go in that order, each task's run after its last shard.
    q.recorded("huge", [Item("encode", "huge", 1.0), Item("encode", "huge", 1.0)], Item("run", "huge", 1.0))
    q.recorded("big", [Item("encode", "big", 1.0)], Item("run", "big", 1.0))
    first, second, third = (q.take("main") for _ in range(3))
    assert [first.task, second.task, third.task] == ["huge", "huge", "big"]
    q.shard_done(third)  # "big"'s only shard is back: its run jumps ahead of everything
    q.put_back(first)  # an encoder died with a "huge" shard: back to the head of the shards
    assert q.take("main").task == "big" and q.take("main") is first
    q.shard_done(first)
    q.shard_done(second)
    assert q.pending() and q.take("main").task == "huge" and q.take("main") is None and not q.pending()


def test_a_recording_without_shards_readies_the_run_and_drain_returns_each_task_left():
    q = WorkQueue([Item("record", "A", 3.0), Item("record", "B", 2.0), Item("run", "C", 1.0)])
    q.recorded(q.take("side").task, [], Item("run", "A", 3.0))  # a recording that failed: A runs (and fails) as usual
    q.recorded(q.take("side").task, [Item("encode", "B", 1.0)], Item("run", "B", 2.0))
    assert sorted(i.task for i in q.drain()) == ["A", "B", "C"]  # B's run waited for its shard
    assert not q.pending()


def test_shards_are_cut_by_estimated_tokens_and_capped_in_texts():
    # Each text costs its characters + 2: 10, 10, 20, 3; a budget of 20 tokens.
    assert cut_shards(["a" * 8, "b" * 8, "c" * 18, "d"], 20) == [["a" * 8, "b" * 8], ["c" * 18], ["d"]]
    assert cut_shards(["a", "b", "c"], 100, max_texts=2) == [["a", "b"], ["c"]]
    assert cut_shards(["x" * 5000], 20) == [["x" * 5000]]  # a text longer than the budget is a shard of its own
    # 2M tokens a shard, unless that leaves an encoder out: 3M tokens on 16 encoders -> 187,500 each.
    assert shard_budget(61_000_000, 16) == 2_000_000 and shard_budget(3_000_000, 16) == 187_500


def test_the_simulation_is_the_queue_on_a_clock():
    encode, tokens = {"A": 20.0, "B": 2.0, "C": 2.0}, {"A": 20, "B": 2, "C": 2}
    # Whole, on 2 encoders: A takes 20 + 1 s on one; B and C (3 s each) the other.
    assert simulate(encode, tokens, 2, set(), PLAIN) == 21.0
    # A split: its recording (1 s) on a side lane while B and C run (0-3 s); then two shards of
    # 20 / 2 = 10 s, one per encoder (3-13 s); then A's run, every text cached (13-14 s).
    assert simulate(encode, tokens, 2, {"A"}, PLAIN) == 14.0
    # One encoder: one task after another, 21 + 3 + 3 s.
    assert simulate(encode, tokens, 1, set(), PLAIN) == 27.0


def test_the_split_choice_is_the_shortest_simulated_run_by_tokens_not_texts():
    # A is long: splitting it gives 14 s against 21 (above); splitting B as well is no shorter, so A alone.
    assert choose_split({"A": 20, "B": 2, "C": 2}, 2, tokens_per_s=1.0, costs=PLAIN) == {"A"}
    assert choose_split({"A": 20, "B": 2, "C": 2}, 1, tokens_per_s=1.0, costs=PLAIN) == set()  # one encoder splits nothing
    # Three equal tasks on three encoders end together whole: nothing to gain.
    assert choose_split({"A": 10, "B": 10, "C": 10}, 3, tokens_per_s=1.0, costs=PLAIN) == set()


def test_task_costs_come_from_mteb_statistics_in_tokens():
    from evalkit.runner.sizes import texts_to_encode, tokens_to_encode
    from evalkit.runner.suite import TaskSpec
    from evalkit.runner.tasks import build_task

    ocnli = build_task(TaskSpec("Ocnli"))
    # 1,847 pairs: sentence1 of 24.32 characters on average, sentence2 of 11.85 (mteb's statistics), + 2 each.
    assert tokens_to_encode(ocnli) == int(1847 * (24.3183540877098 + 2)) + int(1847 * (11.853275582024905 + 2)) == 74197
    du, ecom = build_task(TaskSpec("DuRetrieval")), build_task(TaskSpec("EcomRetrieval"))
    assert abs(texts_to_encode(du) - texts_to_encode(ecom)) < 200  # ~102,000 texts each ...
    assert tokens_to_encode(du) > 9 * tokens_to_encode(ecom)  # ... but documents of 331 characters against 33
