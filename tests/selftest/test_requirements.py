"""PROTOCOL.md and its requirements cannot drift: the document is rendered from requirements.toml, every
requirement has a scenario that can fail it, and every scenario names only known requirements."""
import json
import subprocess
import sys

from wcrun import clauses

ROOT = clauses.SPEC_DIR.parents[1]


def test_protocol_md_is_rendered_from_the_requirements():
    text = clauses.PROTOCOL.read_text()
    assert clauses.render(text) == text, "run: scripts/conformance requirements --write"


def test_the_requirements_subcommand_lists_and_checks():
    r = subprocess.run([str(ROOT / "scripts/conformance"), "requirements"], capture_output=True, text=True)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == len(clauses.requirements()), r.stderr
    r = subprocess.run([str(ROOT / "scripts/conformance"), "requirements", "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_requirement_has_a_scenario_and_every_scenario_known_requirements(tmp_path):
    lst = tmp_path / "list.json"
    r = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "tests/conformance"), "--collect-only", "-q",
                        "-p", "no:cacheprovider", "--list-file", str(lst)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rows = json.loads(lst.read_text())
    reqs = clauses.requirements()
    unknown = {(row["name"], rid) for row in rows for rid in row["clauses"] if rid not in reqs}
    assert not unknown, f"scenarios naming unknown requirements: {sorted(unknown)}"
    covered = {rid for row in rows for rid in row["clauses"]}
    assert set(reqs) <= covered, f"requirements with no scenario: {sorted(set(reqs) - covered)}"
    assert all(row["clauses"] for row in rows), [row["name"] for row in rows if not row["clauses"]]
