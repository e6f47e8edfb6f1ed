"""The installed wirecheck runs its main job: `cmake --install build --prefix TMP`, then TMP/bin/wirecheck from
another directory, with nothing of the checkout on its paths."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"

pytestmark = [pytest.mark.slow, pytest.mark.lab]


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    if os.environ.get("WIRECHECK_BIN"):
        pytest.skip("installs build/ itself; WIRECHECK_BIN names other binaries")
    if not (BUILD / "cmake_install.cmake").exists():
        pytest.fail(f"build first (scripts/build): no {BUILD / 'cmake_install.cmake'}")
    p = tmp_path_factory.mktemp("prefix")
    r = subprocess.run(["cmake", "--install", str(BUILD), "--prefix", str(p)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"cmake --install exited {r.returncode}: {r.stderr[-2000:]}"
    return p


def clean_env():
    """The caller's environment without anything that points into the checkout."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "WIRECHECK_BIN", "WIRECHECK_CAPTURES") and not k.startswith("PYTEST_")}


def test_installed_layout(prefix):
    py = prefix / "share/wirecheck/python"
    for rel in ("bin/wirecheck", "bin/tcp-server", "bin/udp-server", "bin/tcp-client", "bin/udp-client",
                "bin/sniffer", "share/wirecheck/python/pytest.ini", "share/wirecheck/python/conftest.py",
                "share/wirecheck/python/conformance/PROTOCOL.md", "share/wirecheck/python/conformance/conftest.py",
                "share/wirecheck/python/lab/uml.py", "share/wirecheck/python/lab/uml-init",
                "share/wirecheck/python/wcrun/installed.json", "share/wirecheck/python/interop/test_interop.py",
                "share/wirecheck/wireshark/plugins/wcupper.lua", "share/wirecheck/wireshark/plugins/wcupper_logic.lua",
                "bin/wirecheck-wireshark-setup"):
        assert (prefix / rel).exists(), f"{rel} not installed under {prefix}"
    assert os.access(prefix / "bin/wirecheck", os.X_OK) and os.access(py / "lab/uml-init", os.X_OK)
    assert not list(py.glob("lab/test_*.py")), "the lab's own tests are not installed"
    assert (py / json.loads((py / "wcrun/installed.json").read_text())["bindir"]).resolve() == prefix / "bin"


def test_wirecheck_help(prefix, tmp_path):
    r = subprocess.run([str(prefix / "bin/wirecheck"), "--help"], cwd=tmp_path, env=clean_env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"wirecheck --help exited {r.returncode}: {r.stderr}"
    for sub in ("conformance", "demo", "ladder", "./captures/runs/"):
        assert sub in r.stdout, f"{sub!r} not in wirecheck --help:\n{r.stdout}"
    r = subprocess.run([str(prefix / "bin/wirecheck"), "conformance", "--help"], cwd=tmp_path, env=clean_env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--no-netem" in r.stdout, f"exit {r.returncode}: {r.stdout[-500:]}{r.stderr}"


def test_installed_conformance_runs_from_another_directory(prefix, tmp_path):
    """The scenarios run against the installed programs, and the run is written under the current directory."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces)")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    r = subprocess.run([str(prefix / "bin/wirecheck"), "conformance", "--no-demo", "--no-netem"], cwd=cwd,
                       env=clean_env(), capture_output=True, text=True, timeout=600)
    out = r.stdout[-3000:] + r.stderr[-2000:]
    assert r.returncode == 3, f"expected exit 3 (a partial run: --no-netem), got {r.returncode}:\n{out}"
    reports = list(cwd.glob("captures/runs/*/report.json"))
    assert len(reports) == 1, f"expected one run under {cwd}/captures/runs, found {reports}:\n{out}"
    rep = json.loads(reports[0].read_text())
    run = rep["run"]
    assert run["describe"].endswith("(installed)") and run["commit"] is None, run
    assert run["commands"]["tcp-server"].startswith(str(prefix / "bin/tcp-server")), run["commands"]
    assert (reports[0].parent / "PROTOCOL.md").exists() and (reports[0].parent / "report.html").exists()
    verdicts = {c["id"]: c["verdict"] for c in rep["clauses"]}
    failing = {k: v for k, v in verdicts.items() if v not in ("pass", "not run")}
    assert not failing and verdicts["T1"] == "pass", f"the reference should pass what ran: {failing}\n{out}"
    assert list(reports[0].parent.glob("*.pcapng")), "the run wrote no capture"
    assert not (ROOT / "tests" / "captures").exists()
    shutil.rmtree(cwd / "captures")


def test_installed_dissector_set_up_and_removed(prefix, tmp_path):
    """wirecheck-wireshark-setup links both of the dissector's files into the personal plugins folder, where tshark
    loads them (wcupper.lua finds wcupper_logic.lua beside it), and --remove takes both away."""
    if not shutil.which("tshark"):
        pytest.skip("no tshark")
    env = {k: v for k, v in clean_env().items() if k not in ("WIRESHARK_CONFIG_DIR", "XDG_CONFIG_HOME")}
    env["HOME"] = str(tmp_path)
    plugins = tmp_path / ".local/lib/wireshark/plugins"
    files = ("wcupper.lua", "wcupper_logic.lua")
    setup = str(prefix / "bin/wirecheck-wireshark-setup")
    r = subprocess.run([setup], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"wirecheck-wireshark-setup exited {r.returncode}: {r.stderr}"
    for f in files:
        want = prefix / "share/wirecheck/wireshark/plugins" / f
        assert (plugins / f).resolve() == want, f"{plugins / f} should link to {want}:\n{r.stdout}"
    r = subprocess.run(["tshark", "-r", str(ROOT / "tests/data/wireshark/udp-pad.pcapng"), "-2", "-R", "frame",
                        "-Y", "wcupper.reply.length", "-T", "fields", "-e", "frame.number"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Lua" not in r.stderr, f"tshark exited {r.returncode}: {r.stderr}"
    # the replies: frames 3 and 7 on the server side, 4 and 8 on the client side (the file is in time order)
    assert r.stdout.split() == ["3", "4", "7", "8"], f"expected the 4 padded replies, got {r.stdout.split()}"
    r = subprocess.run([setup, "--remove"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"wirecheck-wireshark-setup --remove exited {r.returncode}: {r.stderr}"
    left = [f for f in files if os.path.lexists(plugins / f)]
    assert not left, f"--remove left {left} in {plugins}"
