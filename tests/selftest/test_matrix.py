"""The interop matrix (scripts/conformance --matrix): the catalogue's rules, stable shards that cover every cell
once, four shards merged equal to one unsharded run cell by cell, and which side a failing cell blames."""
import json
import os
import pathlib
import subprocess

import pytest

from wcrun import catalogue, matrix, shard

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFORMANCE = str(ROOT / "scripts" / "conformance")
# The matrix runs side by side: the runner itself (scripts/conformance would run five builds at once in build/).
RUNNER = ["/usr/bin/python3", "-m", "wcrun", "conformance"]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "tests"))
SMALL = f"""
[[implementation]]
name = "python"
language = "Python"
tcp-server = "/usr/bin/python3 {ROOT}/tests/selftest/student/fixed_tcp.py {{port}}"
tcp-client = "/usr/bin/python3 {{dir}}/py_tcp_client.py {{host}} {{port}}"
udp-client = "/usr/bin/python3 {{dir}}/py_udp_client.py {{host}} {{port}}"
ipv4-only = true

[[implementation]]
name = "crlf"
tcp-client = "/usr/bin/python3 {{dir}}/py_tcp_client.py {{host}} {{port}} --crlf"

[[implementation]]
name = "zoo-latin1"
tcp-server = "{{build}}/tests/faulty-server latin1 {{port}}"

[[implementation]]
name = "zoo-pad"
udp-server = "{{build}}/tests/faulty-server pad {{port}}"
"""


def small_catalogue(tmp_path):
    """Four implementations besides the reference; {dir} is where the Python clients are copied."""
    for f in ("py_tcp_client.py", "py_udp_client.py"):
        (tmp_path / f).write_bytes((ROOT / "tests" / "interop" / "impl" / f).read_bytes())
    p = tmp_path / "small.toml"
    p.write_text(SMALL)
    return p


def test_the_catalogue_names_what_is_wrong(tmp_path):
    bad = tmp_path / "bad.toml"
    for text, words in [("[[implementation]]\nname='a b'\ntcp-server='x {port}'\n", "name of 1-40"),
                        ("[[implementation]]\nname='x'\n", "gives none of the roles"),
                        ("[[implementation]]\nname='x'\ntcp-server='no port'\n", "with {port}"),
                        ("[[implementation]]\nname='reference'\ntcp-server='x {port}'\n", "used twice"),
                        ("[[implementation]]\nname='x'\ntcp-sever='x {port}'\n", "unknown keys"),
                        ("reference = false\n", "no implementation")]:
        bad.write_text(text)
        with pytest.raises(catalogue.CatalogueError, match=words.replace("{", r"\{").replace("}", r"\}")):
            catalogue.load(bad)


def test_the_example_catalogue_plans_its_pairs():
    cat = catalogue.load(ROOT / "tests" / "interop" / "example.toml")
    names = [i["name"] for i in cat["implementations"]]
    assert names == ["reference", "python", "java", "zoo-first-line", "zoo-latin1", "zoo-pad", "zoo-print-newline",
                     "zoo-stale-buffer"], names
    ids = [c["id"] for c in matrix.plan(cat)]
    # TCP: 4 clients (reference, python, java, zoo-print-newline) x 5 servers; UDP: 4 clients x 4 servers;
    # 8 conformance runs
    assert len(ids) == 8 + 20 + 16 and "tcp/java--zoo-latin1" in ids and "udp/python--zoo-pad" in ids, ids
    assert "udp/python--zoo-latin1" not in ids, "zoo-latin1 has no UDP server"


def test_shards_are_stable_and_cover_every_cell_once():
    cells = [{"id": f"c{i}"} for i in range(33)]
    for n in (1, 2, 4, 7, 40):
        got = [c["id"] for i in range(1, n + 1) for c in shard.select(cells, i, n)]
        assert sorted(got) == sorted(c["id"] for c in cells), n
    assert shard.parse("2/4") == (2, 4) and shard.parse(None) == (1, 1)
    assert shard.parse("4", {"JOB_COMPLETION_INDEX": "0"}) == (1, 4)
    assert shard.parse("4", {"SLURM_ARRAY_TASK_ID": "3"}) == (4, 4)
    for bad in ("0/4", "5/4", "4", "a/b", "1/0"):
        with pytest.raises(ValueError):
            shard.parse(bad, {})


def run_matrix(cat, out, *extra):
    return subprocess.Popen(RUNNER + ["--matrix", str(cat), "--no-netem", "-k", "seed_session", "--out", str(out),
                                      *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)


def essence(cell):
    """What must not depend on the sharding: the verdict, who broke it, per workload item, per clause."""
    return {k: cell.get(k) for k in ("kind", "verdict", "broke", "items", "clauses", "headline")}


@pytest.mark.lab
@pytest.mark.slow
def test_four_shards_merged_equal_one_unsharded_run(tmp_path):
    cat = small_catalogue(tmp_path)
    runs = [run_matrix(cat, tmp_path / "whole", "-j", "1")]
    runs += [run_matrix(cat, tmp_path / f"shard{i}", "-j", "1", "--shard", f"{i}/4") for i in range(1, 5)]
    outs = [p.communicate(timeout=1200)[0] for p in runs]
    for p, text in zip(runs, outs):
        assert p.returncode in (1, 3), text[-3000:]      # the zoo fails its cells: exit 1
    m = subprocess.run(RUNNER + ["merge", *(str(tmp_path / f"shard{i}") for i in range(1, 5)),
                                 "--out", str(tmp_path / "merged")], capture_output=True, text=True, timeout=120, env=ENV)
    assert m.returncode == 1, m.stdout + m.stderr
    whole = json.loads((tmp_path / "whole" / "matrix.json").read_text())
    merged = json.loads((tmp_path / "merged" / "matrix.json").read_text())
    assert merged["planned"] == whole["planned"] and merged["missing"] == []
    assert sorted(merged["cells"]) == sorted(whole["cells"]) == sorted(whole["planned"])
    diff = {cid: (essence(whole["cells"][cid]), essence(merged["cells"][cid])) for cid in whole["cells"]
            if essence(whole["cells"][cid]) != essence(merged["cells"][cid])}
    assert not diff, diff
    # Every cell's capture was carried into the merged directory, and the page links it.
    page = (tmp_path / "merged" / "matrix.html").read_text()
    for cid, c in merged["cells"].items():
        link = c["links"].get("capture") or c["links"].get("report")
        assert (tmp_path / "merged" / link).exists() and link in page, (cid, link)
    # Which side broke: the Latin-1 server's replies and the padding UDP server, never the clients.
    assert merged["cells"]["tcp/python--zoo-latin1"]["broke"] == ["server"]
    assert merged["cells"]["tcp/python--zoo-latin1"]["items"]["binary"] == "fail"
    assert merged["cells"]["tcp/python--zoo-latin1"]["items"]["session"] == "pass"
    assert merged["cells"]["udp/reference--zoo-pad"]["broke"] == ["server"]
    # ... and the client that sends CR LF for LF, never the servers.
    assert merged["cells"]["tcp/crlf--reference"]["broke"] == ["client"]
    assert merged["cells"]["tcp/crlf--python"]["broke"] == ["client"]
    assert all(c["verdict"] == "pass" for cid, c in merged["cells"].items()
               if c["kind"] == "interop" and "zoo" not in cid and "crlf" not in cid), merged["cells"]
    # A shard of another catalogue is refused.
    other = tmp_path / "other.toml"
    other.write_text(cat.read_text() + "\n# changed\n")
    p = run_matrix(other, tmp_path / "other", "--shard", "1/40")
    p.communicate(timeout=600)
    m = subprocess.run(RUNNER + ["merge", str(tmp_path / "shard1"), str(tmp_path / "other"),
                                 "--out", str(tmp_path / "bad")], capture_output=True, text=True, timeout=120, env=ENV)
    assert m.returncode == 2 and "another catalogue" in m.stderr, m.stderr


def test_the_page_says_which_side_broke_a_cell_and_links_its_capture(tmp_path):
    doc = {"catalogue": {"path": "c.toml", "sha256": "0" * 64, "implementations": [
        {"name": "a", "roles": ["tcp-client", "tcp-server"], "language": "", "notes": "", "reference": False}]},
        "commit": None, "describe": None, "selection": {"k": None, "no_netem": True},
        "shard": {"index": 1, "count": 1}, "planned": ["tcp/a--a"], "started": "t0", "finished": "t1",
        "cells": {"tcp/a--a": {"kind": "interop", "verdict": "fail", "broke": ["client"], "seconds": 1.0,
                               "evidence": ["pipelined: client: sent 10 bytes for its 20 bytes of input"],
                               "links": {"capture": "cells/tcp/a--a/x.pcapng"}}}}
    from wcrun import matrix_page
    matrix_page.write_all(doc, tmp_path)
    md = (tmp_path / "matrix.md").read_text()
    assert "[fail (client)](cells/tcp/a--a/x.pcapng)" in md and "pipelined: client: sent 10 bytes" in md, md


@pytest.mark.lab
@pytest.mark.slow
def test_conformance_passes_as_a_user_without_root():
    """scripts/conformance as `nobody` (or as this user when not root): the lab runs inside User-Mode Linux, the
    run passes its clauses, and what it wrote belongs to that user."""
    import shutil
    import tempfile
    out = pathlib.Path(tempfile.mkdtemp(prefix="wc-nonroot-"))
    try:
        argv = [CONFORMANCE, "-k", "seed_session", "--no-netem", "--no-demo", "--out", str(out / "run")]
        if os.geteuid() == 0:
            shutil.chown(out, "nobody")
            argv = ["runuser", "-u", "nobody", "--"] + argv
        r = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd="/")
        text = r.stdout + r.stderr
        assert r.returncode == 3, text[-3000:]           # a partial run (-k) with nothing failing
        assert "PARTIAL RUN" in r.stdout and "inside User-Mode Linux" in text, text[-3000:]
        rep = json.loads((out / "run" / "report.json").read_text())
        v = {c["id"]: c["verdict"] for c in rep["clauses"]}
        assert v["T2"] == "pass" and v["T3"] == "pass" and "fail" not in v.values(), v
        uid = (out / "run" / "report.json").stat().st_uid
        want = pathlib.Path(out).stat().st_uid
        assert uid == want, f"report.json belongs to uid {uid}, not to the user who ran it ({want})"
    finally:
        shutil.rmtree(out, ignore_errors=True)
