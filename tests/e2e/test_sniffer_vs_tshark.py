"""The sniffer's retransmission labels against tshark's verdicts on a lossy capture made by the lab.

The sample holds both sides of the lab in one file, so every segment appears twice (client side, then server
side); tshark would take each second copy for a retransmission. Like is compared with like: each side is split
out and read on its own. tshark then divides the resent segments into "retransmission" and "out-of-order" by
its RTT heuristic; the sniffer calls a segment that fills a gap later than one RTT a retransmission. So the
sniffer's set must equal the union of tshark's two sets, frame for frame.
"""
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "captures" / "samples" / "tcp-retransmissions.pcapng"


def tshark(*args):
    r = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout  # tshark says "Running as user root" on stderr


def frames(path, display_filter):
    return {int(x) for x in tshark("-r", str(path), "-Y", display_filter, "-T", "fields", "-e",
                                   "frame.number").split()}


@pytest.mark.parametrize("side", [0, 1], ids=["client-side", "server-side"])
def test_retransmission_labels_agree_with_tshark(tmp_path, bins, side):
    one = tmp_path / f"side{side}.pcapng"
    tshark("-r", str(SAMPLE), "-Y", f"frame.interface_id == {side}", "-w", str(one))
    # Label this side afresh with the sniffer's offline mode.
    labelled = tmp_path / f"side{side}-labelled.pcapng"
    r = subprocess.run([bins["sniffer"], "-r", str(one), "-w", str(labelled)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    ours = frames(labelled, 'frame.comment contains "retransmission"')
    theirs = frames(one, "tcp.analysis.retransmission || tcp.analysis.out_of_order")
    assert theirs, "the sample has no retransmission: it proves nothing"
    assert ours == theirs, f"sniffer only: {sorted(ours - theirs)}; tshark only: {sorted(theirs - ours)}"
