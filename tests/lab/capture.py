"""Two-sided capture and the scenario record: pcapng files and one JSON per test, named after the test id.

The sniffer (build/bin/sniffer) records the client's and the server's interface into captures/<id>.pcapng;
interface 0 is the client side, 1 the server side: the ledger matches the two sides packet by packet there.
Beside it, captures/<id>.client.pcapng and captures/<id>.server.pcapng hold one side each (sniffer --split):
those are the files to open in Wireshark, whose TCP analysis mixes the sides up in the two-sided file. Their
section comment says what the scenario was: the test id, the kernel (native or UML), the wirecheck version, the
topology, and, rewritten when the test ends, every impairment and command. captures/<id>.json holds the same
plus tc statistics, timings and the ledger.
"""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time

from . import interrupt, pcapfile, proc, uml
from .ledger import Ledger
from .netem import EGRESS

CHECKOUT = pathlib.Path(__file__).resolve().parent.parent.parent
CAPTURES = pathlib.Path(os.environ.get("WIRECHECK_CAPTURES", CHECKOUT / "captures"))


def sanitize(test_id):
    """A test id as a file name: 'lab/test_lab.py::test_x[a-1]' -> 'lab_test_lab.py__test_x_a-1'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", test_id.replace("::", "__")).strip("_")[:200]


_version = None


def wirecheck_version(bins):
    """'<tcp-server -V> (git <describe>)', computed once per process."""
    global _version
    if _version is None:
        v = proc.run([bins["tcp-server"], "-V"], check=False).stdout.decode().strip().splitlines()
        g = subprocess.run(["git", "-C", str(CHECKOUT), "describe", "--always", "--dirty"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
        _version = f"{v[0] if v else 'unknown'} (git {g or 'unknown'})"
    return _version


def side_paths(path):
    """{'client': <stem>.client.pcapng, 'server': <stem>.server.pcapng} beside the two-sided <stem>.pcapng."""
    path = pathlib.Path(path)
    stem = path.name[:-len(".pcapng")] if path.name.endswith(".pcapng") else path.name
    return {side: path.with_name(f"{stem}.{side}.pcapng") for side in ("client", "server")}


def file_comment(path, side=None):
    """The section comment that says what one file of a split capture holds (side None: the two-sided one)."""
    sides = side_paths(path)
    if side is None:
        return (f"this file: both sides (interface 0 the client side, 1 the server side), for matching them packet "
                f"by packet; Wireshark's TCP analysis mixes the two sides up here: open {sides['client'].name} or "
                f"{sides['server'].name} for it")
    other = "server" if side == "client" else "client"
    return (f"this file: the {side} side only (interface 0 here); the {other} side is in {sides[other].name}, "
            f"both sides in {pathlib.Path(path).name}")


class Capture:
    """The sniffer on the client's and the server's interface, from start() to stop() (SIGTERM)."""

    def __init__(self, sniffer, topo, path, comments, bpf=None, logdir=None, snaplen=None, split=False):
        self.sniffer, self.topo, self.path = sniffer, topo, pathlib.Path(path)
        self.comments, self.bpf, self.logdir, self.snaplen = comments, bpf, logdir, snaplen
        self.ready = self.path.with_name(self.path.name + ".ready")
        # split: one file per side beside the two-sided one, <stem>.client.pcapng and <stem>.server.pcapng
        self.sides = side_paths(self.path) if split else {}
        self.p = None

    @property
    def ifaces(self):
        return [self.topo.client.iface(), self.topo.server.iface()]

    def argv(self):
        c, s = self.ifaces
        a = [self.sniffer, "-i", c, "-i", s, "-w", str(self.path), "--ready-file", str(self.ready),
             "--describe", f"{c}=client side ({self.topo.client.addr4}, {self.topo.client.addr6})",
             "--describe", f"{s}=server side ({self.topo.server.addr4}, {self.topo.server.addr6})"]
        for text in self.comments:
            a += ["--comment", text]
        for iface, path in zip((c, s), self.sides.values()):
            a += ["--split", f"{iface}={path}"]
        if self.bpf:
            a += ["-f", self.bpf]
        if self.snaplen:
            a += ["-s", str(self.snaplen)]
        return a

    def files(self):
        """Every file this capture writes: the two-sided one, then the sides (if split)."""
        return [self.path, *self.sides.values()]

    def start(self, timeout=10.0):
        for f in (*self.files(), self.ready):
            f.unlink(missing_ok=True)
        self.p = proc.Process(self.argv(), name="sniffer", logdir=self.logdir)
        self.topo.defer(f"stop sniffer (pid {self.p.pid})", self.p.close)

        def ready():
            if not self.p.alive():
                raise proc.NotReady(f"sniffer exited before it was ready\n{self.p.describe()}")
            return self.ready.exists()
        proc.poll_until(ready, timeout, what=f"sniffer ready file {self.ready}")
        return self

    def stop(self, timeout=10.0):
        """SIGTERM; the sniffer writes its statistics and renames FILE.partial to FILE. Raises on failure."""
        if self.p is None or not self.p.alive() and self.path.exists():
            return
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=timeout)
        self.ready.unlink(missing_ok=True)
        missing = [str(f) for f in self.files() if not f.exists()]
        if rc != 0 or missing:
            raise RuntimeError(f"sniffer ended with {rc}, files missing: {missing or 'none'}\n{self.p.describe()}")


class Scenario:
    """One test's scenario: its topology, impairments, capture, ledger and record.

    Started by the `scenario` fixture (capture running before the test body), finished at teardown: the
    capture is stopped, its section comment rewritten with everything that happened, and the JSON record
    written. Logs of the test's processes stay in captures/<id>.logs/ when the test fails.
    """

    def __init__(self, test_id, topo, impairments, bins, outdir=CAPTURES):
        self.test_id, self.topo, self.netem, self.bins = test_id, topo, impairments, bins
        self.name = sanitize(test_id)
        self.outdir = pathlib.Path(outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.pcapng = self.outdir / f"{self.name}.pcapng"      # both sides
        self.sides = side_paths(self.pcapng)                   # {"client": ..., "server": ...}: one side each
        self.json = self.outdir / f"{self.name}.json"
        self.logdir = self.outdir / f"{self.name}.logs"
        shutil.rmtree(self.logdir, ignore_errors=True)
        self.logdir.mkdir()
        topo.logdir = str(self.logdir)
        self.kernel = uml.kernel_info()
        self.version = wirecheck_version(bins)
        self.capture = None
        self._ledger = None
        self.checks = None
        self.notes = []
        self.timings = {}

    def comments(self, final=False):
        k = self.kernel
        t = self.topo
        lines = [f"wirecheck lab scenario: {self.test_id}",
                 f"kernel: {k['mode']} {k['release']}"
                 + (" (User-Mode Linux: the host kernel has no sch_netem)" if k["mode"] == "uml" else ""),
                 f"wirecheck: {self.version}",
                 f"topology: client {t.client.addr4} {t.client.addr6} [{t.client.iface()}] -- router "
                 f"[{t.router.ns}] -- server {t.server.addr4} {t.server.addr6} [{t.server.iface()}]; interface 0 "
                 "is the client side, 1 the server side",
                 "impairments (router egress): " + "; ".join(self.netem.describe())]
        if self.netem.rto_min_ms is not None:
            lines.append(f"TCP rto_min lowered to {self.netem.rto_min_ms} ms on the endpoints' routes "
                         "(ip route change ... rto_min) so that retransmissions come fast")
        if final:
            lines += [f"command ({c['node']}, t={c['t']:.3f}s): {' '.join(c['argv'])}" for c in t.commands
                      if c["argv"][:1] not in (["tc"], ["iptables-legacy"], ["ip6tables-legacy"], ["ip"])]
            lines += [f"note: {n}" for n in self.notes]
        return lines

    def start_capture(self, bpf=None, snaplen=None):
        """Starts the two-sided capture; a BPF filter or a snaplen keeps a scenario that streams 100 MB from
        writing (and the ledger from reading) every byte of it."""
        t0 = time.monotonic()
        self.capture = Capture(self.bins["sniffer"], self.topo, self.pcapng, self.comments(), bpf=bpf,
                               snaplen=snaplen, logdir=str(self.logdir), split=True).start()
        self.timings["capture_start_s"] = time.monotonic() - t0
        return self.capture

    def stop_capture(self):
        if self.capture is not None:
            self.capture.stop()

    def ledger(self):
        """Stops the capture (once) and returns the Ledger of its two sides."""
        if self._ledger is None:
            self.stop_capture()
            t0 = time.monotonic()
            t = self.topo
            self._ledger = Ledger.from_pcapng(self.pcapng, 0, 1, {t.client.addr4, t.client.addr6},
                                              {t.server.addr4, t.server.addr6})
            self.timings["ledger_s"] = time.monotonic() - t0
        return self._ledger

    def assert_netem(self, netems=None, alpha=None):
        """The ledger's counts are within the bounds of what netem was told (default: its current settings)."""
        led = self.ledger()
        kw = {"alpha": alpha} if alpha else {}
        self.checks = led.check(netems or self.netem.current, **kw)
        return led.assert_matches(netems or self.netem.current, **kw)

    def note(self, text):
        """A line for the capture comment and the record (what the test set out to show)."""
        self.notes.append(text)

    @staticmethod
    def _rel(path):
        return str(path.relative_to(CHECKOUT)) if path.is_relative_to(CHECKOUT) else str(path)

    def finish(self, outcome="unknown"):
        """Stops the capture, rewrites its section comment, writes the JSON record; keeps logs on failure.

        When the run was interrupted (lab.interrupt), the outcome is "interrupted" and only what makes the files
        complete is done: the capture is stopped and commented, the record written without tc statistics and
        ledger (minutes of work inside UML, where the run has seconds to stop).
        """
        interrupted = interrupt.received() is not None
        if interrupted:
            outcome = "interrupted"
            self.note(f"the run was interrupted ({signal.Signals(interrupt.received()).name}): "
                      "this capture ends there")
        try:
            tc_stats = self.netem.stats() if not interrupted else {"skipped": "interrupted"}
        except Exception as e:  # a broken router must not hide the test's own failure
            tc_stats = {"error": str(e)}
        errors = []
        try:
            self.stop_capture()
            final = self.comments(final=True)
            for side, path in ((None, self.pcapng), *self.sides.items()):
                if path.exists():
                    pcapfile.annotate(path, section=final + [file_comment(self.pcapng, side)])
        except Exception as e:
            errors.append(f"capture: {e}")
        led = None
        if self.pcapng.exists() and not interrupted:
            try:
                led = self.ledger().record()
            except Exception as e:
                errors.append(f"ledger: {e}")
        rec = {"test_id": self.test_id, "outcome": outcome, "capture": str(self.pcapng.relative_to(CHECKOUT))
               if self.pcapng.is_relative_to(CHECKOUT) else str(self.pcapng),
               "side_captures": {side: self._rel(p) for side, p in self.sides.items() if p.exists()},
               "interfaces": {"0": "client side " + self.topo.client.iface(),
                              "1": "server side " + self.topo.server.iface()},
               "kernel": self.kernel, "wirecheck": self.version, "topology": self.topo.describe(),
               "impairments": self.netem.record(), "egress": EGRESS, "tc_stats": tc_stats,
               "commands": self.topo.commands, "notes": self.notes,
               "sniffer": self.capture.argv() if self.capture else None,
               "timings": {**self.topo.timings, **self.timings}, "checks": self.checks, "ledger": led,
               "errors": errors}
        self.json.write_text(json.dumps(rec, indent=1, default=str) + "\n")
        if outcome == "passed" and not errors:
            shutil.rmtree(self.logdir, ignore_errors=True)
        if errors:
            raise RuntimeError("; ".join(errors))
