"""The sniffer's labels and Wireshark's per-side analysis against ground truth, packet by packet.

Ground truth comes from the two sides of a lab capture (interface 0 client side, 1 server side) matched as the
ledger does. For each TCP segment with data, SYN or FIN, and each tagged UDP datagram, at each capture point:
- R (retransmission): its sender had sent that sequence range before (seen where it was sent);
- D (network duplicate): at the receiving side, a further copy of one packet the sender sent once;
- O (reordered): at the receiving side, it arrived after a packet sent later (RFC 4737, the ledger's reordered);
- N: none of these.
The sniffer's class is read from its label (retransmission, out-of-order / reordered, network duplicate /
duplicate), tshark's from tcp.analysis.{retransmission,fast_retransmission,spurious_retransmission} (R) and
tcp.analysis.out_of_order (O) on the one-side files (tshark has no class for a network duplicate).

    PYTHONPATH=tests python3 tests/e2e/label_truth.py SNIFFER CAPTURE.pcapng...     # prints the confusion tables
"""
import collections
import hashlib
import pathlib
import re
import subprocess
import sys
import tempfile

from lab import ledger as lab_ledger
from lab import pcapfile

CLASSES = "RDON"


def _addrs(f):
    for c in f.comments:
        m = re.search(r"topology: client (\S+)(?: (\S+))? \[.*\] -- server (\S+)(?: (\S+))? \[", c)
        if m:
            return {m[1], m[2]} - {None}, {m[3], m[4]} - {None}
    return None


def sniffer_class(label, proto):
    if proto == 6:
        if label.startswith("network duplicate"):
            return "D"
        if label.startswith("retransmission"):
            return "R"
        if label.startswith("out-of-order"):
            return "O"
        return "N"
    if label.endswith(" duplicate") or " duplicate (same IP ID" in label:
        return "D"
    if " reordered (after " in label:
        return "O"
    return "N"


def _tshark_classes(path):
    argv = ["tshark", "-r", str(path), "-Y", "tcp", "-T", "fields", "-E", "separator=|", "-e", "frame.number",
            "-e", "tcp.analysis.retransmission", "-e", "tcp.analysis.fast_retransmission",
            "-e", "tcp.analysis.spurious_retransmission", "-e", "tcp.analysis.out_of_order"]
    r = subprocess.run(argv, capture_output=True, timeout=120)
    out = {}
    for line in r.stdout.decode().splitlines():
        v = line.split("|")
        out[int(v[0])] = "R" if any(v[1:4]) else "O" if v[4] else "N"
    return out


def judge(sniffer, src, tmp):
    """[(truth, sniffer class, tshark class or None, proto, label)] for the file src."""
    both, sides = tmp / "both.pcapng", [tmp / "client.pcapng", tmp / "server.pcapng"]
    r = subprocess.run([sniffer, "-r", str(src), "--relabel", "-w", str(both), "--split", f"0={sides[0]}",
                        "--split", f"1={sides[1]}"], capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode())
    f = pcapfile.read(both)
    addrs = _addrs(f)
    if addrs is None or len(f.interfaces) != 2:
        return []
    cl, sv = addrs
    pk = {0: [], 1: []}
    for p in f.packets:
        pk[p.iface].append((p.ts_ns, lab_ledger.decode(p.data, f.interfaces[p.iface].linktype), p.comments))
    led = lab_ledger.Ledger([(t, f.interfaces[0].linktype, p.data) for p in f.packets if p.iface == 0
                             for t in (p.ts_ns,)],
                            [(t, f.interfaces[1].linktype, p.data) for p in f.packets if p.iface == 1
                             for t in (p.ts_ns,)], cl, sv)
    # Which sent packets were retransmissions: at their sender, below the highest sequence number sent.
    resent = set()
    for direction in ("c2s", "s2c"):
        top = {}
        for e in led.entries[direction]:
            if e["proto"] != 6 or e.get("seq") is None:
                continue
            flow = (e["sport"], e["dport"])
            seglen = e["payload"] + ("S" in e["flags"]) + ("F" in e["flags"])
            if not seglen:
                continue
            end = (e["seq"] + seglen) & 0xFFFFFFFF
            if flow in top and ((e["seq"] - top[flow]) & 0xFFFFFFFF) >= 0x80000000:
                resent.add(id(e))
            if flow not in top or ((top[flow] - end) & 0xFFFFFFFF) >= 0x80000000:
                top[flow] = end
    by_key = {d: collections.defaultdict(list) for d in ("c2s", "s2c")}
    for d in ("c2s", "s2c"):
        for e in led.entries[d]:
            by_key[d][e["_key"]].append(e)
    out = []
    for side in (0, 1):
        ts_cls = _tshark_classes(sides[side])
        arrived = collections.Counter()
        for n, (ts, d, comments) in enumerate(pk[side], 1):
            if d is None or d["proto"] not in (6, 17) or d.get("sport") is None:
                continue
            if d["src"] in cl and d["dst"] in sv:
                direction, sender = "c2s", 0
            elif d["src"] in sv and d["dst"] in cl:
                direction, sender = "s2c", 1
            else:
                continue
            if d["proto"] == 6:
                seglen = d["payload"] + ("S" in d["flags"]) + ("F" in d["flags"])
                if not seglen:
                    continue
            elif "tag" not in d:
                continue
            key = (d["proto"], d["ip_id"], hashlib.blake2b(d["l4"], digest_size=12).digest())
            cands = [e for e in by_key[direction][key] if e["ts"] <= ts]
            if not cands:
                continue
            e = cands[-1]
            if side == sender:
                truth = "R" if id(e) in resent else "N"
            else:
                arrived[id(e)] += 1
                truth = ("D" if arrived[id(e)] > 1 else "R" if id(e) in resent else "O" if e["reordered"]
                         else "N")
            label = next((c for c in comments), "")
            out.append((truth, sniffer_class(label, d["proto"]), ts_cls.get(n) if d["proto"] == 6 else None,
                        d["proto"], label))
    return out


def table(rows, col):
    m = collections.Counter((r[0], r[col]) for r in rows if r[col] is not None)
    lines = ["truth \\ said | " + " | ".join(CLASSES), "---|" + "---|" * len(CLASSES)]
    for t in CLASSES:
        lines.append(f"{t} | " + " | ".join(str(m[(t, c)]) for c in CLASSES))
    said = [r for r in rows if r[col] not in (None, "N")]
    right = sum(1 for r in said if r[0] == r[col])
    return "\n".join(lines), right, len(said)


def main(argv):
    sniffer, files = argv[1], argv[2:]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for src in files:
            rows += judge(sniffer, src, pathlib.Path(d))
    for proto, name in ((6, "TCP"), (17, "UDP")):
        sub = [r for r in rows if r[3] == proto]
        t, right, said = table(sub, 1)
        print(f"## {name}: the sniffer ({len(sub)} packets)\n{t}\nright where it says R, D or O: {right}/{said}\n")
        if proto == 6:
            t, right, said = table(sub, 2)
            print(f"## {name}: tshark, one-side files\n{t}\nright where it says R or O: {right}/{said}\n")
    wrong = [r for r in rows if r[1] != "N" and r[1] != r[0]]
    for r in wrong[:20]:
        print("wrong:", r[0], r[1], r[4])


if __name__ == "__main__":
    main(sys.argv)
