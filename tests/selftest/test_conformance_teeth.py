"""The conformance suite has teeth: each deliberately faulty server fails exactly the clause it breaks,
and the reference implementation passes the same scenarios."""
import json
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAULTY = ROOT / "build" / "tests" / "faulty-server"
PY = "/usr/bin/python3"


def faults():
    if not FAULTY.exists():
        return []
    out = subprocess.run([str(FAULTY), "--list"], capture_output=True, text=True, check=True).stdout
    return [line.split(maxsplit=3) for line in out.splitlines()]


def run_suite(tmp_path, clause, extra):
    results = tmp_path / "results.json"
    argv = [PY, "-m", "pytest", str(ROOT / "tests/conformance"), "-m", "not netem", "-p", "no:cacheprovider",
            "-q", "--clauses", clause, "--results-file", str(results), "-n", "2"] + extra
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={"WIRECHECK_CAPTURES": str(tmp_path / "captures"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert r.returncode in (0, 1), f"pytest exited {r.returncode}\n{r.stdout[-3000:]}{r.stderr[-2000:]}"
    return json.loads(results.read_text())


def test_faulty_server_is_built():
    assert FAULTY.exists(), f"build first: {FAULTY} is missing"
    assert len(faults()) >= 10


@pytest.mark.parametrize("fault", faults(), ids=lambda f: f"{f[0]}-{f[2]}")
def test_faulty_server_fails_its_clause(tmp_path, fault):
    name, proto, clause, what = fault
    part = f"--{proto}-server-cmd"
    results = run_suite(tmp_path, clause, [part, f"{FAULTY} {name} {{port}}"])
    mine = [r for r in results if clause in r["clauses"]]
    assert mine, f"no scenario checks {clause}"
    failed = [r for r in mine if r["outcome"] == "failed"]
    assert failed, f"{name} ({what}) passed every {clause} scenario: " + \
        ", ".join(f"{r['name']}={r['outcome']}" for r in mine)
    # Its evidence names the clause.
    assert any(clause in e for r in failed for e in r["evidence"]), [r["evidence"] for r in failed]


def test_reference_passes_the_same_scenarios(tmp_path):
    results = run_suite(tmp_path, ",".join(sorted({f[2] for f in faults()})), [])
    bad = [f"{r['name']}: {r['outcome']} {r['evidence']}" for r in results if r["outcome"] != "passed"]
    assert results and not bad, bad
