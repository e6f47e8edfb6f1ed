"""Ladder (time-sequence) diagrams of one conversation of a capture, drawn as SVG from the real timestamps.

Two-sided captures (the lab's: interface 0 the client side, 1 the server side) give each packet a send time and
an arrival time; the ledger (lab.ledger) says what the network did to it, so a lost packet ends in a cross at the
router, a duplicate forks there and a reordered packet's arrow crosses the ones it overtook. One-sided captures
(any pcap or pcapng with one capture point) have one time per packet: each arrow starts at that time and is
drawn with a nominal slant, and no loss can be seen, only the sender's retransmissions.

SVG is written directly, not through matplotlib: every arrow is one <g> with a <title> (the browser's tooltip)
and data-frames for the HTML page's click handler, text stays text, and 2,000 arrows take tens of
milliseconds where matplotlib needs a second to import.

    python3 -m wcrun.ladder CAPTURE -o FILE.svg [--conversation FILTER|INDEX] [--from T|#FRAME] [--to T|#FRAME]
"""
import argparse
import bisect
import dataclasses
import gc
import html
import mmap
import os
import re
import statistics
import sys

from lab import ledger as lab_ledger, pcapfile

TCP, UDP = 6, 17
C2S, S2C = lab_ledger.C2S, lab_ledger.S2C
MAX_ARROWS = 60             # default window: a diagram a person can read
PAYLOAD_CHARS = 18          # payload shown in a label, after escaping

# geometry (px)
W = 940
XL, XR = 215, 725           # client and server time lines
XM = (XL + XR) // 2         # the router, where the network drops and duplicates
TOP = 126                   # first time on the diagram
SLANT = 36                  # how far an arrow of the median delay drops
GAP_MAX = 150               # an idle gap drawn taller than this (and than 6 median delays) is compressed ...
GAP_DRAWN = 46              # ... to this
ONE_SIDED_SLANT = 14        # one-sided captures: the nominal drop of every arrow
SPAN_FROM = 3000            # a conversation of more packets (both sides) is matched only around its window ...
SPAN_MARGIN = 256           # ... from this many packets sent before it to as many after it, at first (_Span)

COLORS = {C2S: "#1565c0", S2C: "#2e7d32", "retrans": "#d84315", "lost": "#c62828", "dup": "#ef6c00",
          "reordered": "#7b1fa2", "unmatched": "#757575", "rto": "#d84315", "hl": "#ffd54f"}


class LadderError(Exception):
    """The input cannot be drawn (no conversation, nothing matches the filter, a bad window)."""


class UsageError(LadderError):
    """The request itself is wrong (a filter that matches nothing, a window outside the conversation)."""


# reading ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(slots=True)
class Seg:
    """One packet as one capture point saw it. Its headers are read when first asked for: a window of a long
    capture reads a few thousand of its packets, not all of them."""
    frame: int                  # Wireshark's frame number: position in the file, from 1
    iface: int
    ts: int                     # ns
    linktype: int
    data: bytes
    comments: tuple = ()
    proto: int = TCP
    src: tuple = None           # (address, port) of its sender
    l4: memoryview = b""        # the TCP or UDP segment, in data
    ip_id: int = None
    _t: dict = dataclasses.field(default=None, repr=False)
    _d: dict = dataclasses.field(default=None, repr=False)

    @property
    def t(self):
        """The transport header's fields (lab.ledger.transport): seq, ack, flags, payload (its length), tag."""
        if self._t is None:
            self._t = lab_ledger.transport(self.proto, self.l4)
        return self._t

    @property
    def d(self):
        """The whole packet decoded, checksums included (lab.ledger.decode)."""
        if self._d is None:
            self._d = lab_ledger.decode(self.data, self.linktype)
        return self._d

    @property
    def payload(self):
        n = self.t.get("payload", 0)
        return bytes(self.l4[len(self.l4) - n:]) if n > 0 else b""


@dataclasses.dataclass
class Conversation:
    index: int
    proto: int
    client: tuple               # (addr, port) of the initiator: the SYN's sender, or the first datagram's
    server: tuple
    segs: list                  # every Seg of the conversation, both sides, in file order

    def describe(self):
        name = "TCP" if self.proto == TCP else "UDP"
        frames = [s.frame for s in self.segs]
        return (f"{self.index}: {name} {_ep(self.client)} -> {_ep(self.server)}, {len(self.segs)} frames "
                f"({min(frames)}..{max(frames)})")


def _ep(ep):
    return f"[{ep[0]}]:{ep[1]}" if ":" in ep[0] else f"{ep[0]}:{ep[1]}"


@dataclasses.dataclass
class Capture:
    path: str
    file: pcapfile.CaptureFile
    conversations: list
    sides: dict                 # iface -> "client" / "server" (from the interface description) or None

    @property
    def scenario(self):
        for c in self.file.comments:
            m = re.match(r"wirecheck (?:lab scenario|reliability demo): (.*)", c.strip())
            if m:
                return m.group(1)
        return None

    @property
    def impairment(self):
        for c in self.file.comments:
            m = re.match(r"impairments \([^)]*\): (.*)", c.strip())
            if m:
                return m.group(1)
        return None

    @property
    def notes(self):
        return [c.strip()[6:] for c in self.file.comments if c.startswith("note: ")]


def _read(path):
    """pcapfile.parse() of the file at path, mapped rather than read when it can be: copying a 30 MB capture into
    memory first took a third of the time of reading it."""
    with open(path, "rb") as fh:
        try:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):       # empty, or not a regular file
            return pcapfile.parse(fh.read())
        with mm:
            return pcapfile.parse(mm)


def load(path):
    """Reads the capture at path into a Capture (conversations in order of their first packet). Raises
    OSError or pcapfile.FormatError when the file cannot be read."""
    f = _read(path)
    convs = {}
    for n, p in enumerate(f.packets, 1):
        lt = f.interfaces[p.iface].linktype
        got = lab_ledger.flow(p.data, lt)
        if got is None:
            continue
        proto, src, sport, dst, dport, ip_id, l4 = got
        a, b = (src, sport), (dst, dport)
        convs.setdefault((proto,) + tuple(sorted([a, b])), []).append(
            Seg(n, p.iface, p.ts_ns, lt, p.data, tuple(c.strip() for c in p.comments) if p.comments else (), proto,
                a, l4, ip_id))
    out = []
    for key, segs in sorted(convs.items(), key=lambda kv: min(s.ts for s in kv[1])):
        first = min(segs, key=lambda s: s.ts)
        # the initiator sent the first SYN; the scan stops there, as a rule at the first packet
        syn = (s for s in sorted(segs, key=lambda s: s.ts) if "S" in s.t["flags"] and "A" not in s.t["flags"])
        init = next(syn, first) if key[0] == TCP else first
        client = init.src
        server = key[2] if key[1] == client else key[1]
        out.append(Conversation(len(out), key[0], client, server, segs))
    sides = {}
    for i, ifc in enumerate(f.interfaces):
        desc = (ifc.description or "").lower()
        sides[i] = "client" if desc.startswith("client side") else "server" if desc.startswith("server side") \
            else None
    return Capture(path, f, out, sides)


def choose(cap, conversation=None, frame=None):
    """The conversation: an index (int or digits), a filter (words that must all match: tcp, udp, a port, an
    address), or None for the one holding `frame`, else the first. Raises UsageError when none matches."""
    convs = cap.conversations
    if not convs:
        raise LadderError(f"{cap.path}: no TCP or UDP conversation in {len(cap.file.packets)} frames")
    listing = "; ".join(c.describe() for c in convs[:12]) + (" ..." if len(convs) > 12 else "")
    if conversation is None:
        if frame is not None:
            for c in convs:
                if any(s.frame == frame for s in c.segs):
                    return c
        return convs[0]
    text = str(conversation).strip()
    if text.isdigit():
        i = int(text)
        if i >= len(convs):
            raise UsageError(f"conversation {i}: the capture has {len(convs)} (0..{len(convs) - 1}): {listing}")
        return convs[i]
    words = text.lower().replace(",", " ").split()
    for c in convs:
        ok = True
        for w in words:
            if w in ("tcp", "udp"):
                ok &= (c.proto == TCP) == (w == "tcp")
            elif w.isdigit():
                ok &= int(w) in (c.client[1], c.server[1])
            elif w in ("port", "host", "and"):
                continue
            else:
                ok &= w in (c.client[0].lower(), c.server[0].lower())
        if ok:
            return c
    raise UsageError(f"no conversation matches {text!r}: {listing}")


# the arrows ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Arrow:
    direction: str              # C2S or S2C
    send: Seg                   # where it was sent (None: an arrival that matches nothing sent)
    arrive: Seg = None          # its first arrival (None: lost, or a one-sided capture)
    dups: list = dataclasses.field(default_factory=list)   # further arrivals: the network's duplicates
    fate: str = "seen"          # delivered, lost, corrupted (two-sided), seen (one-sided), unmatched
    reordered: bool = False
    retrans: bool = False
    orig: "Arrow" = None        # for a retransmission, the earlier send of the same bytes
    waited: str = None          # "RTO" or "fast retransmit"
    label: str = ""

    @property
    def t_send(self):
        return (self.send or self.arrive).ts

    @property
    def frames(self):
        return [s.frame for s in (self.send, self.arrive, *self.dups) if s is not None]

    @property
    def seg(self):
        return self.send or self.arrive


def _arrows_two_sided(conv, near, segs):
    """near: {"client": iface, "server": iface}. One arrow per packet of segs (some or all of the conversation's)
    sent, matched by the ledger of segs."""
    cl_segs = [s for s in segs if s.iface == near["client"]]
    sv_segs = [s for s in segs if s.iface == near["server"]]
    led = lab_ledger.Ledger([(s.ts, s.linktype, s.data) for s in cl_segs],
                            [(s.ts, s.linktype, s.data) for s in sv_segs], [conv.client[0]], [conv.server[0]])
    arrows = []
    for direction, sent_side, recv_side, src in ((C2S, cl_segs, sv_segs, conv.client),
                                                 (S2C, sv_segs, cl_segs, conv.server)):
        # the ledger sorts the sender's packets by time, stably, from the order given: so do we
        sent = sorted((s for s in sent_side if s.src == src), key=lambda s: s.ts)
        recv = [s for s in recv_side if s.src == src]
        entries = led.entries[direction]
        assert len(entries) == len(sent), (direction, len(entries), len(sent))
        by_ts = {}
        for r in recv:
            by_ts.setdefault(r.ts, []).append(r)
        claimed = set()
        mine = []
        for e, s in zip(entries, sent):
            a = Arrow(direction, s, fate=e["fate"], reordered=e["reordered"])
            if e["delay_ns"] is not None:
                for r in by_ts.get(s.ts + e["delay_ns"], ()):
                    if id(r) not in claimed and r.l4 == s.l4 and r.ip_id == s.ip_id:
                        a.arrive = r
                        claimed.add(id(r))
                        break
            mine.append(a)
        # arrivals beyond the first: the duplicate of the latest matched copy sent before it (the ledger's rule)
        matched = {}
        for a in mine:
            if a.arrive is not None:
                matched.setdefault((a.send.ip_id, a.send.l4), []).append(a)
        for r in sorted(recv, key=lambda x: x.ts):
            if id(r) in claimed:
                continue
            twin = [a for a in matched.get((r.ip_id, r.l4), ()) if a.send.ts <= r.ts]
            if twin:
                twin[-1].dups.append(r)
            else:
                mine.append(Arrow(direction, None, arrive=r, fate="unmatched"))
        arrows += mine
    arrows.sort(key=lambda a: a.t_send)
    return arrows, led


def _arrows_one_sided(conv, segs):
    return [Arrow(C2S if s.src == conv.client else S2C, s) for s in sorted(segs, key=lambda s: s.ts)]


def _arrows(conv, near, segs):
    """(arrows, ledger) of segs, packets of conv: two-sided when near names the sides, else one-sided (no
    ledger)."""
    if near:
        return _arrows_two_sided(conv, near, segs)
    return _arrows_one_sided(conv, segs), None


def _after(a, b):
    d = (a - b) & 0xFFFFFFFF
    return 0 < d < 0x80000000


def _esc_payload(b, limit=PAYLOAD_CHARS):
    out = []
    for ch in b:
        if ch == 0x5C:
            t = "\\\\"
        elif ch == 0x22:
            t = '\\"'
        elif 0x20 <= ch < 0x7F:
            t = chr(ch)
        else:
            t = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}.get(ch, f"\\x{ch:02x}")
        if sum(map(len, out)) + len(t) > limit:
            return '"' + "".join(out) + '…"'
        out.append(t)
    return '"' + "".join(out) + '"'


def _annotate(arrows, proto, isn=None, first=0):
    """Labels, retransmissions (with the earlier send each repeats and what made the sender resend). arrows[:first]
    are packets sent before the ones of interest: they carry the senders' state forward (the highest sequence
    number sent, what was sent before) and get no payload in their label and no wait. isn: each direction's
    initial sequence number, when arrows do not start with the conversation."""
    if proto == UDP:
        for a in arrows[first:]:
            t = a.seg.t
            tag = t.get("tag")
            a.label = f'"{tag}:…"' if tag else f"len={t.get('payload', 0)} {_esc_payload(a.seg.payload)}"
        return
    if isn is None:
        isn = {}
        for a in arrows:
            if "S" in a.seg.t.get("flags", "") and a.direction not in isn:
                isn[a.direction] = a.seg.t["seq"]
        for a in arrows:
            isn.setdefault(a.direction, a.seg.t["seq"])
    hi = {}
    last_send = {}              # direction -> [(rel seq start, rel end, arrow)]
    acks = None                 # direction -> ([arrival time], [ack]) of its pure ACKs, in arrival order
    synack_seen = False
    for k, a in enumerate(arrows):
        t = a.seg.t
        fl = t.get("flags", "")
        rel = (t["seq"] - isn[a.direction]) & 0xFFFFFFFF
        other = C2S if a.direction == S2C else S2C
        rack = (t["ack"] - isn[other]) & 0xFFFFFFFF if other in isn else t["ack"]
        n = t.get("payload", 0)
        span = n + ("S" in fl) + ("F" in fl)
        if "R" in fl:
            a.label = "RST"
        elif "S" in fl:
            a.label = "SYN-ACK" if "A" in fl else f"SYN seq={rel}"
            synack_seen |= "A" in fl
        elif n:
            text = _esc_payload(a.seg.payload) if k >= first else "…"
            a.label = f"seq={rel} len={n} {text}" + (" FIN" if "F" in fl else "")
        elif "F" in fl:
            a.label = "FIN"
        elif synack_seen and rel == 1 and rack == 1 and a.direction == C2S and not a.label:
            a.label = "ACK"
            synack_seen = False
        else:
            a.label = f"ACK ack={rack}"
        if a.send is None or not span:
            continue
        # a retransmission repeats bytes (or a SYN/FIN) its sender already sent: serial arithmetic on rel
        end = (rel + span) & 0xFFFFFFFF
        top = hi.get(a.direction)
        commented = any(c.startswith("retransmission") for c in a.send.comments)
        if commented or (top is not None and not _after(end, top)):
            a.retrans = True
            sent_before = last_send.get(a.direction)
            continues = bool(sent_before) and sent_before[-1][2].retrans
            # the latest earlier send of these bytes
            a.orig = next((b for (s, e, b) in reversed(sent_before or ())
                           if not _after(s, rel) and _after(e, rel) or s == rel), None)
            if a.orig is not None and not continues and k >= first:     # else the rest of a recovery: no bracket
                if acks is None:
                    acks = _pure_acks(arrows)
                # three duplicate ACKs for the lost bytes before the resend: fast retransmit; else the RTO fired
                times, numbers = acks[other]
                dupacks = sum(1 for x in numbers[bisect.bisect_right(times, a.orig.send.ts):
                                                 bisect.bisect_left(times, a.send.ts)]
                              if ((x - isn[a.direction]) & 0xFFFFFFFF) == rel)
                a.waited = "fast retransmit" if dupacks >= 3 else "RTO"
            a.label = "retransmission " + (a.label.split(' "')[0] if n else a.label)
        if top is None or _after(end, top):
            hi[a.direction] = end
        last_send.setdefault(a.direction, []).append((rel, end, a))


def _pure_acks(arrows):
    """direction -> ([arrival time], [ack number]) of the arrows without payload that carry an ACK and arrived,
    in arrival order."""
    out = {C2S: ([], []), S2C: ([], [])}
    for b in sorted((b for b in arrows if b.arrive is not None), key=lambda b: b.arrive.ts):
        t = b.seg.t
        if not t.get("payload") and "A" in t.get("flags", ""):
            out[b.direction][0].append(b.arrive.ts)
            out[b.direction][1].append(t["ack"])
    return out


# the diagram --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Diagram:
    """What draw() drew: the SVG text and the counts the tests and the caption use."""
    svg: str
    conversation: Conversation
    arrows: list                # the arrows in the window
    before: int                 # arrows of the conversation cut off before the window
    after: int
    two_sided: bool
    lost: int = 0
    duplicates: int = 0
    retransmissions: int = 0
    reordered: int = 0
    compressed_gaps: int = 0
    labels: int = 0
    matched: int = 0            # packets of the conversation matched and labelled: the window's span, or all


def _parse_bound(text):
    """'#12' -> ("frame", 12); '1.5' or '1.5s' or '250ms' -> ("time", ns). Raises UsageError."""
    if text is None:
        return None
    if isinstance(text, tuple):
        return text
    t = str(text).strip()
    m = re.fullmatch(r"#(\d+)", t)
    if m:
        return ("frame", int(m.group(1)))
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|us|µs)?", t)
    if not m:
        raise UsageError(f"{t!r} is neither a time (seconds from the conversation's first packet, e.g. 0.25 or "
                         f"250ms) nor a frame (#12)")
    mult = {"ms": 1e6, "us": 1e3, "µs": 1e3}.get(m.group(2), 1e9)
    return ("time", int(float(m.group(1)) * mult))


def _window(arrows, t0, start, end, max_arrows, highlight):
    """Indexes [i, j) of the arrows drawn."""
    def index_of(bound, is_end):
        kind, v = bound
        if kind == "frame":
            for i, a in enumerate(arrows):
                if v in a.frames:
                    return i + 1 if is_end else i
            raise UsageError(f"frame #{v} is not a packet of this conversation")
        ts = t0 + v
        return bisect.bisect_right([a.t_send for a in arrows], ts) if is_end else \
            bisect.bisect_left([a.t_send for a in arrows], ts)
    i = index_of(start, False) if start else 0
    j = index_of(end, True) if end else len(arrows)
    if start is None and highlight and end is None:
        hit = [k for k, a in enumerate(arrows) if set(a.frames) & highlight]
        if hit and max_arrows and hit[0] >= max_arrows * 3 // 4:
            i = max(0, hit[0] - max_arrows // 4)
    if j <= i:
        raise UsageError("the window is empty: --from is at or after --to")
    if max_arrows and j - i > max_arrows:
        if end is not None and start is None:
            i = j - max_arrows
        else:
            j = i + max_arrows
    return i, j


class _Scale:
    """Time (ns) to y (px): linear, with idle gaps taller than GAP_MAX compressed to GAP_DRAWN."""

    def __init__(self, times, px_per_ns, top, min_gap_ns=0):
        self.k = px_per_ns
        ts = sorted(set(times))
        self.starts, self.ys, self.gaps = [ts[0]], [top], []
        y = top
        for a, b in zip(ts, ts[1:]):
            if (b - a) * self.k > GAP_MAX and b - a > min_gap_ns:
                y0 = y + (a - self.starts[-1]) * self.k
                self.gaps.append((a, b, y0, y0 + GAP_DRAWN))
                self.starts.append(b)
                self.ys.append(y0 + GAP_DRAWN)
                y = y0 + GAP_DRAWN
        self.bottom = self.ys[-1] + (ts[-1] - self.starts[-1]) * self.k

    def y(self, t):
        i = bisect.bisect_right(self.starts, t) - 1
        if i < 0:
            return self.ys[0] - (self.starts[0] - t) * self.k
        y = self.ys[i] + (t - self.starts[i]) * self.k
        if i + 1 < len(self.starts):
            y = min(y, self.ys[i + 1])     # inside a compressed gap
        return y

    def segments(self):
        ends = [g[0] for g in self.gaps] + [None]
        return list(zip(self.starts, self.ys, ends))


def _fmt_dt(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e7:
        return f"{ns / 1e6:.0f} ms"
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e6:.2f} ms" if ns >= 1e4 else f"{ns / 1e3:.1f} µs"


def _nice_step(min_ns):
    for e in range(0, 13):
        for m in (1, 2, 5):
            s = m * 10 ** e
            if s >= min_ns:
                return s
    return 10 ** 13


def _t(x, y, text, cls="", anchor=None, extra=""):
    a = f' text-anchor="{anchor}"' if anchor else ""
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{c}{a}{extra}>{html.escape(text, quote=False)}</text>'


def _sides(cap, conv):
    """{"client": iface, "server": iface}: the interface where each side's packets leave, or None for a one-sided
    capture."""
    ifaces = {s.iface for s in conv.segs}
    if len(ifaces) < 2:
        return None
    first = {}
    for s in conv.segs:
        who = "client" if s.src == conv.client else "server"
        if s.iface not in first.get(who, {}) or s.ts < first[who][s.iface]:
            first.setdefault(who, {})[s.iface] = s.ts
    named = {v: k for k, v in cap.sides.items() if v}
    if set(named) == {"client", "server"} and named["client"] in ifaces and named["server"] in ifaces:
        return dict(named)
    if "client" in first:
        c_if = min(first["client"], key=first["client"].get)
        return {"client": c_if, "server": sorted(ifaces - {c_if})[0]}
    return None


def conversation_arrows(cap, conv):
    """(arrows, near, ledger) of conversation conv of cap: every arrow labelled, in send order; near maps
    "client"/"server" to the interface of each side (None for a one-sided capture, and then ledger is None)."""
    near = _sides(cap, conv)
    arrows, led = _arrows(conv, near, conv.segs)
    _annotate(arrows, conv.proto)
    return arrows, near, led


def _first_seqs(conv):
    """Each direction's initial sequence number as _annotate finds it among all the arrows: the first SYN's,
    else the first packet's."""
    isn, first = {}, {}
    for s in sorted(conv.segs, key=lambda s: s.ts):
        d = C2S if s.src == conv.client else S2C
        first.setdefault(d, s.t["seq"])
        if d not in isn and "S" in s.t["flags"]:
            isn[d] = s.t["seq"]
            if len(isn) == 2:
                break
    return {**first, **isn}


class _Span:
    """A bounded window of a long conversation, matched and labelled from the packets around it only (issue 13: a
    window of 2,000 packets of a 25,000-frame capture took seconds, most of them for packets not drawn). The span
    holds the packets sent from SPAN_MARGIN before the window to SPAN_MARGIN after it, and what arrived
    meanwhile; the packets sent before it carry the senders' sequence numbers in, headers only. Every packet's
    key (its sender, IPv4 id and TCP or UDP segment, what the ledger pairs copies by) then says whether one
    outside the span would change an arrow of the window (its copy, a duplicate, one that overtook it, a sender
    waiting since before the span), and the span widens until none would: the window is what matching the whole
    conversation gives. A corrupted arrival, which the ledger pairs by length, not by key, leaves the
    conversation to be matched whole."""

    def __init__(self, conv, near, t0):
        self.conv, self.near, self.t0 = conv, near, t0
        if near:
            leaves = {conv.client: near["client"], conv.server: near["server"]}
            reaches = {conv.client: near["server"], conv.server: near["client"]}
            self.sent = sorted((s for s in conv.segs if s.iface == leaves[s.src]), key=lambda s: s.ts)
            self.arrived = sorted((s for s in conv.segs if s.iface == reaches[s.src]), key=lambda s: s.ts)
        else:
            self.sent, self.arrived = sorted(conv.segs, key=lambda s: s.ts), []
        self.times = [s.ts for s in self.sent]
        self.arrived_times = [s.ts for s in self.arrived]
        self.frame_ts = {s.frame: s.ts for s in conv.segs}
        self.isn = _first_seqs(conv) if conv.proto == TCP else None
        self.first = self.last = None   # "sent"/"arrived" -> {key: the time of its first (last) copy there}
        self.unexplained = []   # arrival times that no earlier send explains: the ledger's unmatched arrows
        self.unexplained_ids = set()

    @staticmethod
    def _key(s):
        return s.src, s.ip_id, s.l4         # what the arrows pair copies by: the ledger's key, unhashed

    def _read_keys(self):
        """Reads every packet's key; False when an arrival nothing explains is corrupted."""
        sent = [self._key(s) for s in self.sent]
        arrived = [self._key(s) for s in self.arrived]
        # each list is in time order: the last time a key is given is its latest copy, reversed its earliest
        self.first = {"sent": dict(zip(reversed(sent), reversed(self.times))),
                      "arrived": dict(zip(reversed(arrived), reversed(self.arrived_times)))}
        self.last = {"sent": dict(zip(sent, self.times)), "arrived": dict(zip(arrived, self.arrived_times))}
        first_sent = self.first["sent"]
        for s, k in zip(self.arrived, arrived):
            if first_sent.get(k, s.ts + 1) > s.ts:
                if not lab_ledger.checksums_ok(s.data, s.linktype):
                    return False
                self.unexplained.append(s.ts)
                self.unexplained_ids.add(id(s))
        return True

    def _bounds(self, start, end, max_arrows, highlight, margin):
        """(index in self.sent of the span's first packet, of the first after it), or None when a bound is a frame
        of another conversation."""
        def when(bound):
            return self.frame_ts.get(bound[1]) if bound[0] == "frame" else self.t0 + bound[1]
        a = when(start) if start else None
        b = when(end) if end else None
        if (start and a is None) or (end and b is None):
            return None
        n = len(self.times)
        # margin (>= 1) packets sent before the window and after it: the span's edges never cut it. A window of
        # the last max_arrows arrows up to b is counted back from b: its span starts with the conversation.
        lo_k = 0 if a is None else max(0, bisect.bisect_left(self.times, a) - margin)
        hi_k = n if b is None else bisect.bisect_right(self.times, b) + margin
        if max_arrows and (a is not None or b is None):
            # the window's last arrow was sent no later than the max_arrows-th packet sent from its start on
            k = 0 if a is None else bisect.bisect_left(self.times, a)
            marked = [self.frame_ts[f] for f in highlight if f in self.frame_ts]
            if a is None and b is None and marked:
                k = bisect.bisect_left(self.times, min(marked))
            hi_k = min(hi_k, k + max_arrows + margin)
        return lo_k, min(hi_k, n)

    def window(self, start, end, max_arrows, highlight):
        """(the window's arrows, how many arrows before it, after it, the span's ledger, the span's packet count),
        or None when the window needs the whole conversation."""
        if self.near and self.first is None and not self._read_keys():
            return None
        got = self._bounds(start, end, max_arrows, highlight, SPAN_MARGIN)
        while got is not None and got != (0, len(self.times)):
            lo_k, hi_k = got
            lo = self.times[lo_k] if lo_k else None
            hi = self.times[hi_k] if hi_k < len(self.times) else None
            segs = [s for s in self.conv.segs if (lo is None or s.ts >= lo) and (hi is None or s.ts <= hi)]
            earlier = self.sent[:bisect.bisect_left(self.times, lo) if lo else 0]
            ghosts = [Arrow(C2S if s.src == self.conv.client else S2C, s) for s in earlier]
            arrows, led = _arrows(self.conv, self.near, segs)
            _annotate(ghosts + arrows, self.conv.proto, self.isn, len(ghosts))
            try:
                i, j = _window(arrows, self.t0, start, end, max_arrows, highlight)
            except UsageError:
                return None         # the whole conversation says why
            got = self._wider(arrows, i, j, lo_k, hi_k)
            if got is None:
                return (arrows[i:j], self._outside(arrows[:i], lo, before=True),
                        self._outside(arrows[j:], hi, before=False), led, len(segs))
        return None

    def _wider(self, arrows, i, j, lo_k, hi_k):
        """None when arrows[i:j], made from the span of the packets sent from self.sent[lo_k] to self.sent[hi_k],
        are the arrows the whole conversation gives; else a wider span (lo_k, hi_k) that holds what they depend
        on. (A one-sided capture pairs nothing: its arrows depend on the senders' state only, carried in.)"""
        n = len(self.times)
        lo, hi = (self.times[lo_k] if lo_k else -1), (self.times[hi_k] if hi_k < n else 1 << 64)
        win = arrows[i:j]
        # every copy of what was sent or arrived from the window's first send (or the first send of what it
        # resends after a wait: the duplicate ACKs heard meanwhile decide the wait's name) to its last arrival
        earliest, latest = [], []
        if self.near:
            core_lo = min([a.t_send for a in win] + [a.orig.send.ts for a in win if a.waited])
            core_hi = max(x.ts for a in win for x in (a.send, a.arrive, *a.dups) if x is not None)
            for segs, times in ((self.sent, self.times), (self.arrived, self.arrived_times)):
                for k in range(bisect.bisect_left(times, core_lo), len(segs)):
                    if segs[k].ts > core_hi:
                        break
                    key = self._key(segs[k])
                    earliest.append(min(x.get(key, hi) for x in self.first.values()))
                    latest.append(max(x.get(key, lo) for x in self.last.values()))
        new_lo, new_hi = lo_k, hi_k
        if earliest and min(earliest) < lo:
            new_lo = max(0, bisect.bisect_left(self.times, min(earliest)) - SPAN_MARGIN)
        if latest and max(latest) > hi:
            new_hi = min(n, bisect.bisect_right(self.times, max(latest)) + SPAN_MARGIN)
        return None if (new_lo, new_hi) == (lo_k, hi_k) else (new_lo, new_hi)

    def _outside(self, part, edge, before):
        """How many arrows the whole conversation has before the window (or after it): those of part (the span's,
        less the arrivals it could not explain only because their send is outside), and those beyond edge."""
        n = sum(1 for a in part if a.fate != "unmatched" or id(a.arrive) in self.unexplained_ids)
        if edge is None:
            return n
        if before:
            return n + bisect.bisect_left(self.times, edge) + bisect.bisect_left(self.unexplained, edge)
        return (n + len(self.times) - bisect.bisect_right(self.times, edge)
                + len(self.unexplained) - bisect.bisect_right(self.unexplained, edge))


def draw(capture, out_svg=None, conversation=None, start=None, end=None, highlight_frames=(),
         max_arrows=MAX_ARROWS, title=None, uid="l", highlight_text="frames named in the evidence"):
    """Draws one conversation of `capture` (a path or a Capture from load()) as an SVG ladder diagram.

    conversation: index, filter words or None (the one holding the first of highlight_frames, else the first);
    start/end: "#FRAME", seconds from the conversation's first packet ("0.25", "250ms") or None; at most
    max_arrows arrows are drawn (0: all), the cut marked; arrows holding a frame of highlight_frames get a
    halo (highlight_text names them in the legend); title replaces the caption's first line; uid prefixes the
    SVG's ids (several diagrams on one page). A conversation of more than SPAN_FROM packets is matched only
    around a window so bounded (_Span), with the same result. Writes out_svg when given and returns a Diagram.
    Raises LadderError (UsageError for a bad request), OSError or pcapfile.FormatError.
    """
    cap = capture if isinstance(capture, Capture) else load(capture)
    highlight = {int(f) for f in highlight_frames}
    conv = choose(cap, conversation, min(highlight) if highlight else None)
    t0 = min(s.ts for s in conv.segs)       # the first arrow's send time: no copy arrives before it is sent
    start, end = _parse_bound(start), _parse_bound(end)
    got = None
    if len(conv.segs) > SPAN_FROM and (max_arrows or start or end):
        near = _sides(cap, conv)
        got = _Span(conv, near, t0).window(start, end, max_arrows, highlight)
    if got is None:
        arrows, near, led = conversation_arrows(cap, conv)
        i, j = _window(arrows, t0, start, end, max_arrows, highlight)
        got = arrows[i:j], i, len(arrows) - j, led, len(conv.segs)
    win, before, after, led, matched = got
    dg = Diagram("", conv, win, before, after, bool(near), matched=matched)
    dg.svg = _render(cap, dg, win, t0, highlight, title, uid, near, led, highlight_text)
    if out_svg:
        tmp = f"{out_svg}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(dg.svg)
        os.replace(tmp, out_svg)
    return dg


def _render(cap, dg, win, t0, highlight, title, uid, two_sided, led, highlight_text):
    conv = dg.conversation
    delays = [a.arrive.ts - a.send.ts for a in win if a.send and a.arrive]
    med = statistics.median(delays) if delays else 0
    times = []
    for a in win:
        times.append(a.t_send)
        times += [s.ts for s in (a.arrive, *a.dups) if s is not None]
    span = max(times) - min(times)
    # scale: the median delay drops SLANT px (or the whole window fits 18 px per arrow); never taller than
    # 18 px per arrow plus the compressed gaps
    budget = max(300, 18 * len(win))
    k_fill = 14 * len(win) / span if span else 1.0
    k = min(max(SLANT / med, k_fill), 6 * SLANT / med) if med > 0 else (budget / span if span else 1.0)
    for _ in range(6):
        sc = _Scale(times, k, TOP, 6 * med)
        if sc.bottom - TOP - GAP_DRAWN * len(sc.gaps) <= budget:
            break
        k *= budget / max(1.0, sc.bottom - TOP - GAP_DRAWN * len(sc.gaps))
    sc = _Scale(times, k, TOP, 6 * med)
    dg.compressed_gaps = len(sc.gaps)
    y = sc.y
    xs = {C2S: (XL, XR), S2C: (XR, XL)}
    out = []
    o = out.append
    n_lines = 0

    def arrow_geom(a):
        x1, x2 = xs[a.direction]
        if a.send is None:                          # unmatched arrival: from the router
            ya = y(a.arrive.ts)
            return XM, ya - 10, x2, ya
        y1 = y(a.send.ts)
        if not two_sided:
            return x1, y1, x2, y1 + ONE_SIDED_SLANT
        if a.arrive is not None:
            return x1, y1, x2, y(a.arrive.ts)
        drop = (med or 0) * k if med else SLANT
        return x1, y1, XM, y1 + max(8.0, drop / 2)  # lost: ends at the router, halfway

    bottom = sc.bottom + (ONE_SIDED_SLANT if not two_sided else 0)
    # cut marks
    labels_y = {C2S: [], S2C: []}      # y of the labels placed, per direction (sorted)
    frames_y = {XL: [], XR: []}        # y of the frame numbers placed, per time line
    body = []
    b = body.append
    rto_marks = []
    pending = []
    for a in win:
        x1, y1, x2, y2 = arrow_geom(a)
        cls = ["pkt", a.direction]
        color = COLORS[a.direction]
        if a.retrans:
            cls.append("retrans")
            color = COLORS["retrans"]
        if a.fate == "lost" or a.fate == "corrupted":
            cls.append("lost")
        if a.reordered:
            cls.append("reordered")
            color = COLORS["reordered"] if not a.retrans else color
        if a.dups:
            cls.append("dup")
        if a.fate == "unmatched":
            cls.append("unmatched")
            color = COLORS["unmatched"]
        hl = bool(set(a.frames) & highlight)
        if hl:
            cls.append("hl")
        side_of = {C2S: ("client", "server"), S2C: ("server", "client")}[a.direction]
        tip = []
        if a.send:
            tip.append(f"frame {a.send.frame} ({side_of[0]} side" + (")" if two_sided else ", one-sided)"))
        if a.arrive:
            tip.append(f"→ frame {a.arrive.frame} ({side_of[1]} side)")
        for dsg in a.dups:
            tip.append(f"+ duplicate frame {dsg.frame}")
        tip = " ".join(tip) + f": {a.label}"
        if a.send and a.arrive:
            tip += f"; delay {_fmt_dt(a.arrive.ts - a.send.ts)}"
        if a.fate in ("lost", "corrupted"):
            tip += f"; {a.fate} in the network"
        if a.reordered:
            tip += "; reordered (arrived after a packet sent later)"
        if a.orig is not None:
            tip += f"; repeats frame {a.orig.send.frame} after {_fmt_dt(a.send.ts - a.orig.send.ts)}"
        cm = sorted({c for s in (a.send, a.arrive) if s for c in s.comments})
        if cm:
            tip += " | " + " | ".join(cm)
        frames = ",".join(map(str, a.frames))
        b(f'<g class="{" ".join(cls)}" data-frames="{frames}"><title>{html.escape(tip, quote=False)}</title>')
        if hl:
            b(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="halo"/>')
        lost = a.fate in ("lost", "corrupted")
        marker = "" if lost else f' marker-end="url(#{uid}-{_mk(color)})"'
        dash = ' stroke-dasharray="4 3"' if a.fate == "unmatched" else ""
        wdt = 2.2 if a.retrans or hl else 1.4
        b(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
          f'stroke-width="{wdt}"{dash}{marker}/>')
        if lost:
            c = COLORS["lost"]
            b(f'<path d="M{x2 - 6:.1f},{y2 - 6:.1f}L{x2 + 6:.1f},{y2 + 6:.1f}M{x2 - 6:.1f},{y2 + 6:.1f}'
              f'L{x2 + 6:.1f},{y2 - 6:.1f}" stroke="{c}" stroke-width="2.6" class="cross"/>')
        for dsg in a.dups:
            # the duplicate forks where the network made it: at the router, on the original's arrow
            fy = y1 + (y2 - y1) * (XM - x1) / (x2 - x1)
            yd = y(dsg.ts)
            b(f'<line x1="{XM:.1f}" y1="{fy:.1f}" x2="{x2:.1f}" y2="{yd:.1f}" stroke="{COLORS["dup"]}" '
              f'stroke-width="1.6" marker-end="url(#{uid}-{_mk(COLORS["dup"])})" class="fork"/>')
            b(_t((XM + x2) / 2, (fy + yd) / 2 + 12, "duplicate", "lbl dup", "middle"))
        b(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="hit"/>')
        # label along the arrow, near its sender; placed after all arrows, the important ones first
        if a.label:
            f = 0.26 * (XR - XL) / abs(x2 - x1)     # the same distance from the sender for every arrow
            lx, ly = x1 + (x2 - x1) * f, y1 + (y2 - y1) * f
            rank = 0 if hl else 1 if a.retrans or a.fate in ("lost", "corrupted") or a.dups else 2
            pending.append((rank, len(pending), a, lx, ly, _deg(x1, y1, x2, y2), color))
        # frame numbers outside the time lines
        for sgm, xx, yy in ((a.send, x1, y1), (a.arrive, x2, y2)):
            if sgm is None or xx not in frames_y:
                continue
            if _free(frames_y[xx], yy, 10):
                if xx == XL:
                    b(_t(xx - 6, yy + 3.5, f"#{sgm.frame}", "fr", "end"))
                else:
                    b(_t(xx + 6, yy + 3.5, f"#{sgm.frame}", "fr"))
                bisect.insort(frames_y[xx], yy)
        b("</g>")
        if a.retrans and a.orig is not None and a.waited:
            rto_marks.append(a)
    for rank, _, a, lx, ly, ang, color in sorted(pending, key=lambda p: p[:2]):
        if not _free(labels_y[a.direction], ly, 12) and rank:
            continue
        text = a.label if len(a.label) <= 48 else a.label[:47] + "…"
        extra = ' font-weight="bold"' if a.retrans else ""
        b(f'<text x="{lx:.1f}" y="{ly - 3:.1f}" class="lbl" text-anchor="middle" fill="{color}" '
          f'data-frames="{",".join(map(str, a.frames))}" transform="rotate({ang:.2f} {lx:.1f} {ly:.1f})"{extra}>'
          f'{html.escape(text, quote=False)}</text>')
        bisect.insort(labels_y[a.direction], ly)
        n_lines += 1
    dg.labels = n_lines
    dg.lost = sum(a.fate in ("lost", "corrupted") for a in win)
    dg.duplicates = sum(len(a.dups) for a in win)
    dg.retransmissions = sum(a.retrans for a in win)
    dg.reordered = sum(a.reordered for a in win)

    # RTO brackets, outside the sender's time line
    for a in rto_marks:
        ya, yb = y(a.orig.send.ts), y(a.send.ts)
        before = ya < TOP - 6          # the original was sent before the window: the bracket comes from above
        ya = max(ya, TOP - 6)
        if a.direction == C2S:
            xb, tx, anchor = XL - 58, XL - 64, "end"
        else:
            xb, tx, anchor = XR + 58, XR + 64, "start"
        tick = 5 if a.direction == C2S else -5
        col = COLORS["rto"]
        word = "RTO" if a.waited == "RTO" else (a.waited or "resent")
        text = f"{word} {_fmt_dt(a.send.ts - a.orig.send.ts)}"
        b(f'<g class="rto"><title>{html.escape(text)}: frame {a.orig.send.frame} sent, frame {a.send.frame} '
          f'resent</title><path d="M{xb + tick * (not before)},{ya:.1f}H{xb}V{yb:.1f}H{xb + tick}" fill="none" '
          f'stroke="{col}" stroke-width="1.6"' + (' stroke-dasharray="3 2"' if before else "") + "/>")
        mid = (ya + yb) / 2
        if yb - ya >= 60:
            rot = -90 if a.direction == C2S else 90
            b(_t(xb + (-6 if a.direction == C2S else 6), mid, text, "rtol", "middle",
                 f' transform="rotate({rot} {xb + (-6 if a.direction == C2S else 6)} {mid:.1f})"'))
        else:
            b(_t(tx, mid - 2, word, "rtol", anchor) + _t(tx, mid + 10, text[len(word) + 1:], "rtol", anchor))
        b("</g>")

    height = bottom + 40
    # header: caption and the two time lines' names
    name = title or cap.scenario or os.path.basename(cap.path)
    proto = "TCP" if conv.proto == TCP else "UDP"
    frames_all = sorted(f for a in win for f in a.frames)
    fr = f"frames {frames_all[0]}–{frames_all[-1]}" if frames_all else "no frames"
    imp = cap.impairment
    cap_lines = [name,
                 "network: " + (imp if imp else "not recorded in the capture"),
                 f"{os.path.basename(cap.path)}: {fr} of {len(cap.file.packets)}; {proto} conversation "
                 f"{conv.index} of {len(cap.conversations)}"
                 + ("" if two_sided else "; one-sided capture: one time per packet, slant nominal")]
    o(_t(12, 22, cap_lines[0], "cap1"))
    o(_t(12, 40, cap_lines[1] if len(cap_lines[1]) < 150 else cap_lines[1][:149] + "…", "cap2"))
    o(_t(12, 56, cap_lines[2], "cap2"))
    o(_t(XL, 88, "client", "side", "middle"))
    o(_t(XL, 102, _ep(conv.client), "addr", "middle"))
    o(_t(XR, 88, "server", "side", "middle"))
    o(_t(XR, 102, _ep(conv.server), "addr", "middle"))
    if two_sided and (dg.lost or dg.duplicates):
        o(_t(XM, 88, "router", "side router", "middle"))
    if dg.before:
        o(_cut(TOP - 8, f"✂ {dg.before} earlier packet{'s' * (dg.before != 1)} not drawn"))
    # time lines, broken at the compressed gaps
    segs = sc.segments()
    for n, (ts, ys, te) in enumerate(segs):
        ye = (ys + (te - ts) * k) if te is not None else bottom
        ys0 = ys if n else TOP - 4
        for x in (XL, XR):
            o(f'<line x1="{x}" y1="{ys0:.1f}" x2="{x}" y2="{ye:.1f}" class="tl"/>')
        if two_sided and (dg.lost or dg.duplicates):
            o(f'<line x1="{XM}" y1="{ys0:.1f}" x2="{XM}" y2="{ye:.1f}" class="rt"/>')
        # time ticks, relative to the conversation's first packet
        step = _nice_step(50 / k)
        t = -(-(ts - t0) // step) * step
        while t0 + t <= (te if te is not None else max(times)):
            yy = ys + (t0 + t - ts) * k
            o(f'<line x1="{XL - 4}" y1="{yy:.1f}" x2="{XL}" y2="{yy:.1f}" class="tk"/>')
            o(_t(10, yy + 3.5, _fmt_t(t, step), "tick"))
            t += step
    for (a_, b_, y0, y1) in sc.gaps:
        ym = (y0 + y1) / 2
        for x in (XL, XR):
            o(f'<path d="M{x - 7},{y0 + 10:.1f}l14,-5M{x - 7},{y1 - 5:.1f}l14,-5" class="brk"/>')
        o(_t(XR + 16, ym + 4, f"≈ {_fmt_dt(b_ - a_)} idle", "gap"))
    out += body
    if dg.after:
        o(_cut(bottom + 14, f"✂ {dg.after} later packet{'s' * (dg.after != 1)} not drawn"))
        height += 10
    # legend
    items = [("line", COLORS[C2S], "client → server"), ("line", COLORS[S2C], "server → client")]
    if dg.lost:
        items.append(("cross", COLORS["lost"], "lost in the network (✕ at the router)"))
    if dg.duplicates:
        items.append(("line", COLORS["dup"], "duplicate made by the network"))
    if dg.reordered:
        items.append(("line", COLORS["reordered"], "reordered: overtaken by a later packet"))
    if dg.retransmissions:
        items.append(("line", COLORS["retrans"], "retransmission; bracket: how long the sender waited"))
    if sc.gaps:
        items.append(("gap", "#555", "idle time compressed"))
    if highlight & {f for a in win for f in a.frames}:
        items.append(("hl", COLORS["hl"], highlight_text))
    ly = height + 6
    lx = 12
    for kind, col, text in items:
        w = 34 + 6.2 * len(text)
        if lx + w > W - 10:
            lx, ly = 12, ly + 18
        if kind == "line":
            o(f'<line x1="{lx}" y1="{ly:.1f}" x2="{lx + 24}" y2="{ly:.1f}" stroke="{col}" stroke-width="2" '
              f'marker-end="url(#{uid}-{_mk(col)})"/>')
        elif kind == "cross":
            o(f'<path d="M{lx + 6},{ly - 5:.1f}l10,10m0,-10l-10,10" stroke="{col}" stroke-width="2.4"/>')
        elif kind == "gap":
            o(f'<path d="M{lx + 4},{ly + 3:.1f}l14,-5M{lx + 4},{ly + 7:.1f}l14,-5" class="brk"/>')
        else:
            o(f'<line x1="{lx}" y1="{ly:.1f}" x2="{lx + 24}" y2="{ly:.1f}" stroke="{col}" stroke-width="7"/>')
        o(_t(lx + 30, ly + 4, text, "leg"))
        lx += w
    tail = ("hover an arrow for its frames" + ("" if dg.labels == len(win) else
                                               "; labels left out where arrows are dense"))
    o(_t(12, ly + 22, tail, "leg note"))
    height = ly + 32
    markers = sorted({COLORS[C2S], COLORS[S2C], COLORS["retrans"], COLORS["dup"], COLORS["reordered"],
                      COLORS["unmatched"]})
    defs = "".join(f'<marker id="{uid}-{_mk(c)}" viewBox="0 0 10 10" refX="9.5" refY="5" markerWidth="7" '
                   f'markerHeight="7" orient="auto-start-reverse"><path d="M0,1L10,5L0,9z" fill="{c}"/></marker>'
                   for c in markers)
    style = (f"#{uid} text{{font-family:DejaVu Sans,Verdana,sans-serif;fill:#222}}"
             f"#{uid} .cap1{{font-size:15px;font-weight:bold}}#{uid} .cap2{{font-size:11.5px;fill:#444}}"
             f"#{uid} .side{{font-size:13px;font-weight:bold}}#{uid} .addr{{font-size:10.5px;fill:#555}}"
             f"#{uid} .router{{fill:#888;font-weight:normal}}"
             f"#{uid} .lbl{{font-size:10.5px;font-family:DejaVu Sans Mono,monospace}}"
             f"#{uid} .fr{{font-size:9px;fill:#888}}#{uid} .tick{{font-size:9.5px;fill:#666}}"
             f"#{uid} .rtol{{font-size:10.5px;fill:{COLORS['rto']};font-weight:bold}}"
             f"#{uid} .gap{{font-size:10.5px;fill:#555;font-style:italic}}#{uid} .cut{{font-size:10.5px;fill:#555}}"
             f"#{uid} .leg{{font-size:11px}}#{uid} .note{{fill:#666;font-style:italic}}"
             f"#{uid} .tl{{stroke:#333;stroke-width:2}}#{uid} .rt{{stroke:#bbb;stroke-width:1;stroke-dasharray:2 4}}"
             f"#{uid} .tk{{stroke:#666}}#{uid} .brk{{stroke:#555;stroke-width:1.5;fill:none}}"
             f"#{uid} .cutl{{stroke:#999;stroke-dasharray:6 4}}"
             f"#{uid} .halo{{stroke:{COLORS['hl']};stroke-width:9;stroke-linecap:round;opacity:.8}}"
             f"#{uid} .hit{{stroke:transparent;stroke-width:9;pointer-events:stroke}}"
             f"#{uid} .pkt:hover line:not(.hit):not(.halo),#{uid} .pkt.sel line:not(.hit):not(.halo)"
             f"{{stroke-width:3}}")
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" id="{uid}" class="ladder" width="{W}" '
            f'height="{height:.0f}" viewBox="0 0 {W} {height:.0f}" data-arrows="{len(win)}" '
            f'data-lost="{dg.lost}" data-duplicates="{dg.duplicates}" data-capture="'
            f'{html.escape(os.path.basename(cap.path))}">'
            f"<title>{html.escape(cap_lines[0] + ' — ' + cap_lines[2])}</title>"
            f"<defs>{defs}</defs><style>{style}</style>"
            f'<rect width="100%" height="100%" fill="#fff"/>')
    return head + "".join(out) + "</svg>\n"


def _fmt_t(t, step):
    if step >= 1e9:
        return f"{t / 1e9:g} s"
    decimals = 0
    while step < 1e6 / 10 ** decimals:
        decimals += 1
    return f"{t / 1e6:.{decimals}f} ms"


def _free(placed, y, gap):
    """No y' in the sorted list placed is closer than gap to y."""
    i = bisect.bisect_left(placed, y)
    return (i == len(placed) or placed[i] - y >= gap) and (i == 0 or y - placed[i - 1] >= gap)


def _cut(y, text):
    return (f'<line x1="{XL - 40}" y1="{y:.1f}" x2="{XR + 40}" y2="{y:.1f}" class="cutl"/>'
            + _t(XM, y - 4, text, "cut", "middle"))


def _mk(color):
    return "m" + color.lstrip("#")


def _deg(x1, y1, x2, y2):
    import math
    ang = math.degrees(math.atan2(y2 - y1, x2 - x1))
    if ang > 90:
        ang -= 180
    elif ang < -90:
        ang += 180
    return ang


# HTML -----------------------------------------------------------------------------------------------------
CLICK_SCRIPT = """
document.addEventListener('click', function (ev) {
  var g = ev.target.closest ? ev.target.closest('g.pkt') : null;
  var box = document.getElementById('frame-box');
  document.querySelectorAll('g.pkt.sel').forEach(function (x) { x.classList.remove('sel'); });
  if (!g || !box) { if (box) box.style.display = 'none'; return; }
  g.classList.add('sel');
  var t = g.querySelector('title');
  box.textContent = (t ? t.textContent : 'frames ' + g.dataset.frames) +
    '  (in Wireshark: Go to Packet ' + g.dataset.frames.split(',')[0] + ')';
  box.style.display = 'block';
});
"""

PAGE_CSS = """
body{font-family:DejaVu Sans,Verdana,sans-serif;margin:24px;color:#222;max-width:960px}
svg.ladder{max-width:100%;height:auto;display:block}
#frame-box{display:none;position:fixed;left:12px;right:12px;bottom:12px;background:#fffde7;border:1px solid #e0c000;
  padding:8px 12px;font-family:DejaVu Sans Mono,monospace;font-size:13px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
@media print{#frame-box{display:none!important}}
"""


def html_page(title, body, extra_css=""):
    """A standalone page (no external resource) around body, with the click handler for ladder arrows."""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title>\n<style>{PAGE_CSS}{extra_css}</style></head><body>\n{body}\n"
            f"<div id=\"frame-box\"></div>\n<script>{CLICK_SCRIPT}</script>\n</body></html>\n")


def write_html(dg, out_html, title=None):
    """A page holding the diagram dg: click an arrow to see its frame numbers."""
    page = html_page(title or "ladder diagram",
                     f"{dg.svg}<p>Click an arrow to see its frame numbers; hover for the tooltip.</p>")
    with open(out_html, "w", encoding="utf-8") as f:
        f.write(page)


# command line ---------------------------------------------------------------------------------------------
HELP_EPILOG = """\
Conversations: a TCP connection or a UDP address/port pair, numbered from 0 in order of their first packet
(--list prints them). FILTER is words that must all match: tcp, udp, a port number, an address
("udp 9876", "tcp 10.71.2.2"). Without --conversation: the first.

Two-sided captures (the lab's pcapng: interface 0 the client side, 1 the server side, or interfaces described
"client side ..."/"server side ..."): each arrow goes from the packet's send time on the sender's side to its
arrival time on the other, matched by the ledger (lab/ledger.py); a packet the network lost ends in a cross at
the router, a duplicate forks there, a reordered packet's arrow crosses the ones it overtook. One-sided
captures (any pcap or pcapng seen from one point): one time per packet, where the capture saw it; each arrow
starts there and drops a nominal 14 px, so its slant means nothing and losses cannot be drawn, only the
sender's retransmissions.

Time runs down, to scale; idle gaps are compressed and marked. Retransmissions are drawn in red with a bracket
on the sender's line: how long it waited (RTO, or fast retransmit after three duplicate ACKs).

Exit status: 0 drawn, 1 the capture cannot be read or holds no conversation, 2 bad usage.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"ladder: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv=None):
    ap = _Parser(prog="ladder", description="Draws the ladder (time-sequence) diagram of one conversation of "
                 "a capture as SVG.", epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("capture", metavar="CAPTURE", help="a pcap or pcapng file")
    ap.add_argument("-o", "--output", metavar="FILE.svg", help="the SVG to write (required unless --list)")
    ap.add_argument("--conversation", "-c", metavar="FILTER|INDEX", help="which conversation (default: the first)")
    ap.add_argument("--from", dest="start", metavar="T|#FRAME",
                    help="start of the window: seconds from the conversation's first packet (0.5, 250ms) or a "
                         "frame number (#12)")
    ap.add_argument("--to", dest="end", metavar="T|#FRAME", help="end of the window, the same way")
    ap.add_argument("--max", dest="max_arrows", type=int, default=MAX_ARROWS, metavar="N",
                    help=f"draw at most N arrows, the cut marked (default {MAX_ARROWS}; 0: all)")
    ap.add_argument("--highlight", metavar="FRAMES", default="",
                    help="frame numbers to highlight, comma-separated (the conversation holding the first is "
                         "drawn unless --conversation says otherwise)")
    ap.add_argument("--title", help="the caption's first line (default: the scenario named in the capture)")
    ap.add_argument("--html", metavar="FILE.html", help="also write a page where a click on an arrow shows its "
                    "frame numbers")
    ap.add_argument("--list", action="store_true", help="list the conversations and exit")
    a = ap.parse_args(argv)
    if not a.list and not a.output and not a.html:
        ap.error("give -o FILE.svg (or --html FILE.html, or --list)")
    if a.max_arrows < 0:
        ap.error(f"--max {a.max_arrows}: must be 0 (all) or more")
    try:
        hl = [int(x.strip().lstrip("#")) for x in a.highlight.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--highlight {a.highlight!r}: frame numbers separated by commas")
    # A command that makes one object or more per packet, none in a cycle, and exits: the collector's passes
    # over them were a tenth of its time on a 20,000-frame capture.
    gc.disable()
    try:
        cap = load(a.capture)
    except (OSError, pcapfile.FormatError) as e:
        print(f"ladder: {a.capture}: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
        return 1
    if a.list:
        for c in cap.conversations:
            print(c.describe())
        if not cap.conversations:
            print(f"ladder: {a.capture}: no TCP or UDP conversation", file=sys.stderr)
            return 1
        return 0
    try:
        dg = draw(cap, a.output, a.conversation, a.start, a.end, hl, a.max_arrows, a.title)
        if a.html:
            write_html(dg, a.html, a.title or cap.scenario or os.path.basename(a.capture))
    except UsageError as e:
        print(f"ladder: {e}", file=sys.stderr)
        return 2
    except LadderError as e:
        print(f"ladder: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"ladder: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 1
    except Exception as e:      # a bug, but the user gets a message and the capture to report, not a traceback
        print(f"ladder: {a.capture}: cannot draw it ({type(e).__name__}: {e}); please report this with the "
              f"capture", file=sys.stderr)
        return 1
    print(f"ladder: {a.output or a.html}: {len(dg.arrows)} arrows ({dg.before} before and {dg.after} after the "
          f"window), {dg.lost} lost, {dg.duplicates} duplicates, {dg.retransmissions} retransmissions, "
          f"{dg.reordered} reordered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
