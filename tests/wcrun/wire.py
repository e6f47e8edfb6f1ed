"""What the wire shows: the scenario's two-sided capture read back as flows, handshakes, closes and
retransmissions, each packet named by its Wireshark frame number so that evidence can point at it."""
import dataclasses
import struct

from lab import ledger, pcapfile

TCP, UDP = 6, 17
SIDES = ("client", "server")     # interface 0 and 1 of the scenario's capture


def _after(a, b):
    """Serial-number arithmetic (RFC 1982): a comes after b."""
    d = (a - b) & 0xFFFFFFFF
    return 0 < d < 0x80000000


@dataclasses.dataclass
class Pkt:
    frame: int
    side: str
    ts: float
    family: int
    src: str
    dst: str
    proto: int
    sport: int
    dport: int
    flags: str = ""
    seq: int = 0
    ack: int = 0
    payload_len: int = 0
    tag: str = None            # udp-client --seq tag, "WC0000000042"
    comments: tuple = ()
    inbound: bool = None

    @property
    def where(self):
        return f"frame {self.frame} ({self.side} side)"

    def end(self):
        return (self.seq + self.payload_len + ("S" in self.flags) + ("F" in self.flags)) & 0xFFFFFFFF

    def covers(self, other):
        """This segment carries some of other's bytes, later and in the same direction."""
        if self.proto != TCP or (self.sport, self.dport) != (other.sport, other.dport) or self.ts <= other.ts:
            return False
        return _after(other.seq + other.payload_len, self.seq) and _after(self.seq + self.payload_len, other.seq)


class Flow:
    """One TCP connection as seen on one side; `server` is the (addr, port) that accepted it, `client` the
    (addr, port) that opened it."""

    def __init__(self, server, packets, client=None):
        self.server = server
        self.client = client
        self.packets = packets

    def _from_server(self, p):
        return (p.src, p.sport) == self.server

    @property
    def fin_from_server(self):
        return [p for p in self.packets if self._from_server(p) and "F" in p.flags]

    @property
    def rst_from_server(self):
        return [p for p in self.packets if self._from_server(p) and "R" in p.flags]

    @property
    def server_bytes(self):
        syn = next((p for p in self.packets if self._from_server(p) and "S" in p.flags), None)
        ends = [p.seq + p.payload_len for p in self.packets if self._from_server(p) and p.payload_len]
        if not syn or not ends:
            return 0
        return max(((e - syn.seq - 1) & 0xFFFFFFFF) for e in ends)

    def server_data_after_fin(self):
        fins = self.fin_from_server
        if not fins:
            return []
        fin = fins[0]
        return [p for p in self.packets if self._from_server(p) and p.payload_len
                and _after(p.seq + p.payload_len, fin.seq)]

    def server_frame_at(self, offset):
        """The server's data segment that carried reply byte `offset` (0 = the first byte), or None."""
        syn = next((p for p in self.packets if self._from_server(p) and "S" in p.flags), None)
        if not syn:
            return None
        for p in self.packets:
            if self._from_server(p) and p.payload_len:
                rel = (p.seq - syn.seq - 1) & 0xFFFFFFFF
                if rel <= offset < rel + p.payload_len:
                    return p
        return None

    def handshake(self):
        """(SYN, SYN-ACK, ACK) when they come before any data, else None."""
        syn = synack = None
        for p in self.packets:
            if "S" in p.flags and "A" not in p.flags and not self._from_server(p):
                syn = syn or p
            elif "S" in p.flags and "A" in p.flags and self._from_server(p) and syn:
                synack = synack or p
            elif synack and not self._from_server(p) and "A" in p.flags and "S" not in p.flags:
                return (syn, synack, p) if p.ack == synack.end() else None
            elif p.payload_len:
                return None
        return None

    def summary(self):
        return " ".join(f"{p.frame}:{'S' if self._from_server(p) else 'C'}[{p.flags}]{p.payload_len or ''}"
                        for p in self.packets[:12])


class Wire:
    def __init__(self, path):
        f = pcapfile.read(path)
        self.path = path
        self.packets = []
        for n, p in enumerate(f.packets, 1):
            d = ledger.decode(p.data, f.interfaces[p.iface].linktype)
            if d and d["proto"] == UDP and d["frag"] and not d["frag"] & 0x1FFF and len(d["l4"]) >= 8:
                # the first fragment of a large datagram: its UDP header says where the whole datagram goes
                sport, dport, ulen = struct.unpack_from("!HHH", d["l4"])
                d.update(sport=sport, dport=dport, payload=ulen - 8)
            if not d or d["proto"] not in (TCP, UDP) or "sport" not in d:
                continue
            self.packets.append(Pkt(frame=n, side=SIDES[p.iface] if p.iface < 2 else str(p.iface),
                                    ts=p.ts_ns / 1e9, family=d["family"], src=d["src"], dst=d["dst"],
                                    proto=d["proto"], sport=d["sport"], dport=d["dport"],
                                    flags=d.get("flags", ""), seq=d.get("seq", 0), ack=d.get("ack", 0),
                                    payload_len=d.get("payload", 0), tag=d.get("tag"),
                                    comments=tuple(p.comments), inbound=p.direction == "in"))

    def side(self, side):
        return [p for p in self.packets if p.side == side]

    def tcp_flows(self, port, side="server"):
        """Connections to `port`, in order of their first packet, as seen on `side`."""
        flows = {}
        for p in self.side(side):
            if p.proto != TCP or port not in (p.sport, p.dport):
                continue
            server = (p.dst, p.dport) if p.dport == port else (p.src, p.sport)
            client = (p.src, p.sport) if p.dport == port else (p.dst, p.dport)
            flows.setdefault((server, client), Flow(server, [], client)).packets.append(p)
        assert flows, f"no TCP packet to or from port {port} on the {side} side of {self.path}"
        return list(flows.values())

    def tcp_flow(self, port, cport, side="server"):
        """The connection to `port` from the client's port `cport` (a scenario that opens more than one
        connection, a check of the server's health after it for one, judges its own)."""
        mine = [f for f in self.tcp_flows(port, side) if f.client[1] == cport]
        assert mine, f"no TCP packet between port {port} and client port {cport} on the {side} side of {self.path}"
        return mine[-1]

    def syns(self, port, side="client"):
        return [p for p in self.side(side) if p.proto == TCP and p.dport == port and p.flags == "S"]

    def retransmissions(self, port):
        """Data segments that resend bytes their sender had already sent, seen where they were sent."""
        out, seen = [], {}
        for p in self.packets:
            if p.proto != TCP or not p.payload_len or port not in (p.sport, p.dport):
                continue
            sender_side = "server" if p.sport == port else "client"
            if p.side != sender_side:
                continue
            key = (p.src, p.sport)
            hi = seen.get(key)
            if hi is not None and not _after(p.seq + p.payload_len, hi):
                out.append(p)
            elif hi is not None and _after(hi, p.seq):
                out.append(p)   # partly old bytes
            if hi is None or _after(p.seq + p.payload_len, hi):
                seen[key] = (p.seq + p.payload_len) & 0xFFFFFFFF
        return out

    def udp_replies_not_from(self, port, side="server"):
        """Datagrams leaving the server side toward the client whose source port is not `port`."""
        requests = {(p.src, p.sport) for p in self.side(side) if p.proto == UDP and p.dport == port}
        return [p for p in self.side(side) if p.proto == UDP and (p.dst, p.dport) in requests and p.sport != port]

    def udp_replies_misaddressed(self, port, side="server"):
        """[(reply, request's source port)]: datagrams from the server's `port` to a request's source address
        but another port (a port byte-swapped by a second htons(), say): no client ever receives them."""
        requests = {}
        for p in self.side(side):
            if p.proto == UDP and p.dport == port:
                requests.setdefault(p.src, set()).add(p.sport)
        return [(p, min(requests[p.dst])) for p in self.side(side)
                if p.proto == UDP and p.sport == port and p.dst in requests and p.dport not in requests[p.dst]]

    def udp_reply_frame(self, port, length, side="client"):
        for p in self.side(side):
            if p.proto == UDP and p.sport == port and p.payload_len == length:
                return f"{p.where}: "
        return ""


def lost_tcp_data(led):
    """The data segments the ledger says the network lost, as Pkt records (frame unknown: never arrived;
    `where` names the sender-side send time)."""
    out = []
    for direction, entries in led.entries.items():
        for e in entries:
            if e["proto"] == TCP and e["fate"] == "lost" and e.get("payload"):
                side = "client" if direction == "c2s" else "server"
                p = Pkt(frame=0, side=side, ts=e["ts"] / 1e9, family=0, src="", dst="", proto=TCP,
                        sport=e["sport"], dport=e["dport"], flags=e.get("flags", ""), seq=e["seq"],
                        payload_len=e["payload"])
                out.append(p)
    return out


def tag_order(packets):
    """The --seq numbers of tagged datagrams, in capture order."""
    return [int(p.tag[2:]) for p in packets if p.tag and p.tag[2:].isdigit()]


def undelivered_tcp_bytes(led):
    """Lost data segments whose bytes no delivered copy carried: what TCP failed to recover.

    A lost segment is recovered when the receiver got its bytes from any other copy: a later
    retransmission, or an earlier original that netem only delayed (the lost copy was then itself a
    spurious retransmission). Returns the unrecovered ones as Pkt records.
    """
    delivered = {}
    for entries in led.entries.values():
        for e in entries:
            if e["proto"] == TCP and e["fate"] == "delivered" and e.get("payload"):
                delivered.setdefault((e["sport"], e["dport"]), []).append((e["seq"], e["payload"]))
    out = []
    for lost in lost_tcp_data(led):
        spans = []
        for seq, n in delivered.get((lost.sport, lost.dport), []):
            start = (seq - lost.seq) & 0xFFFFFFFF
            if start >= 0x80000000:            # starts before the lost segment
                start -= 0x100000000
            spans.append((start, start + n))
        pos = 0
        for a, b in sorted(spans):
            if a > pos:
                break
            pos = max(pos, b)
        if pos < lost.payload_len:
            out.append(lost)
    return out
