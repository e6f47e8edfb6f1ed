"""A small, defensive pcap and pcapng reader (and the one writer of comments into a pcapng) in pure Python.

Parses bytes, not files, so tests can feed it directly. Every read goes through a bounds-checked cursor, and
every error names the broken invariant and the offset. Handles both byte orders, several sections, the
classic pcap's µs and ns variants, pcapng's if_tsresol, EPB/SPB/obsolete PB, and skips unknown blocks.
"""
import dataclasses
import os
import struct

SHB, IDB, PB_OBSOLETE, SPB, ISB, EPB = 0x0A0D0D0A, 1, 2, 3, 5, 6
BOM = 0x1A2B3C4D
OPT_END, OPT_COMMENT = 0, 1
IF_NAME, IF_DESCRIPTION, IF_TSRESOL, IF_FILTER = 2, 3, 9, 11
EPB_FLAGS = 2
ISB_IFDROP = 5
MAX_BLOCK = 16 * 1024 * 1024


class FormatError(ValueError):
    pass


@dataclasses.dataclass
class Interface:
    linktype: int
    snaplen: int
    name: str = None
    description: str = None
    filter: str = None
    tsresol: int = 6          # decimal exponent; negative for binary (2^-n)
    comments: list = dataclasses.field(default_factory=list)
    drops: int = 0             # the interface statistics' isb_ifdrop: packets the capture itself lost


@dataclasses.dataclass
class Packet:
    ts_ns: int
    iface: int                 # index into CaptureFile.interfaces
    data: bytes
    orig_len: int
    flags: int = None          # epb_flags: bits 0-1 = 1 inbound, 2 outbound
    comments: list = dataclasses.field(default_factory=list)

    @property
    def direction(self):
        return {1: "in", 2: "out"}.get((self.flags or 0) & 3)


@dataclasses.dataclass
class CaptureFile:
    format: str                # "pcap" or "pcapng"
    interfaces: list
    packets: list
    comments: list = dataclasses.field(default_factory=list)   # the (first) section's opt_comment values
    shb_options: dict = dataclasses.field(default_factory=dict)


class _Cursor:
    def __init__(self, buf, pos=0, end=None, endian="<"):
        self.buf, self.pos, self.end, self.e = buf, pos, len(buf) if end is None else end, endian

    def need(self, n, what):
        if n < 0 or self.pos + n > self.end:
            raise FormatError(f"{what}: needs {n} bytes at offset {self.pos}, only {self.end - self.pos} left")

    def take(self, n, what):
        self.need(n, what)
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt, what):
        size = struct.calcsize(fmt)
        self.need(size, what)
        v = struct.unpack_from(self.e + fmt, self.buf, self.pos)
        self.pos += size
        return v


def _ts_to_ns(ts, resol):
    if resol >= 0:
        return ts * 10 ** (9 - resol) if resol <= 9 else ts // 10 ** (resol - 9)
    return (ts * 10 ** 9) >> -resol


def _options(cur, what):
    """Yields (code, value bytes) until opt_endofopt or the end of the cursor."""
    while cur.end - cur.pos >= 4:
        code, length = cur.unpack("HH", what + " option header")
        if code == OPT_END:
            return
        value = cur.take(length, f"{what} option {code} value")
        cur.take((-length) % 4, f"{what} option {code} padding")
        yield code, value


def _text(b):
    return b.decode("utf-8", errors="replace")


_EPB = {e: struct.Struct(e + "IIIII") for e in "<>"}
_OPT = {e: struct.Struct(e + "HH") for e in "<>"}
_U32 = {e: struct.Struct(e + "I") for e in "<>"}


def _epb_fast(buf, pos, blen, e, nifaces):
    """(iface id, ts, data, origlen, flags, comments) of a well-formed EPB, else None: the cursor's path then
    reads it again and names what is broken. Most of a file is EPBs, and a 30,000-packet capture spent most of
    its reading in the cursor's calls."""
    end = pos + blen - 4
    if blen < 32:
        return None
    iid, hi, lo, caplen, origlen = _EPB[e].unpack_from(buf, pos + 8)
    q = pos + 28 + ((caplen + 3) & ~3)
    if iid >= nifaces or q > end:
        return None
    flags, comments, opt, u32 = None, [], _OPT[e], _U32[e]
    while end - q >= 4:
        code, length = opt.unpack_from(buf, q)
        if code == OPT_END:
            break
        nxt = q + 4 + ((length + 3) & ~3)
        if nxt > end:
            return None
        if code == EPB_FLAGS and length == 4:
            flags = u32.unpack_from(buf, q + 4)[0]
        elif code == OPT_COMMENT:
            comments.append(_text(buf[q + 4:q + 4 + length]))
        q = nxt
    return iid, (hi << 32) | lo, buf[pos + 28:pos + 28 + caplen], origlen, flags, comments


def parse(buf):
    """Parses a whole pcap or pcapng file held in `buf` (bytes) into a CaptureFile."""
    if len(buf) < 4:
        raise FormatError(f"file of {len(buf)} bytes is too short for any capture format")
    magic_le = struct.unpack_from("<I", buf)[0]
    if magic_le == SHB:
        return _parse_pcapng(buf)
    for endian in "<>":
        m = struct.unpack_from(endian + "I", buf)[0]
        if m in (0xA1B2C3D4, 0xA1B23C4D):
            return _parse_pcap(buf, endian, m == 0xA1B23C4D)
    raise FormatError(f"magic 0x{magic_le:08x} is neither pcap nor pcapng")


def read(path):
    with open(path, "rb") as f:
        return parse(f.read())


def _parse_pcap(buf, e, nanos):
    cur = _Cursor(buf, 0, endian=e)
    _, major, minor, _, _, snaplen, linktype = cur.unpack("IHHiIII", "pcap file header")
    ifc = Interface(linktype=linktype & 0x0FFFFFFF, snaplen=snaplen, tsresol=9 if nanos else 6)
    pkts = []
    while cur.pos < cur.end:
        sec, frac, caplen, origlen = cur.unpack("IIII", f"pcap record {len(pkts) + 1} header")
        if caplen > MAX_BLOCK:
            raise FormatError(f"pcap record {len(pkts) + 1}: captured length {caplen} over {MAX_BLOCK}")
        data = cur.take(caplen, f"pcap record {len(pkts) + 1} data")
        pkts.append(Packet(ts_ns=sec * 10 ** 9 + (frac if nanos else frac * 1000), iface=0, data=data,
                           orig_len=origlen))
    return CaptureFile("pcap", [ifc], pkts)


def _parse_pcapng(buf):
    pos, e = 0, "<"
    interfaces, packets, comments, shb_opts = [], [], None, {}
    section_ifaces = []          # interfaces of the current section (EPB ids are per section)
    n = 0
    while pos < len(buf):
        n += 1
        if len(buf) - pos < 12:
            raise FormatError(f"block {n} at offset {pos}: {len(buf) - pos} trailing bytes, a block needs 12")
        btype = struct.unpack_from("<I", buf, pos)[0]
        if btype == SHB:
            bom = struct.unpack_from("<I", buf, pos + 8)[0]
            if bom == BOM:
                e = "<"
            elif bom == 0x4D3C2B1A:
                e = ">"
            else:
                raise FormatError(f"section header at offset {pos}: byte-order magic 0x{bom:08x} is not 0x1a2b3c4d")
            section_ifaces = []
        btype, blen = struct.unpack_from(e + "II", buf, pos)
        if blen % 4 or blen < 12 or blen > MAX_BLOCK:
            raise FormatError(f"block {n} (type 0x{btype:x}) at offset {pos}: total length {blen} must be a "
                              f"multiple of 4 within 12..{MAX_BLOCK}")
        if pos + blen > len(buf):
            raise FormatError(f"block {n} (type 0x{btype:x}) at offset {pos}: length {blen} runs past the end "
                              f"of the file ({len(buf)} bytes)")
        trailer = struct.unpack_from(e + "I", buf, pos + blen - 4)[0]
        if trailer != blen:
            raise FormatError(f"block {n} at offset {pos}: total length in header {blen} and trailer {trailer} "
                              "don't match")
        fast = _epb_fast(buf, pos, blen, e, len(section_ifaces)) if btype == EPB else None
        if fast:
            iid, ts, data, origlen, flags, pc = fast
            g = section_ifaces[iid]
            packets.append(Packet(ts_ns=_ts_to_ns(ts, interfaces[g].tsresol), iface=g, data=data,
                                  orig_len=origlen, flags=flags, comments=pc))
            pos += blen
            continue
        cur = _Cursor(buf, pos + 8, pos + blen - 4, e)
        if btype == SHB:
            _, major, minor, _ = cur.unpack("IHHq", "section header")
            if major != 1:
                raise FormatError(f"section header at offset {pos}: major version {major} is not 1")
            sc = []
            for code, v in _options(cur, "section header"):
                if code == OPT_COMMENT:
                    sc.append(_text(v))
                elif comments is None:
                    shb_opts[code] = _text(v)
            if comments is None:
                comments = sc
        elif btype == IDB:
            linktype, _, snaplen = cur.unpack("HHI", "interface description")
            ifc = Interface(linktype=linktype, snaplen=snaplen)
            for code, v in _options(cur, "interface description"):
                if code == IF_NAME:
                    ifc.name = _text(v).rstrip("\0")
                elif code == IF_DESCRIPTION:
                    ifc.description = _text(v).rstrip("\0")
                elif code == IF_FILTER and v:
                    ifc.filter = _text(v[1:]) if v[0] == 0 else None
                elif code == IF_TSRESOL and v:
                    ifc.tsresol = v[0] if v[0] < 128 else -(v[0] & 0x7F)
                elif code == OPT_COMMENT:
                    ifc.comments.append(_text(v))
            section_ifaces.append(len(interfaces))
            interfaces.append(ifc)
        elif btype in (EPB, PB_OBSOLETE):
            if btype == EPB:
                iid, hi, lo, caplen, origlen = cur.unpack("IIIII", f"enhanced packet block {n}")
            else:
                iid, _, hi, lo, caplen, origlen = cur.unpack("HHIIII", f"packet block {n}")
            if iid >= len(section_ifaces):
                raise FormatError(f"packet block {n} at offset {pos}: interface id {iid} but the section "
                                  f"describes {len(section_ifaces)} interfaces")
            data = cur.take(caplen, f"packet block {n} data ({caplen} bytes)")
            cur.take((-caplen) % 4, f"packet block {n} padding")
            g = section_ifaces[iid]
            p = Packet(ts_ns=_ts_to_ns((hi << 32) | lo, interfaces[g].tsresol), iface=g, data=data,
                       orig_len=origlen)
            for code, v in _options(cur, f"packet block {n}"):
                if code == EPB_FLAGS and len(v) == 4:
                    p.flags = struct.unpack(e + "I", v)[0]
                elif code == OPT_COMMENT:
                    p.comments.append(_text(v))
            packets.append(p)
        elif btype == ISB:
            iid = cur.unpack("I", f"interface statistics block {n}")[0]
            cur.take(8, f"interface statistics block {n} timestamp")
            if iid < len(section_ifaces):
                for code, v in _options(cur, f"interface statistics block {n}"):
                    if code == ISB_IFDROP and len(v) == 8:
                        interfaces[section_ifaces[iid]].drops = struct.unpack(e + "Q", v)[0]
        elif btype == SPB:
            if not section_ifaces:
                raise FormatError(f"simple packet block {n} at offset {pos} before any interface description")
            (origlen,) = cur.unpack("I", f"simple packet block {n}")
            g = section_ifaces[0]
            caplen = min(origlen, interfaces[g].snaplen or origlen, cur.end - cur.pos)
            packets.append(Packet(ts_ns=0, iface=g, data=cur.take(caplen, f"simple packet block {n} data"),
                                  orig_len=origlen))
        pos += blen
    if comments is None:
        raise FormatError("pcapng without a section header block")
    return CaptureFile("pcapng", interfaces, packets, comments, shb_opts)


def _opt(e, code, v):
    return struct.pack(e + "HH", code, len(v)) + v + b"\0" * ((-len(v)) % 4)


def _block(e, btype, body):
    return struct.pack(e + "II", btype, 12 + len(body)) + body + struct.pack(e + "I", 12 + len(body))


def _comment(text):
    return text.rstrip("\n").encode()   # tshark shows a trailing newline as a literal \n


def annotate(path, section=None, packets=None):
    """The one writer of comments into a pcapng that the sniffer wrote: `section` (a list) replaces the
    opt_comment options of the first section header, keeping its other options; `packets` maps a packet's index
    in the file to comments added to its enhanced packet block. Everything else stays byte for byte, comments lose
    a trailing newline, and the file is replaced atomically, in one pass. Raises FormatError when it is not pcapng.
    """
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 28 or struct.unpack_from("<I", buf)[0] != SHB:
        raise FormatError(f"{path}: not a pcapng file (no section header block at offset 0)")
    packets = packets or {}
    out, pos, k, e, sections = [], 0, -1, "<", 0
    while pos < len(buf):
        if len(buf) - pos < 12:
            raise FormatError(f"{path}: {len(buf) - pos} trailing bytes at offset {pos}, a block needs 12")
        if struct.unpack_from("<I", buf, pos)[0] == SHB:
            e = "<" if struct.unpack_from("<I", buf, pos + 8)[0] == BOM else ">"
        btype, blen = struct.unpack_from(e + "II", buf, pos)
        if blen < 12 or blen % 4 or pos + blen > len(buf):
            raise FormatError(f"{path}: block at offset {pos} has total length {blen}")
        block = buf[pos:pos + blen]
        if btype == SHB:
            sections += 1
            if section is not None and sections == 1:
                if blen < 28:
                    raise FormatError(f"{path}: section header length {blen} is invalid")
                cur = _Cursor(buf, pos + 8, pos + blen - 4, e)
                fixed = cur.take(16, "section header")
                kept = [(c, v) for c, v in _options(cur, "section header") if c != OPT_COMMENT]
                opts = [(OPT_COMMENT, _comment(c)) for c in section] + kept
                block = _block(e, SHB, fixed + b"".join(_opt(e, c, v) for c, v in opts) + _opt(e, OPT_END, b""))
        elif btype in (EPB, SPB, PB_OBSOLETE):
            k += 1
            if btype == EPB and k in packets:
                cur = _Cursor(buf, pos + 8, pos + blen - 4, e)
                caplen = cur.unpack("IIIII", f"enhanced packet block at offset {pos}")[3]
                cur.take(caplen + (-caplen) % 4, f"enhanced packet block at offset {pos}")
                fixed = buf[pos + 8:cur.pos]
                opts = [(c, v) for c, v in _options(cur, f"enhanced packet block at offset {pos}")]
                opts += [(OPT_COMMENT, _comment(c)) for c in packets[k]]
                block = _block(e, EPB, fixed + b"".join(_opt(e, c, v) for c, v in opts) + _opt(e, OPT_END, b""))
        out.append(block)
        pos += blen
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(b"".join(out))
    os.replace(tmp, path)
