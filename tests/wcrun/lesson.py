"""The lesson page: TCP against UDP in one screen per idea, each a ladder diagram from a run's captures.

write(run_dir, out_html) picks the captures by scenario name (IDEAS says which, in order of preference),
draws the window that shows the idea, and writes one self-contained page: inline SVG, the demonstration's
plots as data: URIs, no external resource, a print style sheet with one idea per page. An idea whose captures
are not in the run says "not in this run".

    python3 -m wcrun.lesson RUN_DIR [-o RUN_DIR/lesson.html]
"""
import argparse
import base64
import glob
import html
import os
import sys

from lab import pcapfile
from . import ladder

TCP, UDP = ladder.TCP, ladder.UDP


def _pick_handshake(cap, conv, arrows):
    return {"start": None, "end": ("frame", arrows[min(2, len(arrows) - 1)].frames[0]), "max": 0,
            "highlight": [f for a in arrows[:3] for f in a.frames]}


def _pick_whole(kind):
    def pick(cap, conv, arrows):
        hl = []
        for a in arrows:
            fl = a.seg.d.get("flags", "")
            if kind == "data" and a.seg.d.get("payload"):
                hl += a.frames
            elif kind == "fin" and "F" in fl:
                hl += a.frames
        return {"start": None, "end": None, "max": 24, "highlight": hl}
    return pick


def _around(arrows, i, before=3, count=16):
    k = max(0, i - before)
    return {"start": ("frame", arrows[k].frames[0]), "end": None, "max": count}


def _pick_loss(cap, conv, arrows):
    """The first retransmission whose original the network lost, from a little before the loss."""
    for a in arrows:
        if a.retrans and a.orig is not None and a.waited and a.orig.fate == "lost":
            i = arrows.index(a.orig)
            j = arrows.index(a)
            w = _around(arrows, i, 2, min(40, j - i + 5))
            w["highlight"] = a.orig.frames + a.frames
            w["facts"] = {"waited": a.waited, "dt": ladder._fmt_dt(a.send.ts - a.orig.send.ts)}
            return w
    return None


def _pick_reordered_tcp(cap, conv, arrows):
    for i, a in enumerate(arrows):
        if a.reordered and not a.retrans and a.seg.d.get("payload") and a.direction == ladder.C2S:
            w = _around(arrows, i, 2, 14)
            w["highlight"] = a.frames
            return w
    return None


def _pick_udp_loss(cap, conv, arrows):
    for i, a in enumerate(arrows):
        if a.fate == "lost":
            w = _around(arrows, i, 3, 14)
            w["highlight"] = a.frames
            return w
    return None


def _pick_udp(kind):
    def pick(cap, conv, arrows):
        for i, a in enumerate(arrows):
            if (kind == "reordered" and a.reordered) or (kind == "dup" and a.dups):
                w = _around(arrows, i, 3, 14)
                w["highlight"] = a.frames
                return w
        return None
    return pick


# idea: (id, title, two sentences, [(scenario file name pattern, conversation filter, picker)])
IDEAS = [
    ("handshake", "The three-way handshake",
     "Before any data, TCP opens the connection with three segments: the client's SYN, the server's SYN-ACK "
     "and the client's ACK. Each side picks its own starting sequence number; the labels count from it, so "
     "the first byte of data will be seq=1.",
     [("*test_three_way_handshake", "tcp", _pick_handshake), ("*test_seed_session_4", "tcp", _pick_handshake)]),
    ("line", "A line and its reply",
     "The client sends its line as one segment, and the server's TCP acknowledges it (ACK ack = the next "
     "byte it expects); the server then answers with the same line in upper case. The slant of each arrow is "
     "the time the packet spent in the network.",
     [("*test_seed_session_4", "tcp", _pick_whole("data")),
      ("*test_line_answered_without_more_input", "tcp", _pick_whole("data"))]),
    ("half-close", "A half-close",
     "The client's FIN says it will send nothing more, yet it keeps reading: only its half of the connection "
     "is closed. The server still sends the reply after that FIN, and closes its own half with its own FIN.",
     [("*test_half_close_tail_4", "tcp", _pick_whole("fin")), ("*test_half_close_tail_6", "tcp", _pick_whole("fin"))]),
    ("loss", "A lost segment and its retransmission",
     "The router dropped this segment (the cross): nothing arrives, so the receiver never acknowledges those "
     "bytes. The sender waits{waited} and sends the same bytes again; the bracket on its time line is that "
     "wait.",
     [("*test_ordering_under_loss_and_reordering", "tcp", _pick_loss),
      ("*test_lost_syn_is_retransmitted", "tcp", _pick_loss),
      ("reliability/tcp-*", "tcp", _pick_loss)]),
    ("reorder-tcp", "A reordered segment, handed over in order",
     "The network delivered this segment after one sent later, so their arrows cross. TCP's receiver keeps "
     "the early bytes aside and acknowledges only what is contiguous, so the application still reads every "
     "line in order.",
     [("*test_ordering_under_loss_and_reordering", "tcp", _pick_reordered_tcp),
      ("reliability/tcp-*", "tcp", _pick_reordered_tcp)]),
    ("loss-udp", "The same loss on UDP: a reply that never comes",
     "UDP sends each datagram once: when the network drops the request or the reply, nothing sends it again. "
     "The client waits for a reply that never comes, and only its own timeout ends the wait.",
     [("*test_udp_client_reports_loss_with_non_zero_exit", "udp", _pick_udp_loss),
      ("*test_udp_client_reports_what_the_network_did", "udp", _pick_udp_loss),
      ("reliability/udp-*", "udp", _pick_udp_loss)]),
    ("reorder-udp", "UDP: reordering and duplication reach the application",
     "UDP hands each datagram to the application as it arrives: one overtaken in the network is read out of "
     "order, and a copy the network made is read twice. The server answers both copies; only the client's "
     "tags (WC…) tell the application what happened.",
     [("*test_network_reordering_is_explained_by_the_ledger", "udp", _pick_udp("reordered")),
      ("reliability/udp-*", "udp", _pick_udp("reordered")),
      ("*test_udp_client_reports_what_the_network_did", "udp", _pick_udp("dup")),
      ("reliability/udp-*", "udp", _pick_udp("dup"))]),
]
MULTI = {"reorder-udp": 2}      # ideas drawn from up to this many captures (reordering, then duplication)

CSS = """
h1{font-size:24px;margin:0 0 4px} h2{font-size:19px;margin:0 0 6px}
section.idea{margin:28px 0 40px;padding-top:8px;border-top:1px solid #ddd}
section.idea p.say{font-size:16px;line-height:1.45;max-width:900px}
p.src,p.missing{font-size:12px;color:#555} p.missing{font-size:15px;color:#a33;font-style:italic}
table.which{border-collapse:collapse;font-size:12.5px} table.which td,table.which th{border:1px solid #ccc;
  padding:3px 6px;text-align:left;vertical-align:top}
img.plot{max-width:100%;display:block;margin:10px 0}
@media print{
  body{margin:0;max-width:none}
  section.idea{break-before:page;page-break-before:always;break-inside:avoid;border:0;margin:0}
  svg.ladder{max-height:185mm;width:auto;max-width:100%}
  img.plot{break-inside:avoid;max-height:120mm}
  .screen-only{display:none}
}
"""


def _candidates(run_dir, pattern):
    return sorted(glob.glob(os.path.join(run_dir, pattern + ".pcapng")))


def _figure(run_dir, idea_id, sources, uid):
    """[(Diagram, capture path, facts)] for the idea: the first source that shows it (MULTI: several)."""
    want = MULTI.get(idea_id, 1)
    got, used_pickers = [], set()
    for pattern, conv_filter, pick in sources:
        if len(got) >= want:
            break
        if id(pick) in used_pickers and want > 1:
            continue
        for path in _candidates(run_dir, pattern):
            try:
                cap = ladder.load(path)
                conv = ladder.choose(cap, conv_filter)
                arrows, near, _ = ladder.conversation_arrows(cap, conv)
            except (OSError, pcapfile.FormatError, ladder.LadderError):
                continue
            w = pick(cap, conv, arrows)
            if w is None:
                continue
            dg = ladder.draw(cap, None, conv.index, w.get("start"), w.get("end"), w.get("highlight", ()),
                             w.get("max", ladder.MAX_ARROWS), uid=f"{uid}{len(got)}",
                             highlight_text="the packets this idea is about")
            got.append((dg, path, w.get("facts", {})))
            used_pickers.add(id(pick))
            break
    return got


def _plots(run_dir):
    pngs = sorted(glob.glob(os.path.join(run_dir, "reliability", "*.png")))
    out = []
    for p in pngs:
        with open(p, "rb") as f:
            data = base64.b64encode(f.read()).decode()
        out.append((os.path.relpath(p, run_dir), data))
    return out


def write(run_dir, out_html=None):
    """Writes the lesson page for the run in run_dir (default run_dir/lesson.html) and returns
    {"path", "ideas": [{"id", "title", "captures": [file names], "frames": [[first, last]], "shown": bool}],
    "plots": [relative paths]}. A missing capture makes its idea say "not in this run"; never raises for that.
    """
    out_html = out_html or os.path.join(run_dir, "lesson.html")
    parts = [f"<h1>TCP against UDP, from this run's captures</h1>"
             f"<p class=\"src\">Run: {html.escape(os.path.abspath(run_dir))}. Each picture is a ladder diagram: "
             f"time runs down, one arrow per packet from when it left one side to when it reached the other. "
             f"<span class=\"screen-only\">Click an arrow for its frame numbers (Wireshark: Go to Packet).</span>"
             f"</p>"]
    summary, rows = [], []
    for n, (iid, title, text, sources) in enumerate(IDEAS, 1):
        figs = _figure(run_dir, iid, sources, f"i{n}-")
        facts = figs[0][2] if figs else {}
        say = text.format(waited=(f" ({'a fast retransmit after three duplicate ACKs' if facts.get('waited') == 'fast retransmit' else 'for its retransmission timeout, the RTO'}: {facts['dt']})"
                                  if facts.get("dt") else ""))
        sec = [f'<section class="idea" id="{iid}"><h2>{n}. {html.escape(title)}</h2>'
               f'<p class="say">{html.escape(say)}</p>']
        caps, frames = [], []
        if not figs:
            sec.append('<p class="missing">Not in this run: none of '
                       + ", ".join(html.escape(p) for p, _, _ in sources) + " shows it.</p>")
        for dg, path, _ in figs:
            fr = sorted(f for a in dg.arrows for f in a.frames)
            rel = os.path.relpath(path, run_dir)
            sec.append(dg.svg)
            sec.append(f'<p class="src">Capture <a href="{html.escape(rel)}">{html.escape(rel)}</a>, frames '
                       f'{fr[0]}–{fr[-1]} (open it in Wireshark and go to these frames).</p>')
            caps.append(rel)
            frames.append([fr[0], fr[-1]])
        sec.append("</section>")
        parts.append("".join(sec))
        summary.append({"id": iid, "title": title, "captures": caps, "frames": frames, "shown": bool(figs)})
        rows.append(f"<tr><td>{n}. {html.escape(title)}</td><td>"
                    + ("<br>".join(f"{html.escape(c)} (frames {a}–{b})" for c, (a, b) in zip(caps, frames))
                       or "not in this run") + "</td></tr>")
    plots = _plots(run_dir)
    ps = [f'<section class="idea" id="plots"><h2>{len(IDEAS) + 1}. The demonstration in numbers</h2>']
    if plots:
        ps.append('<p class="say">The same 500 messages over TCP and over UDP through growing loss, reordering '
                  'and duplication: TCP delivers everything, in order, and pays in time; UDP is fast and loses '
                  'what the network loses.</p>')
        for rel, data in plots:
            ps.append(f'<img class="plot" alt="{html.escape(rel)}" src="data:image/png;base64,{data}">')
    else:
        ps.append('<p class="missing">Not in this run: the demonstration did not run (reliability/*.png '
                  'are missing; ./scripts/conformance without --no-demo draws them).</p>')
    ps.append("</section>")
    parts.append("".join(ps))
    parts.append('<section class="which screen-only"><h2>Which capture each idea uses</h2><table class="which">'
                 "<tr><th>idea</th><th>capture</th></tr>" + "".join(rows) + "</table></section>")
    page = ladder.html_page("TCP against UDP: the lesson", "\n".join(parts), CSS)
    tmp = f"{out_html}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, out_html)
    return {"path": out_html, "ideas": summary, "plots": [p for p, _ in plots]}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="lesson", description="Writes lesson.html for a run directory: one "
                                 "ladder diagram per idea of TCP against UDP, from the run's captures.")
    ap.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (captures/runs/<time>-<name>)")
    ap.add_argument("-o", "--output", metavar="FILE.html", help="default: RUN_DIR/lesson.html")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.run_dir):
        print(f"lesson: {a.run_dir}: not a directory", file=sys.stderr)
        return 2
    r = write(a.run_dir, a.output)
    for i in r["ideas"]:
        print(f"{i['id']:12} " + (", ".join(i["captures"]) or "not in this run"))
    print(f"lesson: {r['path']}: {sum(i['shown'] for i in r['ideas'])} of {len(r['ideas'])} ideas drawn, "
          f"{len(r['plots'])} plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
