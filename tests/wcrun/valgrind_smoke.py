"""Runs the programs' end-to-end smoke under valgrind (memcheck): every run must exit with its normal status
and no memcheck error or leak (--error-exitcode=99 --leak-check=full: a definite or possible leak is an error).

  - tcp-server serving three tcp-client sessions (one line, many lines, an unterminated tail), then SIGTERM;
  - udp-server serving two udp-client sessions (lines, and --seq generated traffic), then SIGTERM;
  - the sniffer capturing lo while a udp-client session runs, stopped by -G (needs root, else skipped);
  - the sniffer -r on tests/data/sniffer-tcp-lo.pcapng with -w, -v and --json.

Usage: scripts/valgrind-smoke   (WIRECHECK_BIN overrides build/bin; a plain -O2 -g build, not a sanitizer one)
Exits 0 when all is clean, 1 naming each failed run (its valgrind log is kept and its path printed).
"""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

from lab import proc
from wcrun import paths

ROOT = paths.checkout()     # a checkout's tool: its sample capture is in tests/data

BIN = paths.bin_dir()
SAMPLE = ROOT / "tests" / "data" / "sniffer-tcp-lo.pcapng"
VG_ERROR = 99
TIMEOUT = 120          # valgrind runs a program 20-50 times slower


class Smoke:
    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="wc-valgrind-"))
        self.failures = []
        self.n = 0

    def vg(self, name, argv):
        """argv under memcheck, its log in self.dir/NAME.vg."""
        self.n += 1
        log = self.dir / f"{self.n:02d}-{name}.vg"
        return ["valgrind", "--tool=memcheck", "-q", f"--error-exitcode={VG_ERROR}", "--leak-check=full",
                "--errors-for-leak-kinds=definite,possible", "--track-fds=no", f"--log-file={log}",
                str(BIN / argv[0]), *argv[1:]], log

    def check(self, what, rc, want, log, stderr=b""):
        bad = rc != want
        report = log.read_text(errors="replace").strip() if log.exists() else ""
        if bad or report:
            self.failures.append(f"{what}: exit {rc} (want {want}); valgrind log {log}\n{report[-3000:]}\n"
                                 f"{stderr.decode(errors='replace')[-1000:]}")
            print(f"FAIL {what}")
        else:
            print(f"ok   {what}")

    def client(self, what, argv, stdin=b"", want=0):
        full, log = self.vg(argv[0], argv)
        r = subprocess.run(full, input=stdin, capture_output=True, timeout=TIMEOUT)
        self.check(what, r.returncode, want, log, r.stderr)
        return r

    def tcp(self):
        port = proc.free_port()
        full, log = self.vg("tcp-server", ["tcp-server", "-p", str(port), "--grace", "2"])
        with proc.Process(full, name="tcp-server", logdir=str(self.dir)) as srv:
            proc.wait_tcp_listening("127.0.0.1", port, srv, timeout=60)
            host = ["127.0.0.1", str(port)]
            r = self.client("tcp-client: one line", ["tcp-client", "-t", "30", *host], b"hello valgrind\n")
            assert r.stdout == b"FROM SERVER: HELLO VALGRIND\n", r.stdout
            self.client("tcp-client: 1000 lines", ["tcp-client", "-t", "30", *host],
                        b"".join(b"line %d of many\n" % i for i in range(1000)))
            self.client("tcp-client: unterminated tail", ["tcp-client", "-t", "30", *host], b"a\nno newline")
            self.check("tcp-server: 3 sessions, SIGTERM", srv.stop(signal.SIGTERM, timeout=60), 0, log,
                       srv.stderr())

    def udp(self, extra_client=None):
        port = proc.free_port(socket.SOCK_DGRAM)
        full, log = self.vg("udp-server", ["udp-server", "-p", str(port), "--grace", "1"])
        with proc.Process(full, name="udp-server", logdir=str(self.dir)) as srv:
            proc.wait_udp_answering("127.0.0.1", port, srv, timeout=60)
            self.client("udp-client: lines", ["udp-client", "-t", "10", "127.0.0.1", str(port)],
                        b"one\ntwo\nthree\n")
            self.client("udp-client: --seq, 200 generated", ["udp-client", "-t", "10", "-q", "--seq", "-n", "200",
                                                             "-w", "8", "127.0.0.1", str(port)])
            if extra_client:
                extra_client(port)
            self.check("udp-server: 2 sessions, SIGTERM", srv.stop(signal.SIGTERM, timeout=60), 0, log,
                       srv.stderr())

    def sniffer_live(self):
        if os.geteuid() != 0:
            print("skip sniffer on lo: needs root (CAP_NET_RAW)")
            return
        out, ready = self.dir / "lo.pcapng", self.dir / "lo.ready"

        def traffic(port):
            full, log = self.vg("sniffer", ["sniffer", "-i", "lo", "-f", f"udp port {port}", "-G", "3",
                                            "--ready-file", str(ready), "-w", str(out), "--json", "-"])
            with proc.Process(full, name="sniffer", logdir=str(self.dir)) as snf:
                proc.poll_until(lambda: ready.exists() or not snf.alive(), timeout=60, what="sniffer ready")
                self.client("udp-client: --seq while sniffing", ["udp-client", "-t", "10", "-q", "--seq", "-n", "50",
                                                                 "127.0.0.1", str(port)])
                rc = snf.wait(timeout=TIMEOUT)
                self.check("sniffer -i lo -G 3 -w", rc, 0, log, snf.stderr())
            if not out.exists():
                self.failures.append(f"sniffer -i lo: {out} was not written")
        self.udp(extra_client=traffic)

    def sniffer_offline(self):
        out = self.dir / "offline.pcapng"
        self.client("sniffer -r sample -w -v --json", ["sniffer", "-r", str(SAMPLE), "-w", str(out), "-v",
                                                       "--json", str(self.dir / "offline.json")])

    def run(self):
        missing = [p for p in ("tcp-server", "tcp-client", "udp-server", "udp-client", "sniffer")
                   if not (BIN / p).exists()]
        if missing or not shutil.which("valgrind"):
            print(f"valgrind-smoke: need valgrind and {BIN}/{{{','.join(missing)}}}", file=sys.stderr)
            return 2
        self.tcp()
        self.udp()
        self.sniffer_live()
        self.sniffer_offline()
        for f in self.failures:
            print(f"\n=== {f}", file=sys.stderr)
        print(f"valgrind-smoke: {'clean' if not self.failures else f'{len(self.failures)} failed'}"
              f" ({self.n} runs under memcheck; logs in {self.dir})")
        if not self.failures:
            shutil.rmtree(self.dir)
        return 1 if self.failures else 0


if __name__ == "__main__":
    sys.exit(Smoke().run())
