"""The reliability demonstration (tests/conformance/demo.py): its figures against the ledger and tshark, its
captures' comments, the HTML's references and its rendering in headless Chromium.

The native tests read two small golden runs in tests/data/reliability/ (100 messages at 10% loss, 25%
reordering and 5% duplication, collected inside User-Mode Linux); the `netem` test collects a reduced matrix
live. These tests live outside tests/conformance so that scripts/conformance does not run them as scenarios.
"""
import html
import json
import pathlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from wcrun import demo, demo_report, report
from lab import ledger as lab_ledger, netem, pcapfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "reliability"
CELLS = ("tcp-loss10-reord25-dup05", "udp-loss10-reord25-dup05")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """The golden runs copied into a fresh captures directory and analysed as scripts/conformance would."""
    out = tmp_path_factory.mktemp("captures")
    (out / "reliability").mkdir()
    for c in CELLS:
        for ext in (".pcapng", ".client.pcapng", ".server.pcapng", ".run.json"):
            shutil.copy(GOLDEN / (c + ext), out / "reliability" / (c + ext))
    rel = demo.analyze(out, {"collect_s": 0, "jobs": 1})
    return out, rel


def _cell(rel, name):
    return next(c for c in rel["cells"] if c["cell"] == name)


def tshark(args):
    """tshark's stdout lines (it says "Running as user root" on stderr, which is ignored)."""
    r = subprocess.run(["tshark"] + args, capture_output=True, timeout=60)
    assert r.returncode == 0, f"tshark {' '.join(args)}: exit {r.returncode}: {r.stderr.decode()[-500:]}"
    return [x for x in r.stdout.decode().splitlines() if x.strip()]


def test_tcp_figures_agree_with_ledger_kernel_and_tshark(analysed, tmp_path):
    out, rel = analysed
    c = _cell(rel, CELLS[0])
    assert (c["delivered_pct"], c["in_order_pct"], c["app_duplicates"]) == (100.0, 100.0, 0), c
    pcap = out / c["capture"]
    led = lab_ledger.Ledger.from_pcapng(pcap, 0, 1, {demo.CLIENT}, {demo.SERVER})
    assert c["ledger"] == {d: {k: v for k, v in led.counts(d).items() if k != "delay_ms"}
                           for d in (netem.C2S, netem.S2C)}
    lost_data = [e for d in (netem.C2S, netem.S2C) for e in led.entries[d] if e["fate"] == "lost" and e.get("payload")]
    assert c["tcp"]["lost_data_segments"] == len(lost_data)
    # every lost data segment needs at least one retransmission; the kernels counted the same ones we saw
    assert c["tcp"]["retrans_capture_total"] >= len(lost_data)
    assert c["tcp"]["retrans_capture"] == c["tcp"]["retrans_kernel"], c["tcp"]
    # tshark on each side's packets alone (its analysis of both sides at once would call every second copy
    # of a segment a retransmission): the segments that side's host sent again. On the sender's own
    # interface nothing can arrive out of order, so what tshark's RTT heuristic calls "out-of-order" there
    # (a fast retransmit sooner than its RTT estimate) is a retransmission too.
    seen = {}
    for iface, host, side in ((0, demo.CLIENT, "client"), (1, demo.SERVER, "server")):
        one = tmp_path / f"side{iface}.pcapng"
        tshark(["-r", str(pcap), "-Y", f"frame.interface_id == {iface}", "-w", str(one)])
        seen[side] = len(tshark(["-r", str(one), "-Y", "(tcp.analysis.retransmission || tcp.analysis.out_of_order)"
                                 f" && ip.src == {host}",
                                 "-T", "fields", "-e", "frame.number"]))
    assert seen == c["tcp"]["retrans_capture"], f"tshark {seen}, report {c['tcp']['retrans_capture']}"


def test_udp_figures_agree_with_ledger_client_and_tshark(analysed):
    out, rel = analysed
    c = _cell(rel, CELLS[1])
    u = c["udp"]
    assert u["client_lost"] == u["ledger_lost"] and u["agree"], u
    assert c["delivered"] == c["n"] - u["client_lost"]
    pcap = out / c["capture"]
    # tshark: the distinct tags answered at the client side, and the datagrams the client sent
    answers = tshark(["-r", str(pcap), "-Y", f"frame.interface_id == 0 && ip.src == {demo.SERVER} && udp",
                      "-T", "fields", "-e", "data.data"])
    tags = {bytes.fromhex(x)[:12] for x in answers}
    assert len(tags) == c["delivered"], f"tshark: {len(tags)} distinct answers, report {c['delivered']}"
    assert len(answers) - len(tags) == c["app_duplicates"], "duplicate answers: tshark vs udp-client"
    sent = tshark(["-r", str(pcap), "-Y", f"frame.interface_id == 0 && ip.src == {demo.CLIENT} && udp",
                   "-T", "fields", "-e", "frame.number"])
    assert len(sent) == c["ledger"]["c2s"]["sent"] == c["n"]


@pytest.mark.parametrize("cell", CELLS)
def test_packet_comments_explain_losses_and_duplicates(analysed, cell):
    out, rel = analysed
    c = _cell(rel, cell)
    f = pcapfile.read(out / c["capture"])
    lost = sum(1 for p in f.packets for x in p.comments if x.startswith("LOST:"))
    dups = sum(1 for p in f.packets for x in p.comments if x.startswith("DUPLICATE:"))
    assert lost == c["ledger"]["c2s"]["lost"] + c["ledger"]["s2c"]["lost"]
    assert dups == c["ledger"]["c2s"]["duplicates"] + c["ledger"]["s2c"]["duplicates"]
    assert any("rto_min" in x for x in f.comments), f.comments
    # the section comment written with the notes, in the same pass: the client's command and its time
    assert any(x.startswith("command (client): ") for x in f.comments), f.comments
    # one file per side beside it, each with its own side's notes and a comment that says which side it holds
    assert sorted(c["sides"]) == ["client", "server"], c.get("sides")
    per_side = [pcapfile.read(out / c["sides"][k]) for k in ("client", "server")]
    assert sum(len(g.packets) for g in per_side) == len(f.packets)
    assert sum(1 for g in per_side for q in g.packets for x in q.comments if x.startswith("LOST:")) == lost
    assert [g.comments[-1].split(" (")[0] for g in per_side] == ["this file: the client side only",
                                                                "this file: the server side only"], per_side[0].comments
    if c["proto"] == "tcp":
        assert sum(1 for p in f.packets for x in p.comments if x.startswith("retransmission")) > 0
        # A LOST note names the exact label of the resend to look for, and that label is in the file.
        labels = {x.rstrip("\n") for p in f.packets for x in p.comments}   # older files end them in "\n"
        wanted = [x.split("look for '", 1)[1].split("'", 1)[0] for p in f.packets for x in p.comments
                  if x.startswith("LOST:") and "look for '" in x]
        assert wanted and all(w.startswith("retransmission of ") for w in wanted), wanted
        assert [w for w in wanted if w not in labels] == [], sorted(labels)
    # a second analysis does not add the comments twice
    demo.analyze_cell(json.loads((out / "reliability" / f"{cell}.run.json").read_text()), out / c["capture"])
    again = pcapfile.read(out / c["capture"])
    assert sum(1 for p in again.packets for x in p.comments if x.startswith("LOST:")) == lost


def test_report_json_and_html_reference_only_files_that_exist(analysed):
    out, rel = analysed
    assert [p["name"] for p in rel["plots"]] == ["delivered", "completion", "in_order", "timeseq"]
    rep = {"sut": {}, "clauses": [], "scenarios": [], "conforms": True, "reliability": rel}
    report.write_all(rep, out, (out / "reliability.html").read_text(), (out / "reliability.md").read_text())
    back = json.loads((out / "report.json").read_text())["reliability"]
    assert {c["cell"] for c in back["cells"]} == set(CELLS)
    for c in back["cells"]:
        assert (out / c["capture"]).is_file(), c["capture"]
    for p in back["plots"]:
        assert (out / p["file"]).is_file() and p["captures"], p
    page = (out / "report.html").read_text()
    assert demo_report.missing_refs(out / "report.html") == []      # PROTOCOL.md is copied beside the report
    assert (out / "PROTOCOL.md").is_file()
    assert demo_report.missing_refs(out / "reliability.html") == []
    refs = demo_report.local_refs(page)
    assert all(p["file"] in refs for p in back["plots"]), "a plot is not on the page"
    assert all(c["capture"] in refs for c in back["cells"]), "a capture is not linked from the page"
    # report.md says what report.html says: the plots, their captures, the extreme runs, the table
    md = (out / "report.md").read_text()
    assert all(f"]({p['file']})" in md for p in back["plots"]), "a plot is missing from report.md"
    assert all(f"| {c['cell']} |" in md and f"]({c['capture']})" in md for c in back["cells"])
    for x in demo_report.extremes(rel):
        assert f"- {x}" in md and html.escape(x) in page, x


def test_each_run_has_one_ladder_linked_beside_its_captures(analysed):
    """Every ladder diagram the analysis drew exists, is one run's, and report.html and report.md link it in that
    run's row of the table, beside the run's capture links."""
    out, rel = analysed
    rep = {"sut": {}, "clauses": [], "scenarios": [], "conforms": True, "reliability": rel}
    report.write_all(rep, out, (out / "reliability.html").read_text(), (out / "reliability.md").read_text())
    drawn = sorted(f"reliability/{p.name}" for p in (out / "reliability").glob("*.ladder.svg"))
    linked = sorted(c.get("ladder") or f"no ladder for {c['cell']}" for c in rel["cells"])
    assert drawn == linked, f"drawn {drawn}, linked from the table {linked}"
    rows_html = re.findall(r"<tr><td>.*?</tr>", (out / "report.html").read_text(), re.S)
    rows_md = [x for x in (out / "report.md").read_text().splitlines() if x.startswith("| ") and "-loss" in x]
    for c in rel["cells"]:
        assert (out / c["ladder"]).is_file() and ET.parse(out / c["ladder"]).getroot().tag.endswith("svg")
        row = [r for r in rows_html if r.startswith(f"<tr><td>{c['cell']}</td>")]
        assert len(row) == 1, f"{c['cell']}: {len(row)} rows in report.html"
        links = demo_report.local_refs(row[0])
        assert links[-4:] == [c["capture"], c["sides"]["client"], c["sides"]["server"], c["ladder"]], links
        row = [r for r in rows_md if r.startswith(f"| {c['cell']} |")]
        assert len(row) == 1 and row[0].endswith(f"[ladder]({c['ladder']}) |"), row
        assert f"({c['capture']}) · " in row[0], row[0]


def test_extreme_runs_are_named_and_explained_from_their_captures(analysed):
    _, rel = analysed
    tcp, udp = _cell(rel, CELLS[0]), _cell(rel, CELLS[1])
    slow, least, unordered = demo_report.extremes(rel)
    assert slow.startswith(f"The slowest TCP run, loss 10 %, reordering 25 %, duplication 5 %, took "
                           f"{tcp['completion_s']:.1f} s"), slow
    n = tcp["tcp"]["lost_data_segments"]
    assert n and f"{n} data segment" in slow and tcp["capture"] in slow, slow
    led = udp["ledger"]
    assert (f"answered {udp['delivered_pct']:.1f} % of its 100 messages: the router lost {led['c2s']['lost']} "
            f"requests and {led['s2c']['lost']} replies") in least, least
    assert f"{udp['udp']['reordered']} answers came after the answer to a later message" in unordered


def test_report_renders_in_headless_chromium(analysed):
    out, _ = analysed
    if not (out / "report.html").exists():
        test_report_json_and_html_reference_only_files_that_exist(analysed)
    assert demo_report.chromium(), "chromium is missing: run scripts/bootstrap"
    png = out / "report.png"
    r = demo_report.render(out / "report.html", png)
    assert len(r["images"]) == 4, r
    assert all(w and w > 100 for _, w in r["images"]), f"plots that did not load: {r['images']}"
    assert png.stat().st_size > 10000 and demo_report.png_not_blank(png)
    # the whole page, not its first screen: the shot is as tall as the page (below Chromium's limit)
    from PIL import Image
    with Image.open(png) as img:
        assert img.size == (1280, r["height"]), (img.size, r["height"])
    assert 2000 < r["height"] < demo_report.MAX_SHOT_PX, r["height"]
    assert r["width"] == 1280, f"the page is {r['width']} pixels wide: a table does not fit a 1,280-pixel window"


def test_matrix_and_flags():
    cells = demo.matrix()
    assert len(cells) == 40 and len({c["cell"] for c in cells}) == 40
    assert cells[0]["loss"] == 20, "the slowest cells go first"
    a = demo.parse_args(["run", "--quick"])
    assert a.n == 100
    a = demo.parse_args(["collect", "-n", "7", "--loss", "0,5", "--reorder", "0", "--duplicate", "0"])
    assert (a.n, len(a.cells)) == (7, 4)
    with pytest.raises(SystemExit):
        demo.parse_args(["run", "-n", "0"])


@pytest.mark.netem
@pytest.mark.lab
def test_live_reduced_matrix(tmp_path):
    """Collects TCP and UDP at 10% loss with 5% duplication (60 messages each) and checks the figures."""
    cells = demo.matrix(losses=(10,), reorders=(0,), dups=(5,))
    rdir = tmp_path / "reliability"
    meta = demo.collect(rdir, 60, cells, 1, demo.bins_paths())
    assert meta["errors"] == []
    # the figures only (plots are the native tests' part: matplotlib is slow to load inside UML)
    tcp, udp = (demo.analyze_cell(json.loads((rdir / f"{c['cell']}.run.json").read_text()),
                                  rdir / f"{c['cell']}.pcapng") for c in sorted(cells, key=lambda c: c["proto"]))
    assert (tcp["delivered_pct"], tcp["in_order_pct"], tcp["app_duplicates"], tcp["client_exit"]) == \
        (100.0, 100.0, 0, 0), tcp
    assert tcp["tcp"]["retrans_capture_total"] >= tcp["tcp"]["lost_data_segments"]
    assert udp["udp"]["agree"], udp["udp"]
    assert udp["delivered"] + udp["udp"]["client_lost"] == 60
