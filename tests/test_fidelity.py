"""Reproduction: evalkit on the shared mirror gives the scores mteb published for all-MiniLM-L6-v2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.results.scores import main_scores, read_published, read_results

from .conftest import PUBLISHED, needs_shared

pytestmark = [pytest.mark.slow, needs_shared]


def test_every_published_score_is_reproduced_within_5e_4(mirror_results: Path):
    ours = main_scores(read_results(mirror_results)).set_index(["task", "split", "subset"])["value"]
    published = read_published(PUBLISHED)
    assert len(published) == 4
    for row in published.itertuples():
        value = ours.loc[(row.task, row.split, row.subset)]
        # Plain mteb reproduces these to 1e-7 on the mirror; the bar is 5e-4.
        assert abs(value - row.value) <= 5e-4, (row.task, row.split, value, row.value)
        assert abs(value - row.value) <= 1e-6, (row.task, row.split, value, row.value)


def test_ocnli_matches_plain_mteb_on_the_mirror(mirror_results: Path):
    # Not published for this model; plain mteb 2.26 on the mirror gives 0.532756 (mirror README).
    ours = main_scores(read_results(mirror_results))
    value = ours[(ours.task == "Ocnli")]["value"].item()
    assert value == pytest.approx(0.532756, abs=5e-7)


def test_mirror_run_records_dataset_revisions_and_source(mirror_results: Path):
    table = read_results(mirror_results)
    revisions = dict(zip(table.task, table.dataset_revision, strict=False))
    assert revisions["ATEC"] == "0f319b1142f28d00e055a6770f3f726ae9b7d865"
    assert revisions["Banking77Classification"] == "0fd18e25b25c072e09e0d92ab615fda904d66300"
    record = json.loads((mirror_results / "evalkit" / "tasks" / "ATEC.json").read_text())
    assert record["data_source"].startswith("mirror:")


def test_card_of_published_scores_matches_the_run(mirror_results: Path, tmp_path: Path, capsys):
    from evalkit.card import export
    from evalkit.cli import main

    card = tmp_path / "README.md"
    model_index = export(read_published(PUBLISHED), style="card", model_name="all-MiniLM-L6-v2")
    card.write_text(f"---\nlicense: apache-2.0\n{model_index}---\n# all-MiniLM-L6-v2\n", encoding="utf-8")
    code = main(["card", "compare", str(mirror_results), "--card", str(card), "--reports", str(tmp_path / "rep")])
    out = capsys.readouterr().out
    assert code == 0
    rows = (tmp_path / "rep" / "compare.csv").read_text().splitlines()
    main_rows = [r for r in rows if ",cosine_spearman," in r or ",accuracy," in r]
    assert len(main_rows) == 4  # ATEC test + validation, STSBenchmark, Banking77
    assert "all compared main scores within 0.0005" in out
    assert "<svg" in (tmp_path / "rep" / "compare.html").read_text()


def test_banking77_examples_keep_the_label_names_of_the_data(mirror_results: Path):
    import pyarrow.parquet as pq

    from evalkit.results import per_example
    from evalkit.results.folder import ResultsFolder

    from .conftest import MIRROR

    # mteb scores Banking77's integer labels; the mirror's label_text column names each one.
    [entry] = per_example.load(ResultsFolder(mirror_results).examples_path("Banking77Classification"))[1]
    test = pq.read_table(MIRROR / "mteb" / "banking77" / "test.parquet").to_pydict()
    assert entry.answers == test["label_text"]  # 3080 items, in the order mteb scores them
    assert entry.answers[0] == "card_arrival" and test["label"][0] == 11  # the issue's `gold 11`
    assert len(set(entry.answers)) == 77
