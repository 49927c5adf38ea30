"""The fast layer's guard (tests/conftest.py): a test not marked slow may not load a model or import Ray."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

_TESTS = """
import sys
import types

import pytest


def test_loads_a_model():
    sys.audit("evalkit.model.load", "org/some-model")


@pytest.mark.slow
def test_loads_a_model_marked_slow():
    sys.audit("evalkit.model.load", "org/some-model")


def test_imports_ray():
    sys.modules["ray"] = types.ModuleType("ray")  # what `import ray` leaves behind


def test_plain():
    assert 1 + 1 == 2
"""


def test_a_fast_test_that_loads_a_model_or_imports_ray_fails(tmp_path: Path):
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n")
    (tmp_path / "test_guarded.py").write_text(_TESTS)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "test_loads_a_model loaded a model (org/some-model) but is not marked slow" in out
    assert "test_imports_ray imported Ray but is not marked slow" in out
    assert "PASSED test_guarded.py::test_loads_a_model_marked_slow" in out
    assert "PASSED test_guarded.py::test_plain" in out
