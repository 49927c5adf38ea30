import http.server
import os
import socket
import threading
import time

import pytest

from evalkit import _hub


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)


def test_an_unreachable_hub_switches_to_offline_in_seconds(monkeypatch, no_offline):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    start = time.monotonic()
    note = _hub.offline_unless_reachable()
    assert time.monotonic() - start < 5
    assert note == f"the Hub (http://127.0.0.1:{os.environ['HF_ENDPOINT'].rsplit(':', 1)[1]}) cannot be reached: running offline from the local cache"
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["HF_DATASETS_OFFLINE"] == "1"


def test_a_hub_that_answers_even_404_is_reachable(monkeypatch, no_offline):
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert _hub.offline_unless_reachable() is None
        assert "HF_HUB_OFFLINE" not in os.environ
    finally:
        server.shutdown()


def test_offline_already_asks_nothing(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(_hub, "reachable", lambda *a, **k: pytest.fail("offline mode must not probe"))
    assert _hub.offline_unless_reachable() is None


def test_a_network_failure_becomes_one_line_with_the_way_forward(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        try:
            raise OSError("LocalEntryNotFoundError")
        except OSError as inner:
            raise ConnectionError("Couldn't reach 'C-MTEB/AFQMC' on the Hub (LocalEntryNotFoundError)") from inner
    except ConnectionError as exc:
        line = _hub.network_reason(exc, "dataset C-MTEB/AFQMC")
    assert line is not None and "\n" not in line
    assert line.startswith("dataset C-MTEB/AFQMC: not in the local cache and offline mode is on; ")
    assert "--data-dir MIRROR" in line and "evalkit data pull SUITE --data-dir DIR" in line
    assert _hub.network_reason(ValueError("bad value"), "dataset X") is None
