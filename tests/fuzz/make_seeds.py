#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora into tests/data/fuzz/<target>/ (deterministic: rerun after changing it).

Packets are built by hand with struct, and tests/data/sniffer-tcp-lo.pcapng (read with tests/lab/pcapfile.py)
supplies real ones. The seeds only point the fuzzer at the interesting shapes; it finds the rest. Files named by a SHA-1 beside them
are what libFuzzer learned in 10 million runs, minimized (fuzz_<target> -merge=1 NEW build-fuzz/corpus/<target>),
kept so that CTest's replay covers it too (not for flow: 763 inputs, 400 KB).

Run it from the checkout as `PYTHONPATH=tests /usr/bin/python3 tests/fuzz/make_seeds.py` (it reads the lab package).
"""
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
from lab import pcapfile

OUT = ROOT / "tests" / "data" / "fuzz"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(proto, payload, src=b"\x0a\0\0\1", dst=b"\x0a\0\0\2", frag=0, ident=1):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ipv6(nxt, payload, ext=b""):
    src, dst = b"\xfe\x80" + b"\0" * 13 + b"\1", b"\xfe\x80" + b"\0" * 13 + b"\2"
    return struct.pack("!IHBB16s16s", 6 << 28, len(ext) + len(payload), nxt, 64, src, dst) + ext + payload


def tcp(sport, dport, seq, ack, flags, payload=b"", opts=b""):
    opts += b"\0" * (-len(opts) % 4)
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (5 + len(opts) // 4) << 4, flags, 65535, 0, 0) \
        + opts + payload


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def eth(ethertype, payload, vlan=None):
    h = b"\x02\0\0\0\0\2" + b"\x02\0\0\0\0\1"
    if vlan is not None:
        h += struct.pack("!HH", 0x8100, vlan)
    return h + struct.pack("!H", ethertype) + payload


SYN_OPTS = b"\x02\x04\x05\xb4" + b"\x04\x02" + b"\x08\x0a\0\0\0\1\0\0\0\0" + b"\x01" + b"\x03\x03\x07"
SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04


def session():
    """Raw IPv4 packets of one TCP session: handshake, data, a retransmission, a hole, FINs."""
    c, s = 1000, 5000
    return [
        ipv4(6, tcp(40000, 6789, c, 0, SYN, opts=SYN_OPTS)),
        ipv4(6, tcp(6789, 40000, s, c + 1, SYN | ACK, opts=SYN_OPTS), src=b"\x0a\0\0\2", dst=b"\x0a\0\0\1"),
        ipv4(6, tcp(40000, 6789, c + 1, s + 1, ACK)),
        ipv4(6, tcp(40000, 6789, c + 1, s + 1, ACK | PSH, b"hello\n")),
        ipv4(6, tcp(40000, 6789, c + 1, s + 1, ACK | PSH, b"hello\n")),
        ipv4(6, tcp(40000, 6789, c + 13, s + 1, ACK | PSH, b"later\n")),
        ipv4(6, tcp(40000, 6789, c + 7, s + 1, ACK | PSH, b"world\n")),
        ipv4(6, tcp(6789, 40000, s + 1, c + 19, ACK | PSH, b"HELLO\n"), src=b"\x0a\0\0\2", dst=b"\x0a\0\0\1"),
        ipv4(6, tcp(40000, 6789, c + 19, s + 7, ACK | FIN)),
        ipv4(6, tcp(6789, 40000, s + 7, c + 20, ACK | FIN), src=b"\x0a\0\0\2", dst=b"\x0a\0\0\1"),
        ipv4(6, tcp(40000, 6789, c + 20, s + 8, ACK)),
    ]


def udp_seq(n):
    return ipv4(17, udp(40001, 9876, b"WC%010d:payload" % n))


def frames():
    """One frame per link type and shape, as (name, linktype-independent bytes)."""
    hop = bytes([6, 0]) + b"\0" * 6                       # hop-by-hop, next: TCP
    frag = bytes([17, 0]) + struct.pack("!HI", 0, 7)      # fragment header, offset 0, no MF
    return {
        "eth-ipv4-tcp-syn": eth(0x0800, session()[0]),
        "eth-vlan-ipv6-udp": eth(0x86DD, ipv6(17, udp(1, 2, b"WC0000000001:x")), vlan=5),
        "eth-ipv6-hop-tcp": eth(0x86DD, ipv6(0, tcp(1, 2, 3, 4, ACK | PSH, b"abc"), ext=hop)),
        "eth-ipv6-frag-udp": eth(0x86DD, ipv6(44, udp(1, 2, b"frag"), ext=frag)),
        "eth-ipv4-fragment": eth(0x0800, ipv4(17, udp(1, 2, b"x" * 16), frag=0x2000)),
        "eth-ipv4-later-fragment": eth(0x0800, ipv4(17, b"y" * 16, frag=3)),
        "eth-arp": eth(0x0806, b"\0\1\x08\0\6\4\0\1" + b"\0" * 20),
        "eth-ipv4-options-tcp": eth(0x0800, bytes([0x46]) + ipv4(6, tcp(1, 2, 3, 4, ACK))[1:20] + b"\1\1\1\0"
                                    + tcp(1, 2, 3, 4, ACK)),
        "eth-padded-udp": eth(0x0800, udp_seq(7)) + b"\0" * 10,
        "raw-ipv4-udp-seq": udp_seq(42),
        "raw-ipv6-tcp": ipv6(6, tcp(1, 2, 3, 4, SYN, opts=SYN_OPTS)),
        "sll-ipv4-tcp": b"\0\0\3\4\0\6" + b"\0" * 8 + b"\x08\x00" + session()[3],
        "sll2-ipv6-udp": b"\x86\xdd\0\0" + b"\0" * 16 + ipv6(17, udp(1, 2, b"z")),
        "null-ipv4": b"\2\0\0\0" + session()[2],
    }


def pcap(packets, linktype, endian="<", nanos=False):
    out = struct.pack(endian + "IHHiIII", 0xA1B23C4D if nanos else 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for i, p in enumerate(packets):
        out += struct.pack(endian + "IIII", 1700000000 + i, 1000 * i, len(p), len(p)) + p
    return out


def flow_records():
    """The flow target's record mode: what, ports, flags, seq, ack, payload length, time step."""
    def rec(what, ports, flags, seq, ack, plen, dt=1):
        return struct.pack("<BBBIIHB", what, ports, flags, seq, ack, plen, dt)
    a_to_b, b_to_a = 0b00001000, 0b00000100                # src/dst index bits
    hs = (rec(a_to_b, 0x04, SYN, 100, 0, 0) + rec(b_to_a, 0x01, SYN | ACK, 900, 101, 0)
          + rec(a_to_b, 0x04, ACK, 101, 901, 0) + rec(a_to_b, 0x04, ACK | PSH, 101, 901, 10)
          + rec(a_to_b, 0x04, ACK | PSH, 121, 901, 10) + rec(a_to_b, 0x04, ACK | PSH, 111, 901, 10, 200)
          + rec(a_to_b, 0x04, ACK | FIN, 131, 901, 0) + rec(b_to_a, 0x01, ACK | FIN, 901, 132, 0)
          + rec(a_to_b, 0x04, RST, 132, 0, 0))
    udp_tags = b"".join(rec(0x22 | a_to_b, 0x04, 0, n, 0, 20) for n in (1, 2, 3, 5, 4, 4, 2000, 10))
    return {"tcp-session": bytes([0x20]) + hs, "tcp-session-small-label": bytes([0x01, 17]) + hs,
            "udp-seq": bytes([0x23]) + udp_tags,
            "decoded-raw": bytes([0x30]) + b"".join(bytes([len(p)]) + p for p in session() + [udp_seq(1)]),
            "decoded-eth": bytes([0x70]) + b"".join(bytes([len(p) + 14]) + eth(0x0800, p) for p in session())}


def main():
    sample = (ROOT / "tests" / "data" / "sniffer-tcp-lo.pcapng").read_bytes()
    real = [p.data for p in pcapfile.parse(sample).packets]
    seeds = {
        "framer": {"one-line": b"hello\n", "three-lines-tail": b"a\nbb\nccc", "empty-lines": b"\n\n\n",
                   "long-no-lf": bytes(range(1, 256)) * 2, "crlf": b"GET / HTTP/1.0\r\n\r\n",
                   "binary": bytes(range(256))},
        "decode": dict(frames(), **{f"lo-{i}": p for i, p in enumerate(real)}),
        "flow": flow_records(),
        "pcapng": {"one-iface": bytes([0x00, 0x10, 4]) + b"lo\0\0" + bytes([0, 1, 0, 0, 0, 0, 0, 0, 0, 6, 0])
                   + b"hello\n",
                   "comments": bytes([0xE1, 5, 0]) + b"first" + bytes([3, 0]) + b"two" + bytes([9, 0])
                   + b"Linux 6.1" + bytes([0x70, 2, 0]) + b"lo" + bytes([3, 0]) + b"rig" + bytes([3, 0])
                   + b"tcp" + bytes([0x30, 0x10, 0x13, 0x30, 0x41, 0x4c, 0x53, 0x56, 0xa1, 0xb2, 8, 0])
                   + b"payload!" + bytes([5, 0]) + b"label",
                   "stats-and-long": bytes([0x83, 0x81, ord("c")]) + bytes([1, 0x40, 1, 2, 3, 4, 5, 6, 7, 8])
                   + bytes([0x90, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0]) + b"abcd" + bytes([0x82, ord("z")])},
        "offline": {"sniffer-tcp-lo.pcapng": sample, "pcap-raw-le-us": pcap(session(), 101),
                    "pcap-eth-be-ns": pcap([eth(0x0800, p) for p in session()], 1, ">", True),
                    "pcap-sll": pcap([frames()["sll-ipv4-tcp"]], 113),
                    "pcap-udp-seq": pcap([udp_seq(n) for n in (1, 2, 4, 3, 3)], 228),
                    "pcapng-two-sections": sample + sample},
    }
    for target, files in seeds.items():
        d = OUT / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (d / name).write_bytes(data)
        print(f"{d}: {len(files)} seeds")


if __name__ == "__main__":
    main()
