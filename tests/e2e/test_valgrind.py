"""The programs' end-to-end smoke under valgrind memcheck (issue 7): scripts/valgrind-smoke, clean."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_valgrind_smoke_is_clean(bins):
    if not shutil.which("valgrind"):
        pytest.skip("valgrind is not installed")
    bindir = pathlib.Path(bins["tcp-server"]).parent
    if b"__asan_init" in pathlib.Path(bins["tcp-server"]).read_bytes():
        pytest.skip(f"{bindir} is a sanitizer build: valgrind cannot run it")
    r = subprocess.run([str(ROOT / "scripts" / "valgrind-smoke")], capture_output=True, timeout=280,
                       env=dict(os.environ, WIRECHECK_BIN=str(bindir)))
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0 and "valgrind-smoke: clean" in out, out[-4000:]
