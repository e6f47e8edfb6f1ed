"""The ledger: what the network really did to each packet, from the client-side and the server-side captures.

Every IP packet between the client and the server seen where it was sent is matched with its copies seen where
it arrived. Its key is the direction, the protocol, the IPv4 id (when IPv4) and a hash of the whole transport
segment: for TCP that is seq, length, flags, ack, options and payload; for UDP the ports and payload. Equal keys
(a netem duplicate, or identical datagrams: use udp-client --seq to avoid them) pair first-sent with
first-arrived. Each sent packet is then `delivered` (with its delay), `lost` or `corrupted` (it arrived with a
bad checksum); arrivals beyond the first are `duplicates`; a delivered packet is `reordered` when it arrives
after a packet sent later (RFC 4737). `check()` compares the counts with the configured netem using binomial
bounds, so that a misconfigured impairment fails loudly.
"""
import array
import functools
import hashlib
import ipaddress
import math
import statistics
import struct

from . import pcapfile

# The two directions of a link, as the ledger and the netem qdiscs name them.
C2S, S2C = "c2s", "s2c"

ALPHA = 1e-6
ETH, RAW, SLL, SLL2, RAW_IP = 1, 101, 113, 276, 12
TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
TCP_FLAGS = "FSRPAUEC"


class ImpairmentMismatch(AssertionError):
    """The network did not do what netem was configured to do (outside the statistical bound)."""


def _csum(data):
    """Ones' complement sum folded to 16 bits; 0xffff over a packet including its checksum means valid."""
    if len(data) % 2:
        data += b"\0"
    s = sum(array.array("H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _ip(data, linktype):
    """(family, where the IP packet starts in the frame, where it ends (its total length, or the frame's end),
    its header length), or None when the frame holds no IPv4 or IPv6 packet (or its IPv4 header is broken).
    Offsets, not a copy: flow() reads a few fields of every packet of a capture."""
    off = 0
    if linktype == ETH:
        off = 14
        if len(data) < off:
            return None
        etype = struct.unpack_from("!H", data, 12)[0]
        while etype in (0x8100, 0x88A8) and len(data) >= off + 4:
            etype = struct.unpack_from("!H", data, off + 2)[0]
            off += 4
    elif linktype == SLL:
        off = 16
        etype = struct.unpack_from("!H", data, 14)[0] if len(data) >= 16 else 0
    elif linktype == SLL2:
        off = 20
        etype = struct.unpack_from("!H", data, 0)[0] if len(data) >= 20 else 0
    elif linktype in (RAW, RAW_IP):
        etype = 0x0800 if data[:1] and data[0] >> 4 == 4 else 0x86DD
    else:
        return None
    n = len(data) - off
    if etype == 0x0800 and n >= 20 and data[off] >> 4 == 4:
        ihl = (data[off] & 15) * 4
        total = struct.unpack_from("!H", data, off + 2)[0]
        if ihl < 20 or n < ihl:
            return None
        return 4, off, off + min(n, max(total, ihl)), ihl
    if etype == 0x86DD and n >= 40 and data[off] >> 4 == 6:
        return 6, off, off + min(n, 40 + struct.unpack_from("!H", data, off + 4)[0]), 40
    return None


@functools.lru_cache(maxsize=4096)
def _addr(packed):
    """An address as text: a capture holds few, and ipaddress takes microseconds for each."""
    return str(ipaddress.ip_address(packed))


def transport(proto, l4):
    """The TCP or UDP header fields decode() reports (sport, dport; for TCP seq, ack, flags; payload, the
    payload's length; tag, udp-client --seq's name of a datagram), read without checksums from l4 (bytes or a
    memoryview); {} when l4 is too short for its header or proto is neither."""
    if proto == TCP and len(l4) >= 20:
        sport, dport, seq, ack, hoff, fl = struct.unpack_from("!HHIIBB", l4)
        return {"sport": sport, "dport": dport, "seq": seq, "ack": ack, "payload": len(l4) - (hoff >> 4) * 4,
                "flags": "".join(c for i, c in enumerate(TCP_FLAGS) if fl >> i & 1)}
    if proto == UDP and len(l4) >= 8:
        sport, dport = struct.unpack_from("!HH", l4)
        out = {"sport": sport, "dport": dport, "payload": len(l4) - 8}
        if l4[8:10] in (b"WC", b"wc"):   # udp-client --seq: 'WC<10 digits>:' names the datagram
            out["tag"] = bytes(l4[8:20]).decode("ascii", errors="replace")
        return out
    return {}


def flow(data, linktype):
    """(proto, src, sport, dst, dport, ip_id, l4) of a frame's TCP or UDP packet, or None when decode() would give
    it no ports (not IP, another protocol, a fragment, a short header): what names its conversation and pairs its
    copies, without the checksums and the rest decode() computes. l4 is a memoryview of data (bytes): reading
    every packet of a large capture, copies cost more than the reading."""
    got = _ip(data, linktype)
    if got is None:
        return None
    family, start, end, hl = got
    if family == 4:
        if struct.unpack_from("!H", data, start + 6)[0] & 0x3FFF:
            return None
        proto, ip_id = data[start + 9], struct.unpack_from("!H", data, start + 4)[0]
        src, dst = data[start + 12:start + 16], data[start + 16:start + 20]
    else:
        proto, ip_id = data[start + 6], None
        src, dst = data[start + 8:start + 24], data[start + 24:start + 40]
    if proto not in (TCP, UDP) or end - start - hl < (20 if proto == TCP else 8):
        return None
    sport, dport = struct.unpack_from("!HH", data, start + hl)
    return proto, _addr(src), sport, _addr(dst), dport, ip_id, memoryview(data)[start + hl:end]


def _checksums_ok(family, ip, hl, proto, l4, frag):
    """Whether the IPv4 header's checksum and the TCP or UDP checksum (over its pseudo-header) hold."""
    ok = family == 6 or _csum(ip[:hl]) == 0xFFFF
    if ok and proto in (TCP, UDP) and not frag:
        if proto == UDP and len(l4) >= 8 and struct.unpack_from("!H", l4, 6)[0] == 0 and family == 4:
            return True     # UDP over IPv4 without checksum
        pseudo = (ip[12:20] + struct.pack("!BBH", 0, proto, len(l4)) if family == 4 else
                  ip[8:40] + struct.pack("!IxxxB", len(l4), proto))
        ok = _csum(pseudo + l4) == 0xFFFF
    return ok


def decode(data, linktype, checksums=True):
    """The IP packet in a frame as a dict (src, dst, proto, ip_id, l4 bytes, ..., csum_ok) or None when not IP.
    checksums=False leaves csum_ok out (checksums_ok() says it), for a reader that needs it for few packets."""
    got = _ip(data, linktype)
    if got is None:
        return None
    family, start, end, hl = got
    ip = data[start:end]
    if family == 4:
        src, dst, proto = ip[12:16], ip[16:20], ip[9]
        ip_id, frag = struct.unpack_from("!H", ip, 4)[0], struct.unpack_from("!H", ip, 6)[0] & 0x3FFF
    else:
        src, dst, proto = ip[8:24], ip[24:40], ip[6]
        ip_id, frag = None, 0
    l4 = ip[hl:]
    info = {"family": family, "src": _addr(src), "dst": _addr(dst), "proto": proto, "ip_id": ip_id, "l4": l4,
            "len": len(ip), "frag": frag}
    if proto in (TCP, UDP) and not frag:
        info.update(transport(proto, l4))
    if checksums:
        info["csum_ok"] = _checksums_ok(family, ip, hl, proto, l4, frag)
    return info


def checksums_ok(data, linktype):
    """decode(data, linktype)["csum_ok"] alone."""
    got = _ip(data, linktype)
    if got is None:
        return None
    family, start, end, hl = got
    ip = data[start:end]
    proto = ip[9] if family == 4 else ip[6]
    frag = struct.unpack_from("!H", ip, 6)[0] & 0x3FFF if family == 4 else 0
    return _checksums_ok(family, ip, hl, proto, ip[hl:], frag)


def binom_bounds(n, p, alpha=ALPHA):
    """(lo, hi): the two-sided 1-alpha range of a Binomial(n, p) count (each tail holds at most alpha/2)."""
    if n == 0 or p <= 0:
        return 0, 0
    if p >= 1:
        return n, n
    logs = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p)
            + (n - k) * math.log1p(-p) for k in range(n + 1)]
    pmf = [math.exp(x) for x in logs]
    lo, acc = 0, 0.0
    while lo < n and acc + pmf[lo] <= alpha / 2:
        acc += pmf[lo]
        lo += 1
    hi, acc = n, 0.0
    while hi > 0 and acc + pmf[hi] <= alpha / 2:
        acc += pmf[hi]
        hi -= 1
    return lo, hi


class Ledger:
    """What happened to each packet, from the client side's and the server side's packets (from_pcapng: one
    pcapng holding both sides)."""

    def __init__(self, client_pkts, server_pkts, client_addrs, server_addrs):
        self.client_addrs, self.server_addrs = set(client_addrs), set(server_addrs)
        self.entries = {C2S: [], S2C: []}   # one per sent packet, in send order
        self.duplicates = {C2S: 0, S2C: 0}
        self.unexpected = {C2S: [], S2C: []}  # arrivals that match nothing sent (corrupted beyond recognition)
        self.other = 0
        side = {"client": self._classify(client_pkts), "server": self._classify(server_pkts)}
        self._match(C2S, side["client"][C2S], side["server"][C2S])
        self._match(S2C, side["server"][S2C], side["client"][S2C])

    @classmethod
    def from_pcapng(cls, path, client_iface, server_iface, client_addrs, server_addrs):
        """client_iface/server_iface: interface indexes (the sniffer's -i order) in the file at path."""
        f = pcapfile.read(path)
        by = {client_iface: [], server_iface: []}
        for p in f.packets:
            if p.iface in by:
                by[p.iface].append((p.ts_ns, f.interfaces[p.iface].linktype, p.data))
        return cls(by[client_iface], by[server_iface], client_addrs, server_addrs)

    # building -------------------------------------------------------------------------------------------
    def _classify(self, pkts):
        out = {C2S: [], S2C: []}
        for ts, linktype, data in pkts:
            d = decode(data, linktype, checksums=False)     # only an arrival nothing matches needs them
            if d is None:
                self.other += 1
                continue
            if d["src"] in self.client_addrs and d["dst"] in self.server_addrs:
                direction = C2S
            elif d["src"] in self.server_addrs and d["dst"] in self.client_addrs:
                direction = S2C
            else:
                self.other += 1
                continue
            d["ts"] = ts
            d["frame"] = data, linktype
            d["key"] = (d["proto"], d["ip_id"], hashlib.blake2b(d["l4"], digest_size=12).digest())
            out[direction].append(d)
        return out

    def _match(self, direction, sent, arrived):
        sent.sort(key=lambda d: d["ts"])
        arrived.sort(key=lambda d: d["ts"])
        by_key = {}
        entries = self.entries[direction]
        for i, s in enumerate(sent):
            e = {"i": i, "ts": s["ts"], "proto": s["proto"], "len": s["len"], "fate": "lost", "delay_ns": None,
                 "copies": 0, "reordered": False, "_key": s["key"]}
            for k in ("sport", "dport", "seq", "ack", "payload", "flags", "ip_id", "tag"):
                if s.get(k) is not None:
                    e[k] = s[k]
            entries.append(e)
            by_key.setdefault(s["key"], []).append(e)
        order = []  # send index of each first arrival, in arrival order
        bad = []
        for a in arrived:
            cands = by_key.get(a["key"], [])
            # the earliest-sent unmatched copy sent before this arrival; else it duplicates the last matched
            e = next((c for c in cands if c["copies"] == 0 and c["ts"] <= a["ts"]), None)
            if e is None:
                prev = [c for c in cands if c["copies"] and c["ts"] <= a["ts"]]
                if prev:
                    prev[-1]["copies"] += 1
                    self.duplicates[direction] += 1
                else:
                    bad.append(a)
                continue
            e.update(copies=1, fate="delivered", delay_ns=a["ts"] - e["ts"])
            order.append(e["i"])
        # an arrival nothing matches, with a bad checksum, is the corrupted copy of a lost packet of its length
        for a in bad:
            a["csum_ok"] = checksums_ok(*a["frame"])
            if not a["csum_ok"]:
                e = next((c for c in reversed(entries) if c["fate"] == "lost" and c["len"] == a["len"]
                          and c["ts"] <= a["ts"]), None)
                if e is not None:
                    e.update(fate="corrupted", copies=1, delay_ns=a["ts"] - e["ts"])
                    continue
            self.unexpected[direction].append({"ts": a["ts"], "len": a["len"], "csum_ok": a["csum_ok"]})
        top = -1
        for i in order:
            if i < top:
                entries[i]["reordered"] = True
            top = max(top, i)

    # results --------------------------------------------------------------------------------------------
    def counts(self, direction):
        es = self.entries[direction]
        delays = sorted(e["delay_ns"] for e in es if e["fate"] == "delivered")
        c = {"sent": len(es),
             "delivered": sum(e["fate"] == "delivered" for e in es),
             "lost": sum(e["fate"] == "lost" for e in es),
             "corrupted": sum(e["fate"] == "corrupted" for e in es),
             "duplicates": self.duplicates[direction],
             "reordered": sum(e["reordered"] for e in es),
             "unexpected": len(self.unexpected[direction])}
        if delays:
            c["delay_ms"] = {"min": delays[0] / 1e6, "median": statistics.median(delays) / 1e6,
                             "p99": delays[min(len(delays) - 1, int(len(delays) * 0.99))] / 1e6,
                             "max": delays[-1] / 1e6}
        return c

    def lost(self, direction, proto=None):
        """The lost packets of `direction` (entries, in send order)."""
        return [e for e in self.entries[direction] if e["fate"] == "lost" and (proto is None or e["proto"] == proto)]

    def fast(self, direction, below_ms):
        """Delivered packets whose delay was under below_ms: those netem's reorder sent at once."""
        return [e for e in self.entries[direction] if e["fate"] == "delivered" and e["delay_ns"] < below_ms * 1e6]

    def check(self, netems, alpha=ALPHA):
        """Compares each direction's counts with its Netem (dict direction -> Netem or None) and returns the
        list of checks; a check has name, observed, n, p, bounds and ok. Only independent draws get a binomial
        bound (plain loss, duplicate, reorder without gap or correlation); the rest is recorded, not judged.
        """
        out = []
        for d, ne in netems.items():
            c = self.counts(d)
            n = c["sent"]
            if ne is None:
                out.append(self._one(d, "no loss without netem", c["lost"] + c["corrupted"], n, 0.0, alpha))
                out.append(self._one(d, "no duplicates without netem", c["duplicates"], n, 0.0, alpha))
                continue
            if ne.loss_corr is None and not ne.gemodel and not ne.loss_state:
                p_loss = ne.loss / 100 * (1 - ne.duplicate / 100)
                out.append(self._one(d, "loss", c["lost"], n, p_loss, alpha))
            if not ne.loss_state and not ne.gemodel:
                p_dup = ne.duplicate / 100 * (1 - ne.loss / 100)
                out.append(self._one(d, "duplicate", c["duplicates"], n, p_dup, alpha))
            if ne.reorder and not ne.gap or ne.gap == 1:
                if ne.reorder_corr is None and not ne.jitter_ms and ne.delay_ms >= 2:
                    k = len(self.fast(d, ne.delay_ms / 2))
                    out.append(self._one(d, "reorder (sent at once)", k, c["delivered"], ne.reorder / 100, alpha))
            if ne.delay_ms and not ne.reorder and not ne.gap and c["delivered"]:
                floor = ne.delay_ms - ne.jitter_ms - 0.5
                ok = c["delay_ms"]["min"] >= floor
                out.append({"direction": d, "name": "delay floor", "observed_ms": c["delay_ms"]["min"],
                            "expected_min_ms": floor, "ok": ok})
        return out

    @staticmethod
    def _one(direction, name, k, n, p, alpha):
        lo, hi = binom_bounds(n, p, alpha)
        return {"direction": direction, "name": name, "observed": k, "n": n, "p": p, "bounds": [lo, hi],
                "alpha": alpha, "ok": lo <= k <= hi}

    def assert_matches(self, netems, alpha=ALPHA):
        """Raises ImpairmentMismatch listing every check outside its bound (expected range and actual)."""
        checks = self.check(netems, alpha)
        bad = [c for c in checks if not c["ok"]]
        if bad:
            raise ImpairmentMismatch("the network did not do what netem was told:\n" + "\n".join(
                f"  {c['direction']} {c['name']}: observed {c.get('observed', c.get('observed_ms'))}"
                + (f" of {c['n']}, expected {c['p'] * c['n']:.1f} (p={c['p']:.4f}), bound {c['bounds']} at "
                   f"alpha={c['alpha']:g}" if "bounds" in c else f" ms, expected >= {c['expected_min_ms']} ms")
                for c in bad) + f"\n  counts: c2s {self.counts(C2S)}\n          s2c {self.counts(S2C)}")
        return checks

    def record(self, per_packet=True):
        r = {"counts": {d: self.counts(d) for d in (C2S, S2C)}, "other_packets": self.other,
             "unexpected": self.unexpected}
        if per_packet:
            r["packets"] = {d: [{k: v for k, v in e.items() if not k.startswith("_") and k != "ts"}
                                for e in self.entries[d]] for d in (C2S, S2C)}
        return r

