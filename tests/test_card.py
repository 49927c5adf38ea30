"""Model cards: read model-index into Scores, compare, export in the card's own format, update in place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from evalkit.card import METRIC_MAP, MTEB_KEYS, STYLES, export, export_card_text, read_card, update_card
from evalkit.cli import main
from evalkit.errors import DataError
from evalkit.results.scores import read_results

CARD = Path(__file__).parent / "data" / "jina-embeddings-v2-base-zh.md"
RESULTS = Path(__file__).parent / "data" / "cards" / "results"  # evalkit's mirror run of all-MiniLM-L6-v2


def model_index_text(card_text: str) -> str:
    front = card_text.split("---\n")[1]
    return front[front.index("model-index:") :]


def test_reference_card_reads_into_35_tasks_with_mteb_names_and_fractions():
    card = read_card(CARD)
    table = card.scores
    assert card.model_name == "jina-embeddings-v2-base-zh"
    assert card.extras == [] and card.warnings == []
    assert card.style == STYLES["card"]  # the C-MTEB card style is this card's style
    assert len(table) == 367 and table["task"].nunique() == 35
    main = table[table.is_main].set_index("task")
    assert len(main) == 35
    # The card's "AFQMC 50.59" is cos_sim_spearman, the STS main score (cos_sim_pearson is 48.51).
    assert main.loc["AFQMC", "metric"] == "cosine_spearman"
    assert main.loc["AFQMC", "value"] == 50.5928547846445 / 100
    assert main.loc["CMedQAv1-reranking", "metric"] == "map_at_1000"  # card "MTEB CMedQAv1", metric `map`
    assert main.loc["AmazonReviewsClassification", "subset"] == "zh"
    assert main.loc["MassiveIntentClassification", "subset"] == "zh-CN"
    assert main.loc["Ocnli", "value"] == pytest.approx(0.7569030860855442)
    assert set(table["split"]) == {"validation", "test", "dev"}
    assert table["value"].between(0, 1).all()


def test_card_round_trip_is_byte_exact():
    card = read_card(CARD)
    expected = model_index_text(CARD.read_text(encoding="utf-8"))
    assert export(card.scores, style="card", model_name=card.model_name) == expected  # from the table
    assert export_card_text(card) == expected  # from the card's own entries


@pytest.mark.parametrize("style", [[], ["--style", "card"]])
def test_card_export_cli_round_trip(capsys, style: list[str]):
    assert main(["card", "export", str(CARD), *style]) == 0
    assert capsys.readouterr().out == model_index_text(CARD.read_text(encoding="utf-8"))


def test_card_export_to_mteb_style_keeps_every_entry_and_metric(capsys):
    from huggingface_hub.repocard_data import model_index_to_eval_results

    assert main(["card", "export", str(CARD), "--style", "mteb"]) == 0
    results = yaml.safe_load(capsys.readouterr().out)["model-index"][0]["results"]
    card = yaml.safe_load(CARD.read_text(encoding="utf-8").split("---\n")[1])["model-index"][0]["results"]
    same = [(r["dataset"]["type"], r["dataset"]["config"], r["dataset"]["split"]) for r in card]
    assert [(r["dataset"]["type"], r["dataset"]["config"], r["dataset"]["split"]) for r in results] == same  # same order
    assert results[6]["dataset"]["name"] == "MTEB CMedQAv1-reranking"  # the card's "MTEB CMedQAv1", named as mteb 2 names it
    assert sum(len(r["metrics"]) for r in results) == 367 + 35  # every metric, plus one main_score per entry
    afqmc = results[0]["metrics"]
    # cos_sim_pearson 48.51403119231363 -> cosine_pearson 48.51403119231363 / 100 = 0.48514031192313634 (in floats);
    # main_score repeats cosine_spearman.
    assert afqmc[0] == {"type": "cosine_pearson", "value": 0.48514031192313634}
    assert afqmc[-1] == {"type": "main_score", "value": 0.505928547846445}
    assert len(model_index_to_eval_results([{"name": "m", "results": results}])[1]) == 402


def test_exports_load_with_huggingface_hub_parser_without_dropping_entries():
    from huggingface_hub.repocard_data import model_index_to_eval_results

    card = read_card(CARD)
    for style, expected in (("card", 367), ("mteb", 70)):
        data = yaml.safe_load(export(card.scores, style=style, model_name="m"))
        name, results = model_index_to_eval_results(data["model-index"])
        assert name == "m" and len(results) == expected
    mteb_style = yaml.safe_load(export(card.scores, style="mteb", model_name="m"))["model-index"][0]["results"]
    afqmc = next(r for r in mteb_style if r["dataset"]["name"] == "MTEB AFQMC")
    assert afqmc["metrics"][0] == {"type": "cosine_spearman", "value": 0.505928547846445}


@pytest.mark.slow  # runs the smoke suite on the real all-MiniLM-L6-v2 weights (smoke_results)
def test_metric_map_targets_are_keys_mteb_writes(smoke_results: Path):
    # The smoke suite has one real mteb run of every task type: every mapped key must appear there.
    table = read_results(smoke_results)
    written = {t: set(g["metric"]) for t, g in table.groupby("task_type")}
    for ttype, mapping in METRIC_MAP.items():
        targets = set(mapping.values())
        if ttype == "Classification":
            targets.discard("ap")  # mteb writes `ap` for binary tasks only; the smoke task has 4 classes
        missing = targets - written[ttype]
        assert not missing, (ttype, missing)


@pytest.mark.slow  # runs the smoke suite on the real all-MiniLM-L6-v2 weights (smoke_results)
def test_every_key_mteb_writes_is_a_known_key(smoke_results: Path):
    # What a real run writes must map to itself: a card of current names loses nothing to "extra".
    table = read_results(smoke_results)
    assert set(table["task_type"]) >= set(METRIC_MAP)  # not vacuous: every type's keys are looked at
    for ttype, group in table.groupby("task_type"):
        assert set(group["metric"]) <= MTEB_KEYS[str(ttype)], (ttype, set(group["metric"]) - MTEB_KEYS[str(ttype)])


def test_update_card_in_place_keeps_every_other_byte(tmp_path: Path):
    target = tmp_path / "README.md"
    shutil.copy(CARD, target)
    original = target.read_bytes()
    update = update_card(target, read_card(CARD).scores, style="card")
    assert target.read_bytes() == original and not update.written  # its own numbers: nothing changes at all

    other = read_results(RESULTS)  # all-MiniLM-L6-v2's: written into this card on purpose
    update_card(target, other, style="card", model_name="jina-embeddings-v2-base-zh")
    text = target.read_text(encoding="utf-8")
    assert text.split("\n---\n", 1)[1] == original.decode().split("\n---\n", 1)[1]  # Markdown body untouched
    assert text.startswith(original.decode().split("model-index:")[0])  # other front-matter keys untouched
    merged = read_card(target).scores
    assert merged["task"].nunique() == 35 + 2  # card tasks kept, STSBenchmark and Banking77 added
    # + ATEC validation and STSBenchmark (6 old-named STS metrics each) and Banking77 (accuracy, f1; mteb
    # wrote ap as NaN for 77 classes): 367 + 6 + 6 + 2.
    assert len(merged) == 381

    update_card(target, other, style="card", model_name="jina-embeddings-v2-base-zh", drop_missing=True)
    assert sorted(read_card(target).scores["task"].unique()) == ["ATEC", "Banking77Classification", "Ocnli", "STSBenchmark"]


def test_update_card_keeps_crlf_line_endings(tmp_path: Path):
    target = tmp_path / "README.md"
    target.write_bytes(CARD.read_bytes().replace(b"\n", b"\r\n"))
    before = target.read_bytes()
    update_card(target, read_card(CARD).scores, style="card")
    assert target.read_bytes() == before
    update_card(target, read_results(RESULTS), model_name="jina-embeddings-v2-base-zh")
    after = target.read_bytes()
    assert after != before and after.count(b"\n") == after.count(b"\r\n")  # every line still ends in CRLF


def test_card_from_the_hub_uses_huggingface_hub_download(monkeypatch):
    import huggingface_hub

    calls = []

    def fake_download(repo_id: str, filename: str, **kwargs):
        calls.append((repo_id, filename))
        return str(CARD)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    card = read_card("jinaai/jina-embeddings-v2-base-zh")
    assert calls == [("jinaai/jina-embeddings-v2-base-zh", "README.md")]
    assert card.scores["task"].nunique() == 35


def test_unknown_card_metric_is_kept_as_an_extra(tmp_path: Path):
    text = CARD.read_text(encoding="utf-8").replace(
        "type: cos_sim_pearson\n      value: 48.51403119231363", "type: cos_sim_wobble\n      value: 48.51403119231363"
    )
    path = tmp_path / "README.md"
    path.write_text(text, encoding="utf-8")
    card = read_card(path)
    assert card.extras == ["AFQMC:cos_sim_wobble"]
    row = card.scores[card.scores.metric == "extra:cos_sim_wobble"].iloc[0]
    assert row["value"] == 48.51403119231363 and not row["is_main"]  # as printed: its scale is unknown
    out = export(card.scores, style="card", model_name=card.model_name)
    assert "- type: cos_sim_wobble\n      value: 48.51403119231363\n" in out  # written back as it was
    assert export_card_text(card) == model_index_text(text)  # in its place, too


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        ("# just markdown\n", "has no YAML front matter"),
        ("---\nlicense: mit\n---\nbody\n", "has no model-index"),
        ("---\nmodel-index: [\n---\n", "broken YAML"),
        ("---\nmodel-index:\n- name: x\n  results:\n  - task: {}\n---\n", "model-index is malformed"),
    ],
)
def test_broken_cards_get_one_line_errors(tmp_path: Path, content: str, phrase: str):
    path = tmp_path / "README.md"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_card(path)
    assert phrase in str(err.value) and "\n" not in str(err.value)
