import logging
import time
import warnings

from evalkit._notices import WarningLog, capture_warnings, current_phase, phase


def test_each_distinct_warning_is_logged_once_and_counted(caplog):
    caplog.set_level(logging.WARNING, logger="evalkit.warnings")
    with capture_warnings() as log:
        for task in ("A", "B", "A"):
            # mteb warns once per task, from the same line: Python's own filter would hide B's.
            warnings.warn(f"task {task} is superseded by {task}.v2", UserWarning, stacklevel=1)
        for _ in range(6):
            warnings.warn("Recall is ill-defined", RuntimeWarning, stacklevel=1)
        warnings.warn("this API goes away", DeprecationWarning, stacklevel=1)
    logged = [r.getMessage() for r in caplog.records if r.name == "evalkit.warnings"]
    assert logged == [
        "UserWarning: task A is superseded by A.v2",
        "UserWarning: task B is superseded by B.v2",
        "RuntimeWarning: Recall is ill-defined",
    ]
    assert log.lines() == [
        "UserWarning: task A is superseded by A.v2 (x2)",
        "UserWarning: task B is superseded by B.v2",
        "RuntimeWarning: Recall is ill-defined (x6)",
    ]


def test_capturing_ends_with_the_block():
    with capture_warnings() as log:
        pass
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        warnings.warn("after", UserWarning, stacklevel=1)
    assert [str(w.message) for w in raw] == ["after"] and log.lines() == []


def test_a_log_collects_across_blocks():
    log = WarningLog()
    for _ in range(2):
        with capture_warnings(log):
            warnings.warn("twice", UserWarning, stacklevel=1)
    assert log.lines() == ["UserWarning: twice (x2)"]


def test_the_innermost_phase_is_current_with_its_time():
    assert current_phase() is None
    with phase("scoring"):
        with phase("encoding"):
            assert current_phase()[0] == "encoding"
        time.sleep(0.05)
        name, seconds = current_phase()
        assert name == "scoring" and seconds >= 0.05
    assert current_phase() is None
