"""The clauses of PROTOCOL.md, parsed from the document so that the suite and the spec cannot drift."""
import pathlib
import re

PROTOCOL = pathlib.Path(__file__).resolve().parents[1] / "conformance" / "PROTOCOL.md"
_CLAUSE = re.compile(r"^- \*\*([TUWC]\d+) \((MUST|SHOULD|MAY)\)\s*(.*?)\*\*", re.M)


def load(path=PROTOCOL):
    """Returns {id: {"id", "level", "title", "section"}} in document order."""
    text = pathlib.Path(path).read_text()
    out = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        m = _CLAUSE.match(line)
        if m:
            cid, level, title = m.groups()
            out[cid] = {"id": cid, "level": level, "title": title.rstrip(".").strip("` "), "section": section}
    return out


# Which part of an implementation each clause family needs.
PART = {"T": "tcp-server", "U": "udp-server", "W": None, "C": None}
