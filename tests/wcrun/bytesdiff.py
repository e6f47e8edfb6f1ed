"""Assertion helpers that show where bytes differ: the first differing offset and a hex window."""
import hashlib


def upper(b: bytes) -> bytes:
    """The protocol's transform (PROTOCOL.md, definitions): a-z to A-Z, every other byte unchanged."""
    return b.translate(_TABLE)


_TABLE = bytes(c - 32 if 97 <= c <= 122 else c for c in range(256))


def escaped(b: bytes) -> str:
    """Bytes as a person reads them: printable ASCII as is, the rest as \\n, \\r, \\t, \\0 or \\xNN."""
    out = []
    for c in b:
        if c in (0x5C, 0x22):
            out.append("\\" + chr(c))
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x00: "\\0"}.get(c, f"\\x{c:02x}"))
    return "".join(out)


def first_diff(want: bytes, got: bytes) -> str:
    """Where two byte strings first differ, in one line: the offset, the text around it (escaped) and its hex."""
    n = min(len(want), len(got))
    for i in range(n):
        if want[i] != got[i]:
            lo = max(0, i - 8)
            w, g = want[lo:i + 8], got[lo:i + 8]
            return (f"byte {i} differs: expected \"{escaped(w)}\", got \"{escaped(g)}\" from byte {lo} "
                    f"(hex {w.hex(' ')} / {g.hex(' ')})")
    if len(got) < len(want):
        return (f"{len(got)} bytes for a {len(want)}-byte request: the reply stops after byte {n}, where "
                f"\"{escaped(want[n:n + 16])}\" was expected next")
    return (f"{len(got)} bytes for a {len(want)}-byte request: {len(got) - len(want)} extra bytes after byte {n}: "
            f"\"{escaped(got[n:n + 16])}\"")


def diff_offset(want: bytes, got: bytes):
    """The first offset where the two differ (the shorter length when one is a prefix), or None."""
    n = min(len(want), len(got))
    for i in range(n):
        if want[i] != got[i]:
            return i
    return None if len(want) == len(got) else n


def same(want: bytes, got: bytes) -> bool:
    return len(want) == len(got) and hashlib.sha256(want).digest() == hashlib.sha256(got).digest()
