"""Runs the performance table of issue 6 (and issue 13's ladder row) and writes tests/bench/RESULTS.md.

Every row runs RUNS times; each run measures our program and its peer one after the
other, so the ratio of a run compares two numbers taken seconds apart on this noisy
machine. The table gives the medians of both and the median of the per-run ratios.

    scripts/bench              # the full table (several minutes), rewrites tests/bench/RESULTS.md
    scripts/bench --quick      # every row once with tiny sizes: a smoke test, writes nothing
    scripts/bench --rows udp,transform --runs 3
    scripts/bench --rows sniffer --baseline ../main/build/bin   # the sniffer against another build too
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from lab import proc
from wcrun import paths

ROOT = paths.checkout()     # bench runs from a checkout only (wcrun.__main__ says so when installed)
BIN = paths.bin_dir()
RESULTS = ROOT / "tests" / "bench" / "RESULTS.md"

# name: (description, peer, goal text, goal test on the ratio or value)
FULL = dict(runs=5, secs=3.0, idle=10000, samples=20000, capture_secs=3.0, offline_packets=200000,
            iperf_args=["-t", "3"], transform_secs=2.0, ladder_scenario="10mb", ladder_arrows=2000)
QUICK = dict(runs=1, secs=0.3, idle=300, samples=300, capture_secs=0.5, offline_packets=3000,
             iperf_args=["-n", "100M"], transform_secs=0.2, ladder_scenario="above-64k", ladder_arrows=200)


class BenchError(RuntimeError):
    pass


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# --- processes and measurements -------------------------------------------------------------

def loadgen(mode, *args, timeout=120):
    """Runs one loadgen mode and returns its JSON result."""
    argv = [str(BIN / "loadgen"), mode, "--json", *map(str, args)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def cpu_seconds(pid):
    """utime + stime of a process from /proc/PID/stat, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def started(argv, name, ready):
    """A proc.Process that is ready (ready(p) polled to a deadline)."""
    p = proc.Process(argv, name=name)
    try:
        proc.poll_until(lambda: ready(p), timeout=10, what=f"{name} ready")
    except Exception:
        p.close()
        raise
    return p


def alive_and(cond):
    """A readiness check that fails at once, with the log, when the process died."""
    def ok(p):
        if not p.alive():
            raise BenchError(p.describe())
        return cond(p)
    return ok


def tcp_ready(port):
    def connects(_):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False
    return alive_and(connects)


def udp_ready(port):
    def answers(_):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.05)
            try:
                s.sendto(b"probe", ("127.0.0.1", port))
                return s.recv(64)
            except OSError:
                return False
    return alive_and(answers)


def says(text):
    """Ready once TEXT appears on the process's stdout or stderr."""
    return alive_and(lambda p: text.encode() in p.stdout() + p.stderr())


def tcp_server(workers=1):
    port = proc.free_port()
    p = started([str(BIN / "tcp-server"), "-p", str(port), "-4", "-b", "127.0.0.1", "-w", str(workers),
                 "--grace", "0"], "tcp-server", tcp_ready(port))
    return p, port


def udp_server(batch):
    port = proc.free_port(socket.SOCK_DGRAM)
    p = started([str(BIN / "udp-server"), "-p", str(port), "-4", "-b", "127.0.0.1", "--batch", str(batch),
                 "--grace", "0"], f"udp-server-b{batch}", udp_ready(port))
    return p, port


# --- the rows -------------------------------------------------------------------------------

class Row:
    """One line of the table: our median, the peer's, and the median of per-run ratios."""

    def __init__(self, key, what, unit, peer, goal, met, fmt="{:.3g}", goal_on_ours=False):
        self.key, self.what, self.unit, self.peer, self.goal, self.met_fn = key, what, unit, peer, goal, met
        self.fmt = fmt
        self.goal_on_ours = goal_on_ours     # the goal is our own number's, the ratio is reported beside it
        self.ours, self.theirs, self.ratios, self.notes = [], [], [], []
        self.error = None

    def add(self, ours, theirs=None, ratio=None):
        self.ours.append(ours)
        if theirs is not None:
            self.theirs.append(theirs)
        if ratio is not None:
            self.ratios.append(ratio)

    @staticmethod
    def med(v):
        return statistics.median(v) if v else None

    def cells(self):
        f = lambda v: "–" if v is None else self.fmt.format(v)  # noqa: E731
        ratio = self.med(self.ratios)
        # A row its group's failure did not name (--baseline's) has nothing to judge either.
        error = self.error or (None if self.ours else "error: no measurement")
        if error:
            verdict = "error"
        elif self.met_fn is None:
            verdict = "report"
        else:
            judged = ratio if self.ratios and not self.goal_on_ours else self.med(self.ours)
            verdict = "met" if self.met_fn(judged) else "NOT met"
        return [self.what, f"{f(self.med(self.ours))} {self.unit}".strip(),
                self.peer, f(self.med(self.theirs)) if self.theirs else "–",
                "–" if ratio is None else f"{ratio:.2f}×", self.goal,
                error if error else verdict]


def row_tcp_stream(cfg, rows):
    row = rows.setdefault("tcp_stream", Row("tcp_stream", "TCP echo stream, 1 conn, 64-byte lines (reply Gbit/s)",
                                            "Gbit/s", "iperf3 1 stream", "≥ 0.5×", lambda r: r >= 0.5))
    srv, port = tcp_server()
    iport = proc.free_port()
    ip = started(["iperf3", "-s", "-p", str(iport), "-B", "127.0.0.1"], "iperf3",
                 alive_and(lambda _: port_bound("tcp", iport)))
    try:
        ours = loadgen("stream", "-p", port, "-d", cfg["secs"])["gbit_per_s"]
        r = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(iport), "-J", *cfg["iperf_args"]],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise BenchError(f"iperf3: {r.stdout[-500:]} {r.stderr[-500:]}")
        theirs = json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
        row.add(ours, theirs, ours / theirs)
    finally:
        ip.close()
        srv.close()


def row_short_conns(cfg, rows):
    row = rows.setdefault("short_conns", Row("short_conns", "short connections (connect, 1 line, close)",
                                             "conns/s", "null server", "≥ 0.5×", lambda r: r >= 0.5,
                                             fmt="{:,.0f}"))
    srv, port = tcp_server()
    nport = proc.free_port()
    null = started([str(BIN / "loadgen"), "null", "-H", "127.0.0.1", "-p", str(nport)], "null-server",
                   tcp_ready(nport))
    try:
        res = loadgen("connrate", "-p", port, "-d", cfg["secs"])
        if res["unanswered"] or res["failed"]:
            row.notes.append(f"{res['unanswered']:.0f} unanswered, {res['failed']:.0f} failed connects")
        theirs = loadgen("connrate", "-p", nport, "-d", cfg["secs"])["conns_per_s"]
        row.add(res["conns_per_s"], theirs, res["conns_per_s"] / theirs)
    finally:
        null.close()
        srv.close()


def row_pipeline(cfg, rows):
    row = rows.setdefault("pipeline", Row("pipeline", "pipelined 16-byte lines over 50 connections", "lines/s",
                                          "–", "report it", None, fmt="{:,.0f}"))
    srv, port = tcp_server()
    try:
        row.add(loadgen("pipeline", "-p", port, "-d", cfg["secs"])["lines_per_s"])
    finally:
        srv.close()


def row_idle(cfg, rows):
    n = cfg["idle"]
    lat = rows.setdefault("idle_p99", Row("idle_p99", f"p99 round trip with {n:,} idle conns (⅓ partial line)",
                                          "µs", "same client alone", "p99 ≤ 2×", lambda r: r <= 2.0))
    mem = rows.setdefault("idle_rss", Row("idle_rss", f"server RSS per idle connection (at {n:,})", "bytes",
                                          "–", "≤ 16 KiB", lambda v: v <= 16384, fmt="{:,.0f}"))
    srv, port = tcp_server()
    try:
        res = loadgen("idle", "-p", port, "-n", n, "-s", cfg["samples"], "-P", srv.pid, timeout=300)
        lat.add(res["p99_us_idle"], res["p99_us_alone"], res["p99_ratio"])
        mem.add(res["rss_bytes_per_conn"])
    finally:
        srv.close()


def row_udp(cfg, rows):
    batch = rows.setdefault("udp_batch", Row("udp_batch", "UDP 64-byte echo, batched server", "replies/s",
                                             "udp-server --batch 1", "≥ 3×", lambda r: r >= 3.0,
                                             fmt="{:,.0f}"))
    soc = rows.setdefault("udp_socat", Row("udp_socat", "UDP 64-byte echo, batched server", "replies/s",
                                           "socat UDP-LISTEN PIPE", "report it", None, fmt="{:,.0f}"))
    fast, fport = udp_server(64)
    slow, sport = udp_server(1)
    try:
        ours = loadgen("udp", "-p", fport, "-d", cfg["secs"])["replies_per_s"]
        one = best_client(sport, cfg["secs"], batch)
        batch.add(ours, one, ours / one)
    finally:
        slow.close()
        fast.close()
    fast, fport = udp_server(64)
    try:
        ours = loadgen("udp", "-p", fport, "-d", cfg["secs"])["replies_per_s"]
        gso, plain = socat_echo(cfg["secs"]), socat_echo(cfg["secs"], "--no-gso")
        soc.notes.append(f"socat {gso:,.0f}/s with the GSO client, {plain:,.0f}/s with plain sendmmsg")
        theirs = max(gso, plain)
        soc.add(ours, theirs, ours / theirs)
    finally:
        fast.close()


def socat_echo(secs, *args):
    """replies/s of socat echoing through a pipe. socat serves the first peer it hears
    from and then only it, so each client run gets its own socat."""
    port = proc.free_port(socket.SOCK_DGRAM)
    with proc.Process(["socat", f"UDP-LISTEN:{port},bind=127.0.0.1,reuseaddr", "PIPE"], name="socat"):
        proc.poll_until(lambda: port_bound("udp", port), timeout=10, what="socat bound")
        return loadgen("udp", "-p", port, "-d", secs, "--echo", *args)["replies_per_s"]


def best_client(port, secs, row):
    """The peer's replies/s with the client that suits it better: GSO/GRO or plain
    sendmmsg/recvmmsg (a server without GRO pays for the kernel's segmentation)."""
    gso = loadgen("udp", "-p", port, "-d", secs)["replies_per_s"]
    plain = loadgen("udp", "-p", port, "-d", secs, "--no-gso")["replies_per_s"]
    row.notes.append(f"peer {gso:,.0f}/s with the GSO client, {plain:,.0f}/s with plain sendmmsg")
    return max(gso, plain)


def port_bound(proto, port):
    """Whether a socket is bound (UDP) or listening (TCP) on 127.0.0.1:PORT, from /proc/net."""
    with open(f"/proc/net/{proto}") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if local == f"0100007F:{port:04X}" and (proto == "udp" or state == "0A"):
                return True
    return False


def capture(tool, port, secs, workdir, load_port, sniffer=None):
    """Captures the UDP load on lo with TOOL ("sniffer": the program `sniffer`, ours by default); returns
    packets written, drops, CPU s, load s."""
    out = os.path.join(workdir, f"{tool}.pcap")
    filt = f"udp port {port}"
    if tool == "tcpdump":
        argv = ["tcpdump", "-i", "lo", "-n", "-w", out, "-B", "4096", filt]
        ready = says("listening on")
    else:
        ready_file = os.path.join(workdir, "sniffer.ready")
        summary = os.path.join(workdir, "sniffer.json")
        argv = [str(sniffer or BIN / "sniffer"), "-i", "lo", "-w", out, "-B", "4m", "-f", filt,
                "--ready-file", ready_file, "--json", summary]
        ready = alive_and(lambda p: os.path.exists(ready_file))
    p = started(argv, tool, ready)
    try:
        cpu0 = cpu_seconds(p.pid)
        t0 = time.monotonic()
        # Plain sendmmsg: with GSO, lo would carry (and the capture see) 64 datagrams as one packet.
        loadgen("udp", "-p", load_port, "-d", secs, "--no-gso")
        load_s = time.monotonic() - t0
        cpu = cpu_seconds(p.pid) - cpu0
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
        err = p.stderr()
    finally:
        p.close()
    packets = packets_in(out)
    if tool == "tcpdump":
        d = re.search(rb"(\d+) packets dropped by kernel", err)
        drops = int(d.group(1)) if d else 0
    else:
        drops = sniffer_drops(summary)
    os.unlink(out)
    return packets, drops, cpu, load_s


def packets_in(path):
    """The number of packets in a capture file, from capinfos."""
    r = subprocess.run(["capinfos", "-c", "-M", str(path)], capture_output=True, text=True)
    m = re.search(r"Number of packets:\s+(\d+)", r.stdout)
    if not m:
        raise BenchError(f"capinfos {path}: {r.stderr.strip()}")
    return int(m.group(1))


def capture_unavailable():
    """Why the capture rows cannot run here, or None."""
    if not (BIN / "sniffer").exists():
        return "n/a (sniffer not built)"
    if os.geteuid() != 0:
        return "n/a (capturing needs root: CAP_NET_RAW)"
    return None


def sniffer_drops(path):
    try:
        with open(path) as f:
            s = json.load(f)
    except (OSError, ValueError):
        return 0
    total = 0
    for itf in s.get("interfaces", []):
        total += int(itf.get("dropped", 0) or 0) + int(itf.get("if_dropped", 0) or 0)
    return total


def row_sniffer(cfg, rows, workdir):
    rate = rows.setdefault("sniff_rate", Row("sniff_rate", "sniffer capture rate, UDP echo load on lo", "pkts/s",
                                             "tcpdump -w", "≥ 1.0×", lambda r: r >= 1.0, fmt="{:,.0f}"))
    cpp = rows.setdefault("sniff_cpu", Row("sniff_cpu", "sniffer CPU per captured packet", "µs/pkt",
                                           "tcpdump -w", "≤ 1.0×", lambda r: r <= 1.0))
    base = None
    if cfg.get("baseline"):
        # Another build's sniffer (main's, say) under the same load in the same run: a regression shows as a ratio.
        base = rows.setdefault("sniff_cpu_base", Row("sniff_cpu_base", "sniffer CPU per captured packet, against "
                                                     "another build", "µs/pkt", "--baseline sniffer", "≤ 1.2×",
                                                     lambda r: r <= 1.2))
    why = capture_unavailable()
    if why:
        for row in (rate, cpp, base):
            if row:
                row.error = why
        return
    srv, port = udp_server(64)
    try:
        got = {}
        tools = ["tcpdump", "sniffer"] + (["baseline"] if base else [])
        if base and len(base.ours) % 2:
            tools[1:] = tools[:0:-1]      # every other run the baseline goes first: no bias from the order
        for tool in tools:
            if tool == "baseline":
                got[tool] = capture("sniffer", port, cfg["capture_secs"], workdir, port,
                                    sniffer=cfg["baseline"] / "sniffer")
            else:
                got[tool] = capture(tool, port, cfg["capture_secs"], workdir, port)
        (tp, td, tc, ts), (sp, sd, sc, ss) = got["tcpdump"], got["sniffer"]
        if td or sd:
            rate.notes.append(f"drops: tcpdump {td}, sniffer {sd}")
        rate.add((sp - sd) / ss, (tp - td) / ts, ((sp - sd) / ss) / ((tp - td) / ts))
        cs, ct = sc / max(sp, 1) * 1e6, tc / max(tp, 1) * 1e6
        cpp.add(cs, ct, cs / ct if ct else float("inf"))
        if base:
            bp, _, bc, _ = got["baseline"]
            cb = bc / max(bp, 1) * 1e6
            base.add(cs, cb, cs / cb if cb else float("inf"))
            if not base.notes:
                base.notes.append(f"baseline {cfg['baseline'] / 'sniffer'}")
    finally:
        srv.close()


def make_offline_capture(cfg, workdir):
    """A capture of many TCP conversations: short connections and pipelined streams on lo."""
    path = os.path.join(workdir, "offline.pcap")
    srv, port = tcp_server()
    td = started(["tcpdump", "-i", "lo", "-n", "-w", path, "-B", "8192", "-c", str(cfg["offline_packets"]),
                  "-s", "128", f"tcp port {port}"], "tcpdump-offline", says("listening on"))
    try:
        deadline = time.monotonic() + 120
        while td.alive() and time.monotonic() < deadline:
            loadgen("connrate", "-p", port, "-d", 0.5)
            loadgen("pipeline", "-p", port, "-d", 0.2)
        td.send_signal(signal.SIGINT)
        td.wait(timeout=30)
    finally:
        td.close()
        srv.close()
    return path


def timed(argv):
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.decode(errors='replace')[-300:]}")
    return time.monotonic() - t0


def row_offline(cfg, rows, workdir, capture_path):
    row = rows.setdefault("offline", Row("offline", f"offline labelling of {cfg['offline_packets']:,} TCP packets",
                                         "s", "tshark -q -z conv,tcp", "≥ 5× faster", lambda r: r >= 5.0))
    why = capture_unavailable()
    if why:
        row.error = why
        return
    ours = timed([str(BIN / "sniffer"), "-r", capture_path, "-w", "/dev/null"])
    theirs = timed(["tshark", "-r", capture_path, "-q", "-z", "conv,tcp"])
    row.add(ours, theirs, theirs / ours)


def make_ladder_capture(cfg, workdir):
    """The lab's two-sided capture of one long TCP conversation: the conformance scenario test_long_lines
    (a 10 MB line and its reply; 70 kB with --quick), run by pytest with its captures written into workdir."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/conformance/test_tcp.py",
            "-k", f"long_lines and {cfg['ladder_scenario']}"]
    r = subprocess.run(argv, cwd=ROOT, env=dict(os.environ, WIRECHECK_CAPTURES=workdir), capture_output=True,
                       text=True, timeout=600)
    path = pathlib.Path(workdir) / f"conformance_test_tcp.py__test_long_lines_{cfg['ladder_scenario']}.pcapng"
    if r.returncode != 0 or not path.exists():
        said = " ".join(r.stdout.split())[-300:]       # one line: it ends up in the table
        raise BenchError(f"{' '.join(argv)}: exit {r.returncode}, no {path.name}: {said}")
    return path


def cpu_of(argv):
    """The CPU time (user + system, s) of a command run to its end; its stdout is dropped."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.decode(errors='replace')[-300:]}")
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def row_ladder(cfg, rows, workdir, capture_path):
    n = cfg["ladder_arrows"]
    row = rows.setdefault("ladder", Row("ladder", f"ladder diagram of {n:,} packets of a long TCP conversation",
                                        "s CPU", "tshark -r F -c LAST", "< 1 s", lambda v: v < 1.0,
                                        goal_on_ours=True))
    why = capture_unavailable()
    if why:
        row.error = why
        return
    if isinstance(capture_path, Exception):
        raise BenchError(f"no capture: {capture_path}")
    svg = os.path.join(workdir, "ladder.svg")
    ours = cpu_of([str(ROOT / "scripts" / "ladder"), str(capture_path), "-o", svg, "--max", str(n)])
    with open(svg) as f:
        last = max(int(x) for frames in re.findall(r'data-frames="([\d,]+)"', f.read()) for x in frames.split(","))
    # tshark reads and dissects the frames up to the window's last, one summary line each
    theirs = cpu_of(["tshark", "-r", str(capture_path), "-c", str(last)])
    row.add(ours, theirs, ours / theirs)
    if not row.notes:
        row.notes.append(f"{capture_path.name}: {packets_in(capture_path):,} frames; the window ends at frame "
                         f"{last:,}")


def row_transform(cfg, rows):
    row = rows.setdefault("transform", Row("transform", "uppercase transform, 64 KiB buffers", "GB/s",
                                           "memcpy", "≥ 0.5×", lambda r: r >= 0.5))
    res = loadgen("transform", "-d", cfg["transform_secs"])
    row.add(res["upper_gb_per_s"], res["memcpy_gb_per_s"], res["ratio"])


ROW_ORDER = ["tcp_stream", "short_conns", "pipeline", "idle_p99", "udp_batch", "udp_socat", "sniff_rate",
             "sniff_cpu", "sniff_cpu_base", "offline", "ladder", "transform", "idle_rss"]
GROUPS = {"tcp": ["tcp_stream", "short_conns", "pipeline"], "idle": ["idle_p99", "idle_rss"],
          "udp": ["udp_batch", "udp_socat"], "sniffer": ["sniff_rate", "sniff_cpu"], "offline": ["offline"],
          "ladder": ["ladder"], "transform": ["transform"]}


# --- the report -----------------------------------------------------------------------------

def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}"


def table(rows):
    head = ["row", "ours (median)", "against", "peer (median)", "ratio (median of runs)", "goal", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in ROW_ORDER:
        if key in rows:
            lines.append("| " + " | ".join(rows[key].cells()) + " |")
    return "\n".join(lines)


def write_results(rows, args, cfg, elapsed):
    notes = [f"- {r.what}: {'; '.join(r.notes)}" for k in ROW_ORDER if k in rows for r in [rows[k]] if r.notes]
    body = RESULTS.read_text() if RESULTS.exists() else ""
    # Everything after the marker is written by hand (the analysis) and kept across runs.
    marker = "<!-- analysis: kept by scripts/bench -->"
    kept = body.split(marker, 1)[1] if marker in body else "\n\n## Analysis\n\n(to be written)\n"
    text = f"""# Benchmark results (issue 6)

Generated by `scripts/bench` on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} in {elapsed:.0f} s;
machine: {machine()}. Medians of {cfg['runs']} runs; every ratio is ours ÷ the peer's measured in the same
run (for times, the peer's ÷ ours), and the table gives the median of those per-run ratios. The machine is
shared and noisy: other builds and tests ran at the same time.

{table(rows)}

{chr(10).join(notes) if notes else ''}

## Commands

Everything on loopback (127.0.0.1), the load generator `build/bin/loadgen` (tests/bench/) on the same
2 cores as the server. Per run:

- TCP stream: `tcp-server -p P` ; `loadgen stream -p P -d {cfg['secs']}` (one connection, 64-byte lines,
  256 KiB in flight, every reply byte compared) ; peer `iperf3 -s` and `iperf3 -c 127.0.0.1 {' '.join(cfg['iperf_args'])}`
  (received bits/s). Ours counts reply bytes, one direction, like iperf3.
- Short connections: `loadgen connrate -p P` (16 at a time: connect, one 64-byte line, read the reply,
  close; sources spread over 127.0.0.2-33) against `tcp-server` and against `loadgen null` (accept, close).
- Pipelined: `loadgen pipeline -p P` (50 connections, 16-byte lines, 64 lines in flight each).
- Idle: `loadgen idle -p P -n {cfg['idle']} -s {cfg['samples']} -P PID` on a fresh `tcp-server`: p99 of
  {cfg['samples']} one-line round trips alone, then with the idle connections open (every third holds
  "a partial line, no end"); server VmRSS from /proc/PID/status before and after they are all accepted.
- UDP: `loadgen udp -p P` (64-byte datagrams, 256 outstanding, sendmmsg/recvmmsg of 64) against
  `udp-server --batch 64` and `udp-server --batch 1`; socat as
  `socat UDP-LISTEN:P,bind=127.0.0.1,reuseaddr PIPE` with `loadgen udp --echo` (socat cannot upper-case:
  it echoes, the nearest fair peer; `UDP-RECVFROM:P,fork EXEC:'tr a-z A-Z'` forks a process per datagram
  and would measure fork()).
- Capture: the UDP load above (but `--no-gso`, so that lo carries one packet per datagram) on lo for {cfg['capture_secs']} s, captured with `tcpdump -i lo -w F -B 4096 'udp port P'`,
  then with `sniffer -i lo -w F -B 4m -f 'udp port P'`; packets counted with `capinfos -c` minus reported
  drops, CPU from /proc/PID/stat (utime+stime) over the load. `perf stat` has no counters in this VM.
- Offline: a `tcpdump -s 128 -c {cfg['offline_packets']}` capture of short connections and pipelined streams,
  then `sniffer -r F -w /dev/null` against `tshark -r F -q -z conv,tcp` (wall time).
- Ladder: `pytest tests/conformance/test_tcp.py -k 'long_lines and {cfg['ladder_scenario']}'` writes the lab's
  two-sided capture F of `test_long_lines[{cfg['ladder_scenario']}]` (a line and its reply), then `scripts/ladder F
  -o F.svg --max {cfg['ladder_arrows']}` (the first {cfg['ladder_arrows']:,} packets) against `tshark -r F -c
  LAST` (LAST: the window's last frame); CPU time (user + system) of each process, from getrusage.
- Transform: `loadgen transform -d {cfg['transform_secs']}`: `wc_upper` and `memcpy` over the same 64-byte-aligned
  64 KiB buffers, alternating 5 times; median GB/s of each.
{marker}{kept}"""
    RESULTS.write_text(text)


def build():
    """Builds incrementally (scripts/build); WIRECHECK_BIN=DIR uses DIR's binaries as they are."""
    if os.environ.get("WIRECHECK_BIN"):
        return
    log("building (scripts/build)")
    if not (BIN / "loadgen").exists():
        # A build directory configured before tests/bench existed: configure again.
        r = subprocess.run([str(ROOT / "scripts" / "build"), "-DBUILD_TESTING=ON"])
    else:
        r = subprocess.run([str(ROOT / "scripts" / "build")])
    if r.returncode != 0:
        log("the build failed (above); measuring the binaries already in " + str(BIN))
    missing = [n for n in ("tcp-server", "udp-server", "loadgen") if not (BIN / n).exists()]
    if missing:
        raise BenchError(f"build did not produce {missing} in {BIN}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every row once with tiny sizes; RESULTS.md untouched")
    ap.add_argument("--runs", type=int, help="runs per row (default 5, quick 1)")
    ap.add_argument("--rows", help="comma-separated groups: " + ",".join(GROUPS))
    ap.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    ap.add_argument("--baseline", metavar="DIR", help="the sniffer rows also measure DIR/sniffer (another "
                    "build) in every run, and a row compares our CPU per packet with its")
    args = ap.parse_args()
    cfg = dict(QUICK if args.quick else FULL)
    if args.baseline:
        cfg["baseline"] = pathlib.Path(args.baseline).resolve()
        if not (cfg["baseline"] / "sniffer").is_file():
            ap.error(f"--baseline {args.baseline}: no sniffer there")
    if args.runs:
        cfg["runs"] = args.runs
    groups = args.rows.split(",") if args.rows else list(GROUPS)
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        ap.error(f"unknown rows {unknown}; choose from {list(GROUPS)}")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))   # children inherit: 10,000 idle connections
    if hard < cfg["idle"] + 100:
        cfg["idle"] = max(100, hard - 200)
        log(f"RLIMIT_NOFILE hard limit {hard}: idle connections cut to {cfg['idle']}")
    if not args.no_build:
        build()
    for tool in ("iperf3", "socat", "tcpdump", "tshark", "capinfos"):
        if not shutil.which(tool):
            raise BenchError(f"{tool} is not installed (scripts/bootstrap installs it)")

    t0 = time.monotonic()
    rows = {}
    workdir = tempfile.mkdtemp(prefix="wc-bench-")
    steps = {"tcp": [row_tcp_stream, row_short_conns, row_pipeline], "idle": [row_idle], "udp": [row_udp],
             "sniffer": [lambda c, r: row_sniffer(c, r, workdir)], "transform": [row_transform]}
    try:
        offline_path = ladder_path = None
        if "offline" in groups and not capture_unavailable():
            log("making the offline capture")
            offline_path = make_offline_capture(cfg, workdir)
        if "ladder" in groups and not capture_unavailable():
            log("making the ladder's capture (pytest tests/conformance/test_tcp.py -k long_lines)")
            try:
                ladder_path = make_ladder_capture(cfg, workdir)
            except (BenchError, subprocess.TimeoutExpired) as e:     # the row says so; the others run
                ladder_path = e
        for run in range(cfg["runs"]):
            for g in groups:
                fns = steps.get(g, [])
                if g == "offline":
                    fns = [lambda c, r: row_offline(c, r, workdir, offline_path)]
                if g == "ladder":
                    fns = [lambda c, r: row_ladder(c, r, workdir, ladder_path)]
                for fn in fns:
                    log(f"run {run + 1}/{cfg['runs']}: {g}")
                    try:
                        fn(cfg, rows)
                    except (BenchError, proc.NotReady, subprocess.TimeoutExpired, OSError, KeyError) as e:
                        for key in GROUPS[g]:
                            rows.setdefault(key, Row(key, key, "", "", "", None)).error = f"error: {e}"[:300]
                        log(f"{g}: {e}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - t0
    print(f"machine: {machine()}; {cfg['runs']} run(s) per row; {elapsed:.0f} s")
    print(table(rows))
    for key in ROW_ORDER:
        if key in rows and rows[key].notes:
            print(f"- {rows[key].what}: {'; '.join(rows[key].notes)}")
    if not args.quick and not args.no_write and not args.rows:
        write_results(rows, args, cfg, elapsed)
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 1 if any(r.error and not r.error.startswith("n/a") for r in rows.values()) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(str(e))
        sys.exit(1)
