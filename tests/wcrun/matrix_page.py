"""The matrix written out: matrix.json (the document), matrix.md and matrix.html (one table per transport,
clients by servers, each cell a verdict linking its capture and evidence; a row per implementation with its
clause verdicts), and the text printed at the end of a run."""
import html
import json
import pathlib

COLOR = {"pass": "#2e7d32", "fail": "#c62828", "error": "#ad1457", "partial": "#ef6c00", "inconclusive": "#ef6c00",
         "n/a": "#9e9e9e", "interrupted": "#9e9e9e", "skip": "#9e9e9e", "not run": "#bdbdbd", "flaky": "#6a1b9a"}
TRANSPORTS = ("tcp", "udp")


def impl_names(doc):
    return [i["name"] for i in doc["catalogue"]["implementations"]]


def axes(doc, t):
    impls = doc["catalogue"]["implementations"]
    return ([i["name"] for i in impls if f"{t}-client" in i["roles"]],
            [i["name"] for i in impls if f"{t}-server" in i["roles"]])


def label(c):
    if c is None:
        return "not run"
    side = {"server": "server", "client": "client", "unknown": "?"}
    return c["verdict"] + (f" ({'+'.join(side[b] for b in c['broke'])})" if c.get("broke") else "")


def clause_ids(doc):
    ids = []
    for c in doc["cells"].values():
        for cid in c.get("clauses", {}):
            if cid not in ids:
                ids.append(cid)
    return ids


def md(doc):
    out = ["# Interop matrix", "",
           f"Catalogue `{doc['catalogue']['path']}` (SHA-256 {doc['catalogue']['sha256'][:12]}), commit "
           f"{doc.get('describe') or doc.get('commit')}, {doc['started']} to {doc['finished']}."
           + (f" Merged from {len(doc['shard']['merged_from'])} shards." if doc["shard"].get("merged_from") else
              f" Shard {doc['shard']['index']}/{doc['shard']['count']}." if doc["shard"]["count"] > 1 else ""), ""]
    for t in TRANSPORTS:
        clients, servers = axes(doc, t)
        if not clients or not servers:
            continue
        out += [f"## {t.upper()}: clients (rows) by servers (columns)", "",
                "| client \\ server | " + " | ".join(servers) + " |", "|---" * (len(servers) + 1) + "|"]
        for c in clients:
            cells = [doc["cells"].get(f"{t}/{c}--{s}") for s in servers]
            out.append(f"| {c} | " + " | ".join(
                f"[{label(x)}]({x['links'].get('capture') or x['links'].get('log')})" if x else "not run"
                for x in cells) + " |")
        out.append("")
    ids = clause_ids(doc)
    out += ["## Each implementation's conformance", "",
            "| implementation | run | " + " | ".join(ids) + " |", "|---" * (len(ids) + 2) + "|"]
    for name in impl_names(doc):
        c = doc["cells"].get(f"conformance/{name}")
        if not c:
            out.append(f"| {name} | not run |" + " |" * len(ids))
            continue
        link = c["links"].get("report") or c["links"].get("log")
        out.append(f"| {name} | [{c.get('headline') or c['verdict']}]({link}) | "
                   + " | ".join(c.get("clauses", {}).get(i, "") for i in ids) + " |")
    out += ["", "## Evidence of the cells that did not pass", ""]
    for cid, c in doc["cells"].items():
        if c["verdict"] not in ("pass", "n/a") and c["evidence"]:
            out.append(f"- **{cid}**: {label(c)}")
            out += [f"  - {e}" for e in c["evidence"][:8]]
    if doc.get("missing"):
        out += ["", f"Not run: {', '.join(doc['missing'])}"]
    return "\n".join(out) + "\n"


def _a(href, text, title=""):
    t = f' title="{html.escape(title)}"' if title else ""
    return f'<a href="{html.escape(href)}"{t}>{text}</a>' if href else text


def _cell(c):
    if c is None:
        return '<td class="v" style="color:#999">not run</td>'
    color = COLOR.get(c["verdict"], "#555")
    links = c["links"]
    main = _a(links.get("capture") or links.get("report") or links.get("log"), html.escape(label(c)),
              "\n".join(c["evidence"][:6]))
    extra = " ".join(_a(links[k], k) for k in ("interop", "logs", "log") if links.get(k))
    bad = [k for k, v in (c.get("items") or {}).items() if v == "fail"]
    items = f'<div class="l">broken: {html.escape(", ".join(bad))}</div>' if bad else ""
    return (f'<td class="v" style="border-left:6px solid {color}"><b style="color:{color}">{main}</b>'
            f'{items}<div class="l">{c["seconds"]:.0f} s · {extra}</div></td>')


def page(doc):
    h = ["<!doctype html><meta charset=utf-8><title>wirecheck interop matrix</title><style>"
         "body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
         "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}"
         ".l{font-size:11px;color:#666}a{color:inherit}li{margin:2px 0}code{font-size:12px}</style>",
         "<h1>Interop matrix</h1>",
         f"<p>Catalogue <code>{html.escape(doc['catalogue']['path'])}</code> (SHA-256 "
         f"{doc['catalogue']['sha256'][:12]}), commit {html.escape(str(doc.get('describe') or doc.get('commit')))}, "
         f"{doc['started']} to {doc['finished']}"
         + (f", merged from {len(doc['shard']['merged_from'])} shards" if doc["shard"].get("merged_from") else "")
         + (f", selection -k {html.escape(doc['selection']['k'])}" if doc["selection"].get("k") else "")
         + (", without netem" if doc["selection"].get("no_netem") else "") + ".</p>",
         "<p>A cell is the client of its row against the server of its column, in the lab with both sides captured, "
         "running the interop workload (the lecture's session, pipelined lines, a long line, a half-close, binary "
         "bytes). A failing cell names the side that broke the protocol, from the capture: <i>server</i> (its "
         "reply on the wire was wrong) or <i>client</i> (its framing on the wire or its output was). The verdict "
         "links the capture (both sides: interface 0 client, 1 server); hover for the evidence.</p>"]
    impls = {i["name"]: i for i in doc["catalogue"]["implementations"]}
    for t in TRANSPORTS:
        clients, servers = axes(doc, t)
        if not clients or not servers:
            continue
        h.append(f"<h2>{t.upper()}</h2><table><tr><th>client \\ server</th>"
                 + "".join(f"<th>{html.escape(s)}</th>" for s in servers) + "</tr>")
        for c in clients:
            h.append(f"<tr><th>{html.escape(c)}</th>"
                     + "".join(_cell(doc["cells"].get(f"{t}/{c}--{s}")) for s in servers) + "</tr>")
        h.append("</table>")
    ids = clause_ids(doc)
    h.append("<h2>Each implementation's conformance</h2><table><tr><th>implementation</th><th>language</th>"
             "<th>run</th>" + "".join(f"<th>{i}</th>" for i in ids) + "</tr>")
    for name in impl_names(doc):
        c = doc["cells"].get(f"conformance/{name}")
        lang = html.escape(impls[name].get("language", ""))
        if not c:
            h.append(f"<tr><th>{html.escape(name)}</th><td>{lang}</td><td>not run</td>"
                     + "<td></td>" * len(ids) + "</tr>")
            continue
        run = _a(c["links"].get("report") or c["links"].get("log"), html.escape(c.get("headline") or c["verdict"]))
        h.append(f"<tr><th title=\"{html.escape(impls[name].get('notes', ''))}\">{html.escape(name)}</th>"
                 f"<td>{lang}</td><td>{run}</td>" + "".join(
                     f'<td style="color:{COLOR.get(v, "#555")}">{v}</td>'
                     for v in (c.get("clauses", {}).get(i, "") for i in ids)) + "</tr>")
    h.append("</table><h2>Evidence of the cells that did not pass</h2><ul>")
    for cid, c in doc["cells"].items():
        if c["verdict"] in ("pass", "n/a") or not c["evidence"]:
            continue
        links = " ".join(_a(v, k) for k, v in c["links"].items())
        h.append(f"<li><b>{html.escape(cid)}</b>: {html.escape(label(c))} ({links})<ul>"
                 + "".join(f"<li>{html.escape(e)}</li>" for e in c["evidence"][:8]) + "</ul></li>")
    h.append("</ul>")
    if doc.get("interrupted"):
        h.append(f"<p><b>Interrupted ({doc['interrupted']})</b>: the cells below did not run.</p>")
    if doc.get("missing"):
        h.append(f"<p>Not run: {html.escape(', '.join(doc['missing']))}</p>")
    return "\n".join(h) + "\n"


def write_all(doc, out):
    out = pathlib.Path(out)
    (out / "matrix.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / "matrix.md").write_text(md(doc))
    (out / "matrix.html").write_text(page(doc))


def text(doc):
    """The tables for the terminal."""
    lines = []
    for t in TRANSPORTS:
        clients, servers = axes(doc, t)
        if not clients or not servers:
            continue
        w = max(16, *(len(s) + 2 for s in servers))
        lines += ["", f"{t.upper()}: client \\ server".ljust(22) + "".join(s.ljust(w) for s in servers)]
        for c in clients:
            lines.append(c.ljust(22) + "".join(label(doc["cells"].get(f"{t}/{c}--{s}")).ljust(w) for s in servers))
    lines += ["", "conformance:"]
    for name in impl_names(doc):
        c = doc["cells"].get(f"conformance/{name}")
        lines.append(f"  {name:<20}{(c.get('headline') or c['verdict']) if c else 'not run'}")
    return "\n".join(lines)
