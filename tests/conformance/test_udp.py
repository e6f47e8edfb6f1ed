"""UDP scenarios, grouped by the clauses of PROTOCOL.md; every assertion names its clause."""
import json
import random
import signal
import socket
import subprocess

import pytest

from lab import proc
from wcrun.bytesdiff import first_diff, upper
from wcrun.plugin import need
from wcrun.env import sigterm_exit_text
from wcrun.verdict import EnvError, Inconclusive
from wcrun.wire import tag_order

SEQ_TAG = b"WC%010d:"


def ask(s, data, dest, timeout=2.0, send=True):
    """Sends data to dest from an unconnected socket and returns the first reply from the server's host, from
    any port (the port is U2's clause, judged in its own scenario), or None after `timeout`."""
    s.settimeout(timeout)
    if send:
        s.sendto(data, dest)
    while True:
        try:
            got, addr = s.recvfrom(70000)
        except socket.timeout:
            return None
        if addr[0] == dest[0]:
            return got


def misaddressed(env, port):
    """Lab: the server did reply, but to another port than the request's (U2's fault, which U1's scenarios
    see as no reply at all): raises Inconclusive naming U2."""
    if not env.lab:
        return
    bad = env.wire().udp_replies_misaddressed(port)
    if bad:
        p, sport = bad[0]
        raise Inconclusive("U2", f"no reply reached the client, but the server sent one ({p.where}) to port "
                                 f"{p.dport}, not to the request's source port {sport}")


@pytest.mark.clause("U1.1", "U1.2")
@pytest.mark.parametrize("size", [0, 1, 100, 1472, 1473, 8192, 65507])
def test_datagram_sizes(env, sut, evidence, size):
    """One reply, exactly the upper case of exactly the request's bytes, 0 to 65,507 bytes; above 1,472 the
    datagram is fragmented by IP."""
    need(sut, "udp-server")
    port = env.start("udp")
    data = random.Random(size).randbytes(size)
    dest = (env.server_host(), port)
    with env.udp(port, connect=False) as s:
        got = ask(s, data, dest)
        extra = ask(s, b"", dest, timeout=0.2, send=False) if got is not None else None
    if got is None:
        misaddressed(env, port)
    assert got is not None, f"U1.1: no reply to a {size}-byte datagram within 2 s"
    if got != upper(data):
        where = env.wire().udp_reply_frame(port, len(got)) if env.lab else ""
        evidence(f"U1: {where}reply {len(got)} bytes for a {size}-byte request: {first_diff(upper(data), got)}")
    assert got == upper(data), f"U1.2: {first_diff(upper(data), got)}"
    assert extra is None, f"U1.1: more than one reply to a datagram (then {len(extra)} bytes: {extra[:24]!r})"


@pytest.mark.clause("U1.2")
def test_no_stale_bytes_and_not_a_c_string(env, sut, evidence):
    need(sut, "udp-server")
    port = env.start("udp")
    dest = (env.server_host(), port)
    with env.udp(port, connect=False) as s:
        for data in (b"x" * 900, b"a\x00b", b"short", b"\x00\x00", b"", b"a long datagram " * 125):
            got = ask(s, data, dest)
            if got is None:
                misaddressed(env, port)
            if got != upper(data):
                evidence(f"U1: request {data[:16]!r} ({len(data)} bytes) got {len(got or b'')} bytes: "
                         f"{first_diff(upper(data), got or b'')}")
            assert got is not None, f"U1.2: no reply to {data[:16]!r} ({len(data)} bytes) within 2 s"
            assert got == upper(data), f"U1.2: {data[:16]!r}: {first_diff(upper(data), got or b'')}"


@pytest.mark.clause("U1.1", "U3.1")
def test_exactly_one_reply_each_in_order(env, sut, judge, bins):
    """200 tagged datagrams in bursts of 20, large and small in turn: 200 replies, no duplicate, in request order
    (U1, U3). A burst puts many requests in the server's queue at once, so that threads that share the socket,
    each slower on a large request than on the small one behind it, send their replies in another order."""
    need(sut, "udp-server")
    port = env.start("udp")
    n, burst = 200, 20
    dest = (env.server_host(), port)
    with env.udp(port, connect=False) as s:
        replies = []
        for first in range(0, n, burst):
            for i in range(first, first + burst):
                s.sendto(SEQ_TAG % i + (b"x" * 1400 if i % 2 == 0 else b"payload"), dest)
            for _ in range(burst):
                r = ask(s, b"", dest, timeout=1.0, send=False)
                if r is None:
                    break
                replies.append(r)
        while (r := ask(s, b"", dest, timeout=0.5, send=False)) is not None:     # a duplicate, say
            replies.append(r)
    seqs = [int(r[2:12]) for r in replies if r[:2] == b"WC" and r[2:12].isdigit()]
    dups = len(seqs) - len(set(seqs))
    missing = n - len(set(seqs))
    if dups:
        judge.fail("U1", f"{dups} duplicate replies to 200 datagrams (no duplication in the network)")
    elif missing:
        misaddressed(env, port)
        judge.fail("U1", f"{missing} of {n} datagrams got no reply (no loss in the network)")
    else:
        judge.ok("U1")
    out_of_order = sum(1 for a, b in zip(seqs, seqs[1:]) if b < a)
    if out_of_order:
        judge.fail("U3", f"{out_of_order} replies came back out of request order with no reordering in the "
                         "network")
    elif len(seqs) < 2:
        judge.inconclusive("U3", "U1", "fewer than two tagged replies came back, so their order could not be seen")
    elif not env.lab or dups or missing:
        judge.ok("U3", f"{len(seqs)} replies in request order")
    else:
        # Threads that share the socket overtake each other only when many requests wait at once: a burst
        # from the C instrument (sendmmsg, 128 in flight), in the lab, where the network does not reorder.
        summary = udp_client_json(env, bins, port, "-n", 10000, "-w", 128, "-s", 200, "-t", 1)
        if summary["reordered"]:
            judge.fail("U3", f"{summary['reordered']} of {summary['answered']} replies to a burst of 10,000 "
                             "requests (128 in flight) came back out of request order, with no reordering in "
                             "the network")
        else:
            judge.ok("U3", f"{len(seqs)} replies in request order, and {summary['answered']} of a burst of "
                           "10,000 (128 in flight)")


@pytest.mark.clause("U2.1", "W4.1")
@pytest.mark.parametrize("family", [4, 6])
def test_reply_from_server_port(env, sut, judge, family):
    """The reply comes from the server's port to the request's source: a connected socket receives it (U2),
    and every reply datagram on the wire has the server's port as its source (W4)."""
    need(sut, "udp-server")
    port = env.start("udp", family)
    host = env.server_host(family)
    with env.udp(port, family, connect=False) as s:
        s.settimeout(2)
        s.sendto(b"who answers?", (host, port))
        try:
            data, addr = s.recvfrom(70000)
        except socket.timeout:
            data, addr = None, None
    bad = env.wire().udp_replies_misaddressed(port) if env.lab and data is None else []
    if bad:
        judge.fail("U2", f"{bad[0][0].where}: the reply was sent to port {bad[0][0].dport}, not to the request's "
                         f"source port {bad[0][1]}: no client ever receives it")
    elif data is None:
        raise Inconclusive("U1", "no reply came within 2 s, from any port, so its address could not be seen")
    elif addr[1] != port:
        judge.fail("U2", f"reply from port {addr[1]}, not the server's port {port}: a client with a connected "
                         "socket never receives it")
    elif addr[0] != host:
        judge.fail("U2", f"reply from address {addr[0]}, but the request was sent to {host}")
    else:
        judge.ok("U2")
    if env.lab:
        w = env.wire()
        bad = w.udp_replies_not_from(port)
        if bad:
            judge.fail("W4", f"{bad[0].where}: reply datagram from port {bad[0].sport}, not {port}")
        else:
            judge.ok("W4", f"every reply datagram in the capture has source port {port}")


@pytest.mark.clause("U2.2")
@pytest.mark.lab_only     # the lab gives the server a second address
def test_reply_from_the_address_the_request_was_sent_to(env, sut, judge):
    """The server's host has two addresses; a request to the second one is answered from the second one
    (U2.2: a reply from the primary address reaches an unconnected client, but not a connected one)."""
    need(sut, "udp-server")
    second = env.add_server_address()
    port = env.start("udp")
    with env.udp(port, connect=False) as s:
        s.settimeout(2)
        s.sendto(b"to the second address", (second, port))
        try:
            data, addr = s.recvfrom(70000)
        except socket.timeout:
            raise Inconclusive("U1", f"no reply to a request sent to the host's second address {second} came "
                                     "within 2 s, so the reply's source address could not be seen") from None
    judge.require(addr[0] == second, "U2.2", f"a request to the host's second address {second} was answered from "
                                             f"{addr[0]}:{addr[1]}: a client with a connected socket never receives "
                                             "it (reply with IP_PKTINFO's destination as the source)")
    judge.ok("U2.2", f"a request to the second address {second} was answered from it")


@pytest.mark.clause("U4.1", "U4.2")
@pytest.mark.lab_only     # signals need the server's process
def test_udp_graceful_stop(env, sut, judge):
    """100 datagrams queued at the server when SIGTERM comes are all answered (U4.1), then exit 0 (U4.2)."""
    need(sut, "udp-server")
    port = env.start("udp")
    p = env.servers["udp"]
    n = 100
    dest = (env.server_host(), port)
    with env.udp(port, connect=False) as s:
        base = env.udp_delivered()
        for i in range(n):
            s.sendto(SEQ_TAG % i + b"queued before the stop", dest)
        # Every datagram is in the server's socket (or answered) before the signal: the race is not its fault.
        proc.poll_until(lambda: env.udp_delivered() - base >= n, timeout=5, what="the datagrams reaching the server")
        env.signal_server("udp", signal.SIGTERM)
        tags = set()
        while (r := ask(s, b"", dest, timeout=1.0, send=False)) is not None:
            if r[:2] == b"WC" and r[2:12].isdigit():
                tags.add(int(r[2:12]))
    try:
        code = p.wait(10)
    except subprocess.TimeoutExpired:
        code = None
    bad = env.wire().udp_replies_misaddressed(port) if env.lab and not tags else []
    if len(tags) == n:
        judge.ok("U4.1", f"all {n} datagrams queued at SIGTERM were answered")
    elif bad:
        judge.inconclusive("U4.1", "U2", f"no reply reached the client: they went to port {bad[0][0].dport}, not "
                                         f"to the requests' source port {bad[0][1]}")
    else:
        judge.fail("U4.1", f"{n - len(tags)} of {n} datagrams queued at the server when SIGTERM came got no reply")
    judge.require(code == 0, "U4.2", sigterm_exit_text(code))
    judge.ok("U4.2", "exit 0 after SIGTERM")


def udp_client_json(env, bins, port, *args, timeout=60):
    """Runs the reference udp-client (the suite's instrument) in the client namespace; returns its summary."""
    out = env.scenario.logdir / "udp-client.json"
    argv = [bins["udp-client"], "--seq", "-q", "--json", str(out), *map(str, args), env.server_host(), str(port)]
    r = env.run_client(argv, timeout=timeout)
    if r.returncode == 4:
        raise Inconclusive("U1", "the instrument (the reference udp-client) got replies that were not the upper "
                                 f"case of their requests: {r.stderr.decode(errors='replace').strip()[-200:]}")
    if r.returncode not in (0, 3):
        raise EnvError(f"the instrument udp-client exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return json.loads(out.read_text())


@pytest.mark.clause("U3.1")
@pytest.mark.netem
@pytest.mark.lab_only
def test_network_reordering_is_explained_by_the_ledger(env, sut, evidence, bins):
    """Under netem reordering the client sees replies out of order; the ledger shows the network did it,
    and on the server side the replies leave in the order the requests arrived (U3)."""
    need(sut, "udp-server")
    port = env.start("udp")
    env.impair.set("c2s", delay_ms=10, reorder=25)
    summary = udp_client_json(env, bins, port, "-n", 400, "-w", 64, "-t", 1, "--rate", 4000)
    w = env.wire()
    server_side = [p for p in w.side("server") if p.proto == 17]
    arrived = tag_order(p for p in server_side if p.dport == port)
    left = tag_order(p for p in server_side if p.sport == port)
    n = min(len(arrived), len(left))
    first = next((i for i in range(n) if arrived[i] != left[i]), None)
    assert first is None, (f"U3: the server sent replies in another order than the requests arrived: first "
                           f"difference at position {first} of {n}")
    env.check_impairment()
    led = env.ledger()
    net = led.counts("c2s")["reordered"] + led.counts("s2c")["reordered"]
    if summary["reordered"] == 0 and net == 0:
        raise EnvError("the network reordered nothing, so U3 could not be observed", redraw=True)
    assert summary["reordered"] == net, (f"U3: the client saw {summary['reordered']} replies out of order but "
                                         f"the network reordered {net} packets")
    evidence(f"U3: the client saw {summary['reordered']} of {summary['answered']} replies out of order; the "
             f"ledger shows the network reordered exactly {net} requests; on the server side all "
             f"{len(arrived)} replies left in arrival order")


@pytest.mark.clause("W5.2")
@pytest.mark.netem
@pytest.mark.lab_only
def test_udp_client_reports_what_the_network_did(env, sut, evidence, bins):
    """Loss and duplication: UDP does not recover, and the UDP client reports exactly the losses and
    duplicates that the capture shows (W5); the network did what netem was told (binomial bounds)."""
    need(sut, "udp-server")
    port = env.start("udp")
    env.impair.set("c2s", delay_ms=5, loss=10, duplicate=5)
    env.impair.set("s2c", delay_ms=5, loss=5)
    summary = udp_client_json(env, bins, port, "-n", 500, "-w", 32, "-t", 0.5, "--linger", 0.3)
    replies = {}
    for p in env.wire().side("client"):
        if p.proto == 17 and p.sport == port and p.tag:
            replies[p.tag] = replies.get(p.tag, 0) + 1
    lost = 500 - len(replies)
    dups = sum(n - 1 for n in replies.values())
    env.check_impairment()
    if lost == 0:
        raise EnvError("the network lost nothing, so W5 could not be observed", redraw=True)
    assert summary["lost"] == lost, f"W5: the client reported {summary['lost']} lost, the capture shows {lost}"
    assert summary["duplicated"] == dups, (f"W5: the client reported {summary['duplicated']} duplicates, the "
                                           f"capture shows {dups}")
    led = env.ledger()
    evidence(f"W5: UDP lost {lost} of 500 messages and duplicated {dups} replies; the client reported the same; "
             f"ledger c2s {led.counts('c2s')['lost']} lost/{led.counts('c2s')['duplicates']} dup, "
             f"s2c {led.counts('s2c')['lost']} lost")
