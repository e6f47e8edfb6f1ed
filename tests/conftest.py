"""Shared pytest fixtures: where the binaries are, free ports, and process helpers. The same file serves the
checkout's tests and the installed scenarios (cmake --install puts it beside them)."""
import os
import socket

import pytest

from wcrun import paths

# Tests write their captures under build/, never into captures/ (which holds the runs of the main job, whose
# reports cite them by SHA-256). The runner sets WIRECHECK_CAPTURES to its run directory.
os.environ.setdefault("WIRECHECK_CAPTURES", str(paths.captures_for_pytest()))
from lab import interrupt, proc  # noqa: E402  (lab.capture reads WIRECHECK_CAPTURES when imported)

pytest_plugins = ["wcrun.plugin"]


def pytest_configure(config):
    # SIGTERM (and SIGHUP) stop a run like Ctrl-C, in the xdist controller too: fixtures are torn down.
    interrupt.install()


@pytest.fixture(scope="session")
def bins():
    """Paths of the built programs; fails (not skips) when the build is missing."""
    d = paths.bin_dir()
    names = ["tcp-server", "tcp-client", "udp-server", "udp-client"]
    missing = [n for n in names if not (d / n).exists()]
    assert not missing, f"build first (cmake --build build): missing {missing} in {d}"
    return {n: str(d / n) for n in names + ["sniffer"]}


@pytest.fixture
def free_port():
    return proc.free_port


@pytest.fixture
def tcp_server(bins, free_port):
    """A reference tcp-server on loopback; yields its port."""
    port = free_port(socket.SOCK_STREAM)
    with proc.Process([bins["tcp-server"], "-p", str(port), "--grace", "1"], name="tcp-server") as p:
        proc.wait_tcp_listening("127.0.0.1", port, p)
        yield port


@pytest.fixture
def udp_server(bins, free_port):
    """A reference udp-server on loopback; yields its port."""
    port = free_port(socket.SOCK_DGRAM)
    with proc.Process([bins["udp-server"], "-p", str(port)], name="udp-server") as p:
        proc.wait_udp_answering("127.0.0.1", port, p)
        yield port
