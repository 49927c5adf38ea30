"""Model cards: read model-index into Scores, compare, export in the card's own format, update in place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from evalkit.card import METRIC_MAP, export, read_card, update_card
from evalkit.cli import main
from evalkit.errors import DataError
from evalkit.scores import read_results

CARD = Path(__file__).parent / "data" / "jina-embeddings-v2-base-zh.md"


def model_index_text(card_text: str) -> str:
    front = card_text.split("---\n")[1]
    return front[front.index("model-index:") :]


def test_reference_card_reads_into_35_tasks_with_mteb_names_and_fractions():
    card = read_card(CARD)
    table = card.scores
    assert card.model_name == "jina-embeddings-v2-base-zh"
    assert card.unmapped == []
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
    out = export(card.scores, style="card", model_name=card.model_name)
    assert out == model_index_text(CARD.read_text(encoding="utf-8"))


def test_card_export_cli_round_trip(capsys):
    assert main(["card", "export", str(CARD), "--style", "card"]) == 0
    assert capsys.readouterr().out == model_index_text(CARD.read_text(encoding="utf-8"))


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


def test_update_card_in_place_keeps_every_other_byte(tmp_path: Path, smoke_results: Path):
    target = tmp_path / "README.md"
    shutil.copy(CARD, target)
    original = target.read_bytes()
    update_card(target, read_card(CARD).scores, style="card")
    assert target.read_bytes() == original  # its own numbers: nothing changes at all

    update_card(target, read_results(smoke_results), style="card")
    text = target.read_text(encoding="utf-8")
    assert text.split("\n---\n", 1)[1] == original.decode().split("\n---\n", 1)[1]  # Markdown body untouched
    assert text.startswith(original.decode().split("model-index:")[0])  # other front-matter keys untouched
    merged = read_card(target).scores
    assert merged["task"].nunique() == 35 + 6  # card tasks kept, smoke tasks added
    assert merged[merged.task == "SmokeSTS"]["value"].max() <= 1

    update_card(target, read_results(smoke_results), style="card", drop_missing=True)
    assert read_card(target).scores["task"].nunique() == 6


def test_update_card_keeps_crlf_line_endings(tmp_path: Path):
    target = tmp_path / "README.md"
    target.write_bytes(CARD.read_bytes().replace(b"\n", b"\r\n"))
    before = target.read_bytes()
    update_card(target, read_card(CARD).scores, style="card")
    assert target.read_bytes() == before


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


def test_unknown_card_metric_is_reported_not_fatal(tmp_path: Path):
    text = CARD.read_text(encoding="utf-8").replace(
        "type: cos_sim_pearson\n      value: 48.51403119231363", "type: cos_sim_wobble\n      value: 48.51403119231363"
    )
    path = tmp_path / "README.md"
    path.write_text(text, encoding="utf-8")
    card = read_card(path)
    assert card.unmapped == ["AFQMC:cos_sim_wobble"]
    out = export(card.scores, style="card", model_name=card.model_name)
    assert "- type: cos_sim_wobble\n      value: 48.51403119231363\n" in out  # written back as it was


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
