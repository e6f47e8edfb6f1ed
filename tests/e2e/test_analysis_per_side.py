"""Wireshark's TCP analysis on the files a user opens: one file per capture point (sniffer --split) shows no
analysis flag that did not happen on that link; the two-sided file, where Wireshark mixes the sides up, does.

Ground truth comes from matching the two sides packet by packet (lab.ledger): for each frame tshark flags in a
one-side file, the flag is true when, on that link,
- retransmission (also fast, spurious): the sender sent that sequence range before, or the network duplicated
  the packet on its way here;
- out-of-order: the packet was overtaken (the ledger's `reordered`) or duplicated on the way here, or the sender
  resent it (tshark calls a resend "out-of-order" when it comes within its RTT estimate, even where it was sent);
- lost segment ("previous segment not captured"): a packet sent before it, with a lower sequence number, was
  lost or overtaken on the way here;
- duplicate ACK: the ACK's sender sent that ACK number before without data (what tshark judges by), or the
  network duplicated it, or a packet sent before it was lost or overtaken;
- ACKed unseen segment: a packet of the other direction was lost or overtaken.
"""
import collections
import hashlib
import pathlib
import subprocess

import pytest

from lab import ledger as lab_ledger
from lab import pcapfile

pytestmark = pytest.mark.capture

ROOT = pathlib.Path(__file__).resolve().parents[2]
CAPTURES = [ROOT / "captures/samples/tcp-session.pcapng", ROOT / "captures/samples/tcp-retransmissions.pcapng",
            *sorted((ROOT / "tests/data/reliability").glob("tcp-*.pcapng"))]
FLAGS = {"retransmission": "tcp.analysis.retransmission", "fast_retransmission": "tcp.analysis.fast_retransmission",
         "spurious_retransmission": "tcp.analysis.spurious_retransmission",
         "out_of_order": "tcp.analysis.out_of_order", "lost_segment": "tcp.analysis.lost_segment",
         "duplicate_ack": "tcp.analysis.duplicate_ack", "ack_lost_segment": "tcp.analysis.ack_lost_segment"}


def tshark_flags(path):
    """{frame number: set of FLAGS names} for every frame with one of them."""
    argv = ["tshark", "-r", str(path), "-Y", " or ".join(FLAGS.values()), "-T", "fields", "-E", "separator=|",
            "-e", "frame.number", *[x for f in FLAGS.values() for x in ("-e", f)]]
    r = subprocess.run(argv, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    out = {}
    for line in r.stdout.decode().splitlines():
        v = line.split("|")
        out[int(v[0])] = {name for name, x in zip(FLAGS, v[1:]) if x}
    return out


def _seq_lt(a, b):
    return ((a - b) & 0xFFFFFFFF) >= 0x80000000


class Truth:
    """What happened to each TCP packet of a two-sided capture (interface 0 client side, 1 server side)."""

    def __init__(self, path):
        f = pcapfile.read(path)
        pk = {0: [], 1: []}
        for p in f.packets:
            d = lab_ledger.decode(p.data, f.interfaces[p.iface].linktype)
            pk[p.iface].append((p.ts_ns, d))
        syn = next(d for _, d in pk[0] if d and d["proto"] == 6 and d.get("flags", "").find("S") >= 0
                   and "A" not in d["flags"])
        self.client, self.server = syn["src"], syn["dst"]
        self.led = lab_ledger.Ledger([(t, 1, b) for t, b in self._frames(f, 0)],
                                     [(t, 1, b) for t, b in self._frames(f, 1)], {self.client}, {self.server})
        self.pk = pk

    @staticmethod
    def _frames(f, iface):
        return [(p.ts_ns, p.data) for p in f.packets if p.iface == iface and f.interfaces[iface].linktype == 1]

    def direction(self, d):
        return "c2s" if d["src"] == self.client else "s2c"

    def side_of_sender(self, direction):
        return 0 if direction == "c2s" else 1

    def judge(self, side, index, flags):
        """The flags (a set) of frame `index` (0-based) of one side's packets that did not happen on the link."""
        ts, d = self.pk[side][index]
        if d is None or d["proto"] != 6:
            return set(flags)
        direction = self.direction(d)
        entries = [x for x in self.led.entries[direction] if x["proto"] == 6]
        key = (d["proto"], d["ip_id"], hashlib.blake2b(d["l4"], digest_size=12).digest())
        sent = [e for e in entries if e["_key"] == key and e["ts"] <= ts]
        e = sent[-1] if sent else None
        at_receiver = side != self.side_of_sender(direction)
        seglen = d["payload"] + ("S" in d["flags"]) + ("F" in d["flags"])
        before = [x for x in entries if e is not None and x["ts"] < e["ts"]]
        resent = e is not None and seglen > 0 and any(
            x.get("seq") is not None and x["payload"] + ("S" in x["flags"]) + ("F" in x["flags"]) > 0
            and _seq_lt(x["seq"], d["seq"] + seglen) and _seq_lt(d["seq"], x["seq"] + max(1, x["payload"]))
            for x in before)
        copies = sum(1 for t2, d2 in self.pk[side][:index + 1] if d2 is not None and d2["l4"] == d["l4"]
                     and d2["ip_id"] == d["ip_id"])
        duplicated = at_receiver and copies > 1
        upset_before = at_receiver and any(
            (x["fate"] != "delivered" or x["reordered"] or x["delay_ns"] is not None and x["ts"] + x["delay_ns"] > ts)
            and x.get("seq") is not None and _seq_lt(x["seq"], d["seq"]) for x in before)
        other = "s2c" if direction == "c2s" else "c2s"
        upset_other = any(x["fate"] != "delivered" or x["reordered"] for x in self.led.entries[other]
                          if x["proto"] == 6)
        dup_ack = seglen == 0 and any(x.get("ack") == d["ack"] and x["payload"] == 0 for x in before)
        ok = {"retransmission": resent or duplicated, "fast_retransmission": resent or duplicated,
              "spurious_retransmission": resent or duplicated,
              "out_of_order": at_receiver and (e is not None and e["reordered"] or duplicated) or resent,
              "lost_segment": upset_before,
              "duplicate_ack": dup_ack or duplicated or upset_before or upset_other,
              "ack_lost_segment": upset_other}
        return {f for f in flags if not ok[f]}


def split(bins, src, tmp_path):
    stem = src.name[:-len(".pcapng")]
    files = {k: tmp_path / f"{stem}.{k}.pcapng" for k in ("both", "client", "server")}
    r = subprocess.run([bins["sniffer"], "-r", str(src), "-w", str(files["both"]), "--split",
                        f"0={files['client']}", "--split", f"1={files['server']}"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return files


def false_flags(truth, files):
    """{file kind: Counter of flags that did not happen}, and the flagged frame counts."""
    bad, flagged = {}, {}
    for kind, side in (("client", 0), ("server", 1)):
        fl = tshark_flags(files[kind])
        flagged[kind] = len(fl)
        bad[kind] = collections.Counter(f for n, flags in fl.items() for f in truth.judge(side, n - 1, flags))
    # The two-sided file: frame n is packet n-1 of the file, on its own side.
    both = pcapfile.read(files["both"])
    index, count = [], {0: 0, 1: 0}
    for p in both.packets:
        index.append((p.iface, count[p.iface]))
        count[p.iface] += 1
    fl = tshark_flags(files["both"])
    flagged["both"] = len(fl)
    bad["both"] = collections.Counter(f for n, flags in fl.items() for f in truth.judge(*index[n - 1], flags))
    return bad, flagged


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
