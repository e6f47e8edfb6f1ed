"""Assertion helpers that show where bytes differ: the first differing offset and a hex window."""
import hashlib


def upper(b: bytes) -> bytes:
    """The protocol's transform (PROTOCOL.md, definitions): a-z to A-Z, every other byte unchanged."""
    return b.translate(_TABLE)


_TABLE = bytes(c - 32 if 97 <= c <= 122 else c for c in range(256))


def first_diff(want: bytes, got: bytes) -> str:
    n = min(len(want), len(got))
    for i in range(n):
        if want[i] != got[i]:
            lo = max(0, i - 8)
            return (f"byte {i} differs: expected {want[lo:i + 8].hex(' ')} got {got[lo:i + 8].hex(' ')} "
                    f"(window from offset {lo})")
    return f"{len(got)} bytes for a {len(want)}-byte request (equal up to byte {n})"


def diff_offset(want: bytes, got: bytes):
    """The first offset where the two differ (the shorter length when one is a prefix), or None."""
    n = min(len(want), len(got))
    for i in range(n):
        if want[i] != got[i]:
            return i
    return None if len(want) == len(got) else n


def same(want: bytes, got: bytes) -> bool:
    return len(want) == len(got) and hashlib.sha256(want).digest() == hashlib.sha256(got).digest()
