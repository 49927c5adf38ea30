"""Reaching Ray: the module, the address, a cluster that answers, a connection.

Every failure is one line naming the fix, in seconds (`ray.init` alone retries for minutes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from evalkit._util import first_line
from evalkit.errors import EvalkitError

INSTALL_HINT = "install it with pip install 'evalkit[ray]'"
_PROBE_SECONDS = 5.0
_ADDRESS = re.compile(r"^(local|auto|(ray://)?[A-Za-z0-9_.-]+:\d{1,5})$")


def import_ray() -> Any:
    """The `ray` module.

    Raises:
        EvalkitError: Ray is not installed, with the command that installs it.
    """
    try:
        import ray
    except ImportError:
        raise EvalkitError(f"--ray: Ray is not installed; {INSTALL_HINT}") from None
    return ray


def check_address(address: str | bool) -> str:
    """The Ray address a run uses: `local`, `auto`, `HOST:PORT` or `ray://HOST:PORT`.

    `True` (a bare `--ray`) means `$RAY_ADDRESS` when set, else `local`, as `ray.init()` does.

    Raises:
        EvalkitError: anything else, e.g. a suite path given after `--ray`.
    """
    if address is True or address == "":
        address = os.environ.get("RAY_ADDRESS") or "local"
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise EvalkitError(
            f"--ray {address}: is not a Ray address; use local, auto, HOST:PORT or ray://HOST:10001 (put the suite before --ray)"
        )
    return address


def reach(address: str) -> None:
    """Fail in seconds when no cluster answers: ray.init would retry for minutes."""
    if address == "local":
        return
    target = address
    if address == "auto":
        target = os.environ.get("RAY_ADDRESS") or ""
        if target:
            check_address(target)
        else:
            from evalkit._compat.ray import auto_address

            try:
                # Ray's own lookup for "auto" (the last `ray start` on this machine); where it no
                # longer fits, this early check is skipped and ray.init reports instead.
                found = auto_address()
            except ConnectionError:
                raise EvalkitError(
                    "--ray auto: no running Ray cluster found (none started on this machine, RAY_ADDRESS unset); "
                    "start one with `ray start --head`, or use --ray local"
                ) from None
            if found is None:
                return
            target = found
    host, _, port = target.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=_PROBE_SECONDS).close()
    except OSError as exc:
        raise EvalkitError(
            f"--ray {address}: no Ray cluster answers at {host}:{port} ({exc.strerror or type(exc).__name__}); "
            f"start one there with `ray start --head --port {port}`, or use --ray local"
        ) from None


class _Captured:
    def __init__(self, file: Any) -> None:
        self.file = file

    def read(self) -> str:
        self.file.seek(0)
        return self.file.read().decode("utf-8", "replace")


@contextlib.contextmanager
def _captured_stderr() -> Iterator[_Captured]:
    """File descriptor 2 (C++ libraries write there directly) into a temporary file for the block."""
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as file:
        os.dup2(file.fileno(), 2)
        try:
            yield _Captured(file)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@dataclass
class Cluster:
    """The Ray cluster a run reached, and whether this run started it."""

    address: str  # as given: local, auto, HOST:PORT
    gcs: str  # the cluster it reached
    started: bool  # this run started it (a local instance), so shuts it down


def connect(ray: Any, address: str) -> Cluster:
    """Connect to the cluster at `address` (or start a local instance); reuse a session already held.

    Raises:
        EvalkitError: no connection, in one line naming the fix.
    """
    if ray.is_initialized():
        # A notebook or test that already connected: use that session and leave it running.
        return Cluster(address, ray.get_runtime_context().gcs_address, started=False)
    debug = logging.getLogger().isEnabledFor(logging.DEBUG)
    # Workers' logs go to Ray's session logs; with --debug they are shown here too.
    options: dict[str, Any] = {"logging_level": logging.DEBUG if debug else logging.ERROR, "log_to_driver": debug}
    said = ""
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, **options)
        else:
            # Ray's C++ client warns once a second while it retries a connection (about 20 s);
            # kept out of the terminal unless --debug, and read for the one-line error.
            with contextlib.nullcontext(None) if debug else _captured_stderr() as captured:
                try:
                    ray.init(address=address, **options)
                finally:
                    said = captured.read() if captured is not None else ""
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = first_line(exc, 200)
        fix = "check the address, or use --ray local"
        if "InvalidAuthToken" in said or "Unauthenticated" in said:
            # Ray turns token authentication on for the clusters it starts, but a driver given an
            # explicit address sends the token only when told to.
            fix = "the cluster wants its authentication token: set RAY_AUTH_MODE=token (token in RAY_AUTH_TOKEN or ~/.ray/auth_token)"
        raise EvalkitError(f"--ray {address}: cannot connect ({first}); {fix}") from None
    return Cluster(address, ray.get_runtime_context().gcs_address, started=address == "local")
