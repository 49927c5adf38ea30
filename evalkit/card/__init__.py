"""Model cards: `model-index` in and out, in every card style, and safe in-place updates.

This package is the only place that knows card conventions: entry names (`MTEB <Task> (<subset>)`,
`<Task> (<subset>)`, `<Task>`), old and current metric names (`cos_sim_spearman`, reranking `map`,
`nAUC_*`, `main_score`), percents or 0-1 values, `revision: None`, key orders. They are converted to
and from the Scores table here, both ways.

A card is read into three things (`CardScores`):

- the Scores table: mteb 2.x metric keys, 0-1 values, `is_main` from mteb's task metadata. A card
  metric with no mteb 2.x equivalent (`accuracy_stderr`, `cos_sim_accuracy_threshold`,
  `nAUC_map_max`...) is an *extra*: a row whose metric is `extra:<its card name>`, with the value
  exactly as printed (its scale is unknown). Compare leaves extras out; export writes them back.
- its entries (`CardEntry`): what the card printed, in its order, so that the card can be written
  back exactly: the same entries in the same order, the same metric names in the same order, the
  same values (a value is written as printed unless it changed).
- its style (`CardStyle`), detected per card: percent or 0-1, old or current names, entry naming,
  which metrics an entry carries, metric and entry order, key order. New entries and metrics are
  written in it.

Two named styles for `--style`: `card` (C-MTEB cards of 2023, e.g. jinaai/jina-embeddings-v2-base-zh:
old names, percents, every metric sorted by name, entries sorted by name) and `mteb` (mteb 2.x names,
0-1 values, the main score and `main_score`). Without `--style`, a card keeps its own.

The package, one module a stage: `names` (card names and scales: metric names old and mteb 2.x,
`MTEB <Task> (<subset>)`, tasks by name or dataset path, percents), `style` (`CardStyle`, `STYLES`,
`CardMetric`, `CardEntry`, `detect_style`), `read` (front matter, `read_card`, `CardScores`, the
Scores table), `write` (entries from a table, `render`, `export`) and `update` (`update_card`: `--into`).
"""

from evalkit.card.names import EXTRA, METRIC_MAP, MTEB_KEYS, is_extra, parse_task_name
from evalkit.card.read import read_card
from evalkit.card.style import STYLES, CardStyle
from evalkit.card.update import update_card
from evalkit.card.write import CardExport, entries_from_table, export, export_card_text, render, select_exportable
from evalkit.results.names import same_model

__all__ = [
    "EXTRA",
    "METRIC_MAP",
    "MTEB_KEYS",
    "STYLES",
    "CardExport",
    "CardStyle",
    "entries_from_table",
    "export",
    "export_card_text",
    "is_extra",
    "parse_task_name",
    "read_card",
    "render",
    "same_model",
    "select_exportable",
    "update_card",
]
