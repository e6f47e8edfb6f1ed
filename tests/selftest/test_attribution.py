"""A scenario charges a defect to the requirement it breaks and to no other (zoo.toml's attribution rule), so
that a SHOULD sentence fails only for its own reason. Single scenarios on loopback (--loopback: no lab) against
a member of the faulty zoo."""
import json
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("WIRECHECK_BUILD_DIR", ROOT / "build"))


def loopback_verdicts(tmp_path, scenario, role, cmd):
    """{requirement: verdict} of one scenario run on loopback against cmd."""
    results = tmp_path / "results.json"
    r = subprocess.run(["/usr/bin/python3", "-m", "pytest", str(ROOT / "tests/conformance"), "--loopback", "-q",
                        "-p", "no:cacheprovider", "-k", scenario, f"--{role}-cmd", cmd, "--results-file",
                        str(results)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stdout[-3000:] + r.stderr[-2000:]
    rows = json.loads(results.read_text())
    assert [x["name"] for x in rows] == [scenario], [x["name"] for x in rows]
    return {rid: v["verdict"] for rid, v in rows[0]["verdicts"].items()}


def test_a_server_that_stalls_everyone_fails_isolation_not_back_pressure(tmp_path):
    """c-poll-blocking-write blocks in write() to the client that does not read: it stops reading that client
    (back-pressure, T6.2, holds) and with it everyone else (isolation, T6.1, fails)."""
    got = loopback_verdicts(tmp_path, "test_non_reading_client_stalls_nobody", "tcp-server",
                            f"{BUILD}/tests/zoo-server poll-blocking-write {{port}}")
    assert got == {"T6.1": "fail", "T6.2": "pass"}, got
