"""Impairments on the router: netem per direction, changes during a run, exact nth-packet drops, rto_min.

Direction C2S (client to server) is netem on the router's egress toward the server (`to-server`), S2C on its
egress toward the client (`to-client`). netem acts on egress only; putting it on the router keeps the endpoints'
TCP stacks from seeing the loss locally (LAB.md). Everything done is kept in `.history` for the scenario record.
"""
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import time

from . import interrupt, proc
from .ledger import C2S, S2C
from .netns import LeakError

EGRESS = {C2S: "to-server", S2C: "to-client"}
INGRESS = {C2S: "to-client", S2C: "to-server"}
DEFAULT_QDISCS = {"noqueue", "pfifo_fast", "fq_codel", "mq", "fq"}


@dataclasses.dataclass(frozen=True)
class Netem:
    """One netem configuration. Percentages are percent (tc's unit): loss=5 means 5 %.

    gemodel = (p, r, 1-h, 1-k) and loss_state = (p13, p31, p32, p23, p14) as in tc-netem(8); they replace
    `loss`. Reordering needs delay (tc refuses it otherwise); gap=N with reorder=100 sends every Nth packet at
    once and delays the others. `rate` is tc's syntax ("10mbit"); `limit` is netem's queue in packets
    (default 1000, which tail-drops silently when delay x rate is large).
    """
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    delay_corr: float = None
    distribution: str = None
    loss: float = 0.0
    loss_corr: float = None
    gemodel: tuple = None
    loss_state: tuple = None
    duplicate: float = 0.0
    corrupt: float = 0.0
    reorder: float = 0.0
    reorder_corr: float = None
    gap: int = None
    rate: str = None
    limit: int = None

    def __post_init__(self):
        for k in ("loss", "duplicate", "corrupt", "reorder"):
            v = getattr(self, k)
            if not 0 <= v <= 100:
                raise ValueError(f"netem {k}={v}: a percentage must be within 0..100")
        if (self.reorder or self.gap) and self.delay_ms <= 0:
            raise ValueError("netem reorder needs a delay (tc-netem(8)): set delay_ms")
        if sum(bool(x) for x in (self.loss, self.gemodel, self.loss_state)) > 1:
            raise ValueError("netem: give one of loss, gemodel, loss_state")

    def args(self, explicit=False):
        """tc's arguments after `netem`. explicit=True also spells out every zero (correlations, rate 0bit):
        `tc qdisc replace` on an existing netem keeps whatever attribute it is not sent, so a change made
        mid-run would otherwise inherit stale correlations, a rate or a loss model from the previous one.
        """
        z = explicit
        pct = lambda v: f"{v}%"  # noqa: E731
        corr = lambda v: [pct(v or 0)] if (v is not None or z) else []  # noqa: E731
        a = []
        if self.limit is not None or z:
            a += ["limit", str(self.limit if self.limit is not None else 1000)]
        if self.delay_ms or self.jitter_ms or z:
            a += ["delay", f"{self.delay_ms}ms"]
            if self.jitter_ms or z:
                a += [f"{self.jitter_ms}ms"] + corr(self.delay_corr)
                if self.distribution:
                    a += ["distribution", self.distribution]
        if self.gemodel:
            a += ["loss", "gemodel"] + [pct(x) for x in self.gemodel]
        elif self.loss_state:
            a += ["loss", "state"] + [pct(x) for x in self.loss_state]
        elif self.loss or z:
            a += ["loss", "random", pct(self.loss)] + corr(self.loss_corr)
        if self.duplicate or z:
            a += ["duplicate", pct(self.duplicate)] + (corr(None) if z else [])
        if self.corrupt or z:
            a += ["corrupt", pct(self.corrupt)] + (corr(None) if z else [])
        if self.reorder or self.gap or z:
            a += ["reorder", pct(self.reorder)] + corr(self.reorder_corr)
            if self.gap:
                a += ["gap", str(self.gap)]
        if self.rate or z:
            a += ["rate", self.rate or "0bit"]
        return a

    def describe(self):
        return "netem " + (" ".join(self.args()) or "(nothing)")

    def expected_loss(self):
        """The long-run fraction of packets netem drops (independent draws only for plain `loss`)."""
        if self.gemodel:
            p, r, one_minus_h, one_minus_k = (x / 100 for x in (list(self.gemodel) + [100, 0])[:4])
            bad = p / (p + r) if p + r else 0.0
            return (1 - bad) * one_minus_k + bad * one_minus_h
        return self.loss / 100

    def replace(self, **kw):
        return dataclasses.replace(self, **kw)

    def to_dict(self):
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, 0, 0.0)}


def nth_indices(count, every, packet=0):
    """0-based indices, among `count` packets that reach the rule, that `-m statistic --mode nth --every N
    --packet P` matches: P, P+N, P+2N... (measured: test_nth_drop_drops_exactly_those_packets).
    """
    if not 0 <= packet < every:
        raise ValueError(f"nth: --packet {packet} must be within 0..{every - 1}")
    return list(range(packet, count, every))


class Impairments:
    """netem qdiscs and iptables rules on a topology's router; cleared and leak-checked at topology teardown."""

    def __init__(self, topo):
        self.topo = topo
        self.router = topo.router
        self.current = {C2S: None, S2C: None}
        self.history = []
        self.rules = []
        self.rto_min_ms = None
        self._t0 = time.monotonic()
        self.iptables = shutil.which("iptables-legacy") and "iptables-legacy" or "iptables"
        self.ip6tables = shutil.which("ip6tables-legacy") and "ip6tables-legacy" or "ip6tables"
        topo.defer("remove impairments on the router", self.clear_all)

    def _log(self, action, **kw):
        self.history.append({"t": round(time.monotonic() - self._t0, 6), "action": action, **kw})

    # netem ----------------------------------------------------------------------------------------------
    def set(self, direction, netem=None, **kw):
        """Puts netem (a Netem, or its fields as keywords) on the router's egress for `direction`."""
        netem = netem or Netem(**kw)
        dev = EGRESS[direction]
        before = self.current[direction]
        if before is not None and before.distribution and before.distribution != netem.distribution:
            # netem cannot drop a delay distribution table on change: re-create (queued packets are lost)
            self.router.exec(["tc", "qdisc", "del", "dev", dev, "root"])
            self._log("clear", direction=direction, dev=dev, why="a distribution table cannot be changed back")
        self.router.exec(["tc", "qdisc", "replace", "dev", dev, "root", "netem"] + netem.args(explicit=True))
        self.current[direction] = netem
        self._log("netem", direction=direction, dev=dev, netem=netem.describe())
        return netem

    def clear(self, direction):
        if self.current[direction] is not None:
            self.router.exec(["tc", "qdisc", "del", "dev", EGRESS[direction], "root"])
            self.current[direction] = None
            self._log("clear", direction=direction, dev=EGRESS[direction])

    @contextlib.contextmanager
    def changed(self, direction, netem=None, **kw):
        """Within the block `direction` has netem (or the current one with kw changed); then it is restored."""
        before = self.current[direction]
        new = netem or (before or Netem()).replace(**kw)
        self.set(direction, new)
        try:
            yield new
        finally:
            if before is None:
                self.clear(direction)
            else:
                self.set(direction, before)

    def blackout(self, direction):
        """A context manager: every packet in `direction` is dropped within the block (delay etc. kept)."""
        return self.changed(direction, loss=100.0, gemodel=None, loss_state=None)

    # exact drops ----------------------------------------------------------------------------------------
    def drop_nth(self, direction, every, packet=0, proto="udp", dport=None, family=4):
        """Drops exactly every Nth forwarded packet of `direction` (those nth_indices() names) in the router's
        FORWARD chain. proto/dport narrow what the rule counts. iptables-legacy is used where it exists: the
        nft variant fails inside UML.
        """
        tool = self.iptables if family == 4 else self.ip6tables
        rule = ["-i", INGRESS[direction], "-o", EGRESS[direction]]
        if proto:
            rule += ["-p", proto]
        if dport:
            rule += ["--dport", str(dport)]
        rule += ["-m", "statistic", "--mode", "nth", "--every", str(every), "--packet", str(packet), "-j", "DROP"]
        self.router.exec([tool, "-w", "-A", "FORWARD"] + rule)
        self.rules.append((tool, rule))
        self._log("drop_nth", direction=direction, tool=tool, rule=" ".join(rule))

    def rule_counters(self):
        """Packets each drop_nth rule matched, in order of creation (from `iptables -L -v -x`)."""
        counts = []
        for tool in dict.fromkeys(t for t, _ in self.rules):
            out = self.router.exec([tool, "-w", "-L", "FORWARD", "-v", "-n", "-x"]).stdout.decode()
            counts += [int(line.split()[0]) for line in out.splitlines()[2:] if line.strip()]
        return counts

    # rto_min --------------------------------------------------------------------------------------------
    def set_rto_min(self, ms):
        """Lowers TCP's minimum RTO on the client's and the server's routes to each other (ip route ... rto_min),
        so that lossy TCP scenarios finish fast. Recorded, and said in the capture comment.
        """
        t = self.topo
        for node, far, via4, via6 in ((t.client, 2, t.router.addrs["to-client"][0], t.router.addrs["to-client"][1]),
                                      (t.server, 1, t.router.addrs["to-server"][0], t.router.addrs["to-server"][1])):
            node.exec(["ip", "route", "change", f"10.71.{far}.0/24", "via", via4, "dev", "to-router",
                       "rto_min", f"{ms}ms"])
            node.exec(["ip", "-6", "route", "change", f"fd00:71:{far}::/64", "via", via6, "dev", "to-router",
                       "rto_min", f"{ms}ms"])
        self.rto_min_ms = ms
        self._log("rto_min", ms=ms)

    # statistics and record ------------------------------------------------------------------------------
    def stats(self, direction=None):
        """`tc -s qdisc` of the router's egress devices as tc's JSON: {direction: [qdisc, ...]}, or only the
        root qdisc's dict of `direction` when given (packets, drops, backlog, ...).
        """
        if direction is not None:
            r = self.router.exec(["tc", "-s", "-j", "qdisc", "show", "dev", EGRESS[direction], "root"])
            return (json.loads(r.stdout or b"[]") or [{}])[0]
        return {d: json.loads(self.router.exec(["tc", "-s", "-j", "qdisc", "show", "dev", dev]).stdout or b"[]")
                for d, dev in EGRESS.items()}

    def describe(self):
        """One line per impairment, for the capture comment."""
        lines = [f"{d} ({EGRESS[d]}): {n.describe() if n else 'none'}" for d, n in self.current.items()]
        lines += [f"{tool} FORWARD {' '.join(rule)}" for tool, rule in self.rules]
        if self.rto_min_ms is not None:
            lines.append(f"rto_min {self.rto_min_ms}ms on the client's and the server's routes")
        return lines

    def record(self):
        return {"current": {d: (n.to_dict() if n else None) for d, n in self.current.items()},
                "tc": {d: (["netem"] + n.args() if n else None) for d, n in self.current.items()},
                "history": self.history,
                "rules": [{"tool": t, "rule": r} for t, r in self.rules],
                "rto_min_ms": self.rto_min_ms}

    def clear_all(self):
        """Removes every qdisc and rule this object added, then checks the router has none left.

        Not when the run was interrupted: the router's namespace is deleted next (Topology's first deferral),
        and its qdiscs and rules with it; the seconds go to stopping instead.
        """
        if interrupt.received() is not None:
            return
        for d in (C2S, S2C):
            self.clear(d)
        for tool in dict.fromkeys(t for t, _ in self.rules):
            self.router.exec([tool, "-w", "-F", "FORWARD"])
        self.rules = []
        left = [f"{q.get('kind')} on {q.get('dev')}"
                for q in json.loads(self.router.exec(["tc", "-j", "qdisc", "show"]).stdout or b"[]")
                if q.get("kind") not in DEFAULT_QDISCS]
        if left:
            raise LeakError(f"qdiscs left on router {self.router.ns}: {left}")


_native = None


def netem_native():
    """True when this kernel can put netem on a device: tried on lo in a throwaway namespace (cached)."""
    global _native
    if _native is None:
        ns = f"wc-probe-{os.getpid()}-{secrets.token_hex(2)}"
        try:
            proc.run(["ip", "netns", "add", ns])
            r = proc.run(["tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"], check=False)
            _native = r.returncode == 0
        except (OSError, RuntimeError):
            _native = False
        finally:
            proc.run(["ip", "netns", "del", ns], check=False)
    return _native
