"""The Markdown reports, pinned by golden files (set EVALKIT_UPDATE_GOLDEN=1 to rewrite them).

Made from inputs that never change: the tiny suite under the keyword encoder (revision pinned),
and a fixture card with the results it was made from. A change to a report's text shows up here as
a diff to read, not as a silent drift.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import evalkit
from evalkit.cli import main

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny" / "tiny.yaml"
CARDS = DATA / "cards"


def _check(name: str, text: str) -> None:
    golden = DATA / "golden" / name
    if os.environ.get("EVALKIT_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), f"{name} changed; rerun with EVALKIT_UPDATE_GOLDEN=1 and read the diff"


def test_regress_markdown(tmp_path: Path, capsys):
    folders = []
    for factory in ("make_encoder", "make_cat_heavy_encoder"):
        summary = evalkit.run(
            TINY, model=f"py:tests.keyword_encoder:{factory}", revision="v1", output_dir=tmp_path / factory, no_cache=True
        )
        folders.append(summary.folder)
    code = main(["regress", str(folders[1]), str(folders[0]), "--suite", str(TINY), "--reports", str(tmp_path / "rep")])
    capsys.readouterr()
    assert code == 0
    _check("regress.md", (tmp_path / "rep" / "regress.md").read_text(encoding="utf-8"))


def test_compare_markdown(tmp_path: Path, capsys):
    results = next((CARDS / "results").glob("*/*"))
    code = main(["card", "compare", str(results), "--card", str(CARDS / "new-percent.md"), "--reports", str(tmp_path)])
    capsys.readouterr()
    assert code == 0
    _check("compare.md", (tmp_path / "compare.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize("style", ["old-percent", "mixed", "main-score-only"])
def test_card_export_in_mteb_style(style: str, capsys):
    assert main(["card", "export", str(CARDS / f"{style}.md"), "--style", "mteb"]) == 0
    _check(f"export-{style}-as-mteb.yaml", capsys.readouterr().out)
