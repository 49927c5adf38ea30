"""Report pages on real runs: verdict first, models named, no NaN, sortable tables, self-contained.

The HTML checks parse the pages with the standard library and always run. The browser checks
open the same pages in headless Chromium (Playwright driving the Debian `chromium`) and skip, with
the reason, when either is missing.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evalkit.cli import main

from .test_regress import noisy_checkpoint

# Every page here is made from runs on real weights (smoke_results, a noisy copy of the checkpoint).
pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Page(HTMLParser):
    """What the checks need from a page: the verdict, the text, the sortable tables and any remote asset."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.verdict = ""
        self.text: list[str] = []
        self.tables: dict[str, dict] = {}
        self.remote: list[str] = []
        self.ids: set[str] = set()
        self._in_verdict = False
        self._table: dict | None = None
        self._cell: list[str] | None = None
        self._in_head = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if a.get("id") == "verdict":
            self._in_verdict = True
        for key in ("src", "href"):
            if a.get(key, "").startswith(("http:", "https:", "//")):
                self.remote.append(a[key])
        if tag == "link":
            self.remote.append(str(a))
        if tag == "table" and "sortable" in a.get("class", ""):
            self._table = {"head": [], "buttons": 0, "rows": []}
            self.tables[a.get("id", str(len(self.tables)))] = self._table
        if self._table is not None:
            if tag == "thead":
                self._in_head = True
            elif tag == "button" and self._in_head:
                self._table["buttons"] += 1
            elif tag == "tr" and not self._in_head:
                self._table["rows"].append([])
            elif tag in ("th", "td"):
                self._cell = []
                if tag == "td":
                    self._table["rows"][-1].append(a.get("data-sort"))

    def handle_endtag(self, tag):
        if tag == "span":
            self._in_verdict = False
        if tag == "thead":
            self._in_head = False
        if tag == "th" and self._table is not None and self._cell is not None:
            self._table["head"].append("".join(self._cell).strip())
        if tag in ("th", "td"):
            self._cell = None
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._in_verdict:
            self.verdict += data.strip()
        if self._cell is not None:
            self._cell.append(data)


def check_page(path: Path, verdict: str, models: list[str]) -> Page:
    """The checks every page must pass."""
    html = path.read_text(encoding="utf-8")
    page = Page(html)
    assert page.verdict == verdict
    text = " ".join(page.text)
    for model in models:
        assert model in text, model
    assert not re.search(r"\bnan\b", html, re.IGNORECASE), "a NaN reached the page"
    assert page.remote == [], "the page fetches something at view time"
    assert page.tables, "no sortable table"
    for table in page.tables.values():
        assert table["buttons"] == len(table["head"]) > 0  # every header sorts
    assert "mteb 2.26" in text and "evalkit 0.1" in text
    return page


@pytest.fixture(scope="module")
def noisy_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke suite on the embedded model with noise on its weights: a real regressed candidate (about 15 s)."""
    from evalkit import run

    tmp = tmp_path_factory.mktemp("noisy")
    summary = run("smoke", model=str(noisy_checkpoint(tmp / "noisy", sigma=1.0)), output_dir=tmp / "results", cache_dir=None)
    assert not summary.failed
    return summary.folder


def copy_without(folder: Path, dest: Path, tasks: tuple[str, ...]) -> Path:
    """A copy of a results folder that lacks some tasks, as a candidate that did not run them."""
    from evalkit.results.folder import ResultsFolder

    shutil.copytree(folder, dest)
    copy = ResultsFolder(dest)
    for task in tasks:
        for path in (copy.result_path(task), copy.result_path(task, local=True), copy.examples_path(task), copy.record_path(task)):
            path.unlink(missing_ok=True)
    return dest


def test_run_writes_a_run_page_with_cmteb_averages(smoke_results: Path, tmp_path: Path, capsys):
    from mteb.results import TaskResult

    from evalkit.results.folder import ResultsFolder

    out = tmp_path / "results"
    shutil.copytree(smoke_results.parent, out / smoke_results.parent.name)
    # SmokeSTS's record says both paths encoded it (the loop for one prompt, model.encode for another) and why.
    sts = out / smoke_results.parent.name / smoke_results.name / "evalkit" / "tasks" / "SmokeSTS.json"
    used = {"paths": ["evalkit", "sentence-transformers"], "reason": "prompt 'q: ': token ids differ", "loop": "evalkit forward loop on cpu"}
    sts.write_text(json.dumps({**json.loads(sts.read_text()), "forward": used}))
    # Every task is reused, so nothing loads; the page shows the time each took when it was computed.
    assert main(["run", "smoke", "--output", str(out), "--reports", str(tmp_path / "rep"), "--no-cache", "--quiet"]) == 0
    assert "wrote " + str(tmp_path / "rep" / "run.html") in capsys.readouterr().err
    page = check_page(tmp_path / "rep" / "run.html", "PASS", [BASE_MODEL, "smoke"])
    assert {"scores", "averages", "timing"} <= set(page.tables)
    # mean (task) is the mean of mteb's own per-task scores (TaskResult.get_score: mean over splits).
    per_task = {p.stem: TaskResult.from_disk(p).get_score() for p in ResultsFolder(smoke_results).result_files()}
    averages = {row[0]: float(row[2]) for row in page.tables["averages"]["rows"]}
    assert averages["mean (task)"] == pytest.approx(sum(per_task.values()) / 6, abs=1e-12)
    assert averages["STS"] == pytest.approx(0.6441176, abs=1e-6)  # one STS task: SmokeSTS
    assert averages["mean (type)"] == pytest.approx(averages["mean (task)"], abs=1e-12)  # one task per type
    record = json.loads((smoke_results / "evalkit" / "tasks" / "SmokeSTS.json").read_text())
    timing = {row[0]: row for row in page.tables["timing"]["rows"]}
    assert float(timing["SmokeSTS"][2]) == pytest.approx(record["seconds"])
    assert timing["SmokeSTS"][1] == "reused"  # this run reused it; the time is that of the run that computed it
    assert timing["SmokeSTS"][-1] == "evalkit+sentence-transformers"  # the forward paths that encoded it, from its record
    md = (tmp_path / "rep" / "run.md").read_text()
    assert md.startswith("# evalkit run: PASS") and "| mean (task) | 6 |" in md
    assert "prompt 'q: ': token ids differ (SmokeSTS)" in md.split("\nForward path: ")[1].splitlines()[0]


def test_regressed_candidate_page(smoke_results: Path, noisy_results: Path, tmp_path: Path, capsys):
    code = main(["regress", str(smoke_results), str(noisy_results), "--suite", "smoke", "--reports", str(tmp_path / "rep")])
    assert code == 1
    page = check_page(tmp_path / "rep" / "regress.html", "REGRESSED", [BASE_MODEL, "noisy", "smoke"])
    html = (tmp_path / "rep" / "regress.html").read_text()
    # The chart links each task to its table row, and the regressed row is marked.
    assert '<a href="#task-SmokeRetrieval-default-test">' in html and "task-SmokeRetrieval-default-test" in page.ids
    assert re.search(r'<tr id="task-SmokeRetrieval-default-test" class="bad">', html)
    assert "<svg" in html and 'class="ci"' in html  # bootstrap whiskers are drawn


def test_identical_runs_pass_with_no_interval_drawn(smoke_results: Path, tmp_path: Path):
    # Every delta is 0 and every interval is [0, 0]: nothing may stretch across the chart.
    assert main(["regress", str(smoke_results), str(smoke_results), "--reports", str(tmp_path / "rep")]) == 0
    check_page(tmp_path / "rep" / "regress.html", "PASS", [BASE_MODEL])
    html = (tmp_path / "rep" / "regress.html").read_text()
    assert 'class="ci"' not in html
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+%" y="\d+" width="([\d.]+)%"', html)]
    assert widths and max(widths) < 1.0  # zero deltas are hairlines, not bars


def test_missing_tasks_fail_the_gate_unless_allowed(smoke_results: Path, tmp_path: Path, capsys):
    cand = copy_without(smoke_results, tmp_path / "cand" / "m" / "r", ("SmokeSTS", "SmokeClustering"))
    args = ["regress", str(smoke_results), str(cand), "--suite", "smoke"]
    assert main([*args, "--reports", str(tmp_path / "rep"), "--full"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("# evalkit regress: INCOMPLETE")
    assert out.index("## Missing from the candidate: 2") < out.index("## Tasks")
    report = json.loads((tmp_path / "rep" / "regress.json").read_text())
    assert report["verdict"] == "incomplete"
    assert [t["verdict"] for t in report["tasks"][:2]] == ["missing", "missing"]  # listed first
    assert {m["task"] for m in report["missing"]} == {"SmokeSTS", "SmokeClustering"}
    assert 'failures="2"' in (tmp_path / "rep" / "regress.xml").read_text()
    html = (tmp_path / "rep" / "regress.html").read_text()
    check_page(tmp_path / "rep" / "regress.html", "INCOMPLETE", [BASE_MODEL])
    assert html.index("Missing from the candidate (2)") < html.index("Main-score deltas")

    assert main([*args, "--allow-missing", "--reports", str(tmp_path / "rep2")]) == 0
    assert json.loads((tmp_path / "rep2" / "regress.json").read_text())["verdict"] == "pass"
    assert 'skipped="2"' in (tmp_path / "rep2" / "regress.xml").read_text()
    check_page(tmp_path / "rep2" / "regress.html", "PASS", [BASE_MODEL])

    # The other way round the candidate has tasks the baseline lacks: new, never a failure.
    capsys.readouterr()
    assert main(["regress", str(cand), str(smoke_results), "--reports", str(tmp_path / "rep3")]) == 0
    report = json.loads((tmp_path / "rep3" / "regress.json").read_text())
    assert sorted(t["verdict"] for t in report["tasks"] if t["task"] in ("SmokeSTS", "SmokeClustering")) == ["new", "new"]


def test_compare_pages_say_match_off_or_nothing_compared(smoke_results: Path, noisy_results: Path, tmp_path: Path, capsys):
    from evalkit.card import export
    from evalkit.results.scores import read_results

    from .conftest import CARD

    card = tmp_path / "README.md"
    card.write_text(f"---\n{export(read_results(smoke_results), style='card', model_name='all-MiniLM-L6-v2')}---\n", encoding="utf-8")
    assert main(["card", "compare", str(smoke_results), "--card", str(card), "--reports", str(tmp_path / "same")]) == 0
    check_page(tmp_path / "same" / "compare.html", "MATCH", [BASE_MODEL, "all-MiniLM-L6-v2", "smoke"])
    # The noisy checkpoint against that card: SmokeRetrieval drops from 0.9 (see test_run).
    assert main(["card", "compare", str(noisy_results), "--card", str(card), "--reports", str(tmp_path / "off")]) == 1
    page = check_page(tmp_path / "off" / "compare.html", "OFF", ["noisy", "all-MiniLM-L6-v2"])
    rows = {r[0]: r for r in page.tables["main"]["rows"]}
    assert float(rows["SmokeRetrieval"][5]) == pytest.approx(0.9, abs=1e-9)  # the card's value, sorted by its full precision
    if CARD.is_file():
        # No main score on both sides: nothing was checked, which fails as an off score does.
        assert main(["card", "compare", str(smoke_results), "--card", str(CARD), "--reports", str(tmp_path / "none")]) == 1
        check_page(tmp_path / "none" / "compare.html", "NOTHING COMPARED", ["jina-embeddings-v2-base-zh"])


# --- in a real browser ---------------------------------------------------------------------------


def _browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser check needs the playwright Python package (pip install playwright)")
    if not CHROMIUM.is_file():
        pytest.skip(f"the browser check needs Chromium at {CHROMIUM} (apt-get install chromium)")
    return sync_playwright


def test_pages_in_chromium_sort_and_fit_a_phone(smoke_results: Path, noisy_results: Path, tmp_path: Path):
    sync_playwright = _browser()
    main(["regress", str(smoke_results), str(noisy_results), "--suite", "smoke", "--reports", str(tmp_path / "rep")])
    from evalkit import api

    api.run_report(noisy_results, reports_dir=tmp_path / "rep")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for name in ("regress.html", "run.html"):
                for width in (1400, 390):
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    page.goto((tmp_path / "rep" / name).as_uri())
                    assert page.inner_text("#verdict") in ("REGRESSED", "PASS")
                    # Wide tables scroll inside their box; the page itself never scrolls sideways.
                    assert page.evaluate("document.documentElement.scrollWidth") <= width
                    page.close()
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto((tmp_path / "rep" / "regress.html").as_uri())

            def deltas() -> list[float]:
                cells = page.eval_on_selector_all("#tasks tbody tr td:nth-child(7)", "cs => cs.map(c => c.dataset.sort)")
                return [float(c) for c in cells]

            page.click("#tasks thead th:nth-child(7) button")
            assert deltas() == sorted(deltas()) and len(deltas()) == 6
            assert page.get_attribute("#tasks thead th:nth-child(7)", "aria-sort") == "ascending"
            page.click("#tasks thead th:nth-child(7) button")
            assert deltas() == sorted(deltas(), reverse=True)
            page.click("#tasks thead th:nth-child(1) button")  # text column: task names in order
            names = page.eval_on_selector_all("#tasks tbody tr td:nth-child(1)", "cs => cs.map(c => c.textContent)")
            assert names == sorted(names)
        finally:
            browser.close()


def test_regressed_tasks_list_the_examples_that_moved(smoke_results: Path, noisy_results: Path, tmp_path: Path, capsys):
    import numpy as np

    from evalkit.results import per_example as examples
    from evalkit.results.folder import ResultsFolder

    def entry(folder: Path, task: str):
        return examples.load(ResultsFolder(folder).examples_path(task))[1][0]

    # Tolerance alone, so that every task type with per-example scores regresses and is listed.
    args = ["regress", str(smoke_results), str(noisy_results), "--suite", "smoke", "--no-significance", "--examples", "3"]
    assert main([*args, "--reports", str(tmp_path / "rep"), "--full"]) == 1
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "rep" / "regress.json").read_text())
    by_task: dict[str, list[dict]] = {}
    for m in report["moved"]:
        by_task.setdefault(m["task"], []).append(m)
    regressed = {t["task"] for t in report["tasks"] if t["verdict"] == "regressed"}
    assert set(by_task) == regressed - {"SmokeClustering"}  # clustering keeps no per-example scores
    assert all(len(rows) <= 3 for rows in by_task.values())

    # Retrieval: each query's own ndcg@10, text, best relevant document and ranks, from the per-example files.
    eb, ec = entry(smoke_results, "SmokeRetrieval"), entry(noisy_results, "SmokeRetrieval")
    drops = sorted((eb.values[i] - ec.values[ec.ids.index(q)] for i, q in enumerate(eb.ids)), reverse=True)
    worse = sum(d > 0 for d in drops)
    assert [m["worse by"] for m in by_task["SmokeRetrieval"]] == drops[:3]  # the three largest drops, worst first
    for m in by_task["SmokeRetrieval"]:
        i, j = eb.ids.index(m["example"]), ec.ids.index(m["example"])
        assert (m["before"], m["after"]) == (eb.values[i], ec.values[j])
        assert m["text"] == eb.texts[i] and m["gold"] == eb.answers[i] and m["text"]
        assert m["note"] == f"first relevant: rank {eb.ranks[i]} -> " + (f"rank {ec.ranks[j]}" if ec.ranks[j] else "not retrieved")
    assert f"{worse} examples got worse; the 3 worst are shown" in out

    # Pair classification: judged at each side's best threshold, which reproduces each side's accuracy.
    for side in (entry(smoke_results, "SmokePairClassification"), entry(noisy_results, "SmokePairClassification")):
        gold, pred = np.asarray(side.gold), np.asarray(side.pred)
        accuracy, threshold = examples.best_threshold(gold, pred)
        assert ((pred >= threshold) == (gold > 0)).mean() == accuracy == examples.best_threshold_accuracy(gold, pred)
    for m in by_task["SmokePairClassification"]:
        assert m["note"].startswith("right -> wrong") and m["text2"]

    # STS: the pairs whose similarity rank moved away from their gold rank.
    assert all(m["after"] > m["before"] and m["text"] and m["text2"] for m in by_task["SmokeSTS"])

    # The page links each regressed task row to its list, and the list back to the row.
    html = (tmp_path / "rep" / "regress.html").read_text()
    page = check_page(tmp_path / "rep" / "regress.html", "REGRESSED", [BASE_MODEL, "noisy"])
    assert '<a href="#moved-SmokeRetrieval-default-test">' in html and "moved-SmokeRetrieval-default-test" in page.ids
    assert '<a href="#task-SmokeRetrieval-default-test">Back to the task</a>' in html
    assert eb.texts[eb.ids.index(by_task["SmokeRetrieval"][0]["example"])] in html

    # --examples 0 lists none.
    assert main([*args[:-1], "0", "--reports", str(tmp_path / "none")]) == 1
    assert json.loads((tmp_path / "none" / "regress.json").read_text())["moved"] == []


def test_a_run_whose_every_task_failed_still_gets_its_page(tmp_path: Path, capsys):
    # A model whose every encode call fails: TinySTS, the only task run, fails; the page says why.
    # (A run whose data cannot be had at all now stops before it starts, with exit 2: test_hub.py.)
    tiny = Path(__file__).parent / "data" / "tiny" / "tiny.yaml"
    broken = "py:tests.keyword_encoder:make_down_encoder"
    # (named so that no "nan" word is in the page: check_page refuses any NaN that reaches it)
    args = ["run", str(tiny), "--tasks", "TinySTS", "--model", broken, "--model-name", "broken-keywords"]
    args += ["--output", str(tmp_path / "r"), "--reports", str(tmp_path / "rep")]
    code = main([*args, "--no-cache", "--quiet"])
    assert code == 1
    page = check_page(tmp_path / "rep" / "run.html", "FAILED", ["broken-keywords"])
    (row,) = page.tables["scores"]["rows"]
    assert row[0] == "TinySTS" and row[5] == "" and row[6] == "failed"  # no score: sorts last, shown as '-'
    md = (tmp_path / "rep" / "run.md").read_text()
    assert "TinySTS" in md and "# evalkit run: FAILED" in md and "the encoder server is down" in md
