"""Versions that are true: the declared minimums, the one version check, the shared small owners."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from evalkit._util import NOT_INSTALLED, SENTENCE_TRANSFORMERS_MIN, at_least, first_line, package_version, package_versions
from evalkit.results.names import same_model, task_type_of

REPO = Path(__file__).resolve().parents[1]


def _declared(name: str) -> str:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (spec,) = [d for d in deps if re.match(rf"{re.escape(name)}\b", d)]
    return re.search(r">=\s*([0-9][^,\s]*)", spec).group(1)


def test_the_checked_minimum_is_the_declared_one():
    assert SENTENCE_TRANSFORMERS_MIN == _declared("sentence-transformers")


def test_every_dependency_declares_a_lower_bound_ci_can_pin():
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "min_constraints.py"), "dev", "ray"], capture_output=True, text=True, check=True
    ).stdout.split()
    pins = dict(line.split("==") for line in out)
    assert pins["sentence-transformers"] == SENTENCE_TRANSFORMERS_MIN
    assert {"mteb", "torch", "transformers", "ray", "filelock", "mypy"} <= set(pins)


@pytest.mark.parametrize(
    ("installed", "minimum", "ok"),
    [
        ("5.4.0", "5.4", True),
        ("5.4", "5.4.0", True),
        ("5.3.2", "5.4", False),
        ("6.0.0rc1", "5.4", True),
        ("5.10.0", "5.4", True),
        ("4.99", "5.4", False),
    ],
)
def test_at_least_compares_release_numbers(installed: str, minimum: str, ok: bool):
    assert at_least(installed, minimum) is ok


def test_package_versions_name_absent_packages():
    assert package_version("no-such-distribution-evalkit") == NOT_INSTALLED
    got = package_versions("evalkit", "no-such-distribution-evalkit", python=True)
    assert list(got) == ["python", "evalkit", "no-such-distribution-evalkit"]
    assert got["python"] == sys.version.split()[0]
    assert got["no-such-distribution-evalkit"] == NOT_INSTALLED


def test_an_old_sentence_transformers_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # What `pip install mteb[jina]` can leave behind: an older sentence-transformers first on the path.
    from evalkit.errors import ModelError
    from evalkit.model.source import prepare_model
    from evalkit.runner.settings import ModelSettings

    fake = tmp_path / "site" / "sentence_transformers-5.1.0.dist-info"
    fake.mkdir(parents=True)
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: sentence-transformers\nVersion: 5.1.0\n")
    with monkeypatch.context() as m:
        m.syspath_prepend(str(tmp_path / "site"))
        assert package_version("sentence-transformers") == "5.1.0"
        with pytest.raises(ModelError) as err:
            prepare_model(ModelSettings())  # the embedded default: no download, refused before anything loads
    assert str(err.value) == (
        f"sentence-transformers 5.1.0 is not supported (evalkit needs >= {SENTENCE_TRANSFORMERS_MIN}); "
        f'run: pip install "sentence-transformers>={SENTENCE_TRANSFORMERS_MIN}"'
    )
    assert prepare_model(ModelSettings()).name  # the installed one passes


def test_first_line_of_an_error():
    assert first_line(ValueError("\n  bad value \nmore detail")) == "bad value"
    assert first_line(ValueError("")) == "ValueError"
    assert first_line(KeyError("x" * 500), 10) == "'xxxxxxxxx"
    assert first_line(OSError("disk full\nerrno 28"), with_type=True) == "OSError: disk full"
    assert first_line(RuntimeError(), with_type=True) == "RuntimeError"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers__all-MiniLM-L6-v2", True),
        ("BAAI__bge-small-zh-v1.5", "bge-small-zh-v1.5", True),
        ("BAAI/bge-small-zh-v1.5", "baai/BGE-small-zh-v1.5", True),
        ("BAAI/bge-small-zh-v1.5", "BAAI/bge-base-zh-v1.5", False),
    ],
)
def test_one_same_model_rule(a: str, b: str, same: bool):
    assert same_model(a, b) is same
    assert same_model(b, a) is same


def test_task_type_lookup():
    assert task_type_of("STSBenchmark") == "STS"
    assert task_type_of("T2Retrieval") == "Retrieval"
    assert task_type_of("NoSuchTask") == ""
