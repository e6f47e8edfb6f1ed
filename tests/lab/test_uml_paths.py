"""User-Mode Linux runs from a checkout anywhere: a path with a space, a quote and non-ASCII letters (issue 17).

The kernel command line splits at spaces and knows no quoting, so it must carry only the per-run directory
(lab.uml.runtime_dir()), never the checkout's path. The checkout here is a copy of this working tree (committed
or not, as CI's clean checkout or a developer's tree has it), using this build's programs (WIRECHECK_BIN).
"""
import os
import pathlib
import shutil
import subprocess

import pytest

from lab import reap, uml

PY = "/usr/bin/python3"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="UML's lab needs root")
needs_uml = pytest.mark.skipif(not shutil.which("linux.uml"), reason="linux.uml is not installed "
                               "(apt-get install user-mode-linux kmod)")


def test_runtime_dir_is_plain_and_visible_inside_uml(monkeypatch, tmp_path):
    spaced = tmp_path / "with space"
    spaced.mkdir()
    monkeypatch.setenv("TMPDIR", str(spaced))
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/0")   # UML's /run is its own: invisible there
    assert uml.runtime_dir() == "/tmp"
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("TMPDIR", str(plain))
    assert uml.runtime_dir() == os.path.realpath(plain)


@pytest.mark.lab
@pytest.mark.slow
@needs_root
@needs_uml
@pytest.mark.xdist_group("lab-interrupt")   # not beside test_interrupt's timings (scripts/test: --dist loadgroup)
def test_uml_runs_from_a_checkout_under_a_path_with_a_space(tmp_path, bins, copy_checkout):
    clone = copy_checkout(tmp_path / "My Projects" / "l'été de wirecheck")
    env = {**os.environ, "WIRECHECK_BIN": str(pathlib.Path(bins["sniffer"]).parent)}
    env.pop(reap.ENV, None)

    def run(argv, timeout=600):
        r = subprocess.run(argv, cwd=clone, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return r.returncode, r.stdout.decode(errors="replace")

    rc, out = run([PY, "tests/lab/uml.py", "run", "--", "true"])
    assert rc == 0, f"uml.py run -- true from {clone}: exit {rc}\n{out[-3000:]}"
    # The main job with one netem scenario: scripts/conformance boots UML for it from this checkout.
    rc, out = run(["./scripts/conformance", "--no-demo", "-k", "ordering_under_loss"])
    assert rc == 3 and "PARTIAL RUN" in out and " fail" not in out.split("clause level")[-1], \
        f"scripts/conformance -k ordering_under_loss from {clone}: exit {rc}\n{out[-3000:]}"
    left = sorted(str(p.relative_to(clone)) for p in clone.glob(".uml-*"))
    assert left == [], f"UML's run directory belongs in the runtime directory, not the checkout: {left}"
    assert list((clone / "captures" / "latest").glob("*ordering_under_loss*.pcapng")) or \
        list((clone / "captures" / "runs").glob("*/*ordering_under_loss*.pcapng")), "the scenario's capture is missing"
