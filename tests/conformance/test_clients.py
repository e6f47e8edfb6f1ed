"""Client scenarios (C1, C2): the client under test against a reference (or the tested) server in the lab."""
import pytest

from wcrun.bytesdiff import first_diff, upper
from wcrun.plugin import need

pytestmark = pytest.mark.lab_only


def replies(stdout, prefix):
    """The reply lines of a client's output, with the seed's prefix removed where present."""
    lines = stdout.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[len(prefix):] if line.startswith(prefix) else line for line in lines]


def run(env, sut, part, port, data, timeout=30):
    cmd = sut.command(part, host=env.server_host(), port=port)
    r = env.run_client(["sh", "-c", f"exec {cmd}"], data=data, timeout=timeout)
    clause = {"tcp-client": "C1", "udp-client": "C2"}[part]
    assert r.returncode is not None, \
        f"{clause}: the client did not exit within {timeout} s (it hangs); it printed {r.stdout[-80:]!r}"
    return r


@pytest.mark.clause("C1")
def test_tcp_client_pipelines_and_prints_every_reply(env, sut, evidence):
    """200 lines and an unterminated tail: every reply printed ('FROM SERVER: ' or raw), exit 0, and on the
    wire the client sends more than one line before the first reply arrives (pipelined, not stop-and-wait)."""
    need(sut, "tcp-client")
    port = env.start("tcp")
    data = b"".join(b"line %03d from the client\n" % i for i in range(200)) + b"unterminated tail"
    r = run(env, sut, "tcp-client", port, data)
    assert r.returncode == 0, f"C1: exit {r.returncode}: {r.stderr.decode(errors='replace')[-300:]}"
    want = upper(data).split(b"\n")
    got = replies(r.stdout, b"FROM SERVER: ")
    assert got == want, (f"C1: {len(got)} reply lines for {len(want)} request lines; "
                         f"{first_diff(b'|'.join(want), b'|'.join(got))}")
    client = [p for p in env.wire().side("client") if p.proto == 6 and p.payload_len]
    first_reply = next((i for i, p in enumerate(client) if p.sport == port), len(client))
    before = sum(p.payload_len for p in client[:first_reply] if p.dport == port)
    assert before > 26, f"C1: the client sent {before} bytes before the first reply: stop-and-wait, not pipelined"
    evidence(f"C1: {len(want)} replies printed; {before} request bytes were in flight before the first reply")


@pytest.mark.clause("C2")
def test_udp_client_prints_every_reply(env, sut, evidence):
    need(sut, "udp-client")
    port = env.start("udp")
    lines = [b"datagram %d" % i for i in range(10)] + [b"", b"CRLF\r"]
    r = run(env, sut, "udp-client", port, b"\n".join(lines) + b"\n")
    assert r.returncode == 0, f"C2: exit {r.returncode}: {r.stderr.decode(errors='replace')[-300:]}"
    got = replies(r.stdout, b"FROM SERVER:")
    want = [upper(line) for line in lines]
    assert got == want, f"C2: replies printed {got[:3]}... for requests {want[:3]}..."


@pytest.mark.clause("C2")
def test_udp_client_reports_loss_with_non_zero_exit(env, sut, evidence):
    """Every reply dropped by the router: the client must end with a non-zero status, not hang or succeed."""
    need(sut, "udp-client")
    port = env.start("udp")
    ipt = env.impair.iptables
    rule = ["FORWARD", "-i", "to-server", "-o", "to-client", "-p", "udp", "--sport", str(port), "-j", "DROP"]
    env.topo.router.exec([ipt, "-w", "-A"] + rule)
    try:
        r = run(env, sut, "udp-client", port, b"nobody answers\n", timeout=30)
    finally:
        env.topo.router.exec([ipt, "-w", "-D"] + rule)
    assert r.returncode != 0, "C2: the client exited 0 although its message got no reply"
    evidence(f"C2: exit {r.returncode} when the reply was lost: {r.stderr.decode(errors='replace').strip()[-160:]}")
