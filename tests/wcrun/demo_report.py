"""The reliability demonstration's output: matplotlib plots, the HTML section of report.html, the terminal table,
and a check that the page renders in headless Chromium with every plot loaded."""
import html
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

from lab import ledger as lab_ledger, pcapfile

TCP_C, UDP_C = "#1f77b4", "#d62728"


def _cells(rel, **kw):
    return [c for c in rel["cells"] if all(c[k] == v for k, v in kw.items())]


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")]     # one per reordering/duplication variant


def _against_loss(ax, rel, combos, key):
    """One line per protocol (colour) and reordering/duplication variant (line style and marker, named in the
    legend); the first variant drawn bold."""
    for proto, color in (("tcp", TCP_C), ("udp", UDP_C)):
        for k, (r, d) in enumerate(combos):
            cs = sorted(_cells(rel, proto=proto, reorder=r, duplicate=d), key=lambda c: c["loss"])
            ls, marker = STYLES[k % len(STYLES)]
            ax.plot([c["loss"] for c in cs], [c[key] for c in cs], color=color, ls=ls, marker=marker,
                    lw=2 if k == 0 else 1, alpha=1 if k == 0 else 0.75,
                    label=f"{proto.upper()}, reorder {r}%, dup {d}%")


def plots(rel, out):
    """Draws the four plots into out/reliability/; returns [{name, file, captures, title, text}]."""
    plt = _plt()
    rdir = pathlib.Path(out) / "reliability"
    made = []
    losses = sorted({c["loss"] for c in rel["cells"]})
    combos = sorted({(c["reorder"], c["duplicate"]) for c in rel["cells"]})

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(rdir / name, dpi=90)
        plt.close(fig)
        return f"reliability/{name}"

    # 1. delivered fraction against loss
    fig, ax = plt.subplots(figsize=(6.4, 4))
    _against_loss(ax, rel, combos, "delivered_pct")
    ax.plot(losses, [100 * (1 - p / 100) ** 2 for p in losses], "k:", label="UDP expected: (1 - loss)²")
    ax.set(xlabel="loss on each direction (%)", ylabel="messages answered (%)", ylim=(0, 105),
           title="Delivered messages against loss")
    ax.legend(fontsize=7)
    base = combos[0]
    made.append({"name": "delivered", "file": save(fig, "delivered.png"), "title": "Delivered against loss",
                 "captures": [c["capture"] for c in rel["cells"] if (c["reorder"], c["duplicate"]) == base],
                 "text": "Each point is one run of the same messages. TCP's line stays at 100 %: when the "
                 "router drops a segment, the sender notices the missing acknowledgement and sends the bytes "
                 "again, so every message is answered. UDP has no such memory: a datagram the router drops is "
                 "simply gone, and so is its answer. A message needs its request and its answer to get "
                 "through, so about (1 - loss)² of them arrive: 64 % at 20 % loss."})

    # 2. completion time against loss
    fig, ax = plt.subplots(figsize=(6.4, 4))
    _against_loss(ax, rel, combos, "completion_s")
    ax.set(xlabel="loss on each direction (%)", ylabel="time to finish the workload (s)",
           title="Completion time against loss")
    ax.legend(fontsize=7)
    made.append({"name": "completion", "file": save(fig, "completion.png"), "title": "Completion time against loss",
                 "captures": [c["capture"] for c in rel["cells"] if (c["reorder"], c["duplicate"]) == base],
                 "text": "The price of TCP's reliability is time. Every lost segment costs at least one "
                 f"retransmission timeout (lowered here to {rel['rto_min_ms']} ms) or a fast retransmit after "
                 "duplicate ACKs, and each lost retransmission doubles the wait; meanwhile later bytes queue behind "
                 "the hole. So TCP's time rises with loss. UDP's client waits for each answer at most "
                 f"{rel['udp_timeout_s']} s and then gives up: its time grows only by those waits, and the "
                 "messages are lost instead. (Inside User-Mode Linux, several runs share one CPU, so these times "
                 "also carry some scheduling noise; the trend is what matters.)"})

    # 3. in-order fraction against reordering (no loss: only reordering at work)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    reorders = sorted({c["reorder"] for c in rel["cells"]})
    lo = min(losses)
    dup0 = min(d for _, d in combos)
    width = 0.38
    for k, (proto, color) in enumerate((("tcp", TCP_C), ("udp", UDP_C))):
        vals = []
        for r in reorders:
            cs = _cells(rel, proto=proto, reorder=r, loss=lo, duplicate=dup0)
            vals.append(cs[0]["in_order_pct"] if cs else 0)
        xs = [i + (k - 0.5) * width for i in range(len(reorders))]
        bars = ax.bar(xs, vals, width, color=color, label=proto.upper())
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, v + 1, f"{v:.1f}%", ha="center", fontsize=8)
    ax.set_xticks(range(len(reorders)), [f"reorder {r}%" for r in reorders])
    ax.set(ylabel="messages answered in order (%)", ylim=(0, 112),
           title=f"In-order delivery against reordering (loss {lo}%, duplication {dup0}%)")
    ax.legend(fontsize=8, loc="lower left")
    made.append({"name": "in_order", "file": save(fig, "in_order.png"), "title": "In order against reordering",
                 "captures": [c["capture"] for c in rel["cells"] if c["loss"] == lo and c["duplicate"] == dup0],
                 "text": "With reordering, the router sends some packets at once while others wait 10 ms, so "
                 "packets overtake each other. TCP numbers every byte: the receiver holds early bytes back until "
                 "the missing ones arrive and hands the application a stream in the order it was sent. UDP hands "
                 "each datagram over as it comes, so answers arrive out of order, and the application has to "
                 "sort them itself (udp-client can, because --seq numbers each message). Here a message counts as "
                 "in order when it was answered and no answer to a later message came before its own."})

    # 4. a Stevens time-sequence graph of one lossy TCP transfer
    pick = _timeseq_cell(rel)
    if pick:
        fig = timeseq(plt, pathlib.Path(out) / pick["capture"], pick)
        made.append({"name": "timeseq", "file": save(fig, "timeseq.png"), "captures": [pick["capture"]],
                     "title": f"Time-sequence graph of {pick['cell']}",
                     "text": "Stevens' time-sequence graph of the client's requests, drawn from the capture at the "
                     "client: time goes right, the byte number in the stream goes up. Each short vertical bar is a "
                     "segment leaving the client. A smooth staircase is TCP sending at the pace its window allows; "
                     "the grey line below is the server's acknowledgement. A red cross marks a segment the router "
                     "lost; the same bytes come back later as a retransmission (orange), after which the "
                     "acknowledgement line jumps up, because the server had kept the bytes that came after the "
                     "hole. Open the capture in Wireshark: the packet comments say which packet was lost and which "
                     "one repairs it."})
    return made


def _timeseq_cell(rel):
    """A TCP run with losses and the most retransmissions below 20% loss, without reordering if possible."""
    cs = [c for c in rel["cells"] if c["proto"] == "tcp" and c["tcp"]["retrans_capture_total"] > 0]
    if not cs:
        return None
    return max(cs, key=lambda c: (c["reorder"] == 0 and c["duplicate"] == 0, c["loss"] == 10,
                                  c["tcp"]["retrans_capture"]["client"]))


def timeseq(plt, pcap, cell):
    f = pcapfile.read(pcap)
    client, server = "10.71.1.2", "10.71.2.2"
    led = lab_ledger.Ledger.from_pcapng(pcap, 0, 1, {client}, {server})
    lost_ts = {e["ts"] for e in led.entries["c2s"] if e["fate"] == "lost"}
    t0 = isn = None
    segs, acks = [], []
    for p in f.packets:
        if p.iface != 0:
            continue
        d = lab_ledger.decode(p.data, f.interfaces[p.iface].linktype)
        if not d or d["proto"] != lab_ledger.TCP:
            continue
        t0 = t0 if t0 is not None else p.ts_ns
        t = (p.ts_ns - t0) / 1e6
        if d["src"] == client:
            if "S" in d["flags"]:
                isn = d["seq"]
            elif isn is not None and d["payload"]:
                rel0 = (d["seq"] - isn - 1) & 0xFFFFFFFF
                kind = ("lost" if p.ts_ns in lost_ts else
                        "retrans" if any(c.startswith("retransmission") for c in p.comments) else "data")
                segs.append((t, rel0, rel0 + d["payload"], kind))
        elif isn is not None and "A" in d["flags"]:
            a = (d["ack"] - isn - 1) & 0xFFFFFFFF
            if a < 1 << 31:   # reordered ACKs arrive late: the line shows the highest acknowledged so far
                acks.append((t, max(a, acks[-1][1] if acks else 0)))
    fig, ax = plt.subplots(figsize=(9, 5))
    if acks:
        ax.step([a[0] for a in acks], [a[1] for a in acks], where="post", color="#999", lw=1,
                label="server's acknowledgement (arriving)")
    style = {"data": ("k", "segment sent"), "retrans": ("#ff7f0e", "retransmission"),
             "lost": ("r", "lost in the router")}
    shown = set()
    for t, a, b, kind in segs:
        color, label = style[kind]
        ax.plot([t, t], [a, b], color=color, lw=2 if kind != "data" else 1.2,
                label=None if kind in shown else label)
        shown.add(kind)
        if kind == "lost":
            ax.plot([t], [b], "rx", ms=8)
    ax.set(xlabel="time since the SYN at the client (ms)", ylabel="byte number of the request stream",
           title=f"{cell['cell']}: the client's requests on the wire (client side)")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def _variant(c):
    return f"loss {c['loss']} %, reordering {c['reorder']} %, duplication {c['duplicate']} %"


def _times(n):
    return {2: "twice", 3: "three times"}.get(n, f"{n} times")


def extremes(rel):
    """Sentences on the extreme runs, each explained from its capture and ledger: the slowest TCP run (lost
    SYNs, segments lost again after their retransmission, the silences of the backing-off timer), the UDP run
    that delivered least and the one with most answers out of order."""
    out = []
    tcp = [c for c in rel["cells"] if c["proto"] == "tcp"]
    udp = [c for c in rel["cells"] if c["proto"] == "udp"]
    if tcp:
        c = max(tcp, key=lambda x: x["completion_s"])
        st, why = c["tcp"].get("story") or {}, []
        if st.get("syn_lost"):
            why.append(f"{st['syn_lost']} SYN{'s' if st['syn_lost'] > 1 else ''} lost")
        for x in st.get("lost_repeatedly", [])[:3]:
            side = "request" if x["dir"] == "c2s" else "reply"
            why.append(f"{side} segment seq={x['seq']} lost {_times(x['times'])}")
        n_lost = c["tcp"]["lost_data_segments"]
        if not why and n_lost:
            why.append(f"{n_lost} data segment{'s' if n_lost > 1 else ''} lost, each sent again")
        if st.get("silences_s"):
            why.append(" and ".join(f"{x['s']:.1f} s" for x in st["silences_s"])
                       + " without a packet on the wire (the retransmission timer backing off)")
        fast = min(tcp, key=lambda x: x["completion_s"])
        least = min(x["delivered_pct"] for x in tcp)
        out.append(f"The slowest TCP run, {_variant(c)}, took {c['completion_s']:.1f} s"
                   + (": " + "; ".join(why) if why else "") + f" (capture {c['capture']})"
                   + (f"; the fastest, {_variant(fast)}, took {fast['completion_s']:.1f} s" if fast is not c else "")
                   + (". Every TCP run answered all its messages." if least == 100 else
                      f". The TCP runs answered at least {least:.1f} % of their messages."))
    if udp:
        c = min(udp, key=lambda x: x["delivered_pct"])
        led = c.get("ledger", {})
        req, rep = led.get("c2s", {}).get("lost", 0), led.get("s2c", {}).get("lost", 0)
        out.append(f"The UDP run that delivered least, {_variant(c)}, answered {c['delivered_pct']:.1f} % of its "
                   f"{c['n']} messages: the router lost {req} requests and {rep} replies, and nothing sent them "
                   f"again (capture {c['capture']}).")
        c = min(udp, key=lambda x: x["in_order_pct"])
        if c["in_order_pct"] < 100:
            out.append(f"The UDP run with the most answers out of order, {_variant(c)}: {c['udp']['reordered']} "
                       f"answers came after the answer to a later message, so only {c['in_order_pct']:.1f} % were "
                       f"answered in order (capture {c['capture']}).")
    return out


def html_section(rel, out):
    """The section appended to report.html (captures/reliability.html); every path relative to out."""
    e = html.escape
    figs = []
    for p in rel["plots"]:
        caps = " ".join(f'<a href="{e(c)}">{e(pathlib.Path(c).name)}</a>' for c in p["captures"])
        figs.append(f"""<div class="rel-fig"><div><a href="{e(p["captures"][0])}"><img src="{e(p["file"])}"
 alt="{e(p["title"])}" width="576"></a></div><div class="rel-text"><h3>{e(p["title"])}</h3><p>{e(p["text"])}</p>
<p class="small">Captures behind this plot (open in Wireshark): {caps}</p></div></div>""")
    rows = []
    for c in rel["cells"]:
        lat, extra = c["latency_ms"], _extra(c)
        rows.append(f"<tr><td>{e(c['cell'])}</td><td>{c['delivered_pct']:.1f}</td><td>{c['in_order_pct']:.1f}</td>"
                    f"<td>{c['app_duplicates']}</td><td>{_f(lat['mean'])}</td><td>{_f(lat['p99'])}</td>"
                    f"<td>{c['completion_s']:.2f}</td><td class=\"small\">{e(extra)}</td>"
                    f"<td>{_capture_links(c, as_html=True)}</td></tr>")
    intro = re.sub(r"`([^`]+)`", r"<code>\1</code>", e(_intro(rel)))
    return f"""<h2 id="reliability">Reliability: TCP against UDP through a lossy network</h2>
<style>.rel-fig{{display:flex;gap:1.5em;align-items:flex-start;margin:1em 0}}.rel-text{{max-width:560px}}</style>
<p>{intro} Latency is measured on the wire at the
client: from a message's last byte leaving to its answer becoming readable there.</p>
{"".join(figs)}
<h3>The extreme runs</h3>
{"".join(f"<p>{e(x)}</p>" for x in extremes(rel))}
<h3>Every run</h3>
<table><tr><th>cell</th><th>delivered %</th><th>in order %</th><th>duplicates seen by the application</th>
<th>mean latency ms</th><th>p99 latency ms</th><th>completion s</th><th>retransmissions / losses</th>
<th>captures and ladder diagram</th></tr>
{"".join(rows)}</table>
<script>window.addEventListener("load",function(){{document.querySelectorAll("img").forEach(function(i){{
i.setAttribute("data-natural-width",i.naturalWidth)}})}})</script>
"""


def _capture_links(c, as_html=False):
    """A run's captures: both sides in one file (the ledger's view, with the network's notes), then one file per
    side, the ones whose TCP analysis Wireshark gets right, then the run's ladder diagram."""
    links = [("both", c["capture"])] + [(k, c.get("sides", {})[k]) for k in ("client", "server")
                                         if k in c.get("sides", {})]
    links += [("ladder", c["ladder"])] if c.get("ladder") else []
    if as_html:
        return " · ".join(f'<a href="{html.escape(h)}">{t}</a>' for t, h in links)
    return " · ".join(f"[{t}]({h})" for t, h in links)


def _intro(rel):
    tm = rel["timings_s"]
    return (f"The same {rel['n']} messages of {rel['size']} bytes, at most {rel['window']} awaiting an answer, went "
            f"over TCP (`tcp-client`, pipelined) and over UDP (`udp-client --seq`, {rel['udp_timeout_s']} s per "
            f"answer, no retries) through netem on the lab's router: {rel['delay_ms']} ms delay each way, and every "
            "combination of loss, reordering and duplication, applied in both directions. TCP's minimum "
            f"retransmission timeout was lowered to {rel['rto_min_ms']} ms. Kernel: {rel['kernel']['mode']} "
            f"{rel['kernel']['release']}"
            + (f"; collected in {tm['collect']} s with {tm.get('jobs')} topologies at once." if tm.get("collect")
               else "."))


def _extra(c):
    if c["proto"] == "tcp":
        t = c["tcp"]
        return (f"retransmissions: {t['retrans_capture_total']} in the capture, {t['retrans_kernel_total']} by the "
                "kernels' TcpRetransSegs")
    u = c["udp"]
    return f"lost: {u['client_lost']} by the client, {u['ledger_lost']} by the ledger"


def markdown_section(rel):
    """The reliability section of report.md: what report.html shows, in Markdown (plots as images)."""
    md = ["", "## Reliability: TCP against UDP through a lossy network", "", _intro(rel), ""]
    for p in rel["plots"]:
        caps = ", ".join(f"[{pathlib.Path(c).name}]({c})" for c in p["captures"])
        md += [f"### {p['title']}", "", f"![{p['title']}]({p['file']})", "", p["text"], "",
               f"Captures behind this plot (open in Wireshark): {caps}", ""]
    md += ["### The extreme runs", ""] + [f"- {x}" for x in extremes(rel)] + ["", "### Every run", "",
           "| cell | delivered % | in order % | duplicates seen by the application | mean latency ms | p99 latency ms "
           "| completion s | retransmissions / losses | captures and ladder diagram |",
           "|---|---|---|---|---|---|---|---|---|"]
    for c in rel["cells"]:
        lat = c["latency_ms"]
        md.append(f"| {c['cell']} | {c['delivered_pct']:.1f} | {c['in_order_pct']:.1f} | {c['app_duplicates']} | "
                  f"{_f(lat['mean'])} | {_f(lat['p99'])} | {c['completion_s']:.2f} | {_extra(c)} | "
                  f"{_capture_links(c)} |")
    return "\n".join(md) + "\n"


def _f(v):
    return "-" if v is None else f"{v:.1f}"


def table(rel):
    """The terminal summary, one line per cell."""
    head = (f"{'cell':<26}{'deliv%':>7}{'order%':>7}{'dups':>5}{'mean ms':>9}{'p99 ms':>8}{'time s':>8}  "
            "retransmissions (capture/kernel) or losses (client/ledger)")
    lines = [head, "-" * len(head)]
    for c in rel["cells"]:
        lat = c["latency_ms"]
        if c["proto"] == "tcp":
            x = f"retrans {c['tcp']['retrans_capture_total']}/{c['tcp']['retrans_kernel_total']}"
        else:
            x = f"lost {c['udp']['client_lost']}/{c['udp']['ledger_lost']}"
        lines.append(f"{c['cell']:<26}{c['delivered_pct']:>7.1f}{c['in_order_pct']:>7.1f}{c['app_duplicates']:>5}"
                     f"{_f(lat['mean']):>9}{_f(lat['p99']):>8}{c['completion_s']:>8.2f}  {x}")
    tm = rel["timings_s"]
    lines += [""] + extremes(rel) + [""]
    lines.append(f"{len(rel['cells'])} runs of {rel['n']} messages; collect {tm.get('collect')} s "
                 f"({rel['kernel']['mode']}, {tm.get('jobs')} at once), analyse {tm.get('analyze')} s"
                 + (f", total {tm['total']} s" if tm.get("total") else ""))
    return "\n".join(lines)


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


MAX_SHOT_PX = 16000     # Chromium's headless window is not drawn beyond 16,384 pixels


def render(html_path, png_path, timeout=120):
    """Screenshots the whole of html_path in headless Chromium into png_path: its DOM is dumped after load
    first, for the page's height (data-page-height, set by the report's script) and each image's natural width,
    then the window is made that tall. Returns {"images": [(src, natural width)], "screenshot": png_path,
    "height": px, "width": the page's width in a 1,280-pixel window}. Raises when Chromium is missing or fails."""
    exe = chromium()
    if not exe:
        raise FileNotFoundError("chromium is not installed (scripts/bootstrap installs it)")
    url = pathlib.Path(html_path).resolve().as_uri()
    out = {}
    with tempfile.TemporaryDirectory(prefix="wc-chromium-") as profile:
        base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                f"--user-data-dir={profile}"]
        r = subprocess.run(base + ["--window-size=1280,1000", "--dump-dom", url], capture_output=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"chromium --dump-dom exited {r.returncode}: {r.stderr.decode()[-1000:]}")
        dom = r.stdout.decode(errors="replace")
        h = re.search(r'data-page-height="(\d+)"', dom)
        w = re.search(r'data-page-width="(\d+)"', dom)
        out["height"] = min(int(h.group(1)) if h else 4000, MAX_SHOT_PX)
        out["width"] = int(w.group(1)) if w else None      # wider than the 1,280-pixel window: it scrolls
        r = subprocess.run(base + [f"--window-size=1280,{out['height']}",
                                   f"--screenshot={pathlib.Path(png_path).resolve()}", url],
                           capture_output=True, timeout=timeout)
        if r.returncode != 0 or not pathlib.Path(png_path).exists():
            raise RuntimeError(f"chromium --screenshot exited {r.returncode}: {r.stderr.decode()[-1000:]}")
    imgs = []
    for tag in re.findall(r"<img\b[^>]*>", dom):
        src = re.search(r'src="([^"]*)"', tag)
        w = re.search(r'data-natural-width="(\d+)"', tag)
        imgs.append((src.group(1) if src else None, int(w.group(1)) if w else None))
    out["images"] = imgs
    out["screenshot"] = str(png_path)
    return out


def local_refs(html_text):
    """Every href/src of the page that is not a link elsewhere on the web or an anchor."""
    refs = re.findall(r'(?:href|src)="([^"]+)"', html_text)
    return [html.unescape(r) for r in refs if not re.match(r"^(https?:|mailto:|#|data:)", r)]


def missing_refs(html_path):
    base = pathlib.Path(html_path).resolve().parent
    return [r for r in local_refs(pathlib.Path(html_path).read_text())
            if not (base / r.split("#")[0]).exists()]


def png_not_blank(path):
    """True when the PNG has more than one colour (a decoded check with matplotlib's reader)."""
    img = _plt().imread(str(path))
    flat = img.reshape(-1, img.shape[-1])
    return bool((flat != flat[0]).any())


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(render(os.sys.argv[1], os.sys.argv[2])))
