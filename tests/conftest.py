"""Shared pytest fixtures: where the binaries are, free ports, and process helpers. The same file serves the
checkout's tests and the installed scenarios (cmake --install puts it beside them)."""
import os
import shutil
import socket
import subprocess

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
def copy_checkout():
    """copy_checkout(dest): a copy of this working tree at dest (returned), as CI's clean checkout or a developer's
    tree has it: the files git tracks or would add (untracked, not ignored), committed or not, without build/ or
    captures/ runs. Run from there with WIRECHECK_BIN set to this build's programs. Checkout only."""
    top = paths.checkout()
    assert top, "copy_checkout needs a checkout, not an installed tree"

    def copy(dest):
        r = subprocess.run(["git", "-C", str(top), "ls-files", "-z", "-co", "--exclude-standard"],
                           stdout=subprocess.PIPE, check=True)
        for rel in filter(None, r.stdout.decode().split("\0")):
            src = top / rel
            if src.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / rel)
        return dest
    return copy


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
