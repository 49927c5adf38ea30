"""The run's prompt table is one typed object, and the private touches of model/ and runner/ are self-checked.

No weights are loaded: prompt tables resolve over mteb's task metadata, and the seams are checked
on stand-in objects.
"""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path

import pytest


def test_a_plain_dict_is_refused_where_a_prompt_table_is_meant():
    import mteb

    from evalkit.model.encoder import load_resolved
    from evalkit.model.settings import ModelSettings
    from evalkit.model.source import ResolvedModel
    from evalkit.runner.suite import TaskSpec
    from evalkit.runner.task import ModelJob, settings_record
    from evalkit.runner.tasks import build_task

    # A folder that does not exist: the type check must come before any loading.
    resolved = ResolvedModel("org/m", Path("/no/such/model"), "rev", "hub")
    prompts = {"query": "query: "}
    with pytest.raises(TypeError, match=r"model org/m: prompts must be a PromptTable, not dict; build it with"):
        load_resolved(resolved, ModelSettings(), prompts)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ModelJob: prompts must be a PromptTable"):
        ModelJob(resolved, ModelSettings(), prompts, None)  # type: ignore[arg-type]
    built = build_task(TaskSpec("T2Reranking"))
    with pytest.raises(TypeError, match="settings_record: prompts must be a PromptTable"):
        settings_record(built, resolved, ModelSettings(), prompts)  # type: ignore[arg-type]
    assert mteb.get_task("T2Reranking").metadata.type == "Reranking"


def test_the_prompt_table_travels_whole_and_resolves_alike():
    """What a Ray job pickles: an instruct table keeps its instructions, a plain table its keys and source."""
    import mteb

    import evalkit
    from evalkit.model.prompts import PromptTable

    plan = evalkit.plan("cmteb", model="Qwen/Qwen3-Embedding-0.6B", tasks=("T2Retrieval",))
    table = PromptTable({}, "registry", instruct="Qwen/Qwen3-Embedding-0.6B")
    copy = pickle.loads(pickle.dumps(table))
    assert copy == table
    metadata = mteb.get_task("T2Retrieval").metadata
    rows = {r.side: r.prompt for r in plan.prompts}
    assert copy.resolve(metadata, "query").text == rows["query"] and rows["query"].startswith("Instruct: Given a Chinese search query")
    assert copy.resolve(metadata, "document").text is None and rows["document"] is None
    assert copy.instructions(mteb.get_task("T2Retrieval")) == {"query": rows["query"], "document": None}
    e5 = pickle.loads(pickle.dumps(PromptTable({"query": "query: ", "document": "passage: "}, "registry")))
    assert e5.resolve(metadata, "document").text == "passage: " and e5.resolve(metadata, "document").source == "registry"
    assert e5.for_task({"document": ""}, metadata, "document").text is None  # a suite task's own prompts win
    assert e5.instructions(mteb.get_task("T2Retrieval")) is None


def test_evalkit_s_copy_of_mteb_s_prompt_lookup_picks_the_same_key_everywhere(monkeypatch: pytest.MonkeyPatch):
    import mteb
    from mteb.models.abs_encoder import get_prompt_name
    from mteb.types import PromptType

    from evalkit._compat import mteb as compat
    from evalkit.model.prompts import task_sides
    from evalkit.runner.suite import load_suite

    tasks = [mteb.get_task(s.name) for s in load_suite("cmteb").tasks]
    tables = [
        {"query": "q", "document": "d"},
        {"Retrieval-query": "rq", "Retrieval": "r", "STS": "s", "query": "q"},
        {"T2Retrieval-document": "td", "T2Retrieval": "t", "Classification": "c", "Reranking-document": "rd", "document": "d"},
        {"TNews": "tn", "AFQMC": "af", "PairClassification-query": "pq"},
    ]
    checked = 0
    for table in tables:
        for task in tasks:
            for side in task_sides(task):
                theirs = get_prompt_name(table, task.metadata, PromptType(side) if side else None)
                assert compat._own_prompt_name(table, task.metadata, side) == theirs, (table, task.metadata.name, side)
                assert compat.table_prompt(table, task.metadata, side) == (theirs, table.get(theirs) if theirs else None)
                checked += 1
    assert checked == 4 * 47
    assert compat.prompt_lookup_notes() == []
    monkeypatch.setenv("EVALKIT_DISABLE_HOOKS", "prompt-lookup")
    (note,) = compat.prompt_lookup_notes()
    assert "evalkit resolves prompts with its own copy" in note
    metadata = mteb.get_task("T2Retrieval").metadata
    assert compat.table_prompt({"Retrieval-query": "rq", "query": "q"}, metadata, "query") == ("Retrieval-query", "rq")


class _StandIn:
    """The one method of a SentenceTransformer the tokenizer lock wraps."""

    def __init__(self) -> None:
        self.inside: list[int] = []
        self.most = 0

    def preprocess(self, inputs: list[str], prompt: str | None = None) -> dict[str, int]:
        self.inside.append(1)
        self.most = max(self.most, len(self.inside))
        threading.Event().wait(0.01)  # long enough for a second thread to come in, were it allowed
        self.inside.pop()
        return {"n": len(inputs)}


def test_sentence_transformers_seam_fits_and_the_lock_serialises_tokenizing(monkeypatch: pytest.MonkeyPatch):
    from concurrent.futures import ThreadPoolExecutor

    from sentence_transformers.sentence_transformer import modules

    from evalkit._compat import sentence_transformers as st_compat

    st_compat.self_check.cache_clear()
    assert st_compat.self_check() == {} and st_compat.self_check_notes() == []
    assert st_compat.modules() == (modules.Transformer, modules.Pooling, modules.Normalize)
    model = _StandIn()
    assert st_compat.lock_fits(model)
    with st_compat.tokenizer_lock(model), ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(lambda i: model.preprocess(["x"] * i)["n"], range(8))) == list(range(8))
    assert model.most == 1 and "preprocess" not in vars(model)  # one at a time; the instance is clean again
    assert not st_compat.lock_fits(object())

    monkeypatch.setenv("EVALKIT_DISABLE_HOOKS", "tokenizer-lock")
    st_compat.self_check.cache_clear()
    try:
        assert not st_compat.lock_fits(model)
        (note,) = st_compat.self_check_notes()
        assert note.startswith("sentence-transformers tokenizer-lock is off (switched off by EVALKIT_DISABLE_HOOKS)")
        assert "CPU encoding runs on one thread" in note
    finally:
        st_compat.self_check.cache_clear()


@pytest.mark.slow  # imports Ray
def test_ray_seam_fits_and_can_be_switched_off(monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("ray")
    from evalkit._compat import ray as ray_compat

    ray_compat.self_check.cache_clear()
    assert ray_compat.self_check() == {} and ray_compat.self_check_notes() == []
    monkeypatch.setenv("EVALKIT_DISABLE_HOOKS", "ray-auto")
    ray_compat.self_check.cache_clear()
    try:
        assert ray_compat.auto_address() is None  # the early check is skipped; ray.init reports instead
        (note,) = ray_compat.self_check_notes()
        assert note.startswith("ray ray-auto is off") and "fails after Ray's retries" in note
        monkeypatch.setenv("EVALKIT_DISABLE_HOOKS", "ray-title")
        ray_compat.self_check.cache_clear()
        ray_compat.set_title("evalkit:test")  # off: does nothing, raises nothing
        (note,) = ray_compat.self_check_notes()
        assert note.startswith("ray ray-title is off") and "process title" in note
    finally:
        ray_compat.self_check.cache_clear()


def test_the_sentence_transformers_check_is_said_when_a_task_runs_and_skipped_when_all_are_done(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    # The check imports sentence-transformers: a run whose tasks are all done does not pay for it.
    import evalkit
    from evalkit._compat import sentence_transformers as st_compat

    tiny = Path(__file__).parent / "data" / "tiny" / "tiny.yaml"
    monkeypatch.setenv("EVALKIT_DISABLE_HOOKS", "tokenizer-lock")
    st_compat.self_check.cache_clear()
    try:
        first = evalkit.run(tiny, model="py:tests.keyword_encoder:make_encoder", output_dir=tmp_path, cache_dir=None)
        said = [w for w in first.warnings if w.startswith("sentence-transformers tokenizer-lock is off")]
        assert len(said) == 1 and said[0] in json.loads((first.folder / "evalkit" / "manifest.json").read_text())["warnings"]
        again = evalkit.run(tiny, model="py:tests.keyword_encoder:make_encoder", output_dir=tmp_path, cache_dir=None)
        assert {o.status for o in again.outcomes} == {"skipped"}
        assert not [w for w in again.warnings if w.startswith("sentence-transformers")]
    finally:
        st_compat.self_check.cache_clear()
