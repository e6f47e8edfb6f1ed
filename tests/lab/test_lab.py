"""Tests of the lab itself: topology hygiene, the pcapng reader, the ledger's bounds, exact drops, netem."""
import json
import os
import random
import struct

import pytest

from lab import netns, pcapfile, proc
from lab.ledger import ImpairmentMismatch, binom_bounds
from lab.netem import C2S, S2C, Netem, nth_indices

UDP_PORT, TCP_PORT = 9876, 6789
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def start_udp_server(bins, server):
    p = server.spawn([bins["udp-server"], "-p", str(UDP_PORT), "--grace", "0"], name="udp-server")
    server.wait_udp(UDP_PORT, p)   # from inside the server's namespace: nothing on the wire
    return p


def udp_burst(bins, client, server, n, family=4, rate=2000, window=32, timeout=0.3):
    """udp-client --seq: n tagged datagrams; returns (exit status, its JSON summary)."""
    out = os.path.join(client.topo.logdir or "/tmp", f"udp-client-{n}.json")
    r = client.exec([bins["udp-client"], "--seq", "-q", "-n", str(n), "-s", "64", "--rate", str(rate), "-w",
                     str(window), "-t", str(timeout), "--json", out, server.addr(family), str(UDP_PORT)],
                    check=False, timeout=60)
    assert r.returncode in (0, 3), f"udp-client: exit {r.returncode}\n{r.stderr.decode()}"
    with open(out) as f:
        return r.returncode, json.load(f)


# --- no root needed -------------------------------------------------------------------------------------
def _pcapng(comments=("hello",), packets=((0, b"\x01\x02\x03"),), drops=None):
    def opt(code, v):
        return struct.pack("<HH", code, len(v)) + v + b"\0" * (-len(v) % 4)

    def block(t, body):
        return struct.pack("<II", t, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
                + b"".join(opt(1, c.encode()) for c in comments) + opt(0, b""))
    idb = block(1, struct.pack("<HHI", 1, 0, 262144) + opt(2, b"eth0") + opt(9, b"\x09") + opt(0, b""))
    epbs = b"".join(block(6, struct.pack("<IIIII", i, 0, 1_000_000_007, len(d), len(d)) + d + b"\0" * (-len(d) % 4)
                          + opt(2, struct.pack("<I", 2)) + opt(0, b"")) for i, d in packets)
    isb = b"" if drops is None else block(5, struct.pack("<III", 0, 0, 0) + opt(5, struct.pack("<Q", drops))
                                          + opt(0, b""))
    return shb + idb + epbs + isb


def test_pcapng_reader_and_comment_rewrite(tmp_path):
    f = pcapfile.parse(_pcapng())
    assert (f.comments, f.interfaces[0].name, f.interfaces[0].tsresol) == (["hello"], "eth0", 9)
    p = f.packets[0]
    assert (p.ts_ns, p.data, p.direction) == (1_000_000_007, b"\x01\x02\x03", "out")
    path = tmp_path / "x.pcapng"
    path.write_bytes(_pcapng())
    pcapfile.annotate(path, section=["scenario: a", "kernel: b\n"], packets={0: ["a note\n"]})
    g = pcapfile.read(path)
    assert g.comments == ["scenario: a", "kernel: b"] and g.packets[0].data == p.data
    assert (g.packets[0].comments, g.packets[0].flags, g.interfaces[0].name) == (["a note"], 2, "eth0")
    # the interface statistics say how many packets the capture itself lost (none said: 0)
    assert g.interfaces[0].drops == 0 and pcapfile.parse(_pcapng(drops=11087)).interfaces[0].drops == 11087
    broken = bytearray(_pcapng())
    broken[-4] ^= 1  # the last block's trailer length
    with pytest.raises(pcapfile.FormatError, match="header .* and trailer .* don't match"):
        pcapfile.parse(bytes(broken))
    with pytest.raises(pcapfile.FormatError, match="interface id 5"):
        pcapfile.parse(_pcapng(packets=((5, b"x"),)))


def _parse_or_error(buf):
    try:
        return pcapfile.parse(buf)
    except pcapfile.FormatError as e:
        return f"FormatError: {e}"


def test_pcapng_fast_path_reads_what_the_cursor_reads(monkeypatch):
    """Enhanced packet blocks have a fast path; on 3,000 mutations of a file (a byte flipped, or the file cut)
    it gives the packets, or the error, that the bounds-checked cursor alone gives."""
    good = _pcapng(packets=((0, b"\x01\x02\x03"), (0, b"abcd" * 5), (0, b"")))
    rnd = random.Random(7)
    cases = [good]
    for _ in range(3000):
        b = bytearray(good)
        if rnd.random() < 0.2:
            b = b[:rnd.randrange(len(b))]
        else:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        cases.append(bytes(b))
    fast = [_parse_or_error(b) for b in cases]
    monkeypatch.setattr(pcapfile, "_epb_fast", lambda *a: None)
    slow = [_parse_or_error(b) for b in cases]
    assert fast == slow
    assert len(fast[0].packets) == 3 and sum(isinstance(x, str) for x in fast) > 300


def test_a_process_leaves_no_log_directory_of_its_own():
    """Without a log directory of the caller's, a Process logs into a temporary one that close() removes; what it
    wrote can still be read."""
    p = proc.Process(["sh", "-c", "echo out; echo err >&2"], name="echo")
    p.wait()
    p.close()
    assert not os.path.exists(p.logdir)
    assert (p.stdout(), p.stderr()) == (b"out\n", b"err\n")
    assert "err" in p.describe()


def test_binomial_bounds_and_nth_indices():
    lo, hi = binom_bounds(400, 0.1)
    assert 10 <= lo < 40 < hi <= 75, (lo, hi)
    assert binom_bounds(50, 0) == (0, 0) and binom_bounds(50, 1) == (50, 50)
    assert nth_indices(20, 5, 0) == [0, 5, 10, 15]
    assert nth_indices(20, 5, 4) == [4, 9, 14, 19]


# --- namespaces ------------------------------------------------------------------------------------------
@pytest.mark.lab
@needs_root
def test_topology_leaves_nothing_behind(bins):
    topo = netns.Topology()
    with topo:
        c, r, s = topo.client, topo.router, topo.server
        assert len({c.ns, r.ns, s.ns}) == 3 and all(len(n) <= 15 for n in c.ifnames + r.ifnames)
        p = s.spawn([bins["tcp-server"], "-p", str(TCP_PORT), "--grace", "0"], name="tcp-server")
        s.wait_tcp(TCP_PORT, p)
        for fam in (4, 6):  # through the router, both families
            out = c.exec([bins["tcp-client"], "--raw", s.addr(fam), str(TCP_PORT)], input=b"ping\n").stdout
            assert out == b"PING\n", (fam, out)
        assert r.exec(["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() == b"1"
        feats = r.exec(["ethtool", "-k", "to-server"]).stdout.decode()
        for f in ("tcp-segmentation-offload: off", "generic-segmentation-offload: off",
                  "generic-receive-offload: off"):
            assert f in feats, f
        assert netns.netns_pids(s.ns) == [p.pid]
    # Other tests (other xdist workers, other engineers) have namespaces too: look for ours only.
    left = [n for n in topo.names.values() if n in netns.lab_namespaces() or os.path.exists(f"/run/netns/{n}")]
    assert left == [], f"namespaces left behind: {left}"
    assert p.p.poll() is not None, "tcp-server outlived its topology"
    assert topo.timings["setup_s"] > 0 and topo.timings["teardown_s"] > 0


@pytest.mark.lab
@needs_root
def test_teardown_fails_on_a_leaked_process():
    topo = netns.Topology().up()
    stray = proc.Process(["sleep", "30"], netns=topo.server.ns)  # not registered with the topology
    proc.poll_until(lambda: netns.netns_pids(topo.server.ns), 5, what="stray process in the server netns")
    with pytest.raises(netns.LeakError, match="still has processes"):
        topo.close()
    stray.close()
    assert not any(os.path.exists(f"/run/netns/{n}") for n in topo.names.values())


# --- capture and ledger without netem (iptables works natively) -------------------------------------------
@pytest.mark.lab
@pytest.mark.capture
@needs_root
def test_clean_path_ledger_sees_every_packet(scenario, client, server, netem, bins):
    start_udp_server(bins, server)
    rc, summary = udp_burst(bins, client, server, 200, family=6)
    led = scenario.ledger()
    assert rc == 0, summary
    for d in (C2S, S2C):
        c = led.counts(d)
        assert (c["sent"], c["delivered"], c["lost"], c["duplicates"], c["reordered"]) == (200, 200, 0, 0, 0), (d, c)
    scenario.assert_netem()
    f = pcapfile.read(scenario.pcapng)
    assert len(f.interfaces) == 2 and any(scenario.test_id in c for c in f.comments), f.comments
    # One file per side beside it, with that side's packets, in the same (strict time) order.
    scenario.finish("passed")
    for k, (side, path) in enumerate(scenario.sides.items()):
        g = pcapfile.read(path)
        want = [(p.ts_ns, p.data, p.comments) for p in pcapfile.read(scenario.pcapng).packets if p.iface == k]
        got = [(p.ts_ns, p.data, p.comments) for p in g.packets]
        assert len(g.interfaces) == 1 and got == want, (side, len(got), len(want))
        assert [t for t, _, _ in got] == sorted(t for t, _, _ in got), side
        assert any(c.startswith(f"this file: the {side} side only") for c in g.comments), g.comments
        assert any(scenario.test_id in c for c in g.comments), g.comments


@pytest.mark.lab
@pytest.mark.capture
@needs_root
def test_nth_drop_drops_exactly_those_packets(scenario, client, server, netem, bins):
    start_udp_server(bins, server)
    every, packet, n = 7, 2, 60
    netem.drop_nth(C2S, every, packet, proto="udp", dport=UDP_PORT)
    scenario.note(f"iptables nth --every {every} --packet {packet}: client datagrams {nth_indices(n, every, packet)}"
                  " (0-based) must be the only ones lost")
    rc, summary = udp_burst(bins, client, server, n, window=n, timeout=0.2)
    led = scenario.ledger()
    lost = [e["i"] for e in led.lost(C2S)]
    assert lost == nth_indices(n, every, packet), (lost, nth_indices(n, every, packet))
    assert [e["tag"] for e in led.lost(C2S)] == [f"WC{i:010d}" for i in lost]  # udp-client counts from 0
    assert netem.rule_counters() == [len(lost)], netem.rule_counters()
    assert led.counts(S2C)["lost"] == 0 and led.counts(S2C)["sent"] == n - len(lost)


# --- netem (natively when the kernel has it, else inside UML) ---------------------------------------------
@pytest.mark.lab
@pytest.mark.netem
@pytest.mark.capture
def test_loss_duplication_reordering_within_bounds(scenario, client, server, netem, bins):
    start_udp_server(bins, server)
    c2s = netem.set(C2S, delay_ms=5, loss=10)
    s2c = netem.set(S2C, delay_ms=20, duplicate=10, reorder=25)
    n = 400
    udp_burst(bins, client, server, n, rate=1000, window=64)
    led = scenario.ledger()
    checks = scenario.assert_netem()
    assert {c["name"] for c in checks} >= {"loss", "duplicate", "reorder (sent at once)"}, checks
    assert led.counts(C2S)["sent"] == n and led.counts(S2C)["reordered"] > 0, led.counts(S2C)
    # A misconfigured expectation must fail loudly, not pass.
    with pytest.raises(ImpairmentMismatch, match="c2s loss: observed"):
        led.assert_matches({C2S: c2s.replace(loss=30), S2C: s2c})
    with pytest.raises(ImpairmentMismatch, match="s2c duplicate"):
        led.assert_matches({C2S: c2s, S2C: s2c.replace(duplicate=0.1)})


@pytest.mark.lab
@pytest.mark.netem
@pytest.mark.capture
def test_blackout_mid_run_loses_exactly_what_netem_dropped(scenario, client, server, netem, bins):
    start_udp_server(bins, server)
    netem.set(C2S, delay_ms=1)
    # 8 s at 200/s: long enough for the router to be changed mid-run even inside UML on a loaded host, where
    # reading the qdisc's counters took so long once that a 3-s run had ended before the blackout
    n = 1600
    cl = client.spawn([bins["udp-client"], "--seq", "-q", "-n", str(n), "--rate", "200", "-w", "16", "-t", "0.2",
                       server.addr4, str(UDP_PORT)], name="udp-client")
    proc.poll_until(lambda: netem.stats(C2S).get("packets", 0) >= 100, 20, what="100 datagrams through the router")
    with netem.blackout(C2S):
        assert cl.alive(), "the client ended before the blackout: make it longer"
        proc.poll_until(lambda: netem.stats(C2S).get("drops", 0) >= 30, 20, what="30 datagrams blacked out")
    assert cl.wait(timeout=60) == 3, cl.describe()  # 3: some datagrams got no reply
    dropped = netem.stats(C2S)["drops"]
    led = scenario.ledger()
    lost = [e["i"] for e in led.lost(C2S)]
    assert len(lost) == dropped and lost == list(range(lost[0], lost[0] + len(lost))), (dropped, lost)
    assert 100 <= lost[0] and led.counts(C2S)["sent"] == n and led.counts(S2C)["lost"] == 0


@pytest.mark.lab
@pytest.mark.netem
@pytest.mark.capture
def test_tcp_through_loss_with_rto_min(scenario, client, server, netem, bins):
    p = server.spawn([bins["tcp-server"], "-p", str(TCP_PORT), "--grace", "0"], name="tcp-server")
    server.wait_tcp(TCP_PORT, p)
    netem.set_rto_min(10)
    assert "rto_min lock 10ms" in client.exec(["ip", "route", "show", "10.71.2.0/24"]).stdout.decode()
    netem.set(C2S, delay_ms=2, loss=5)
    netem.set(S2C, delay_ms=2, loss=5)
    lines = b"".join(b"line %05d of the lossy transfer, lower case on purpose\n" % i for i in range(3000))
    r = client.exec([bins["tcp-client"], "--raw", server.addr6, str(TCP_PORT)], input=lines, timeout=120)
    assert r.stdout == lines.upper(), "reply differs from the upper case of the request"
    led = scenario.ledger()
    scenario.assert_netem()
    assert led.counts(C2S)["lost"] > 0 and led.counts(S2C)["lost"] > 0, led.counts(C2S)
    assert any("rto_min" in c for c in scenario.comments()), scenario.comments()


@pytest.mark.lab
@pytest.mark.netem
def test_every_netem_knob_reaches_the_qdisc(router, netem):
    """tc accepts each impairment as the lab spells it, and the qdisc reports it back."""
    cases = [(Netem(delay_ms=10, jitter_ms=2, delay_corr=25, rate="1mbit"), "delay"),
             (Netem(delay_ms=10, jitter_ms=3, distribution="normal"), "jitter"),
             (Netem(gemodel=(1, 10, 70, 0.1)), "loss-gemodel"),
             (Netem(loss_state=(1, 20, 1, 5, 0.5)), "loss-state"),
             (Netem(duplicate=3, corrupt=1), "corrupt"),
             (Netem(delay_ms=5, reorder=100, gap=5), "gap"),
             (Netem(rate="10mbit", limit=50), "rate"),
             (Netem(delay_ms=5, loss=1, loss_corr=25, reorder=10, reorder_corr=50), "reorder")]
    def shown(dev):  # the qdisc as tc prints it, without its handle and refcount
        out = router.exec(["tc", "qdisc", "show", "dev", dev, "root"]).stdout.decode()
        return out.split("refcnt", 1)[1].split(None, 1)[1].strip()
    for ne, _ in cases:
        netem.set(S2C, ne)  # each one replaces the last: nothing of the previous may stay
        router.exec(["tc", "qdisc", "replace", "dev", "to-server", "root", "netem"] + ne.args())
        assert shown("to-client") == shown("to-server"), (ne.describe(), shown("to-client"), shown("to-server"))
        router.exec(["tc", "qdisc", "del", "dev", "to-server", "root"])  # fresh, for the next comparison
    assert abs(Netem(gemodel=(1, 10, 70, 0.1)).expected_loss() - (10 / 11 * 0.001 + 1 / 11 * 0.7)) < 1e-9
    with pytest.raises(ValueError, match="needs a delay"):
        Netem(reorder=10)
