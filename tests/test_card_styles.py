"""Every style of card: read, round-trip exactly, convert, and never lose a metric.

The fixture cards in tests/data/cards were written by evalkit from its own mirror run of
all-MiniLM-L6-v2 (see make_fixtures.py), one per style found on the Hub. Their main scores are that
run's: ATEC validation 0.12243618860408131, ATEC test 0.1351709408395465, Banking77 0.8004220779220779,
Ocnli 0.5327558202490525, STSBenchmark 0.8203246731235654.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from evalkit.card import STYLES, CardStyle, export_card_text, parse_task_name, read_card
from evalkit.card.names import mteb_key
from evalkit.cli import main

from .data.cards.make_fixtures import STYLE_OF

CARDS = Path(__file__).parent / "data" / "cards"
RESULTS = CARDS / "results" / "sentence-transformers__all-MiniLM-L6-v2" / "5076c6045d315992"
FIXTURES = ["old-percent", "new-percent", "new-fraction", "mixed", "main-score-only", "hub"]
#: The style of the mixed card: most entries (ATEC x2, Ocnli) use the old names; entries sorted by dataset path.
MIXED = CardStyle(main_score=True, metric_order="mteb", entry_order="dataset")


def model_index_text(text: str) -> str:
    front = text.split("---\n")[1]
    return front[front.index("model-index:") :]


def style_of(name: str) -> CardStyle:
    return MIXED if name == "mixed" else STYLE_OF[name]


def printed(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])["model-index"][0]["results"]


@pytest.mark.parametrize("name", FIXTURES)
def test_each_style_is_detected_as_written(name: str):
    assert read_card(CARDS / f"{name}.md").style == style_of(name)


@pytest.mark.parametrize("name", FIXTURES)
def test_each_style_reads_the_runs_five_main_scores(name: str):
    card = read_card(CARDS / f"{name}.md")
    main = {(r.task, r.split): (r.metric, r.value) for r in card.scores[card.scores.is_main].itertuples()}
    percent = style_of(name).percent
    assert main == {
        ("ATEC", "validation"): ("cosine_spearman", 0.12243618860408131),  # 12.243618860408132 / 100 when percent
        ("ATEC", "test"): ("cosine_spearman", 0.1351709408395465),
        ("Banking77Classification", "test"): ("accuracy", 0.8004220779220779),
        ("Ocnli", "validation"): ("max_accuracy", 0.5327558202490525),
        # The run's 0.8203246731235654 prints as 82.03246731235654, which / 100 is 0.8203246731235655 in
        # floats: a float that prints back exactly as the card printed it (1 ulp from the run's).
        ("STSBenchmark", "test"): ("cosine_spearman", 0.8203246731235655 if percent else 0.8203246731235654),
    }
    assert card.warnings == []
    assert card.scores[~card.scores.metric.str.startswith("extra:")]["value"].between(-1, 1).all()


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        # ATEC x2 and STSBenchmark: 6 old STS names each; Banking77 accuracy, f1; Ocnli 4 x 5 pair metrics + 3 max_*.
        ("old-percent", 6 * 3 + 2 + 23),
        # mteb 2 names: STS 8 each; Banking77 7 (ap is NaN for 77 classes); Ocnli 6 x 5 = 30. main_score is no row.
        ("new-percent", 8 * 3 + 7 + 30),
        ("new-fraction", 8 * 3 + 7 + 30),
        # old ATEC x2 (6 each) and Ocnli (23); current STSBenchmark (8), Banking77 (7) + 2 extras.
        ("mixed", 6 * 2 + 23 + 8 + 7 + 2),
        ("main-score-only", 5),
        ("hub", 5),
    ],
)
def test_every_printed_metric_is_a_row(name: str, rows: int):
    card = read_card(CARDS / f"{name}.md")
    assert len(card.scores) == rows
    entries = printed(CARDS / f"{name}.md")
    aliases = sum(m["type"] == "main_score" for e in entries for m in e["metrics"] if len(e["metrics"]) > 1)
    assert sum(len(e["metrics"]) for e in entries) == rows + aliases  # main_score beside its metric: one row


@pytest.mark.parametrize("name", FIXTURES)
def test_own_style_round_trip_is_byte_exact(name: str, capsys):
    assert main(["card", "export", str(CARDS / f"{name}.md")]) == 0
    assert capsys.readouterr().out == model_index_text((CARDS / f"{name}.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", FIXTURES)
def test_crlf_cards_read_and_round_trip(name: str, tmp_path: Path):
    path = tmp_path / "README.md"
    path.write_bytes((CARDS / f"{name}.md").read_bytes().replace(b"\n", b"\r\n"))
    card = read_card(path)
    assert card.style == style_of(name)
    assert export_card_text(card) == model_index_text((CARDS / f"{name}.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", FIXTURES)
def test_mteb_style_keeps_every_entry_in_order_and_every_metric(name: str, capsys):
    assert main(["card", "export", str(CARDS / f"{name}.md"), "--style", "mteb"]) == 0
    out = yaml.safe_load(capsys.readouterr().out)["model-index"][0]["results"]
    card = printed(CARDS / f"{name}.md")
    assert [(e["dataset"]["type"], e["dataset"]["split"]) for e in out] == [(e["dataset"]["type"], e["dataset"]["split"]) for e in card]
    without_main_score = sum(all(m["type"] != "main_score" for m in e["metrics"]) for e in card)
    assert sum(len(e["metrics"]) for e in out) == sum(len(e["metrics"]) for e in card) + without_main_score
    for entry in out:
        assert [m["type"] for m in entry["metrics"]].count("main_score") == 1
        assert all(0 <= m["value"] <= 1 for m in entry["metrics"] if not m["type"].endswith("_stderr"))


def test_mixed_card_keeps_its_extras_under_their_own_names(capsys):
    card = read_card(CARDS / "mixed.md")
    assert card.extras == ["Banking77Classification:accuracy_stderr", "Banking77Classification:f1_stderr"]
    stderr = card.scores[card.scores.metric == "extra:accuracy_stderr"].iloc[0]
    assert stderr["value"] == 0.0076199161375301375 and not stderr["is_main"]  # as printed: no rescaling
    # In the mteb style the percents become 0-1, the extras stay as printed.
    assert main(["card", "export", str(CARDS / "mixed.md"), "--style", "mteb"]) == 0
    banking = yaml.safe_load(capsys.readouterr().out)["model-index"][0]["results"][3]
    assert {"type": "accuracy_stderr", "value": 0.0076199161375301375} in banking["metrics"]
    assert {"type": "accuracy", "value": 0.8004220779220779} in banking["metrics"]  # 80.04220779220779 / 100


def test_main_score_that_is_not_mteb_main_metric_is_a_warning(tmp_path: Path):
    # The new-percent card's ATEC test main_score changed to its euclidean_spearman (13.517096335574722).
    text = (CARDS / "new-percent.md").read_text(encoding="utf-8")
    target = "    - type: main_score\n      value: 13.51709408395465\n"
    assert text.count(target) == 1
    path = tmp_path / "README.md"
    path.write_text(text.replace(target, "    - type: main_score\n      value: 13.517096335574722\n"), encoding="utf-8")
    card = read_card(path)
    assert card.warnings == [
        "ATEC (test): the card's main_score 13.517096335574722 is not its cosine_spearman 13.51709408395465, "
        "mteb's main score for ATEC; it is the card's euclidean_spearman; cosine_spearman is used"
    ]
    main_row = card.scores[card.scores.is_main & (card.scores.split == "test") & (card.scores.task == "ATEC")]
    assert main_row["value"].tolist() == [0.1351709408395465]
    assert export_card_text(card) == model_index_text(path.read_text(encoding="utf-8"))  # still written as printed


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        ("MTEB AmazonReviewsClassification (zh)", "zh", ("AmazonReviewsClassification", "zh")),
        ("MassiveIntentClassification (pt)", "pt", ("MassiveIntentClassification", "pt")),
        ("MassiveIntentClassification (pt)", None, ("MassiveIntentClassification", "pt")),  # the name's subset
        ("STS22 (zh)", "zh-en", ("STS22", "zh-en")),  # config wins
        ("MTEB BSARDRetrieval (default)", "default", ("BSARDRetrieval", "default")),
        ("Ocnli", None, ("Ocnli", "default")),
        ("MTEB CMedQAv1", "default", ("CMedQAv1-reranking", "default")),  # renamed by mteb
        ("MTEB 8TagsClustering", None, ("EightTagsClustering", "default")),  # mteb's own renames
        ("MTEB ocnli", None, ("Ocnli", "default")),  # another case
        ("MTEB SmokeSTS", None, ("SmokeSTS", "default")),  # not an mteb task: kept as named
    ],
)
def test_entry_names_of_every_style(name: str, config: str | None, expected: tuple[str, str]):
    assert parse_task_name(name, config) == expected


def test_entry_named_after_its_dataset_is_found_by_path():
    # Early cards: `MTEB Banking77` on mteb/banking77, the path of Banking77Classification (and of its .v2).
    assert parse_task_name("MTEB Banking77", None, "mteb/banking77") == ("Banking77Classification", "default")


@pytest.mark.parametrize(
    ("task_type", "name", "key"),
    [
        ("STS", "cos_sim_spearman", "cosine_spearman"),
        ("STS", "cosine_spearman", "cosine_spearman"),
        ("STS", "spearman", "spearman"),
        ("Reranking", "map", "map_at_1000"),
        ("Reranking", "mrr", "mrr_at_10"),
        ("Reranking", "map_at_1000", "map_at_1000"),
        ("Retrieval", "nAUC_ndcg_at_10_max", "nauc_ndcg_at_10_max"),  # mteb 1.12's casing of the same key
        ("Retrieval", "ndcg_at_20", "ndcg_at_20"),
        ("Classification", "f1_weighted", "f1_weighted"),
        ("PairClassification", "max_precision", "max_precision"),
        ("PairClassification", "cos_sim_ap", "cosine_ap"),
        ("PairClassification", "similarity_f1", "similarity_f1"),
        ("Clustering", "v_measure_std", "v_measure_std"),
        # No mteb 2.x key: extras.
        ("Classification", "accuracy_stderr", None),
        ("PairClassification", "cos_sim_accuracy_threshold", None),
        ("PairClassification", "cosine_accuracy_threshold", None),
        ("Reranking", "nAUC_map_max", None),  # mteb 1.12's reranking nAUC has no k: mteb 2 has none like it
    ],
)
def test_metric_names_map_to_mteb_keys_or_are_extras(task_type: str, name: str, key: str | None):
    assert mteb_key(task_type, name, None) == key


def test_styles_differ_only_in_what_they_say():
    # The two named styles, as documented in the CLI help.
    assert dataclasses.asdict(STYLES["card"])["percent"] and STYLES["card"].old_names and STYLES["card"].metrics == "all"
    assert not STYLES["mteb"].percent and not STYLES["mteb"].old_names and STYLES["mteb"].metrics == "main"
    assert STYLES["mteb"].main_score and not STYLES["card"].main_score


@pytest.mark.slow
def test_fixture_cards_are_made_by_evalkit_from_its_mirror_run(mirror_results: Path):
    # Regenerated from a fresh mirror run, every fixture has the same entries and metrics, values within
    # 1e-5 on the 0-1 scale. The fixtures predate evalkit's own forward loop, whose vectors differ from
    # sentence-transformers' by ~1e-7: main scores stay within 1e-6 of the published ones
    # (test_fidelity.py), while rank statistics on secondary similarities (euclidean, manhattan) moved
    # by up to 7e-6 through near-tied pairs.
    from .data.cards.make_fixtures import cards

    made = cards(mirror_results)
    assert made and all((CARDS / f"{name}.md").is_file() for name in made)  # not vacuous: some fixtures compared
    for name, text in made.items():
        ours = yaml.safe_load(text.split("---\n")[1])["model-index"][0]["results"]
        theirs = printed(CARDS / f"{name}.md")
        assert [(e["dataset"]["name"], [m["type"] for m in e["metrics"]]) for e in ours] == [
            (e["dataset"]["name"], [m["type"] for m in e["metrics"]]) for e in theirs
        ]
        for a, b in zip(ours, theirs, strict=True):
            for m, n in zip(a["metrics"], b["metrics"], strict=True):
                assert m["value"] == pytest.approx(n["value"], abs=1e-5 * (100 if abs(n["value"]) > 1 else 1)), (name, m)


def edited(tmp_path: Path, name: str, old: str, new: str, count: int = 1) -> Path:
    text = (CARDS / f"{name}.md").read_text(encoding="utf-8")
    assert text.count(old) == count, old
    path = tmp_path / "README.md"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_nan_on_a_card_is_no_value_and_is_written_back(tmp_path: Path):
    # mteb 1.12 cards print `.nan` for nAUC of empty rankings; here the new-percent card's ATEC test pearson.
    path = edited(tmp_path, "new-percent", "value: 12.067435836495424", "value: .nan")
    card = read_card(path)
    atec = card.scores[(card.scores.task == "ATEC") & (card.scores.split == "test")]
    assert "pearson" not in set(atec.metric) and len(atec) == 7 and card.warnings == []
    assert export_card_text(card) == model_index_text(path.read_text(encoding="utf-8"))


def test_values_that_are_not_numbers_are_kept_and_named_briefly(tmp_path: Path):
    # mteb 1.12 cards carry `v_measures: [0.63, 0.63, ...]` lists of up to thousands of numbers.
    path = edited(tmp_path, "new-percent", "    - type: f1\n      value: 79.37884047247287\n", "    - type: f1\n      value: [1, 2, 3]\n")
    card = read_card(path)
    assert card.warnings == ["Banking77Classification (test): f1 is a list of 3 values, not a number; kept as printed, not compared"]
    # The same model-index (PyYAML writes the list in block style, the edit wrote it in flow style).
    assert yaml.safe_load(export_card_text(card)) == yaml.safe_load(model_index_text(path.read_text(encoding="utf-8")))


def test_long_names_folded_by_yaml_dump_still_name_their_task(tmp_path: Path):
    # yaml.dump (width 80) folds long entry names; PyYAML reads them back with a line break kept in quotes.
    path = edited(tmp_path, "old-percent", "name: MTEB Banking77Classification\n", 'name: "MTEB\\nBanking77Classification"\n')
    assert "Banking77Classification" in set(read_card(path).scores.task)


def test_pair_classification_entry_of_an_sts_name_is_mteb_2s_pair_task(tmp_path: Path):
    # Multilingual cards' "MTEB PAWSX (de)" is PAWS-X pair classification; mteb 2's PAWSX is C-MTEB's STS task.
    assert parse_task_name("MTEB PAWSX (de)", "de", "paws-x", "PairClassification") == ("PawsXPairClassification", "de")
    assert parse_task_name("MTEB PAWSX", "default", "C-MTEB/PAWSX", "STS") == ("PAWSX", "default")


def test_a_card_whose_main_metric_is_missing_says_so(tmp_path: Path):
    # mteb 2's main score for Ocnli is max_accuracy; a card without it has nothing to compare there.
    path = edited(tmp_path, "old-percent", "    - type: max_accuracy\n", "    - type: max_accuracy_old\n")
    card = read_card(path)
    assert card.warnings == [
        "Ocnli (validation): the card has no max_accuracy, mteb's main score for Ocnli; its main score is not compared"
    ]
    assert card.extras == ["Ocnli:max_accuracy_old"]
    assert int(card.scores.is_main.sum()) == 4
