"""Encoding a task's texts ahead (what a Ray run does for big corpora), without Ray: the recorded
texts are exactly what mteb asks for, so the task then encodes nothing and scores as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.runner.sizes import actor_slots, split_threshold

TINY = Path(__file__).parent / "data" / "tiny" / "tiny.yaml"


@pytest.mark.parametrize("model", ["py:tests.keyword_encoder:make_encoder"])
def test_recorded_texts_encoded_ahead_leave_the_task_nothing_to_encode(model: str, tmp_path: Path):
    from evalkit.model.encoder import load_encoder
    from evalkit.model.settings import ModelSettings
    from evalkit.runner.suite import load_suite
    from evalkit.runner.task import evaluate_task, main_scores_of, record_task
    from evalkit.runner.tasks import build_task

    plain = load_encoder(ModelSettings(model=model), cache_dir=None)
    for spec in load_suite(TINY).tasks:
        built = build_task(spec)
        expected = evaluate_task(built, plain)
        ahead = load_encoder(ModelSettings(model=model), cache_dir=tmp_path / spec.name)
        calls, error = record_task(built, ahead)
        assert not error and calls, spec.name
        assert ahead.task_stats.encoded == 0 and ahead.task_stats.cache_hits == 0  # recording encodes and caches nothing
        assert all(len(c.texts) == len(set(c.texts)) for c in calls)
        for call in calls:  # in shards of 2, as the actors would
            for i in range(0, len(call.texts), 2):
                ahead.encode_ahead(call.part(call.texts[i : i + 2]))
        assert sum(ahead.encode_ahead(c) for c in calls) == 0  # all there now
        got = evaluate_task(built, ahead)
        assert got.stats.encoded == 0 and got.stats.cache_hits > 0, (spec.name, got.stats)  # no cache miss
        assert main_scores_of(got.task_result) == pytest.approx(main_scores_of(expected.task_result), abs=1e-6)


def test_split_threshold_and_encoder_slots():
    assert split_threshold([100_000, 10_000, 10_000], 1) == 0  # one encoder splits nothing
    assert split_threshold([100_000, 10_000, 10_000], 8) == 16_384
    assert split_threshold([1_000_000, 10_000], 4) == 126_250
    nodes = [{"Alive": True, "Resources": {"CPU": 5.0}}, {"Alive": False, "Resources": {"CPU": 8.0}}]
    assert actor_slots({"num_cpus": 2, "num_gpus": 0}, nodes) == 2
    assert actor_slots({"num_cpus": 1, "num_gpus": 1}, [{"Resources": {"CPU": 8.0, "GPU": 4.0}}, {"Resources": {"CPU": 2.0}}]) == 4
