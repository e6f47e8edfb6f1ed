"""TCP against UDP through the same lossy network: the reliability demonstration of the conformance report.

The same workload (N messages of 64 bytes, 32 of them awaiting answers at most) goes over TCP (tcp-client,
pipelined) and over UDP (udp-client --seq) through the impairment matrix loss x reordering x duplication, with
10 ms of delay each way, netem on the lab's router in both directions and TCP's rto_min lowered to 10 ms. Each
run is captured on both sides into captures/reliability/<cell>.pcapng, and one side each into <cell>.client.pcapng and
<cell>.server.pcapng (the files whose TCP analysis Wireshark gets right).

    demo.py run [-n N] [--quick] [-j JOBS]   the whole demonstration: collect (inside UML when this kernel has
                                             no netem), then analyse, plot and print the table natively
    demo.py collect ...                      only the runs and their captures (needs netem)
    demo.py analyze [--out DIR]              figures, annotations, plots and captures/reliability.{json,html}
    demo.py render HTML PNG                  screenshot HTML in headless Chromium; check every image loaded

Collecting is lean on purpose (Python is ~15x slower inside User-Mode Linux): it only sets netem, runs the
clients and captures. Everything else (the ledger, the per-message latencies, the plots) reads the captures
afterwards, natively.
"""
import argparse
import concurrent.futures
import itertools
import json
import os
import pathlib
import queue
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time


from lab import capture as lab_capture, interrupt, ledger as lab_ledger, netem, netns, pcapfile, proc, socktable, uml
from wcrun import paths

PY = "/usr/bin/python3"
LOSS = (0, 1, 5, 10, 20)
REORDER = (0, 25)
DUPLICATE = (0, 5)
DELAY_MS = 10
RTO_MIN_MS = 10
SIZE = 64            # bytes per message, tag and LF included
WINDOW = 32          # messages awaiting answers at once, for both protocols
UDP_TIMEOUT_S = 0.25
TCP_TIMEOUT_S = 60
PORTS = {"tcp": 6789, "udp": 9876}
KERNEL_KEYS = ("TcpRetransSegs", "TcpExtTCPTimeouts", "TcpExtTCPLossProbes", "TcpExtTCPFastRetrans",
               "TcpExtTCPSlowStartRetrans", "TcpExtTCPSynRetrans", "TcpExtTCPLostRetransmit",
               "TcpOutSegs", "UdpInDatagrams", "UdpOutDatagrams")


def cell_name(proto, loss, reorder, dup):
    return f"{proto}-loss{loss:02d}-reord{reorder:02d}-dup{dup:02d}"


def matrix(losses=LOSS, reorders=REORDER, dups=DUPLICATE, protos=("tcp", "udp")):
    """Every cell as a dict, the slowest (most loss) first so that parallel workers finish together."""
    cells = [{"cell": cell_name(p, lo, r, d), "proto": p, "loss": lo, "reorder": r, "duplicate": d}
             for lo, r, d, p in itertools.product(losses, reorders, dups, protos)]
    return sorted(cells, key=lambda c: (-c["loss"], c["proto"] != "tcp", c["cell"]))


def tcp_lines(n):
    """The TCP workload: n lines of SIZE bytes, 'wc<10 digits>:' then lower-case filler, LF."""
    filler = (b"abcdefghijklmnopqrstuvwxyz" * 4)[:SIZE - 14]
    return [b"wc%010d:%s\n" % (i, filler) for i in range(n)]


# collect (needs netem) ---------------------------------------------------------------------------------------
def kernel_counters(ns):
    c = socktable.counters(ns)
    return {k: c.get(k, 0) for k in KERNEL_KEYS}


class Worker:
    """One topology with both servers, reused cell after cell (netem replaced, a new capture per cell)."""

    def __init__(self, bins, outdir, n):
        self.bins, self.outdir, self.n = bins, outdir, n
        self.topo = netns.Topology(prefix="wcd")
        self.topo.up()
        self.topo.logdir = str(outdir / ".logs")
        self.imp = netem.Impairments(self.topo)
        t = self.topo
        for node in (t.client, t.server):
            # no cached ssthresh or RTT from one cell's connection to the next
            node.sysctl("net.ipv4.tcp_no_metrics_save", 1)
        self.imp.set_rto_min(RTO_MIN_MS)
        tcp = t.server.spawn([bins["tcp-server"], "-p", str(PORTS["tcp"]), "--grace", "1"], name="tcp-server")
        udp = t.server.spawn([bins["udp-server"], "-p", str(PORTS["udp"])], name="udp-server")
        t.server.wait_tcp(PORTS["tcp"], tcp)
        t.server.wait_udp(PORTS["udp"], udp)

    def close(self):
        self.topo.close()

    def comments(self, cell, argv=None, took=None):
        t, k = self.topo, uml.kernel_info()
        lines = [f"wirecheck reliability demo: {cell['cell']} ({cell['proto'].upper()}, {self.n} messages of "
                 f"{SIZE} bytes, at most {WINDOW} awaiting answers)",
                 f"kernel: {k['mode']} {k['release']}"
                 + (" (User-Mode Linux: the host kernel has no sch_netem)" if k["mode"] == "uml" else ""),
                 f"wirecheck: {lab_capture.wirecheck_version(self.bins)}",
                 f"topology: client {t.client.addr4} [{t.client.iface()}] -- router [{t.router.ns}] -- server "
                 f"{t.server.addr4} [{t.server.iface()}]; interface 0 is the client side, 1 the server side",
                 "impairments (router egress, both directions): " + "; ".join(self.imp.describe()),
                 f"TCP rto_min lowered to {RTO_MIN_MS} ms on the endpoints' routes (ip route change ... rto_min) "
                 "so that retransmissions come fast; tcp_no_metrics_save=1 so no cell inherits another's ssthresh",
                 "packet comments: the sniffer's label, then (added after the run from the two-sided ledger) "
                 "what the network did: LOST in the router, or a DUPLICATE made by the router"]
        if argv:
            lines.append(f"command (client): {shlex.join(argv)}" + (f"  [{took:.3f} s]" if took else ""))
        return lines

    def run(self, cell):
        t, n = self.topo, self.n
        ne = netem.Netem(delay_ms=DELAY_MS, loss=cell["loss"], reorder=cell["reorder"], duplicate=cell["duplicate"])
        for d in (netem.C2S, netem.S2C):
            self.imp.set(d, ne)
        pcap = self.outdir / f"{cell['cell']}.pcapng"
        cap = lab_capture.Capture(self.bins["sniffer"], t, pcap, self.comments(cell),
                                  bpf=f"{cell['proto']} port {PORTS[cell['proto']]}", logdir=self.topo.logdir,
                                  split=True)
        tc0 = self.imp.stats()
        k0 = {"client": kernel_counters(t.client.ns), "server": kernel_counters(t.server.ns)}
        cap.start()
        rec = dict(cell, n=n, size=SIZE, window=WINDOW, delay_ms=DELAY_MS, rto_min_ms=RTO_MIN_MS,
                   capture=pcap.name, netem=ne.to_dict(), kernel=uml.kernel_info())
        try:
            if cell["proto"] == "tcp":
                argv, took = self._tcp(rec)
            else:
                argv, took = self._udp(rec)
        finally:
            cap.stop()
        k1 = {"client": kernel_counters(t.client.ns), "server": kernel_counters(t.server.ns)}
        rec["kernel_counters"] = {s: {k: k1[s][k] - k0[s][k] for k in KERNEL_KEYS} for s in k0}
        rec["tc"] = {d: _tc_delta(tc0.get(d), self.imp.stats().get(d)) for d in (netem.C2S, netem.S2C)}
        rec["argv"], rec["completion_s"] = argv, round(took, 4)
        # Written into the capture with the packets' notes, in one pass, when it is analysed (natively).
        rec["section_comments"] = self.comments(cell, argv, took)
        (self.outdir / f"{cell['cell']}.run.json").write_text(json.dumps(rec, indent=1) + "\n")
        return rec

    def _tcp(self, rec):
        t, n = self.topo, self.n
        lines = tcp_lines(n)
        argv = [self.bins["tcp-client"], "--raw", "-4", "-w", str(WINDOW * SIZE), "-t", str(TCP_TIMEOUT_S),
                t.server.addr4, str(PORTS["tcp"])]
        t0 = time.monotonic()
        r = t.client.exec(argv, timeout=TCP_TIMEOUT_S + 30, check=False, input=b"".join(lines))
        took = time.monotonic() - t0
        # the close handshake belongs to the capture: wait until neither end has the connection open
        done = (socktable.LISTEN, socktable.TIME_WAIT)
        proc.poll_until(lambda: not any(socktable.connections(PORTS["tcp"], ns, done)
                                        for ns in (t.client.ns, t.server.ns)),
                        timeout=20, what="the TCP connection closed at both ends")
        got = r.stdout.splitlines(keepends=True)
        want = [x.upper() for x in lines]
        wanted = set(want)
        rec["client"] = {"exit": r.returncode, "stderr": r.stderr.decode(errors="replace")[-500:],
                         "replies": len(got),
                         "delivered": len(set(got) & wanted),
                         "in_order": sum(1 for a, b in zip(got, want) if a == b),
                         "app_duplicates": len(got) - len(set(got))}
        return argv, took

    def _udp(self, rec):
        t, n = self.topo, self.n
        js = self.outdir / f".{rec['cell']}.udp.json"
        argv = [self.bins["udp-client"], "--seq", "-q", "-4", "-n", str(n), "-s", str(SIZE), "-w", str(WINDOW),
                "-t", str(UDP_TIMEOUT_S), "--linger", str(UDP_TIMEOUT_S), "--json", str(js),
                t.server.addr4, str(PORTS["udp"])]
        t0 = time.monotonic()
        r = t.client.exec(argv, timeout=n * UDP_TIMEOUT_S + 30, check=False)
        took = time.monotonic() - t0
        summary = json.loads(js.read_text())
        js.unlink()
        rec["client"] = {"exit": r.returncode, "stderr": r.stderr.decode(errors="replace")[-500:], **summary}
        return argv, took


def _tc_delta(before, after):
    def root(x):
        q = (x or [{}])[0] if isinstance(x, list) else (x or {})
        return {k: q.get(k, 0) for k in ("packets", "drops")}
    b, a = root(before), root(after)
    return {k: a[k] - b[k] for k in a}


def progress(done, total, t0, text):
    """One line per finished cell on stderr, with a bar; redrawn in place when stderr is a terminal."""
    width = 30
    fill = int(width * done / total) if total else width
    line = f"[{'#' * fill}{'.' * (width - fill)}] {done:>3}/{total} {time.monotonic() - t0:6.1f} s  {text}"
    print(line, file=sys.stderr, flush=True)


class Stopping:
    """stop(): whether the collection is being stopped, as its worker threads can tell at once. A signal to the
    process (whose children, the clients, got it too: their cells fail at once) shows on the wakeup fd when it
    arrives, before the main thread runs the handler that raises KeyboardInterrupt; `event` is set then. Made
    and closed in one thread: only the main thread has the wakeup fd (elsewhere, the event alone)."""

    def __init__(self):
        self.event = threading.Event()
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.main = threading.current_thread() is threading.main_thread()
        self.old = signal.set_wakeup_fd(self.w, warn_on_full_buffer=False) if self.main else None

    def __call__(self):
        return self.event.is_set() or bool(select.select([self.r], [], [], 0)[0])

    def close(self):
        if self.main:
            signal.set_wakeup_fd(self.old)
        os.close(self.r)
        os.close(self.w)


def collect(outdir, n, cells, jobs, bins):
    """Runs every cell, `jobs` topologies at a time; writes <cell>.pcapng and <cell>.run.json into outdir.

    Interrupted (SIGINT, SIGTERM: KeyboardInterrupt, lab.interrupt), no cell starts or runs again, the cells
    under way end (their clients got the signal too), every topology is torn down with its capture complete,
    and KeyboardInterrupt goes on."""
    interrupt.install()     # here, in the main thread: the workers' threads cannot
    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for f in itertools.chain(outdir.glob("*.pcapng"), outdir.glob("*.run.json")):
        f.unlink()
    (outdir / ".logs").mkdir(exist_ok=True)
    todo = queue.Queue()
    for c in cells:
        todo.put(c)
    lock = threading.Lock()
    t0 = time.monotonic()
    state = {"done": 0, "errors": []}
    stop = Stopping()

    def work():
        try:
            w = Worker(bins, outdir, n)
        except Exception as e:
            with lock:
                state["errors"].append(f"topology: {e}")
            return
        try:
            while not stop():
                try:
                    c = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    try:
                        rec = w.run(c)
                    except Exception as e:   # once more: a shared checkout's rebuild can swap a binary
                        if stop():      # it failed because its client got the signal: no second try
                            raise
                        print(f"reliability demo: {c['cell']} failed ({str(e).splitlines()[0][:100]}); "
                              "running it again", file=sys.stderr, flush=True)
                        rec = w.run(c)
                    cl = rec["client"]
                    text = (f"{c['cell']:<26} delivered {100 * cl.get('delivered', cl.get('answered', 0)) / n:5.1f}%"
                            f"  {rec['completion_s']:6.2f} s")
                except Exception as e:
                    text = f"{c['cell']:<26} FAILED: {str(e).splitlines()[0][:120]}"
                    with lock:
                        state["errors"].append(f"{c['cell']}: {e}")
                with lock:
                    state["done"] += 1
                    progress(state["done"], len(cells), t0, text)
        finally:
            w.close()

    threads = [threading.Thread(target=work, name=f"demo-{i}") for i in range(max(1, min(jobs, len(cells))))]
    for th in threads:
        th.start()
    try:
        for th in threads:
            th.join()
    except KeyboardInterrupt:
        stop.event.set()
        for th in threads:
            th.join()
        raise
    finally:
        stop.close()
    took = time.monotonic() - t0
    meta = {"n": n, "cells": len(cells), "jobs": jobs, "collect_s": round(took, 1), "kernel": uml.kernel_info(),
            "errors": state["errors"]}
    (outdir / "collect.json").write_text(json.dumps(meta, indent=1) + "\n")
    if state["errors"]:
        raise RuntimeError("reliability demo: " + "; ".join(e.splitlines()[0] for e in state["errors"][:5]))
    shutil.rmtree(outdir / ".logs", ignore_errors=True)
    return meta


# analyse (natively) ------------------------------------------------------------------------------------------
CLIENT, SERVER = "10.71.1.2", "10.71.2.2"
IF_CLIENT, IF_SERVER = 0, 1


def _packets(path):
    """The capture's packets decoded: (index, iface, ts_ns, decoded dict with payload bytes, comments)."""
    f = pcapfile.read(path)
    out = []
    for i, p in enumerate(f.packets):
        d = lab_ledger.decode(p.data, f.interfaces[p.iface].linktype)
        if d is None or "sport" not in d:
            continue
        if d["proto"] == lab_ledger.TCP:
            d["data"] = d["l4"][(d["l4"][12] >> 4) * 4:]
        else:
            d["data"] = d["l4"][8:]
        out.append((i, p.iface, p.ts_ns, d, p.comments))
    return f, out


def _pct(v, n):
    return round(100.0 * v / n, 2) if n else 0.0


def _lat(values_ms):
    v = sorted(values_ms)
    if not v:
        return {"mean": None, "p99": None, "n": 0}
    return {"mean": round(statistics.fmean(v), 3), "p99": round(v[min(len(v) - 1, int(len(v) * 0.99))], 3),
            "n": len(v)}


def tcp_wire(pkts, n):
    """Per-message times on the client's side of the wire: when message i's last byte first left the client,
    and when the answer's last byte became readable there (every byte before it received too)."""
    isn = {}
    for _, iface, ts, d, _ in pkts:
        if iface == IF_CLIENT and "S" in d["flags"]:
            isn[d["src"]] = d["seq"]
    if CLIENT not in isn or SERVER not in isn:
        return None
    sent, readable = [None] * n, [None] * n
    nxt = rd = 0                             # next message not yet sent / not yet readable
    have, ranges = 0, []                     # answer bytes readable in order; segments received beyond them
    first_syn = last_reply = None
    for _, iface, ts, d, _ in pkts:
        if iface != IF_CLIENT:
            continue
        if first_syn is None and "S" in d["flags"]:
            first_syn = ts
        if not d["data"]:
            continue
        start = (d["seq"] - isn[d["src"]] - 1) & 0xFFFFFFFF
        end = start + len(d["data"])
        if d["src"] == CLIENT:
            while nxt < n and (nxt + 1) * SIZE <= end:
                sent[nxt] = ts
                nxt += 1
        elif d["src"] == SERVER:
            ranges.append((start, end))
            moved = True
            while moved:
                moved = False
                for a, b in ranges:
                    if a <= have < b:
                        have, moved = b, True
                ranges = [(a, b) for a, b in ranges if b > have]
            while rd < n and (rd + 1) * SIZE <= have:
                readable[rd] = ts
                last_reply = ts
                rd += 1
    lat = [(r - s) / 1e6 for s, r in zip(sent, readable) if s is not None and r is not None]
    return {"latency_ms": _lat(lat), "wire_s": round((last_reply - first_syn) / 1e9, 4)
            if last_reply and first_syn else None, "answered_on_wire": sum(r is not None for r in readable)}


def udp_wire(pkts):
    """Per-message round trips on the client's side of the wire: a tag's first request to its first answer."""
    sent, got = {}, {}
    for _, iface, ts, d, _ in pkts:
        if iface != IF_CLIENT or "tag" not in d:
            continue
        tag = d["tag"][2:12]
        if d["src"] == CLIENT:
            sent.setdefault(tag, ts)
        elif d["src"] == SERVER:
            got.setdefault(tag, ts)
    lat = [(got[t] - sent[t]) / 1e6 for t in got if t in sent]
    ts_all = list(sent.values()) + list(got.values())
    return {"latency_ms": _lat(lat), "wire_s": round((max(ts_all) - min(ts_all)) / 1e9, 4) if ts_all else None,
            "answered_on_wire": len(got)}


def capture_retransmissions(pkts):
    """The sniffer's 'retransmission' labels, each counted on its sender's side only (the receiver's copy of
    the same segment is the same retransmission)."""
    out = {"client": 0, "server": 0}
    for _, iface, _, d, comments in pkts:
        if d["proto"] != lab_ledger.TCP or not any(c.startswith("retransmission") for c in comments):
            continue
        if iface == IF_CLIENT and d["src"] == CLIENT:
            out["client"] += 1
        elif iface == IF_SERVER and d["src"] == SERVER:
            out["server"] += 1
    return out


def resend_label(entries, e):
    """The sniffer's label of the resend of lost TCP segment e: 'retransmission of seq=S len=L' with S relative
    to the sender's SYN (as the labels count), 'retransmission of SYN' or '... of FIN'."""
    flags = e.get("flags", "")
    if "S" in flags:
        return "retransmission of SYN-ACK" if "A" in flags else "retransmission of SYN"
    if not e.get("payload"):
        return "retransmission of FIN"
    syn = next((x for x in entries if x.get("proto") == e["proto"] and x.get("sport") == e.get("sport")
                and "S" in x.get("flags", "")), None)
    isn = syn["seq"] if syn else e["seq"] - 1
    return f"retransmission of seq={(e['seq'] - isn) & 0xFFFFFFFF} len={e['payload']}"


def network_notes(led, pkts, proto):
    """Packet comments from the ledger: which sent packets the router lost, which arrivals it duplicated."""
    index = {(iface, ts): i for i, iface, ts, _, _ in pkts}
    notes = {}
    for direction, iface in ((netem.C2S, IF_CLIENT), (netem.S2C, IF_SERVER)):
        other = "server" if direction == netem.C2S else "client"
        for e in led.entries[direction]:
            if e["fate"] != "lost":
                continue
            i = index.get((iface, e["ts"]))
            if i is None:
                continue
            if proto == "tcp":
                why = ("TCP notices the missing bytes and sends them again: look for "
                       f"'{resend_label(led.entries[direction], e)}' from this side"
                       if e.get("payload") or set(e.get("flags", "")) & {"S", "F"} else
                       "a lost pure ACK is never resent; a later ACK covers it")
            else:
                tag = e.get("tag", "")
                why = (f"UDP never sends it again: message {tag} gets no answer" if direction == netem.C2S else
                       f"UDP never sends it again: the answer to {tag} is lost, the client counts the message lost")
            notes.setdefault(i, []).append(f"LOST: the router (netem loss) dropped this packet; it never reached "
                                           f"the {other} side. {why}")
    # arrivals beyond the copies sent: made by netem duplicate in the router
    for direction, src_if, dst_if in ((netem.C2S, IF_CLIENT, IF_SERVER), (netem.S2C, IF_SERVER, IF_CLIENT)):
        src = CLIENT if direction == netem.C2S else SERVER
        seen = {}
        for i, iface, ts, d, _ in sorted(pkts, key=lambda x: x[2]):   # the file is not in time order
            if d["src"] != src:
                continue
            key = (d["ip_id"], d["l4"])
            c = seen.setdefault(key, [0, 0])
            if iface == src_if:
                c[0] += 1
            elif iface == dst_if:
                c[1] += 1
                if c[1] > c[0]:
                    notes.setdefault(i, []).append(
                        "DUPLICATE: a copy made by the router (netem duplicate); the sender sent this once. "
                        + ("TCP's receiver drops the second copy" if proto == "tcp" else
                           "UDP hands both copies to the application, which must notice"))
    return notes


def tcp_story(led, pkts):
    """What made a TCP run slow, for the report's words on its extreme runs: SYNs (and SYN-ACKs) lost, the
    segments lost more than once (seq counted from the sender's SYN, as the labels count), and the longest
    silences on the wire (the retransmission timer backing off)."""
    syn_lost, lost, isn = 0, {}, {}
    for d in (netem.C2S, netem.S2C):
        for e in led.entries[d]:
            if e["proto"] != lab_ledger.TCP:
                continue
            if "S" in e.get("flags", ""):
                isn.setdefault(d, e["seq"])
                syn_lost += e["fate"] == "lost"
            elif e["fate"] == "lost" and e.get("payload") and d in isn:
                key = (d, (e["seq"] - isn[d]) & 0xFFFFFFFF)
                lost[key] = lost.get(key, 0) + 1
    ts = sorted(t for _, _, t, _, _ in pkts)
    gaps = sorted(((b - a) / 1e9, (a - ts[0]) / 1e9) for a, b in zip(ts, ts[1:]) if b - a >= 3e8)[-3:]
    return {"syn_lost": syn_lost,
            "lost_repeatedly": [{"dir": d, "seq": q, "times": n} for (d, q), n in sorted(lost.items()) if n > 1],
            "silences_s": [{"at_s": round(at, 2), "s": round(g, 2)} for g, at in sorted(gaps, key=lambda x: x[1])]}


def analyze_cell(run, pcap, annotate=True):
    """The figures of one cell from its run record and its capture (see the report's 'reliability' section)."""
    n, proto = run["n"], run["proto"]
    capfile, pkts = _packets(pcap)
    led = lab_ledger.Ledger.from_pcapng(pcap, IF_CLIENT, IF_SERVER, {CLIENT}, {SERVER})
    cl = run["client"]
    fig = {k: run[k] for k in ("cell", "proto", "loss", "reorder", "duplicate", "n", "delay_ms", "rto_min_ms")}
    fig["capture"] = f"reliability/{pathlib.Path(pcap).name}"
    fig["completion_s"] = run["completion_s"]
    fig["ledger"] = {d: {k: v for k, v in led.counts(d).items() if k != "delay_ms"} for d in (netem.C2S, netem.S2C)}
    fig["netem_drops"] = run["tc"]
    if proto == "tcp":
        w = tcp_wire(pkts, n) or {"latency_ms": _lat([]), "wire_s": None, "answered_on_wire": 0}
        fig.update(delivered=cl["delivered"], in_order=cl["in_order"], app_duplicates=cl["app_duplicates"],
                   client_exit=cl["exit"])
        cap = capture_retransmissions(pkts)
        kc = run["kernel_counters"]
        fig["tcp"] = {"retrans_capture": cap, "retrans_capture_total": cap["client"] + cap["server"],
                      "retrans_kernel": {s: kc[s]["TcpRetransSegs"] for s in kc},
                      "retrans_kernel_total": sum(kc[s]["TcpRetransSegs"] for s in kc),
                      "timeouts_kernel": sum(kc[s]["TcpExtTCPTimeouts"] for s in kc),
                      "lost_data_segments": sum(1 for d in (netem.C2S, netem.S2C) for e in led.entries[d]
                                                if e["fate"] == "lost" and e.get("payload")),
                      "kernel_counters": kc, "story": tcp_story(led, pkts)}
    else:
        w = udp_wire(pkts)
        answered = {e["tag"] for e in led.entries[netem.S2C] if e["fate"] == "delivered" and "tag" in e}
        req_lost = {e["tag"] for e in led.entries[netem.C2S] if e["fate"] == "lost" and "tag" in e}
        ledger_lost = sorted(int(t[2:12]) for t in {e["tag"] for e in led.entries[netem.C2S] if "tag" in e}
                             - answered)
        fig.update(delivered=cl["answered"], in_order=cl["answered"] - cl["reordered"],
                   app_duplicates=cl["duplicated"], client_exit=cl["exit"])
        fig["udp"] = {"client_lost": cl["lost"], "client_lost_messages": cl.get("lost_messages", []),
                      "ledger_lost": len(ledger_lost), "ledger_lost_messages": ledger_lost,
                      "ledger_requests_lost": len(req_lost), "late": cl["late"], "reordered": cl["reordered"],
                      "client_rtt_ms": cl.get("rtt_ms"), "agree": ledger_lost == sorted(cl.get("lost_messages", []))}
    fig["delivered_pct"] = _pct(fig["delivered"], n)
    fig["in_order_pct"] = _pct(fig["in_order"], n)
    fig["latency_ms"] = w["latency_ms"]
    fig["wire_s"] = w["wire_s"]
    sides = {k: v for k, v in lab_capture.side_paths(pcap).items() if v.exists()}
    fig["sides"] = {k: f"reliability/{v.name}" for k, v in sides.items()}
    if annotate and not any(c.startswith(("LOST:", "DUPLICATE:")) for p in pkts for c in p[4]):
        annotate_files(pcap, capfile.packets, sides, run.get("section_comments"), network_notes(led, pkts, proto))
    return fig


def annotate_files(pcap, packets, sides, section, notes):
    """Writes the section comment and the network's notes into the two-sided capture and into each side's file
    (where the notes of a packet go to its own side's file, under its index there), each in one pass."""
    pcapfile.annotate(pcap, section=section and section + [lab_capture.file_comment(pcap)], packets=notes)
    where, count = {}, {}
    for i, p in enumerate(packets):     # as read before: annotating changes no packet's place
        where[i] = (p.iface, count.get(p.iface, 0))
        count[p.iface] = count.get(p.iface, 0) + 1
    for side, path in sides.items():
        iface = {"client": IF_CLIENT, "server": IF_SERVER}[side]
        mine = {where[i][1]: v for i, v in notes.items() if where[i][0] == iface}
        pcapfile.annotate(path, section=section and section + [lab_capture.file_comment(pcap, side)], packets=mine)


def analyze(out, collect_meta=None):
    """Reads out/reliability/*.run.json and their captures; writes out/reliability.json and .html, plots and a
    ladder diagram per run."""
    out = pathlib.Path(out)
    rdir = out / "reliability"
    runs = sorted(rdir.glob("*.run.json"))
    if not runs:
        raise RuntimeError(f"no runs in {rdir}: collect first")
    t0 = time.monotonic()
    jobs = [(json.loads(p.read_text()), rdir / (p.name[:-len(".run.json")] + ".pcapng")) for p in runs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as ex:
        cells = list(ex.map(lambda j: analyze_cell(*j), jobs))
    meta = collect_meta or (json.loads((rdir / "collect.json").read_text()) if (rdir / "collect.json").exists()
                            else {})
    rel = {"what": "the same workload over TCP and over UDP through loss x reordering x duplication",
           "n": jobs[0][0]["n"], "size": SIZE, "window": WINDOW, "delay_ms": DELAY_MS, "rto_min_ms": RTO_MIN_MS,
           "udp_timeout_s": UDP_TIMEOUT_S, "kernel": jobs[0][0]["kernel"], "timings_s": {
               "collect": meta.get("collect_s"), "jobs": meta.get("jobs"), "analyze": None},
           "cells": sorted(cells, key=lambda c: (c["proto"], c["loss"], c["reorder"], c["duplicate"]))}
    from wcrun import demo_report, figures
    for c in rel["cells"]:
        svg = figures.draw_run(out / c["capture"])      # linked beside the run's captures in the table
        if svg:
            c["ladder"] = f"reliability/{svg.name}"
    rel["plots"] = demo_report.plots(rel, out)
    rel["timings_s"]["analyze"] = round(time.monotonic() - t0, 1)
    (out / "reliability.json").write_text(json.dumps(rel, indent=1) + "\n")
    (out / "reliability.html").write_text(demo_report.html_section(rel, out))
    (out / "reliability.md").write_text(demo_report.markdown_section(rel))
    return rel


# the whole demonstration -------------------------------------------------------------------------------------
def bins_paths():
    d = paths.bin_dir()
    return {n: str(d / n) for n in ("tcp-server", "tcp-client", "udp-server", "udp-client", "sniffer")}


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="demo.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    for name in ("run", "collect"):
        p = sub.add_parser(name)
        p.add_argument("-n", type=int, default=None, help="messages per run (default 500; 100 with --quick)")
        p.add_argument("--quick", action="store_true", help="100 messages per run")
        p.add_argument("-j", "--jobs", type=int, default=4, help="topologies at once (default 4)")
        p.add_argument("--out", default=str(paths.captures()))
        p.add_argument("--loss", default=None, help="comma-separated loss percentages (default 0,1,5,10,20)")
        p.add_argument("--reorder", default=None, help="default 0,25")
        p.add_argument("--duplicate", default=None, help="default 0,5")
    a = sub.add_parser("analyze")
    a.add_argument("--out", default=str(paths.captures()))
    r = sub.add_parser("render")
    r.add_argument("html")
    r.add_argument("png")
    args = ap.parse_args(argv)
    if args.what in ("run", "collect"):
        args.n = args.n if args.n is not None else (100 if args.quick else 500)
        if not 1 <= args.n <= 100000:
            ap.error(f"-n {args.n}: must be within 1..100000")
        nums = lambda s, d: tuple(int(x) for x in s.split(",")) if s else d  # noqa: E731
        args.cells = matrix(nums(args.loss, LOSS), nums(args.reorder, REORDER), nums(args.duplicate, DUPLICATE))
    return args


def collect_args(args):
    a = ["-n", str(args.n), "-j", str(args.jobs), "--out", str(args.out)]
    for k in ("loss", "reorder", "duplicate"):
        if getattr(args, k):
            a += [f"--{k}", getattr(args, k)]
    return a


def run_collect(args):
    """collect here when this kernel has netem, otherwise inside one User-Mode Linux boot; returns its meta."""
    rdir = pathlib.Path(args.out) / "reliability"
    if netem.netem_native() or uml.inside_uml():
        return collect(rdir, args.n, args.cells, args.jobs, bins_paths())
    argv = [PY, str(paths.uml_py()), "run", "--", PY, str(pathlib.Path(__file__).resolve()),
            "collect"] + collect_args(args)
    # A capture that uml.py (or its warden) finds unfinished after killing UML is kept or removed there.
    p = subprocess.Popen(argv, cwd=paths.PYROOT, env={**os.environ, "WIRECHECK_CAPTURES": str(args.out)})
    try:
        rc = p.wait()
    except KeyboardInterrupt:
        # Not subprocess.run's kill after 0.25 s: uml.py got the signal too (a terminal's Ctrl-C or a CI cancel
        # reaches our process group) and stops the command inside, which completes its captures; it kills UML
        # after uml.STOP_GRACE_S. Only if this process alone was signalled is it killed here (its warden then
        # cleans up, and keeps or removes the captures left open).
        try:
            p.wait(timeout=uml.STOP_GRACE_S + 2)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        raise
    if rc != 0:
        raise RuntimeError(f"reliability demo: collecting inside User-Mode Linux failed (exit {rc})")
    return json.loads((rdir / "collect.json").read_text())


def main(argv):
    args = parse_args(argv)
    if args.what == "collect":
        collect(pathlib.Path(args.out) / "reliability", args.n, args.cells, args.jobs, bins_paths())
        return 0
    if args.what == "render":
        from wcrun import demo_report
        print(json.dumps(demo_report.render(args.html, args.png)))
        return 0
    t0 = time.monotonic()
    meta = run_collect(args) if args.what == "run" else None
    rel = analyze(args.out, meta)
    rel["timings_s"]["total"] = round(time.monotonic() - t0, 1)
    from wcrun import demo_report
    print(demo_report.table(rel))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
