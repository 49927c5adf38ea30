"""evalkit: evaluate text-embedding models on MTEB and C-MTEB, and keep model cards honest.

The operations of the `evalkit` command, as plain functions::

    import evalkit
    summary = evalkit.run("configs/smoke.yaml")                 # results/<org__name>/<rev>/*.json
    table = evalkit.read_results("results")                     # the long Scores table
    report = evalkit.compare_card("results/...", card="README.md")
    report = evalkit.regress("results/base", "results/cand", suite="configs/cmteb.yaml")
    board = evalkit.leaderboard(["results/", "README.md"], suite="cmteb")  # reports/leaderboard.*

Importing evalkit is cheap: mteb, torch and friends load when a function needs them.
"""

from evalkit.api import (
    compare_card,
    export_card,
    leaderboard,
    list_models,
    merge,
    plan,
    pull,
    read_results,
    regress,
    run,
    run_report,
)
from evalkit.errors import DataError, EncodingError, EvalkitError, ModelError, OutputError, SuiteError

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "EncodingError",
    "EvalkitError",
    "ModelError",
    "OutputError",
    "SuiteError",
    "compare_card",
    "export_card",
    "leaderboard",
    "list_models",
    "merge",
    "plan",
    "pull",
    "read_results",
    "regress",
    "run",
    "run_report",
]
