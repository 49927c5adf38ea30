"""Encoding a task's texts ahead (what a Ray run does for big corpora), without Ray: the recorded
texts are exactly what mteb asks for, so the task then encodes nothing and scores as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.runner.sizes import actor_slots

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


def test_encoder_slots():
    nodes = [{"Alive": True, "Resources": {"CPU": 5.0}}, {"Alive": False, "Resources": {"CPU": 8.0}}]
    assert actor_slots({"num_cpus": 2, "num_gpus": 0}, nodes) == 2
    assert actor_slots({"num_cpus": 1, "num_gpus": 1}, [{"Resources": {"CPU": 8.0, "GPU": 4.0}}, {"Resources": {"CPU": 2.0}}]) == 4


def test_a_recording_copy_leaves_the_encoder_it_came_from_encoding_as_usual():
    """A resident encoder records one task (on a copy) while it runs another: neither sees the other's state."""
    from evalkit.model.encoder import load_encoder
    from evalkit.model.settings import ModelSettings
    from evalkit.runner.suite import load_suite
    from evalkit.runner.tasks import build_task

    meta = build_task(load_suite(TINY).tasks[0]).task.metadata
    encoder = load_encoder(ModelSettings(model="py:tests.keyword_encoder:make_encoder"), cache_dir=None)
    recorder = encoder.recorder()
    assert recorder.model is encoder.model  # the loaded model is shared, not loaded again
    batch = [{"text": ["a cat", "a dog"]}]
    with recorder.recording() as calls, recorder.for_task("Other", {}):
        real = encoder.encode(batch, task_metadata=meta, hf_split="test", hf_subset="default")
        recorder.encode(batch, task_metadata=meta, hf_split="test", hf_subset="default")
    assert [c.texts for c in calls] == [["a cat", "a dog"]]  # only the copy's call was recorded
    assert encoder.task_stats.encoded == 2 and recorder.task_stats.encoded == 0
    assert real.tolist() == encoder.encode(batch, task_metadata=meta, hf_split="test", hf_subset="default").tolist()
    assert encoder._memo and encoder._recording is None  # the copy's task ending cleared its own vectors only


def test_overlapping_evaluations_share_the_module_hook_and_the_last_one_out_restores_mteb():
    import contextlib

    from mteb import _create_dataloaders as loaders

    from evalkit._compat.mteb_capture import task_hooks
    from evalkit.runner.suite import load_suite
    from evalkit.runner.tasks import build_task

    own = loaders._create_dataloader_from_texts
    first, second = (build_task(spec).task for spec in load_suite(TINY).tasks[:2])
    with contextlib.ExitStack() as a, contextlib.ExitStack() as b:
        a.enter_context(task_hooks(first))
        hooked = loaders._create_dataloader_from_texts
        assert hooked is not own
        b.enter_context(task_hooks(second))
        assert loaders._create_dataloader_from_texts is hooked  # one wrapper, not a wrapper of a wrapper
        a.close()  # the first evaluation ends while the second goes on: its hook stays
        assert loaders._create_dataloader_from_texts is hooked
    assert loaders._create_dataloader_from_texts is own
