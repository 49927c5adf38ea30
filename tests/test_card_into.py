"""`card export --into` and `card compare` as a user runs them: never a wrong card, never a vacuous pass.

`RESULTS` is evalkit's mirror run of sentence-transformers/all-MiniLM-L6-v2 (ATEC validation+test,
Ocnli, STSBenchmark, Banking77); `JINA` is the jina-embeddings-v2-base-zh card (35 C-MTEB results).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from evalkit.card import read_card, render
from evalkit.cli import main

DATA = Path(__file__).parent / "data"
JINA = DATA / "jina-embeddings-v2-base-zh.md"
CARDS = DATA / "cards"
RESULTS = CARDS / "results" / "sentence-transformers__all-MiniLM-L6-v2" / "5076c6045d315992"


def entries(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])["model-index"][0]["results"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def jina(tmp_path: Path) -> Path:
    path = tmp_path / "README.md"
    shutil.copy(JINA, path)
    return path


def test_into_another_models_card_is_refused_in_one_line(jina: Path, capsys):
    code, out, err = run(["card", "export", str(RESULTS), "--into", str(jina)], capsys)
    assert code == 2 and out == ""
    assert err == (
        f"evalkit: error: --into {jina}: the results are of sentence-transformers/all-MiniLM-L6-v2 but the card is of "
        "jina-embeddings-v2-base-zh; pass that model's card, or --model-name jina-embeddings-v2-base-zh to write them into it on purpose\n"
    )
    assert jina.read_bytes() == JINA.read_bytes()


def test_model_name_writes_into_another_card_on_purpose_and_says_what_changed(jina: Path, capsys):
    code, _, err = run(["card", "export", str(RESULTS), "--into", str(jina), "--model-name", "jina-embeddings-v2-base-zh"], capsys)
    assert code == 0
    lines = err.splitlines()
    # Updated: ATEC test, Ocnli validation. Added: ATEC validation, STSBenchmark, Banking77. Kept: the other 33.
    # Changed at the card's 14-16 printed decimals: ATEC test's 6 metrics and Ocnli's 23.
    assert lines[0] == f"{jina}: 2 entries updated, 3 added, 33 kept, 0 dropped; 29 value(s) changed beyond the card's printed precision"
    assert "  ATEC (test) cos_sim_spearman: 51.288159 -> 13.517094" in lines  # the 51.29 -> 13.52, said aloud
    assert lines[-1] == f"updated model-index of {jina}"
    before = [(e["dataset"]["name"], e["dataset"]["split"]) for e in entries(JINA)]
    after = [(e["dataset"]["name"], e["dataset"]["split"]) for e in entries(jina)]
    assert [k for k in after if k in before] == before  # every card entry kept, in its place
    assert sum(len(e["metrics"]) for e in entries(jina)) == 367 + 6 + 6 + 2  # + ATEC validation, STSBenchmark, Banking77


def test_mteb_style_into_a_card_keeps_every_card_metric(jina: Path, capsys):
    args = ["card", "export", str(RESULTS), "--into", str(jina), "--model-name", "jina-embeddings-v2-base-zh", "--style", "mteb"]
    assert run(args, capsys)[0] == 0
    out = entries(jina)
    assert len(out) == 35 + 3
    # The card's 367 values (renamed, 0-1) with a main_score per entry (35), and 3 new entries of main + main_score.
    assert sum(len(e["metrics"]) for e in out) == 367 + 35 + 3 * 2
    atec = next(e for e in out if e["dataset"]["name"] == "MTEB ATEC" and e["dataset"]["split"] == "test")
    assert atec["metrics"][1] == {"type": "cosine_spearman", "value": 0.1351709408395465}


def test_drop_missing_drops_what_the_results_lack(jina: Path, capsys):
    args = ["card", "export", str(RESULTS), "--into", str(jina), "--model-name", "jina-embeddings-v2-base-zh", "--drop-missing"]
    code, _, err = run(args, capsys)
    assert code == 0
    assert err.splitlines()[0].startswith(f"{jina}: 2 entries updated, 3 added, 0 kept, 33 dropped;")
    assert len(entries(jina)) == 5


def test_dry_run_prints_the_diff_and_writes_nothing(jina: Path, capsys):
    args = ["card", "export", str(RESULTS), "--into", str(jina), "--model-name", "jina-embeddings-v2-base-zh", "--dry-run"]
    code, out, err = run(args, capsys)
    assert code == 0 and jina.read_bytes() == JINA.read_bytes()
    assert out.startswith(f"--- {jina}\n+++ {jina} (updated)\n@@ ")
    assert "-      value: 51.28815934593989\n+      value: 13.51709408395465\n" in out
    assert err.splitlines()[-1] == f"dry run: {jina} not written"


@pytest.mark.parametrize("name", ["old-percent", "new-percent", "new-fraction", "hub"])
def test_into_own_card_puts_a_missing_entry_back_where_the_style_says(name: str, tmp_path: Path, capsys):
    # The card less its STSBenchmark entry, updated from the run: it is the card as evalkit wrote it,
    # byte for byte (style, entry order and metric order kept). Without STSBenchmark the new-fraction
    # card's entries are in dataset-path order only (Ocnli's C-MTEB/OCNLI before mteb/banking77).
    card = read_card(CARDS / f"{name}.md")
    kept = [e for e in card.entries if e.task != "STSBenchmark"]
    text = (CARDS / f"{name}.md").read_text(encoding="utf-8")
    head, rest = text.split("model-index:", 1)
    path = tmp_path / "README.md"
    path.write_text(head + render(kept, model_name=card.model_name) + "---" + rest.split("\n---", 1)[1], encoding="utf-8")
    code, _, err = run(["card", "export", str(RESULTS), "--into", str(path)], capsys)
    assert code == 0
    assert (
        err.splitlines()[0]
        == f"{path}: 4 entries updated, 1 added, 0 kept, 0 dropped; 0 value(s) changed beyond the card's printed precision"
    )
    assert path.read_bytes() == (CARDS / f"{name}.md").read_bytes()


def test_into_a_card_in_no_order_adds_new_entries_last(tmp_path: Path, capsys):
    card = read_card(CARDS / "main-score-only.md")  # STSBenchmark, Ocnli, Banking77, ATEC test, ATEC validation
    kept = [e for e in card.entries if e.task != "Ocnli"]
    path = tmp_path / "README.md"
    path.write_text("---\n" + render(kept, model_name=card.model_name) + "---\n", encoding="utf-8")
    assert run(["card", "export", str(RESULTS), "--into", str(path)], capsys)[0] == 0
    assert [e["dataset"]["name"] for e in entries(path)] == ["STSBenchmark", "Banking77Classification", "ATEC", "ATEC", "Ocnli"]
    assert entries(path)[-1]["metrics"] == [{"type": "main_score", "value": 0.5327558202490525}]


@pytest.mark.parametrize(("printed", "changed"), [("0.14", 0), ("0.13", 1)])
def test_changes_are_counted_at_the_cards_printed_precision(printed: str, changed: int, tmp_path: Path, capsys):
    # The run's ATEC test score 0.1351709408395465 rounds to 0.14: a card printing 0.14 had it right.
    text = (CARDS / "main-score-only.md").read_text(encoding="utf-8").replace("value: 0.1351709408395465", f"value: {printed}")
    path = tmp_path / "README.md"
    path.write_text(text, encoding="utf-8")
    code, _, err = run(["card", "export", str(RESULTS), "--into", str(path)], capsys)
    assert code == 0
    assert err.splitlines()[0].endswith(f"; {changed} value(s) changed beyond the card's printed precision")
    if changed:
        assert err.splitlines()[1] == "  ATEC (test) main_score: 0.13 -> 0.14"
    assert path.read_bytes() == (CARDS / "main-score-only.md").read_bytes()  # written at full precision


def test_readme_without_front_matter_gets_one_above_its_first_line(tmp_path: Path, capsys):
    path = tmp_path / "README.md"
    body = "# all-MiniLM-L6-v2\n\nMy notes.\n---\nnot front matter\n"
    path.write_text(body, encoding="utf-8")
    code, block, _ = run(["card", "export", str(RESULTS)], capsys)
    assert code == 0
    assert run(["card", "export", str(RESULTS), "--into", str(path)], capsys)[0] == 0
    assert path.read_text(encoding="utf-8") == "---\n" + block + "---\n" + body


def test_front_matter_without_model_index_gets_it_at_its_end(tmp_path: Path, capsys):
    path = tmp_path / "README.md"
    path.write_text("---\nlicense: mit  # keep me\ntags:\n- mteb\n---\n# x\n", encoding="utf-8")
    main(["card", "export", str(RESULTS)])
    block = capsys.readouterr().out
    assert run(["card", "export", str(RESULTS), "--into", str(path)], capsys)[0] == 0
    assert path.read_text(encoding="utf-8") == "---\nlicense: mit  # keep me\ntags:\n- mteb\n" + block + "---\n# x\n"


def test_model_index_in_the_middle_is_replaced_in_place(tmp_path: Path, capsys):
    path = tmp_path / "README.md"
    model_index = (CARDS / "main-score-only.md").read_text(encoding="utf-8").split("---\n")[1].split("tags:\n- mteb\n")[1]
    edited = model_index.replace("value: 0.8203246731235654", "value: 0.5")
    path.write_text(f"---\nlicense: mit\n{edited}# a comment\nlanguage:\n- en\n---\nbody\n", encoding="utf-8")
    assert run(["card", "export", str(RESULTS), "--into", str(path)], capsys)[0] == 0
    assert path.read_text(encoding="utf-8") == f"---\nlicense: mit\n{model_index}# a comment\nlanguage:\n- en\n---\nbody\n"


@pytest.mark.slow  # runs the smoke suite on the real all-MiniLM-L6-v2 weights (smoke_results)
def test_in_house_tasks_are_not_exported_as_mteb_tasks(smoke_results: Path, capsys):
    code, out, err = run(["card", "export", str(smoke_results)], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"evalkit: error: nothing to export from {smoke_results}: left out 6 in-house task(s), not MTEB tasks: ")
    code, out, err = run(["card", "export", str(smoke_results), "--include-local", "SmokeSTS"], capsys)
    assert code == 0 and [e["dataset"]["name"] for e in yaml.safe_load(out)["model-index"][0]["results"]] == ["MTEB SmokeSTS"]
    assert err.startswith("note: left out 5 in-house task(s), not MTEB tasks: ")
    code, out, _ = run(["card", "export", str(smoke_results), "--include-local"], capsys)
    assert code == 0 and len(yaml.safe_load(out)["model-index"][0]["results"]) == 6
    code, _, err = run(["card", "export", str(smoke_results), "--include-local", "ATEC"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--include-local ATEC: not an in-house task of these results" in err


def test_into_options_need_into(capsys):
    code, _, err = run(["card", "export", str(RESULTS), "--dry-run"], capsys)
    assert code == 2 and err == "evalkit: error: --dry-run: only with --into README.md\n"


@pytest.mark.slow  # runs the smoke suite on the real all-MiniLM-L6-v2 weights (smoke_results)
def test_compare_with_nothing_in_common_fails_and_names_both_models(smoke_results: Path, tmp_path: Path, capsys):
    code, out, _ = run(["card", "compare", str(smoke_results), "--card", str(JINA), "--reports", str(tmp_path), "--full"], capsys)
    assert code == 1
    lines = out.splitlines()
    revision = smoke_results.name
    assert lines[0] == (
        f"# Card comparison: Results of sentence-transformers/all-MiniLM-L6-v2 @ {revision} against the card of jina-embeddings-v2-base-zh"
    )
    assert lines[2] == (
        "> Warning: the results are of sentence-transformers/all-MiniLM-L6-v2, the card is of jina-embeddings-v2-base-zh: another model's card"
    )
    assert lines[4] == (
        "**nothing compared**: none of the card's 35 main score(s) is in the results (6 main score(s)); pass results of the card's tasks"
    )
    assert "within 0.0005" not in out


def test_compare_reports_carry_the_same_header(tmp_path: Path, capsys):
    code, out, _ = run(["card", "compare", str(RESULTS), "--card", str(JINA), "--reports", str(tmp_path)], capsys)
    assert code == 1  # ATEC test and Ocnli are far off: another model
    header = [
        "Results of sentence-transformers/all-MiniLM-L6-v2 @ 5076c6045d315992 against the card of jina-embeddings-v2-base-zh",
        "Warning: the results are of sentence-transformers/all-MiniLM-L6-v2, the card is of jina-embeddings-v2-base-zh: another model's card",
    ]
    md = (tmp_path / "compare.md").read_text(encoding="utf-8").splitlines()
    assert md[0] == f"# Card comparison: {header[0]}" and md[2] == f"> {header[1]}"
    assert (tmp_path / "compare.csv").read_text(encoding="utf-8").splitlines()[:2] == [f"# {line}" for line in header]
    html = (tmp_path / "compare.html").read_text(encoding="utf-8")
    # jinja2 (markupsafe) escapes ' as &#39;, the standard library as &#x27;.
    assert all(f"<p>{line}</p>" in html.replace("&#x27;", "'").replace("&#39;", "'") for line in header)


def test_averages_use_only_keys_on_both_sides(capsys, tmp_path: Path):
    from evalkit import compare_card

    report = compare_card(RESULTS, card=JINA, reports_dir=None)
    averages = report.averages.set_index("task_type")
    # The card has ATEC test only: our ATEC validation (0.1224...) stays out of the STS average.
    assert averages.loc["STS", "card"] == 0.5128815934593989  # 51.28815934593989 / 100
    assert averages.loc["STS", "ours"] == 0.1351709408395465
    assert averages.loc["PairClassification", "ours"] == 0.5327558202490525
    assert averages.loc["All", "tasks"] == 2 and list(averages.index) == ["PairClassification", "STS", "All"]
    assert report.compared == 2 and report.failed


@pytest.mark.parametrize("name", ["old-percent", "new-percent", "new-fraction", "mixed", "main-score-only", "hub"])
def test_compare_with_the_models_own_card_of_each_style_passes(name: str, tmp_path: Path, capsys):
    code, out, _ = run(["card", "compare", str(RESULTS), "--card", str(CARDS / f"{name}.md"), "--reports", str(tmp_path), "--full"], capsys)
    assert code == 0
    lines = out.splitlines()
    card_name = "sentence-transformers/all-MiniLM-L6-v2" if name == "hub" else "all-MiniLM-L6-v2"
    assert lines[0].endswith(f"against the card of {card_name}") and "Warning" not in out  # the same model
    assert lines[2] == "Main scores: 5 match. 5 compared: all compared main scores within 0.0005."


def test_into_with_the_cards_own_values_changes_nothing(tmp_path: Path, capsys):
    # A card's own table into itself: duplicate entries, main_score-only metrics, entries without main_score.
    from evalkit.card import update_card

    text = (CARDS / "new-percent.md").read_text(encoding="utf-8")
    first = text.index("  - dataset:")
    second = text.index("  - dataset:", first + 1)
    duplicate = text[first:second].replace("value: 12.243618860408132", "value: 11.0")  # a stale second ATEC validation
    without_main_score = text.replace("    - type: main_score\n      value: 80.04220779220779\n", "")
    path = tmp_path / "README.md"
    path.write_text(without_main_score[:second] + duplicate + without_main_score[second:], encoding="utf-8")
    before = path.read_bytes()
    card = read_card(path)
    assert card.warnings == ["ATEC (validation): appears twice on the card; the first entry is compared"]
    update = update_card(path, card.scores)
    assert not update.written and path.read_bytes() == before
    assert update.summary.updated == 5 and update.summary.kept == 1 and update.summary.changed == ()
