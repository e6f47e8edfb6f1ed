"""UDP scenarios, grouped by the clauses of PROTOCOL.md; every assertion names its clause."""
import random
import signal
import socket
import subprocess

import pytest

from conformance.bytesdiff import first_diff, upper
from conformance.conftest import need

SEQ_TAG = b"WC%010d:"


def ask(s, data, timeout=2.0):
    s.settimeout(timeout)
    s.send(data)
    try:
        return s.recv(70000)
    except socket.timeout:
        return None


@pytest.mark.clause("U1")
@pytest.mark.parametrize("size", [0, 1, 100, 1472, 1473, 8192, 65507])
def test_datagram_sizes(env, sut, evidence, size):
    """One reply, exactly the upper case of exactly the request's bytes, 0 to 65,507 bytes; above 1,472 the
    datagram is fragmented by IP."""
    need(sut, "udp-server")
    port = env.start("udp")
    data = random.Random(size).randbytes(size)
    with env.udp(port) as s:
        got = ask(s, data)
        extra = ask(s, b"", timeout=0.2) if got is not None else None
    assert got is not None, f"U1: no reply to a {size}-byte datagram within 2 s"
    if got != upper(data):
        where = env.wire().udp_reply_frame(port, len(got)) if env.lab else ""
        evidence(f"U1: {where}reply {len(got)} bytes for a {size}-byte request: {first_diff(upper(data), got)}")
    assert got == upper(data), f"U1: {first_diff(upper(data), got)}"
    assert extra == b"", f"U1: more than one reply to a datagram (then {extra!r})"


@pytest.mark.clause("U1")
def test_no_stale_bytes_and_not_a_c_string(env, sut, evidence):
    need(sut, "udp-server")
    port = env.start("udp")
    with env.udp(port) as s:
        for data in (b"x" * 900, b"a\x00b", b"short", b"\x00\x00", b""):
            got = ask(s, data)
            if got != upper(data):
                evidence(f"U1: request {data[:16]!r} ({len(data)} bytes) got {len(got or b'')} bytes: "
                         f"{first_diff(upper(data), got or b'')}")
            assert got == upper(data), f"U1: {data[:16]!r}: {first_diff(upper(data), got or b'')}"


@pytest.mark.clause("U1", "U3")
def test_exactly_one_reply_each_in_order(env, sut, evidence):
    """200 tagged datagrams, 16 in flight: 200 replies, no duplicate, in request order (U1, U3)."""
    need(sut, "udp-server")
    port = env.start("udp")
    n = 200
    with env.udp(port, timeout=1.0) as s:
        replies = []
        for i in range(n):
            s.send(SEQ_TAG % i + b"payload")
            if i >= 15:
                try:
                    replies.append(s.recv(70000))
                except socket.timeout:
                    break
        s.settimeout(0.5)
        try:
            while True:
                replies.append(s.recv(70000))
        except socket.timeout:
            pass
    seqs = [int(r[2:12]) for r in replies if r[:2] == b"WC" and r[2:12].isdigit()]
    dups = len(seqs) - len(set(seqs))
    assert dups == 0, f"U1: {dups} duplicate replies"
    assert len(set(seqs)) == n, f"U1: {n - len(set(seqs))} of {n} datagrams got no reply (no loss in the network)"
    out_of_order = sum(1 for a, b in zip(seqs, seqs[1:]) if b < a)
    if out_of_order:
        evidence(f"U3: {out_of_order} replies came back out of request order with no reordering in the network")
    assert out_of_order == 0, f"U3: {out_of_order} replies out of order"


@pytest.mark.clause("U2", "W4")
@pytest.mark.parametrize("family", [4, 6])
def test_reply_from_server_port(env, sut, evidence, family):
    """The reply comes from the server's port to the request's source: a connected socket receives it (U2),
    and every reply datagram on the wire has the server's port as its source (W4)."""
    need(sut, "udp-server")
    port = env.start("udp", family)
    with env.udp(port, family, connect=False) as s:
        s.settimeout(2)
        host = env.server_host(family)
        s.sendto(b"who answers?", (host, port))
        try:
            data, addr = s.recvfrom(70000)
        except socket.timeout:
            data, addr = None, None
    assert data is not None, "U2: no reply within 2 s"
    assert addr[1] == port, f"U2: reply from port {addr[1]}, expected the server's port {port}"
    assert addr[0] == host, f"U2: reply from address {addr[0]}, the request was sent to {host}"
    if env.lab:
        bad = env.wire().udp_replies_not_from(port)
        assert not bad, f"W4: {bad[0].where}: reply datagram from port {bad[0].sport}, not {port}"
        evidence(f"W4: every reply datagram in the capture has source port {port}")


@pytest.mark.clause("U4")
def test_udp_graceful_stop(env, sut, evidence):
    need(sut, "udp-server")
    if not env.lab:
        pytest.skip("n/a: signals need the server's process (lab only)")
    port = env.start("udp")
    p = env.servers["udp"]
    p.send_signal(signal.SIGTERM)
    try:
        code = p.wait(10)
    except subprocess.TimeoutExpired:
        code = None
    assert code == 0, f"U4: exit status {code} after SIGTERM"
