"""The bytes on the wire: a two-sided capture read back as TCP byte streams (reassembled by sequence number, per
side and direction) and UDP datagrams, each byte range named by the frame that carried it. wcrun.wire counts
segments; the interop cells need the bytes themselves to say whose bytes were wrong."""
import dataclasses

from lab import ledger, pcapfile

TCP, UDP = 6, 17
SIDES = ("client", "server")


@dataclasses.dataclass
class Stream:
    """One direction of one TCP connection as seen on one side: data (relative to the ISN), the frames that
    carried it, and whether a FIN or RST was seen."""
    data: bytearray = dataclasses.field(default_factory=bytearray)
    frames: list = dataclasses.field(default_factory=list)     # (offset, length, frame)
    fin: int = None
    rst: int = None
    isn: int = None

    def frame_at(self, offset):
        for off, n, frame in self.frames:
            if off <= offset < off + n:
                return frame
        return None


@dataclasses.dataclass
class Conn:
    client: tuple
    server: tuple
    up: Stream          # client -> server
    down: Stream        # server -> client
    first_frame: int


@dataclasses.dataclass
class Datagram:
    frame: int
    src: tuple
    dst: tuple
    payload: bytes


def _packets(path, side):
    f = pcapfile.read(path)
    for n, p in enumerate(f.packets, 1):
        if p.iface != SIDES.index(side):
            continue
        d = ledger.decode(p.data, f.interfaces[p.iface].linktype)
        if d and d["proto"] in (TCP, UDP) and "sport" in d:
            yield n, d


def tcp_conns(path, port, side="server"):
    """The connections to `port` in order of their SYN, as `side` saw them."""
    conns = {}
    for frame, d in _packets(path, side):
        if d["proto"] != TCP or port not in (d["sport"], d["dport"]):
            continue
        up = d["dport"] == port
        cli = (d["src"], d["sport"]) if up else (d["dst"], d["dport"])
        srv = (d["dst"], d["dport"]) if up else (d["src"], d["sport"])
        c = conns.get(cli)
        if c is None:
            if not (up and d["flags"] == "S"):
                continue            # a connection whose SYN the capture missed: not one of ours
            c = conns[cli] = Conn(cli, srv, Stream(), Stream(), frame)
        s = c.up if up else c.down
        if "S" in d["flags"]:
            s.isn = d["seq"]
            continue
        if s.isn is None:
            continue
        off = (d["seq"] - s.isn - 1) & 0xFFFFFFFF
        payload = d["l4"][len(d["l4"]) - d["payload"]:] if d["payload"] else b""
        if payload:
            end = off + len(payload)
            if end > len(s.data):
                s.data.extend(b"\0" * (end - len(s.data)))
            s.data[off:end] = payload
            s.frames.append((off, len(payload), frame))
        if "F" in d["flags"] and s.fin is None:
            s.fin = frame
        if "R" in d["flags"] and s.rst is None:
            s.rst = frame
    return sorted(conns.values(), key=lambda c: c.first_frame)


def udp_datagrams(path, port, side="server"):
    """(requests to `port`, replies toward the requesters), as `side` saw them."""
    reqs, replies = [], []
    for frame, d in _packets(path, side):
        if d["proto"] != UDP:
            continue
        dg = Datagram(frame, (d["src"], d["sport"]), (d["dst"], d["dport"]), bytes(d["l4"][8:]))
        if d["dport"] == port:
            reqs.append(dg)
        else:
            replies.append(dg)
    senders = {r.src for r in reqs}
    return reqs, [r for r in replies if r.dst in senders]
