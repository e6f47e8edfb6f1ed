"""Wireshark's TCP analysis against what happened on the link: tshark's tcp.analysis flags of a capture, and the
truth from its two sides matched packet by packet (lab.ledger). For each frame tshark flags, the flag is true when,
on that link,
- retransmission (also fast, spurious): the sender sent that sequence range before, or the network duplicated
  the packet on its way here, or it was overtaken on the way here (tshark's name for a segment that comes after
  a later one, later than its RTT estimate allows for reordering);
- out-of-order: the packet was overtaken (the ledger's `reordered`) or duplicated on the way here, or the sender
  resent it (tshark calls a resend "out-of-order" when it comes within its RTT estimate, even where it was sent);
- lost segment ("previous segment not captured"): a packet sent before it, with a lower sequence number, was
  lost or overtaken on the way here;
- duplicate ACK: the ACK's sender sent that ACK number before without data (what tshark judges by), or the
  network duplicated it, or a packet sent before it was lost or overtaken;
- ACKed unseen segment: a packet of the other direction was lost or overtaken.
Where the capture of a side is incomplete (the kernel dropped packets for it, or a filter kept only some),
"previous segment not captured" and "ACKed unseen segment" are true of that file. Where the kernel dropped
packets for the sender's capture, an earlier send may be among them: retransmission, out-of-order and duplicate
ACK are not judged false there.
"""
import collections
import hashlib
import subprocess

from . import ledger as lab_ledger
from . import pcapfile


class TsharkError(RuntimeError):
    pass


class NoHandshake(ValueError):
    pass


FLAGS = {"retransmission": "tcp.analysis.retransmission", "fast_retransmission": "tcp.analysis.fast_retransmission",
         "spurious_retransmission": "tcp.analysis.spurious_retransmission",
         "out_of_order": "tcp.analysis.out_of_order", "lost_segment": "tcp.analysis.lost_segment",
         "duplicate_ack": "tcp.analysis.duplicate_ack", "ack_lost_segment": "tcp.analysis.ack_lost_segment"}


def tshark_flags(path):
    """{frame number: set of FLAGS names} for every frame with one of them."""
    argv = ["tshark", "-r", str(path), "-Y", " or ".join(FLAGS.values()), "-T", "fields", "-E", "separator=|",
            "-e", "frame.number", *[x for f in FLAGS.values() for x in ("-e", f)]]
    r = subprocess.run(argv, capture_output=True, timeout=300)
    if r.returncode != 0:
        raise TsharkError(f"tshark -r {path}: exit {r.returncode}: {r.stderr.decode(errors='replace').strip()}")
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
        syn = next((d for _, d in pk[0] if d and d["proto"] == 6 and d.get("flags", "").find("S") >= 0
                    and "A" not in d["flags"]), None)
        if syn is None:
            raise NoHandshake(f"{path}: no SYN on interface 0, so no client and server to tell apart")
        self.client, self.server = syn["src"], syn["dst"]
        self.led = lab_ledger.Ledger([(t, 1, b) for t, b in self._frames(f, 0)],
                                     [(t, 1, b) for t, b in self._frames(f, 1)], {self.client}, {self.server})
        self.pk = pk
        # A side whose capture lost packets itself (the kernel's drops) or kept only some (a narrowing filter):
        # there, "previous segment not captured" and "ACKed unseen segment" are true of the file.
        self.incomplete = {i: bool(f.interfaces[i].drops or f.interfaces[i].filter) for i in (0, 1)}
        # The kernel's drops alone hide what a side sent: the lab's filters keep whole conversations.
        self.dropped = {i: bool(f.interfaces[i].drops) for i in (0, 1)}

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
        # A segment overtaken on the way here comes after a later one: tshark calls that a retransmission when
        # it comes later than its RTT estimate allows for reordering.
        overtaken = at_receiver and e is not None and e["reordered"]
        # Where the sender's capture lost packets, an earlier send of these bytes (or of this ACK) may be among
        # them, and the ledger cannot say it was not sent before (a long_lines[10mb] run: 3,868 dropped there,
        # and Wireshark rightly called a segment the client had already acknowledged a spurious retransmission).
        unknown = self.dropped[self.side_of_sender(direction)]
        again = resent or duplicated or overtaken or (seglen > 0 and unknown)
        ok = {"retransmission": again, "fast_retransmission": again, "spurious_retransmission": again,
              "out_of_order": at_receiver and (e is not None and e["reordered"] or duplicated) or resent
              or (seglen > 0 and unknown),
              "lost_segment": upset_before or self.incomplete[side],
              "duplicate_ack": dup_ack or duplicated or upset_before or upset_other or (seglen == 0 and unknown),
              "ack_lost_segment": upset_other or self.incomplete[side]}
        return {f for f in flags if not ok[f]}


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
