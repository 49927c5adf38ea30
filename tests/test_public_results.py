"""Published mteb results read as mteb reads them (tests/data/public_results, mteb 1.x to 2.x and card conversions).

mteb in the test is the reference: `scripts/public_results_agreement.py` computes mteb's per-task
values and means from the same files (`mteb.ResultCache` and the benchmark's own pivot and mean
expressions) and evalkit's leaderboard on them, folder by folder.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import warnings
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.results import scores as S
from evalkit.results.main_score import current_key, main_value

from .conftest import REPO

FIXTURE = REPO / "tests" / "data" / "public_results"
RESULTS = FIXTURE / "results"
CARD = REPO / "tests" / "data" / "jina-embeddings-v2-base-zh.md"
JINA = RESULTS / "jinaai__jina-embeddings-v2-base-zh" / "external"
F2LLM_4B = RESULTS / "codefuse-ai__F2LLM-v2-4B" / "e04d1a04f4a0e154bf43969d3dcc596bbd92b1f8"
F2LLM_06B = RESULTS / "codefuse-ai__F2LLM-v2-0.6B" / "54b4e2dc74e01be7126d4cf5f016af6b21edc563"
QWEN = RESULTS / "Qwen__Qwen3-Embedding-0.6B" / "b22da495047858cce924d27d76261e96be6febc0"
BGE_DE = RESULTS / "BAAI__bge-base-zh-v1.5" / "f03589ceff5aac7111bd60cfc7d497ca17ecac65"
RERANKING = ("CMedQAv1-reranking", "CMedQAv2-reranking", "MMarcoReranking", "T2Reranking")


def _agreement():
    spec = importlib.util.spec_from_file_location("public_results_agreement", REPO / "scripts" / "public_results_agreement.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def agreement():
    logging.getLogger("mteb").setLevel(logging.ERROR)
    module = _agreement()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {bench.name: module.compare(bench) for bench in module.benchmarks()}


def test_the_fixture_holds_every_format():
    folders = _agreement().folders()
    assert len({f.parent.name for f in folders}) >= 15
    names = {f.name for f in folders}
    assert {"external", "no_revision_available"} <= names
    versions = {json.loads(p.read_text()).get("mteb_version") for f in folders for p in f.glob("*.json") if p.name != "model_meta.json"}
    assert {"1.0.2", "1.12.75", "1.29.10", "1.38.9", "2.6.7", None} <= versions


@pytest.mark.slow  # mteb's own reading of the 19 folders (the reference) takes ~8 s: the full suite runs it, CI included
@pytest.mark.parametrize("bench", ["MTEB(cmn, v1)", "evalkit:cmteb"])
def test_leaderboard_equals_mteb_per_task_and_every_mean(agreement, bench: str):
    a = agreement[bench]
    assert a.problems == []
    assert a.rows >= 15 and a.tasks_compared >= 500 and a.compared - a.tasks_compared >= 80
    assert a.agree == a.compared
    # Where mteb has no value and evalkit has one: pre-1.11 files that store reranking as `map`
    # with no main_score (mteb's conversion finds no `map_at_1000` and leaves the task empty).
    for line in a.only_evalkit:
        folder, task = line.split(":")[0].split(" ")
        assert folder.endswith("--no_revision_available") and task in RERANKING, line


def test_reranking_main_score_of_every_format():
    # 1.x file: {"dev": {"map": ..., "mrr": ...}}, no main_score; its map is mteb 2's map_at_1000.
    old = S.read_results(RESULTS / "BAAI__bge-large-zh" / "no_revision_available" / "T2Reranking.json")
    raw = json.loads((RESULTS / "BAAI__bge-large-zh" / "no_revision_available" / "T2Reranking.json").read_text())
    (main,) = S.main_scores(old).itertuples()
    assert (main.metric, main.value) == ("map_at_1000", raw["dev"]["map"])
    # A 1.38 run and a card conversion store map/mrr and main_score (= map).
    for folder in (QWEN, JINA):
        table = S.main_scores(S.read_results(folder / "CMedQAv2-reranking.json"))
        stored = json.loads((folder / "CMedQAv2-reranking.json").read_text())["scores"]["test"][0]
        assert table["metric"].tolist() == ["map_at_1000"] and table["value"].tolist() == [stored["main_score"]]
    # A 2.x file keeps its own map_at_1000.
    table = S.main_scores(S.read_results(F2LLM_4B / "T2Reranking.json"))
    stored = json.loads((F2LLM_4B / "T2Reranking.json").read_text())["scores"]["dev"][0]
    assert table["value"].tolist() == [stored["map_at_1000"]] == [stored["main_score"]]


def test_metric_history_applies_to_result_files():
    assert [current_key("Reranking", n) for n in ("map", "mrr", "nAUC_map_max")] == ["map_at_1000", "mrr_at_10", "nauc_map_max"]
    assert current_key("STS", "cos_sim_spearman") == "cosine_spearman"
    assert current_key("PairClassification", "cos_sim_ap") == "cosine_ap"
    # A row that holds both names keeps mteb 2's own value for the main score.
    assert main_value({"map": 0.5, "map_at_1000": 0.6, "main_score": 0.6}, "map_at_1000", "Reranking") == 0.6
    # Only a stored main_score: that is the main score (mteb's get_score reads nothing else).
    assert main_value({"main_score": 0.7}, "map_at_1000", "Reranking") == 0.7
    table = S.read_results(JINA / "Ocnli.json")
    assert {"cosine_ap", "max_accuracy"} <= set(table["metric"]) and not any(m.startswith("cos_sim") for m in table["metric"])


def test_card_against_its_own_conversion_matches_every_entry(tmp_path: Path):
    from evalkit import compare_card
    from evalkit.card import is_extra, read_card

    report = compare_card(JINA, card=CARD, reports_dir=tmp_path)
    card = read_card(CARD).scores
    compared = card[~card["metric"].map(is_extra)]
    # Every card value (main scores of all six types included) is compared, and every one matches.
    assert len(report.rows) == len(compared) and set(report.rows["status"]) == {"match"}
    assert len(report.main) == 35 and set(report.main["task_type"]) >= {"Reranking", "PairClassification", "STS"}
    assert main(["card", "compare", "--card", str(CARD), str(JINA), "--reports", str(tmp_path)]) == 0


def test_regress_card_against_its_conversion_passes(tmp_path: Path):
    assert main(["regress", str(CARD), str(JINA), "--suite", "configs/cmteb.yaml", "--reports", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "regress.json").read_text())
    assert report["verdict"] == "pass" and {t["verdict"] for t in report["tasks"]} == {"unchanged"} and len(report["tasks"]) == 35


def test_regress_judges_real_reranking_drops(tmp_path: Path):
    # F2LLM-v2-4B -> 0.6B (both mteb 2.6.7): CMedQAv1 0.80756 -> 0.79493, CMedQAv2 0.83462 -> 0.79667.
    assert main(["regress", str(F2LLM_4B), str(F2LLM_06B), "--suite", "configs/cmteb.yaml", "--reports", str(tmp_path)]) == 1
    tasks = {t["task"]: t for t in json.loads((tmp_path / "regress.json").read_text())["tasks"]}
    assert tasks["CMedQAv1-reranking"]["verdict"] == tasks["CMedQAv2-reranking"]["verdict"] == "regressed"
    assert tasks["T2Reranking"]["verdict"] == "unchanged"
    base = S.main_scores(S.read_results(F2LLM_4B)).set_index("task")["value"]
    assert tasks["CMedQAv2-reranking"]["baseline"] == base["CMedQAv2-reranking"]


def test_regress_card_baseline_against_map_only_results(tmp_path: Path):
    # Qwen3-Embedding-0.6B (mteb 1.38) stores reranking as map/mrr: every reranking task is judged.
    main(["regress", str(CARD), str(QWEN), "--suite", "configs/cmteb.yaml", "--reports", str(tmp_path)])
    tasks = json.loads((tmp_path / "regress.json").read_text())["tasks"]
    rerank = {t["task"]: t for t in tasks if t["task_type"] == "Reranking"}
    assert set(rerank) == set(RERANKING) and all(t["verdict"] not in ("missing", "new") for t in rerank.values())
    # The suite's own subsets only: AmazonReviews zh (Qwen's file holds `en` alone, so it is missing), no other language.
    amazon = [t for t in tasks if t["task"] == "AmazonReviewsClassification"]
    assert [(t["subset"], t["verdict"]) for t in amazon] == [("zh", "missing")]
    assert len(tasks) == 35


def test_regress_share_no_task_names_each_side(tmp_path: Path, capsys):
    # bge-base-zh-v1.5 f03589: Amazon/Massive with the German subset only; the suite asks for zh.
    assert main(["regress", str(CARD), str(BGE_DE), "--suite", "configs/cmteb.yaml", "--reports", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "share no task on the tasks of suite cmteb" in err[0]
    assert "baseline: 35 tasks: AFQMC" in err[0] and "candidate: no task" in err[0]


@pytest.mark.parametrize("style", ["card", "mteb"])
@pytest.mark.parametrize("folder", [JINA, RESULTS / "BAAI__bge-large-zh" / "no_revision_available", QWEN])
def test_export_round_trip_keeps_every_entry_and_reranking(tmp_path: Path, capsys, style: str, folder: Path):
    from evalkit.card import read_card

    assert main(["card", "export", "--style", style, str(folder)]) == 0
    captured = capsys.readouterr()
    card = tmp_path / "README.md"
    card.write_text("---\n" + captured.out + "---\n", encoding="utf-8")
    back = read_card(card).scores
    ours = S.read_results(folder)
    key = ["task", "subset", "split"]
    assert set(map(tuple, back[key].values)) == set(map(tuple, ours[key].values))  # every entry
    mains = S.main_scores(ours).set_index([*key, "metric"])["value"]
    got = S.main_scores(back).set_index([*key, "metric"])["value"]
    assert got.sort_index().index.equals(mains.sort_index().index)
    assert got.sort_index().to_numpy() == pytest.approx(mains.sort_index().to_numpy(), abs=5e-7)  # mteb style prints 6 decimals
    assert set(RERANKING) & set(back["task"]) == set(RERANKING) & set(ours["task"]) != set()
    if style == "card":
        text = captured.out
        assert "type: map\n" in text and "type: cos_sim_spearman" in text  # the old names
        kept = set(map(tuple, back[[*key, "metric"]].values))
        lost = [r for r in map(tuple, ours[[*key, "metric"]].values) if r not in kept]
        # What the card style cannot name is said in one line, or nothing is lost.
        notes = [line for line in captured.err.splitlines() if "left out" in line]
        assert (notes == []) == (lost == []) and len(notes) <= 1


def test_leaderboard_ranks_only_rows_holding_every_task_of_the_basis(tmp_path: Path):
    assert main(["leaderboard", str(RESULTS), "--suite", "configs/cmteb.yaml", "--reports", str(tmp_path / "own")]) == 0
    rows = json.loads((tmp_path / "own" / "leaderboard.json").read_text())["rows"]
    ranked = [r for r in rows if r["rank"] is not None]
    # The four folders with all 35 suite tasks (three card conversions and Conan-embedding-v2) are
    # ranked by mean (task); every other row follows, unranked, naming what it lacks.
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4] and all(r["tasks"] == 35 and r["lacks"] == [] for r in ranked)
    assert rows[: len(ranked)] == ranked and all(r["lacks"] for r in rows[len(ranked) :])
    means = [r["mean (task)"] for r in ranked]
    assert means == sorted(means, reverse=True)
    qwen = next(r for r in rows if r["model"] == "Qwen/Qwen3-Embedding-0.6B")
    assert qwen["rank"] is None and qwen["lacks"] == ["AmazonReviewsClassification", "STS22"]  # its files hold en (and ru) only
    # --common: every row is averaged over the tasks all rows hold, so all rows rank on one basis.
    assert main(["leaderboard", *[str(p) for p in (JINA, QWEN, F2LLM_4B)], "--common", "--reports", str(tmp_path / "common")]) == 0
    rows = json.loads((tmp_path / "common" / "leaderboard.json").read_text())["rows"]
    assert sorted(r["rank"] for r in rows) == [1, 2, 3]


def test_leaderboard_marks_an_unreadable_file_in_its_row(tmp_path: Path):
    import shutil

    folder = tmp_path / "results" / "org__model" / "rev"
    shutil.copytree(F2LLM_4B, folder)
    text = (folder / "T2Reranking.json").read_text()
    (folder / "T2Reranking.json").write_text(text[: len(text) // 2])  # truncated
    assert main(["leaderboard", str(tmp_path / "results"), "--reports", str(tmp_path / "rep")]) == 0
    (row,) = json.loads((tmp_path / "rep" / "leaderboard.json").read_text())["rows"]
    assert row["rank"] is None and "T2Reranking [unreadable file]" in row["lacks"]


def test_leaderboard_page_shows_its_key_columns_at_1400_px(tmp_path: Path):
    from .test_report import _browser

    sync_playwright = _browser()
    assert main(["leaderboard", str(RESULTS), "--suite", "configs/cmteb.yaml", "--reports", str(tmp_path)]) == 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto((tmp_path / "leaderboard.html").as_uri())
            assert page.evaluate("document.documentElement.scrollWidth") <= 1400  # wide parts scroll in their own box
            heads = page.eval_on_selector_all(
                "#ranking thead th", "hs => hs.map(h => [h.textContent.trim(), h.getBoundingClientRect().right])"
            )
            right = {name.rstrip(" ↕"): edge for name, edge in heads}
            for key in ("rank", "model", "mean (task)", "mean (type)", "vs claimed"):
                assert right[key] <= 1400, (key, right[key])
        finally:
            browser.close()
