"""A student's study, replayed: a first-attempt Python server pair (tests/selftest/student/naive_*.py) with four
real bugs, tested from the terminal output alone. The first screen must name each bug once, in the clause it
breaks; the servers fixed from those lines (fixed_*.py) must pass every MUST clause that the run judged."""
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
STUDENT = ROOT / "tests" / "selftest" / "student"
pytestmark = [pytest.mark.lab, pytest.mark.slow]


def conformance(tmp_path, which):
    out = tmp_path / which
    r = subprocess.run([str(ROOT / "scripts/conformance"), "--no-netem", "--no-demo", "--out", str(out),
                        "--tcp-server-cmd", f"/usr/bin/python3 {STUDENT}/{which}_tcp.py {{port}}",
                        "--udp-server-cmd", f"/usr/bin/python3 {STUDENT}/{which}_udp.py {{port}}"],
                       capture_output=True, text=True, timeout=900)
    return r.returncode, r.stdout


def blocks(screen):
    """{clause id: its lines} of the verdict table."""
    out, cur = {}, None
    for line in screen.splitlines():
        m = re.match(r"^([TUWC]\d+)\s+(MUST|SHOULD)\s+(\S+)", line)
        if m:
            cur = m.group(1)
            out[cur] = [line]
        elif cur and line.startswith(" " * 20):
            out[cur].append(line)
        else:
            cur = None
    return out


def test_the_first_screen_names_each_bug_once_in_its_clause(tmp_path):
    code, out = conformance(tmp_path, "naive")
    assert code == 1, out[-3000:]
    screen = out[out.index("clause level"):]
    screen = "\n".join(screen.splitlines()[:60])        # what a terminal shows without scrolling back
    b = {k: "\n".join(v) for k, v in blocks(screen).items()}
    # The crash: the UDP server died on a non-UTF-8 datagram (U1), a TCP handler thread did (T2).
    assert b["U1"].count("exited with status 1") == 1 and "UnicodeDecodeError" in b["U1"], b["U1"]
    assert b["T2"].count("UnicodeDecodeError") == 1, b["T2"]
    # The stripped CRLF: the CRLF scenario's window shows "\r\n" expected and "\n" got.
    assert b["T2"].count('expected "\\n\\r\\n\\nLAST\\r\\n", got "\\n\\r\\n\\nLAST\\n"') == 1, b["T2"]
    # The 1024-byte cut: a datagram cut to recvfrom's buffer (U1), a line cut into 1024-byte pieces (T5).
    assert b["U1"].count("bytes for a 2000-byte request") == 1, b["U1"]
    assert "byte 1024 differs" in b["T5"], b["T5"]
    # The IPv4-only listener: not a failure (PROTOCOL.md requires no IPv6), but said once per server.
    assert screen.count("does not listen on IPv6 ([fd00:71:2::2]:6789)") == 1, screen
    assert "IPv6" not in b["T2"] + b["U2"], "IPv4-only is not a failure"
    fails = {k for k, v in b.items() if re.search(r"\bfail\b", v.splitlines()[0])}
    assert fails == {"T2", "T5", "U1", "T7", "U4"}, fails
    # The extra "\n" after the unterminated tail is the transform's (T2), not the half-close's.
    assert "inconclusive, T2 fails: the tail was answered wrong" in b["T4"], b["T4"]


def test_the_servers_fixed_from_that_screen_pass_every_must_clause(tmp_path):
    code, out = conformance(tmp_path, "fixed")
    assert code == 3, out[-3000:]                       # a partial run (--no-netem): W5 not run
    rows = {k: v[0] for k, v in blocks(out[out.index("clause level"):]).items()}
    bad = {k: v for k, v in rows.items() if " MUST " in v and not re.search(r"\b(pass|n/a|not run)\b", v)}
    assert not bad, bad
