"""Running the lab without root: namespaces, veth pairs, qdiscs, iptables and the sniffer's raw sockets need
root, and User-Mode Linux does not (it is an ordinary process on the host, and root inside). So where the user is
not root, the whole run (every stage, native ones too; or a whole matrix) is executed again inside one UML boot
(tests/lab/uml.py run). Files it writes go through hostfs as the host process, so they belong to the user who
started it. Only installing the Debian packages needs root (scripts/bootstrap prints that line)."""
import os
import pathlib
import subprocess
import sys

from lab.uml import inside_uml
from wcrun import paths

PY = "/usr/bin/python3"


def needed(a):
    """True when this run needs the lab (anything but --target and --list) and may not build it here: the user
    is not root and this is not already inside UML."""
    return os.geteuid() != 0 and not inside_uml() and not a.target and not a.list


def _writable(d):
    d = pathlib.Path(d)
    while not d.exists():
        d = d.parent
    return os.access(d, os.W_OK | os.X_OK)


def reexec(argv, a):
    """Runs `wcrun conformance ARGV` inside UML and returns its exit status (125: UML could not run it)."""
    out = pathlib.Path(a.out).resolve() if a.out else paths.runs()
    if not _writable(out):
        print(f"conformance: {os.environ.get('USER') or os.geteuid()} cannot write {out}: give --out DIR "
              f"(a directory of yours)", file=sys.stderr)
        return 2
    print(f"conformance: not root (uid {os.geteuid()}): the lab runs inside User-Mode Linux, which needs no "
          f"privilege; one boot for the whole run", file=sys.stderr, flush=True)
    env = dict(os.environ)
    # pytest's tmp_path: on the host's /tmp (hostfs) a directory would belong to this user, and pytest refuses a
    # base directory that root (inside UML) does not own. /run is UML's own tmpfs; nothing there outlives the run.
    env.setdefault("PYTEST_DEBUG_TEMPROOT", "/run")
    why = f"the lab needs root and this user (uid {os.geteuid()}) is not"
    cmd = [PY, str(paths.uml_py()), "run", "--because", why, "--", PY, "-m", "wcrun", "conformance", *argv]
    sys.stdout.flush()
    return subprocess.call(cmd, env=env, cwd=os.getcwd())
