"""Smoke test of the benchmark harness (issue 6): `scripts/bench --quick` runs every row and prints the table.

Benchmarks are not tests: nothing here looks at a number, only that each row ran without an error.
"""
import pathlib

import pytest

from lab import proc

ROOT = pathlib.Path(__file__).resolve().parents[2]

ROWS = [
    "TCP echo stream",
    "short connections",
    "pipelined 16-byte lines",
    "p99 round trip with",
    "UDP 64-byte echo, batched server | ",
    "socat UDP-LISTEN PIPE",
    "sniffer capture rate",
    "sniffer CPU per captured packet",
    "offline labelling of",
    "ladder diagram of",
    "uppercase transform",
    "server RSS per idle connection",
]


@pytest.mark.slow
def test_bench_quick_prints_every_row(bins):
    with proc.Process([str(ROOT / "scripts" / "bench"), "--quick"], name="bench") as p:
        rc = p.wait(timeout=240)
        out = p.stdout().decode(errors="replace")
        err = p.stderr().decode(errors="replace")
    assert rc == 0, f"scripts/bench --quick exited {rc}, want 0\n--- stdout ---\n{out}\n--- stderr ---\n{err[-3000:]}"
    table = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| row ")]
    assert len(table) == len(ROWS), f"want {len(ROWS)} table rows, got {len(table)}:\n{out}"
    for name in ROWS:
        assert any(name in line for line in table), f"row {name!r} missing from the table:\n{out}"
    broken = [line for line in table if "error" in line]
    assert not broken, "rows with errors:\n" + "\n".join(broken)
