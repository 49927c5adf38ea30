"""The public surface: exactly the operations of the CLI, importable without heavy libraries."""

from __future__ import annotations

import subprocess
import sys

import evalkit
from evalkit.cli import main


def test_exported_members_are_exact():
    assert sorted(evalkit.__all__) == [
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
    for name in evalkit.__all__:
        assert getattr(evalkit, name) is not None


def test_import_and_help_do_not_load_torch_or_mteb():
    code = "import sys, evalkit.cli as c; c.build_parser(); print('torch' in sys.modules, 'mteb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_help_exits_zero(capsys):
    assert main(["run", "--help"]) == 0
    assert "evalkit run configs/smoke.yaml" in capsys.readouterr().out


def test_data_pull_snapshots_each_dataset_at_its_pinned_revision(tmp_path):
    calls = []

    def fake_download(*, repo_id, repo_type, revision, local_dir):
        calls.append((repo_id, repo_type, revision))
        (tmp_path / "m" / repo_id).mkdir(parents=True, exist_ok=True)
        return local_dir

    entries = evalkit.pull("sts", data_dir=tmp_path / "m", tasks=("ATEC", "STSB"), download=fake_download)
    assert calls == [
        ("C-MTEB/ATEC", "dataset", "0f319b1142f28d00e055a6770f3f726ae9b7d865"),
        ("mteb/STSB", "dataset", "e036defee8f190911de6fc825a944b928c8cda53"),
    ]
    assert [e.task for e in entries] == ["ATEC", "STSB"]
    assert (tmp_path / "m" / "C-MTEB" / "ATEC" / "MIRROR.json").is_file()


def test_mirror_at_another_revision_is_warned_about(tmp_path):
    import json

    from evalkit.runner.suite import TaskSpec
    from evalkit.runner.tasks import build_task

    (tmp_path / "C-MTEB" / "ATEC").mkdir(parents=True)
    (tmp_path / "C-MTEB" / "ATEC" / "MIRROR.json").write_text(json.dumps({"revision": "abc"}))
    (tmp_path / "C-MTEB" / "ATEC" / "test.parquet").write_text("")
    built = build_task(TaskSpec(name="ATEC", splits=("test",)), data_dir=tmp_path)
    assert built.warnings and "mirror holds C-MTEB/ATEC at revision abc" in built.warnings[0]
    assert built.task.metadata.dataset["path"] == str(tmp_path / "C-MTEB" / "ATEC")
    assert built.task.metadata.dataset["revision"] == "0f319b1142f28d00e055a6770f3f726ae9b7d865"
