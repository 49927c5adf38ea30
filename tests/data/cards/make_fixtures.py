"""Make the fixture cards of this folder from an evalkit run, one card per style that real cards have.

The cards are evalkit's own: written by `evalkit.card` from the results of

    evalkit run configs/mirror.yaml --data-dir ../shared/mirror --output <out>

(ATEC validation+test, Ocnli, STSBenchmark, Banking77Classification with the embedded
all-MiniLM-L6-v2), in the style of each generation of card found on the Hub. Nothing is copied from
a real card. Regenerate with:

    python tests/data/cards/make_fixtures.py <out>/sentence-transformers__all-MiniLM-L6-v2/<rev> tests/data/cards

The `mixed` card also carries `accuracy_stderr`/`f1_stderr` (as mteb < 1.12 wrote them: the standard
deviation over the classification experiments), computed from the run's `scores_per_experiment`:
metrics with no mteb 2.x key, which a reader must keep under their own names.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.card import EXTRA, STYLES, CardStyle, entries_from_table, render
from evalkit.results.scores import read_results

BODY = "\n# all-MiniLM-L6-v2 ({style})\n\nA fixture made by evalkit (tests/data/cards/make_fixtures.py) from its own run.\n"

#: The styles, named for the cards that use them.
STYLE_OF: dict[str, CardStyle] = {
    # C-MTEB cards of 2023: old names, percents, every metric sorted by name, `revision: None`.
    "old-percent": STYLES["card"],
    # mteb 1.12's create_meta: yaml.dump's sorted keys, `MTEB <Task> (<subset>)` even for default,
    # every metric in mteb's order with main_score, percents.
    "new-percent": CardStyle(
        old_names=False,
        default_in_name=True,
        main_score=True,
        metric_order="mteb",
        entry_keys=("dataset", "metrics", "task"),
        dataset_keys=("config", "name", "revision", "split", "type"),
    ),
    # Current names in 0-1, metrics sorted by name, entries sorted by dataset path (not by name).
    "new-fraction": CardStyle(percent=False, old_names=False, main_score=True, entry_order="dataset"),
    # Entries named by task alone, `main_score` only, 0-1, in no sorted order (written last run first).
    "main-score-only": CardStyle(
        percent=False,
        old_names=False,
        prefix="",
        metrics="main",
        main_metric=False,
        main_score=True,
        metric_order="mteb",
        entry_order="card",
    ),
    # huggingface_hub's ModelCardData: `<Task> (<subset>)`, Hub task categories, the main metric with
    # a name, and a source per entry.
    "hub": CardStyle(
        percent=False,
        old_names=False,
        prefix="",
        default_in_name=True,
        metrics="main",
        metric_order="mteb",
        entry_keys=("task", "dataset", "metrics", "source"),
        task_keys=("type", "name"),
        dataset_keys=("name", "type", "config", "split", "revision"),
        metric_keys=("type", "value", "name"),
        hf_task_types=True,
        entry_order="name",
        source=(("url", "https://github.com/embeddings-benchmark/mteb/"), ("name", "MTEB")),
    ),
}


def stderr_rows(folder: Path, table: pd.DataFrame) -> pd.DataFrame:
    """`accuracy_stderr` and `f1_stderr` of each classification task, from its experiments."""
    rows = []
    for task in table.loc[table["task_type"] == "Classification", "task"].unique():
        scores = json.loads((folder / f"{task}.json").read_text(encoding="utf-8"))["scores"]
        for split, entries in scores.items():
            for entry in entries:
                base = table[(table["task"] == task) & (table["split"] == split)].iloc[0].to_dict()
                for metric in ("accuracy", "f1"):
                    values = [e[metric] for e in entry["scores_per_experiment"]]
                    rows.append({**base, "metric": f"{EXTRA}{metric}_stderr", "value": float(np.std(values)), "is_main": False})
    return pd.DataFrame(rows)


def cards(folder: Path) -> dict[str, str]:
    """The text of each fixture card."""
    table = read_results(folder, single_model=True)
    out = {}
    for name, style in STYLE_OF.items():
        model = "sentence-transformers/all-MiniLM-L6-v2" if name == "hub" else "all-MiniLM-L6-v2"
        rows = table.iloc[::-1] if style.entry_order == "card" else table
        out[name] = "---\ntags:\n- mteb\n" + render(entries_from_table(rows, style), model_name=model) + "---\n" + BODY.format(style=name)
    # A card merged from two generations: old names for the pair tasks, current names and the old
    # stderr metrics for the others.
    pair_tasks = table["task"].isin(["ATEC", "Ocnli"])
    with_stderr = pd.concat([table[~pair_tasks], stderr_rows(folder, table)], ignore_index=True)
    mixed = entries_from_table(table[pair_tasks], STYLES["card"]) + entries_from_table(
        with_stderr, CardStyle(old_names=False, main_score=True, metric_order="mteb")
    )
    out["mixed"] = "---\ntags:\n- mteb\n" + render(mixed, model_name="all-MiniLM-L6-v2") + "---\n" + BODY.format(style="mixed")
    return out


def main() -> None:
    """Write every fixture card into the target folder."""
    folder, target = Path(sys.argv[1]), Path(sys.argv[2])
    for name, text in cards(folder).items():
        (target / f"{name}.md").write_text(text, encoding="utf-8")
        print(f"wrote {target / name}.md")


if __name__ == "__main__":
    main()
