"""Issue 20 item 4: `card compare` and `regress` end the terminal output with their verdict.

By default they print a summary (counts per status, the worst rows) and the verdict as the last
stdout line; the full table stays in the Markdown and HTML pages, and `--full` prints it as before.
Fast: a fixture card with the results it was made from, and the tiny suite under the keyword encoder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import evalkit
from evalkit.cli import main

DATA = Path(__file__).parent / "data"
JINA = DATA / "jina-embeddings-v2-base-zh.md"
CARDS = DATA / "cards"
RESULTS = CARDS / "results" / "sentence-transformers__all-MiniLM-L6-v2" / "5076c6045d315992"
TINY = DATA / "tiny" / "tiny.yaml"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny suite under the keyword encoder, and under its cat-heavy twin (TinySTS +0.2, nothing else moves)."""
    out = tmp_path_factory.mktemp("verdict")
    folders = []
    for factory in ("make_encoder", "make_cat_heavy_encoder"):
        summary = evalkit.run(TINY, model=f"py:tests.keyword_encoder:{factory}", output_dir=out / factory, no_cache=True)
        assert not summary.failed, summary.failed
        folders.append(summary.folder)
    return folders[0], folders[1]


def test_compare_pass_ends_with_the_verdict_and_prints_no_metric_rows(tmp_path: Path, capsys):
    code, lines, err = run(["card", "compare", str(RESULTS), "--card", str(CARDS / "new-percent.md"), "--reports", str(tmp_path)], capsys)
    assert code == 0
    assert lines[-1] == "MATCH: all 5 compared main score(s) within 0.0005"
    assert lines[0].endswith("against the card of all-MiniLM-L6-v2")
    assert "Card metrics: 61 rows (61 match)" in "\n".join(lines)
    # The summary, not the table: no metric row, and it names where the full table is.
    assert len(lines) < 10 and not any(line.startswith("| ") for line in lines)
    assert str(tmp_path / "compare.md") in "\n".join(lines)
    assert f"wrote {tmp_path / 'compare.md'}" in err
    full = (tmp_path / "compare.md").read_text(encoding="utf-8")
    assert full.count("\n| ") > 40  # every metric row is still on the page


def test_compare_fail_ends_with_the_verdict_after_the_worst_rows(tmp_path: Path, capsys):
    code, lines, _ = run(["card", "compare", str(RESULTS), "--card", str(JINA), "--reports", str(tmp_path)], capsys)
    assert code == 1  # another model's card: ATEC test and Ocnli are far off
    assert lines[-1] == "OFF: 2 of 2 compared main score(s) off by more than 0.0005"
    assert any(line.startswith("Warning: the results are of sentence-transformers/all-MiniLM-L6-v2") for line in lines)
    worst = lines.index("Main scores furthest from the card (2 of 2 not matching):")
    assert lines[worst + 1].startswith("| task |") and sum(line.startswith("| ") for line in lines) == 3  # header + 2 rows


def test_compare_nothing_compared_is_a_failing_verdict(tiny_pair: tuple[Path, Path], tmp_path: Path, capsys):
    code, lines, _ = run(["card", "compare", str(tiny_pair[0]), "--card", str(JINA), "--reports", str(tmp_path)], capsys)
    assert code == 1
    assert lines[-1] == "NOTHING COMPARED: none of the card's 35 main score(s) is in the results"


def test_compare_full_prints_the_whole_table_then_the_verdict(tmp_path: Path, capsys):
    args = ["card", "compare", str(RESULTS), "--card", str(CARDS / "new-percent.md"), "--reports", str(tmp_path), "--full"]
    code, lines, _ = run(args, capsys)
    assert code == 0
    page = (tmp_path / "compare.md").read_text(encoding="utf-8").splitlines()
    assert lines[: len(page)] == page  # the Markdown page, as printed before
    assert lines[-1] == "MATCH: all 5 compared main score(s) within 0.0005"


def test_regress_pass_and_fail_end_with_the_verdict(tiny_pair: tuple[Path, Path], tmp_path: Path, capsys):
    plain, cat3 = tiny_pair
    common = ["--suite", str(TINY), "--no-significance"]
    code, lines, _ = run(["regress", str(plain), str(cat3), *common, "--reports", str(tmp_path / "pass")], capsys)
    assert code == 0
    assert lines[-1] == "PASS: no task split regressed (6 judged)"
    assert lines[0].endswith("6 task splits: 1 improved, 5 unchanged")
    assert not any(line.startswith("| ") for line in lines)  # nothing fell: no table at all
    code, lines, _ = run(["regress", str(cat3), str(plain), *common, "--reports", str(tmp_path / "fail")], capsys)
    assert code == 1
    assert lines[-1] == "REGRESSED: 1 of 6 task splits regressed (TinySTS (test))"
    drops = lines.index("Largest drops (1 of 1 task splits that fell):")
    assert lines[drops + 1].startswith("| task | split | subset | baseline | candidate | delta |")
    assert lines[drops + 3].startswith("| TinySTS | test |")
    assert str(tmp_path / "fail" / "regress.md") in lines[-2]


def test_regress_incomplete_and_full(tiny_pair: tuple[Path, Path], tmp_path: Path, capsys):
    plain, cat3 = tiny_pair
    partial = tmp_path / "partial" / "m" / "r"
    shutil.copytree(cat3, partial)
    for f in partial.rglob("TinySTS.json"):
        f.unlink()
    code, lines, _ = run(["regress", str(plain), str(partial), "--suite", str(TINY), "--reports", str(tmp_path / "inc")], capsys)
    assert code == 1
    assert lines[-1].startswith("INCOMPLETE: 1 baseline task split(s) missing from the candidate")
    assert any(line.startswith("Missing from the candidate (the gate fails") and "TinySTS (test)" in line for line in lines)
    code, lines, _ = run(["regress", str(plain), str(cat3), "--suite", str(TINY), "--reports", str(tmp_path / "full"), "--full"], capsys)
    assert code == 0
    page = (tmp_path / "full" / "regress.md").read_text(encoding="utf-8").splitlines()
    assert lines[: len(page)] == page and lines[0] == "# evalkit regress: PASS"
    assert lines[-1].startswith("PASS: no task split regressed")


PUBLIC = DATA / "public_results" / "results"


def test_leaderboard_prints_the_top_rows_and_ends_with_its_verdict(tmp_path: Path, capsys):
    code, lines, err = run(["leaderboard", str(PUBLIC), "--suite", "cmteb", "--reports", str(tmp_path)], capsys)
    assert code == 0
    # 19 rows of mteb's public results; the four holding all 35 suite tasks are ranked (test_public_results.py).
    assert lines[0] == (
        "19 rows over the 35 tasks of suite cmteb: 4 ranked (holding every task), "
        "15 unranked (lacking tasks; --common ranks every row on the tasks all have)"
    )
    assert lines[-1] == "RANKED: #1 TencentBAC/Conan-embedding-v2 (measured), mean (task) 0.7396 over 35 tasks; 4 of 19 rows ranked"
    top = lines.index("Top 4 of 4 ranked:")
    assert [line.split(" | ")[0] for line in lines[top + 3 : top + 7]] == ["| 1", "| 2", "| 3", "| 4"]
    assert sum(line.startswith("| ") for line in lines) == 5  # the header and the 4 ranked rows: no unranked row
    assert lines[-2] == f"The full table: {tmp_path / 'leaderboard.md'} and {tmp_path / 'leaderboard.html'}, or --full"
    assert f"wrote {tmp_path / 'leaderboard.md'}" in err
    page = (tmp_path / "leaderboard.md").read_text(encoding="utf-8").splitlines()
    code, full, _ = run(["leaderboard", str(PUBLIC), "--suite", "cmteb", "--reports", str(tmp_path), "--full"], capsys)
    assert code == 0 and full[: len(page)] == page and full[-1] == lines[-1]  # the whole page, then the same verdict


def test_leaderboard_measured_against_its_card_is_match_or_off(tmp_path: Path, capsys):
    # The fixture card was made from these results: every task equal (MATCH). Raise its STSBenchmark
    # cosine_spearman by one point (82.0325 -> 83.0325 percent): measured - claimed = -0.0100 there (OFF).
    code, lines, _ = run(["leaderboard", str(CARDS / "results"), str(CARDS / "new-percent.md"), "--reports", str(tmp_path)], capsys)
    assert code == 0
    assert (
        lines[-1]
        == "MATCH: all 1 measured row(s) within 0.0005 of their card on every task split both have (largest difference 0.0000, STSBenchmark test)"
    )
    card = (CARDS / "new-percent.md").read_text(encoding="utf-8")
    old = "- type: cosine_spearman\n      value: 82.03246731235654"
    assert card.count(old) == 1
    (tmp_path / "off.md").write_text(card.replace(old, old.replace("82.0", "83.0")), encoding="utf-8")
    code, lines, _ = run(["leaderboard", str(CARDS / "results"), str(tmp_path / "off.md"), "--reports", str(tmp_path)], capsys)
    assert code == 1  # a verdict against the numbers, as card compare's OFF
    assert lines[-1] == (
        "OFF: 1 of 1 measured row(s) off their card by more than 0.0005 "
        "(largest: sentence-transformers/all-MiniLM-L6-v2 on STSBenchmark test, 0.0100)"
    )
    assert "Measured vs claimed: 1 measured row(s) beside their card; largest split difference 0.0100 (tolerance 0.0005)" in lines
