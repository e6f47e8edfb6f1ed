"""Where wirecheck's files are, in a checkout and when installed (`cmake --install build --prefix P`).

The packages live side by side in one directory, PYROOT: tests/ in a checkout, P/share/wirecheck/python when
installed. Beside them: conformance/ (the scenarios and PROTOCOL.md), lab/ (with uml.py), conftest.py and
pytest.ini. What differs between the two is answered here, and only here:

                 checkout                           installed
    binaries     build/bin                          P/bin (the wirecheck command sets WIRECHECK_BIN)
    runs         captures/runs/, captures/latest    ./captures/runs/, ./captures/latest (the current directory)
    scratch      build/                             a temporary directory
WIRECHECK_BIN overrides the binaries in both.
"""
import json
import os
import pathlib
import tempfile

PYROOT = pathlib.Path(__file__).resolve().parent.parent
# Written by `cmake --install` beside this file: {"bindir": the programs' directory relative to PYROOT, "version"}.
_INSTALLED = PYROOT / "wcrun" / "installed.json"


def installed():
    """True in an installed tree, False in a checkout."""
    return _INSTALLED.exists()


def installed_version():
    """"VERSION (installed)", or None in a checkout (whose report names its git commit instead)."""
    return f"{json.loads(_INSTALLED.read_text())['version']} (installed)" if installed() else None


def checkout():
    """The checkout's top directory, or None when installed."""
    return None if installed() else PYROOT.parent


def scenarios():
    """The directory of the conformance scenarios (pytest's argument)."""
    return PYROOT / "conformance"


def protocol():
    """PROTOCOL.md, the specification whose clauses the scenarios check."""
    return scenarios() / "PROTOCOL.md"


def uml_py():
    """The lab's User-Mode Linux launcher."""
    return PYROOT / "lab" / "uml.py"


def bin_dir():
    """The programs: $WIRECHECK_BIN, else build/bin of the checkout or the installed bin directory."""
    if os.environ.get("WIRECHECK_BIN"):
        return pathlib.Path(os.environ["WIRECHECK_BIN"]).resolve()
    if installed():
        return (PYROOT / json.loads(_INSTALLED.read_text())["bindir"]).resolve()
    return PYROOT.parent / "build" / "bin"


def captures():
    """Where runs go: captures/ of the checkout, or ./captures when installed (resolved now, so a later chdir
    does not move it)."""
    return (pathlib.Path.cwd() / "captures").resolve() if installed() else PYROOT.parent / "captures"


def runs():
    """captures/runs: one directory per run."""
    return captures() / "runs"


def scratch():
    """A directory for short-lived files: build/ of the checkout, or the system's temporary directory."""
    if installed():
        return pathlib.Path(tempfile.gettempdir())
    d = PYROOT.parent / "build"
    d.mkdir(exist_ok=True)
    return d


def captures_for_pytest():
    """Where pytest run outside the runner writes its captures: build/test-captures in a checkout (never
    captures/, whose runs are cited by their reports), ./captures/pytest when installed."""
    return captures() / "pytest" if installed() else PYROOT.parent / "build" / "test-captures"
