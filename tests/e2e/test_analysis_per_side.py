"""Wireshark's TCP analysis on the files a user opens: one file per capture point (sniffer --split) shows no
analysis flag that did not happen on that link; the two-sided file, where Wireshark mixes the sides up, does.

Ground truth comes from matching the two sides packet by packet: lab.analysis says what each flag means.
"""
import pathlib
import subprocess

import pytest

from lab.analysis import Truth, false_flags

pytestmark = pytest.mark.capture

ROOT = pathlib.Path(__file__).resolve().parents[2]
CAPTURES = [ROOT / "captures/samples/tcp-session.pcapng", ROOT / "captures/samples/tcp-retransmissions.pcapng",
            *sorted(p for p in (ROOT / "tests/data/reliability").glob("tcp-*.pcapng")
                    if not p.name.endswith((".client.pcapng", ".server.pcapng")))]


def split(bins, src, tmp_path):
    stem = src.name[:-len(".pcapng")]
    files = {k: tmp_path / f"{stem}.{k}.pcapng" for k in ("both", "client", "server")}
    r = subprocess.run([bins["sniffer"], "-r", str(src), "-w", str(files["both"]), "--split",
                        f"0={files['client']}", "--split", f"1={files['server']}"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return files


@pytest.mark.parametrize("src", CAPTURES, ids=lambda p: p.name)
def test_one_side_files_show_only_what_happened(bins, tmp_path, src):
    files = split(bins, src, tmp_path)
    truth = Truth(files["both"])
    bad, flagged = false_flags(truth, files)
    for kind in ("client", "server"):
        assert not bad[kind], f"{src.name}, {kind} side: flags that did not happen on that link: {dict(bad[kind])} " \
                              f"(of {flagged[kind]} flagged frames)"
    if src.name != "tcp-session.pcapng" or flagged["both"]:
        # The point of the split: the two-sided file shows flags that did not happen.
        assert sum(bad["both"].values()) > 0, (src.name, flagged)
