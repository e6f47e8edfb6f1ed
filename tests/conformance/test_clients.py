"""Client scenarios (C1, C2): the client under test against a reference (or the tested) server in the lab."""
import re

import pytest

from lab import proc
from wcrun.bytesdiff import first_diff, upper
from wcrun.plugin import need

pytestmark = pytest.mark.lab_only


def replies(stdout, prefix):
    """The reply lines of a client's output, with the seed's prefix removed where present."""
    lines = stdout.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[len(prefix):] if line.startswith(prefix) else line for line in lines]


def run(env, sut, part, port, data, timeout=30, extra=""):
    """Runs the client under test (its template, then `extra` options) with data on its standard input."""
    r = env.run_client(sut.argv(part, host=env.server_host(), port=port, extra=extra), data=data, timeout=timeout)
    clause = {"tcp-client": "C1", "udp-client": "C2"}[part]
    assert r.returncode is not None, \
        f"{clause}: the client did not exit within {timeout} s (it hangs); it printed {r.stdout[-80:]!r}"
    return r


@pytest.mark.clause("C1.1", "C1.2")
def test_tcp_client_pipelines_and_prints_every_reply(env, sut, evidence):
    """200 lines and an unterminated tail: every reply printed ('FROM SERVER: ' or raw), exit 0, and on the
    wire the client sends more than one line before the first reply arrives (pipelined, not stop-and-wait)."""
    need(sut, "tcp-client")
    port = env.start("tcp")
    data = b"".join(b"line %03d from the client\n" % i for i in range(200)) + b"unterminated tail"
    r = run(env, sut, "tcp-client", port, data)
    assert r.returncode == 0, f"C1: exit {r.returncode}: {r.stderr.decode(errors='replace')[-300:]}"
    want = upper(data).split(b"\n")
    raw = "--raw" in sut.command("tcp-client", host="", port=port).split()
    lines = r.stdout.split(b"\n")[:-1] if r.stdout.endswith(b"\n") else r.stdout.split(b"\n")
    unprefixed = [x for x in lines if not x.startswith(b"FROM SERVER: ")]
    assert raw or not unprefixed, (f"C1: without --raw every reply line starts with 'FROM SERVER: ' (the seed's "
                                   f"format); {len(unprefixed)} of {len(lines)} do not, e.g. {unprefixed[0][:60]!r}")
    got = replies(r.stdout, b"FROM SERVER: ")
    assert got == want, (f"C1: {len(got)} reply lines for {len(want)} request lines; "
                         f"{first_diff(b'|'.join(want), b'|'.join(got))}")
    client = [p for p in env.wire().side("client") if p.proto == 6 and p.payload_len]
    first_reply = next((i for i, p in enumerate(client) if p.sport == port), len(client))
    before = sum(p.payload_len for p in client[:first_reply] if p.dport == port)
    assert before > 26, f"C1: the client sent {before} bytes before the first reply: stop-and-wait, not pipelined"
    evidence(f"C1: {len(want)} replies printed; {before} request bytes were in flight before the first reply")


@pytest.mark.clause("C2.1")
def test_udp_client_prints_every_reply(env, sut, evidence):
    need(sut, "udp-client")
    port = env.start("udp")
    lines = [b"datagram %d" % i for i in range(10)] + [b"", b"CRLF\r"]
    r = run(env, sut, "udp-client", port, b"\n".join(lines) + b"\n")
    assert r.returncode == 0, f"C2: exit {r.returncode}: {r.stderr.decode(errors='replace')[-300:]}"
    got = replies(r.stdout, b"FROM SERVER:")
    want = [upper(line) for line in lines]
    assert got == want, f"C2: replies printed {got[:3]}... for requests {want[:3]}..."


@pytest.mark.clause("C2.2")
def test_udp_client_reports_loss_with_non_zero_exit(env, sut, judge):
    """Every reply dropped by the router: with --retries 2 the client sends the message 3 times, then exits 3,
    not hanging or succeeding (C2.2)."""
    need(sut, "udp-client")
    port = env.start("udp")
    ipt = env.impair.iptables
    rule = ["FORWARD", "-i", "to-server", "-o", "to-client", "-p", "udp", "--sport", str(port), "-j", "DROP"]
    env.topo.router.exec([ipt, "-w", "-A"] + rule)
    try:
        r = run(env, sut, "udp-client", port, b"nobody answers\n", timeout=30, extra="--retries 2")
    finally:
        env.topo.router.exec([ipt, "-w", "-D"] + rule)
    sent = [p for p in env.wire().side("client") if p.proto == 17 and p.dport == port]
    judge.require(r.returncode == 3, "C2.2", f"the client exited {r.returncode} when its message got no reply, not 3 "
                                             f"(stderr: {r.stderr.decode(errors='replace').strip()[-120:]!r})")
    judge.require(len(sent) >= 3, "C2.2", f"with --retries 2 the client sent the unanswered message "
                                          f"{len(sent)} time(s), not 3 (no retries)")
    judge.ok("C2.2", f"exit 3 when the reply was lost, after {len(sent)} tries: "
                     f"{r.stderr.decode(errors='replace').strip()[-120:]}")


@pytest.mark.clause("C1.3")
def test_tcp_client_reports_an_early_close(env, sut, judge):
    """The server closes the connection after the first line: the client exits non-zero with a message, not 0
    and not hanging (C1.3)."""
    need(sut, "tcp-client")
    port = 6789
    code = ("import socket,sys\n"
            "l=socket.create_server(('0.0.0.0',int(sys.argv[1])))\n"
            "c,_=l.accept(); b=b''\n"
            "while b'\\n' not in b: b+=c.recv(4096)\n"
            "c.sendall(b[:b.index(b'\\n')+1].upper()); c.close(); l.close()\n")
    p = env.topo.server.spawn(["/usr/bin/python3", "-c", code, str(port)], name="closing-server")
    proc.poll_until(lambda: p.alive() and env.listening("tcp"), timeout=10, what="the closing server listening")
    data = b"".join(b"line %03d to a server that leaves\n" % i for i in range(100))
    r = run(env, sut, "tcp-client", port, data, timeout=20)
    err = r.stderr.decode(errors="replace").strip()
    judge.require(r.returncode != 0, "C1.3", "the client exited 0 although the server closed the connection after "
                                             "the first of 100 lines")
    judge.require(err != "", "C1.3", f"the client exited {r.returncode} after an early close without a message "
                                     "on stderr")
    judge.ok("C1.3", f"exit {r.returncode} after the early close: {err.splitlines()[-1][:120]}")


@pytest.mark.clause("C2.3")
def test_udp_client_generates_tagged_traffic_and_a_summary(env, sut, judge):
    """--seq -n 20 -s 64 --rate 500: 20 tagged datagrams of 64 bytes on the wire, and a summary on stderr
    (sent, answered, lost, duplicated, reordered, RTT) (C2.3)."""
    need(sut, "udp-client")
    port = env.start("udp")
    r = run(env, sut, "udp-client", port, b"", extra="--seq -n 20 -s 64 --rate 500 -w 4")
    err = r.stderr.decode(errors="replace")
    judge.require(r.returncode == 0, "C2.3", f"exit {r.returncode} with --seq -n 20 -s 64 --rate 500 -w 4: "
                                             f"{err.strip()[-160:]!r}")
    sent = [p for p in env.wire().side("client") if p.proto == 17 and p.dport == port]
    tagged = {p.tag for p in sent if p.tag}
    judge.require(len(tagged) == 20 and all(p.payload_len == 64 for p in sent), "C2.3",
                  f"{len(sent)} datagrams on the wire with {len(tagged)} distinct WC tags and sizes "
                  f"{sorted({p.payload_len for p in sent})}, for -n 20 -s 64 --seq")
    missing = [w for w in ("sent", "answered", "lost", "duplicated", "reordered") if not re.search(w, err, re.I)]
    judge.require(not missing and re.search(r"rtt|round", err, re.I), "C2.3",
                  f"the summary on stderr lacks {missing or ['the RTT']}: {err.strip()[-160:]!r}")
    judge.ok("C2.3", f"20 tagged datagrams of 64 bytes and the summary: {err.strip().splitlines()[-1][:120]}")
