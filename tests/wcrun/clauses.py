"""The clauses of PROTOCOL.md and their numbered requirements, read from tests/conformance/requirements.toml;
PROTOCOL.md's clause lists are rendered from the same data (render/check), so the suite and the spec cannot
drift."""
import pathlib
import re
import tomllib

from wcrun import paths

SPEC_DIR = paths.scenarios()
PROTOCOL = paths.protocol()
REQUIREMENTS = SPEC_DIR / "requirements.toml"
SECTIONS = {"TCP": "TCP (default port 6789)", "UDP": "UDP (default port 9876)",
            "wire": "On the wire (checked from captures)", "clients": "Clients"}
_BLOCK = re.compile(r"(<!-- requirements (\w+): .*? -->\n)(.*?)(<!-- end requirements \2 -->)", re.S)


def load(path=REQUIREMENTS):
    """{clause id: {"id", "level", "title", "section", "requirements": [{"id", "level", "text"}]}} in order."""
    data = tomllib.loads(pathlib.Path(path).read_text())
    out = {}
    for c in data["clause"]:
        reqs = [{"id": f"{c['id']}.{i}", "level": lvl, "text": text} for i, (lvl, text) in enumerate(c["req"], 1)]
        out[c["id"]] = {"id": c["id"], "level": c["level"], "title": c["title"],
                        "section": SECTIONS[c["section"]], "requirements": reqs}
    return out


def requirements(clauses=None):
    """{requirement id: {"id", "level", "text", "clause"}}."""
    clauses = clauses or load()
    return {r["id"]: dict(r, clause=c["id"]) for c in clauses.values() for r in c["requirements"]}


def clause_of(rid):
    """'T5.2' -> 'T5'; 'T5' -> 'T5'."""
    return rid.split(".", 1)[0]


def render_section(clauses, section):
    lines = []
    for c in clauses.values():
        if c["section"] != SECTIONS[section]:
            continue
        lines.append(f"- **{c['id']} ({c['level']}) {c['title']}.**")
        for r in c["requirements"]:
            level = f" ({r['level']})" if r["level"] != c["level"] else ""
            lines.append(f"  - **{r['id']}**{level} {r['text']}")
    return "\n".join(lines) + "\n"


def render(text, clauses=None):
    """PROTOCOL.md's text with every generated block rendered from the requirements."""
    clauses = clauses or load()
    return _BLOCK.sub(lambda m: m.group(1) + render_section(clauses, m.group(2)) + m.group(4), text)


def main(argv):
    """`scripts/conformance requirements [--write|--check]`: print, rewrite or check PROTOCOL.md's lists."""
    text = PROTOCOL.read_text()
    new = render(text)
    if argv[:1] == ["--write"]:
        PROTOCOL.write_text(new)
        return 0
    if argv[:1] == ["--check"]:
        if new != text:
            print(f"{PROTOCOL} differs from {REQUIREMENTS}: run scripts/conformance requirements --write")
            return 1
        return 0
    for r in requirements().values():
        print(f"{r['id']:<6}{r['level']:<8}{r['text']}")
    return 0
