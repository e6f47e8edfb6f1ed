"""The interop workload: a client under test against a server under test, both sides captured, and a verdict that
says which side broke the protocol. One scenario per transport; each item of the workload is one run of the
client (one connection, or one batch of datagrams) in the same capture.

Whose fault, from the capture (server side: what the server really received and sent):
  - the client's framing: the bytes that reached the server are not the client's input (TCP: the stream; UDP:
    one datagram per line, without the newline);
  - the server's reply: its bytes on the wire are not the upper case of what it received, or (TCP) it did not
    close after the client's half-close, or reset;
  - the client's output: the replies on the wire were right but it printed something else, exited non-zero, or
    hung although the server had closed.
Both sides can be at fault at once. The result goes to <capture>.interop.json beside the capture."""
import json
import pathlib

import pytest

from lab.uml import inside_uml
from wcrun import streams
from wcrun.bytesdiff import first_diff, upper
from wcrun.plugin import need

pytestmark = pytest.mark.lab_only
# "I1" (interoperation) is the matrix's own check, not a clause of PROTOCOL.md: the marker makes the plugin record
# the scenario's outcome, evidence and capture for wcrun.matrix like any conformance scenario's.

# A client that waits for a server that never answers is stopped after this long (UML runs ~15x slower).
TIMEOUT = 40.0 if inside_uml() else 6.0

TCP_WORKLOAD = [
    ("session", "the lecture's session: one line", b"hello, world\n"),
    ("pipelined", "200 lines written at once", b"".join(b"line %03d of the pipeline\n" % i for i in range(200))),
    ("long-line", "one line of 100,000 bytes", bytes(b"abcdefghij"[i % 10] for i in range(100_000)) + b"\n"),
    ("half-close", "an unterminated last line, answered at the client's half-close", b"first\nno newline at the end"),
    ("binary", "every byte value but the newline, then a newline", bytes(b for b in range(256) if b != 10) + b"\n"),
]
UDP_WORKLOAD = [
    ("session", "the lecture's session: one datagram", [b"hello, world"]),
    ("pipelined", "20 datagrams", [b"datagram %02d" % i for i in range(20)]),
    ("long-line", "one datagram of 1,400 bytes", [bytes(b"abcdefghij"[i % 10] for i in range(1400))]),
    ("binary", "every byte value but the newline, CR included", [bytes(b for b in range(256) if b != 10)]),
]


def printed(stdout, prefix):
    """The reply bytes of a client's output, with the seed's prefix removed where a line starts with it."""
    lines = stdout.split(b"\n")
    return b"\n".join(line[len(prefix):] if line.startswith(prefix) else line for line in lines)


def show(b, n=40):
    return repr(bytes(b[:n])) + ("…" if len(b) > n else "")


def record(env, transport, items):
    """Writes <capture>.interop.json and returns (broke, lines): the sides that broke and one line per fault."""
    broke = sorted({f["side"] for it in items for f in it["faults"]})
    out = pathlib.Path(env.scenario.pcapng).with_suffix(".interop.json")
    out.write_text(json.dumps({"transport": transport, "broke": broke, "items": items,
                               "capture": pathlib.Path(env.scenario.pcapng).name}, indent=1) + "\n")
    return broke, [f"{it['item']}: {f['side']}: {f['text']}" for it in items for f in it["faults"]]


def verdict(broke, lines):
    if broke:
        who = " and ".join({"server": "the server's reply", "client": "the client's framing or output"}[b]
                           for b in broke)
        raise AssertionError(f"I1: broken by {who}: " + " | ".join(lines[:6]))


@pytest.mark.clause("I1")
def test_interop_tcp(env, sut, evidence):
    """The TCP client under test against the TCP server under test, through the lab."""
    need(sut, "tcp-client", "tcp-server")
    port = env.start("tcp")
    runs = []
    for name, what, data in TCP_WORKLOAD:
        argv = sut.argv("tcp-client", host=env.server_host(), port=port)
        runs.append((name, what, data, env.run_client(argv, data=data, timeout=TIMEOUT)))
    conns = streams.tcp_conns(env.wire().path, port, "server")
    items = []
    for i, (name, what, data, r) in enumerate(runs):
        faults, c = [], conns[i] if i < len(conns) else None
        if c is None:
            faults.append({"side": "client", "text": "no connection reached the server"})
        else:
            got, sent = bytes(c.up.data), bytes(c.down.data)
            if got != data:
                faults.append({"side": "client", "frame": c.up.frame_at(_diff_at(data, got)),
                               "text": f"sent {len(got)} bytes for its {len(data)} bytes of input: "
                                       f"{first_diff(data, got)}"})
            # A client this scenario had to kill (it hung) may reset the connection: that reset is ours.
            if c.down.rst or (c.up.rst and r.returncode is not None):
                by = "server" if c.down.rst else "client"
                faults.append({"side": by, "frame": c.down.rst or c.up.rst,
                               "text": f"reset the connection (frame {c.down.rst or c.up.rst})"})
            if sent != upper(got):
                off = _diff_at(upper(got), sent)
                frame = c.down.frame_at(off)
                faults.append({"side": "server", "frame": frame,
                               "text": f"replied {len(sent)} bytes to {len(got)} received"
                                       + (f", wrong from frame {frame}" if frame else "")
                                       + f": {first_diff(upper(got), sent)}"})
            elif c.up.fin is None and r.returncode is not None:
                faults.append({"side": "client", "text": "never half-closed (no FIN) after its input ended"})
            elif c.down.fin is None and c.up.fin is not None:
                faults.append({"side": "server", "text": f"never closed after the client's half-close "
                                                         f"(FIN in frame {c.up.fin})"})
        server_ok = not any(f["side"] == "server" for f in faults)
        if server_ok and c is not None:
            out = printed(r.stdout, b"FROM SERVER: ")
            if r.returncode is None and c.up.fin is None:
                faults.append({"side": "client", "text": f"never half-closed (no FIN) at the end of its input "
                                                         f"and did not exit within {TIMEOUT:.0f} s"})
            elif r.returncode is None:
                faults.append({"side": "client", "text": f"did not exit within {TIMEOUT:.0f} s although the "
                                                         f"server had answered and closed"})
            elif r.returncode != 0:
                faults.append({"side": "client", "text": f"exited {r.returncode}: "
                                                         f"{r.stderr.decode(errors='replace').strip()[-120:]!r}"})
            elif out.rstrip(b"\n") != upper(data).rstrip(b"\n"):
                faults.append({"side": "client", "text": f"printed {len(out)} bytes although the server's reply "
                                                         f"on the wire was right: {first_diff(upper(data), out)}"})
        items.append({"item": name, "what": what, "faults": faults,
                      "frames": [c.first_frame] if c else [], "exit": r.returncode})
    broke, lines = record(env, "tcp", items)
    verdict(broke, lines)
    evidence(f"I1: {len(items)} workload items interoperate (session, pipelined, long line, half-close, binary)")


@pytest.mark.clause("I1")
def test_interop_udp(env, sut, evidence):
    """The UDP client under test against the UDP server under test, through the lab."""
    need(sut, "udp-client", "udp-server")
    port = env.start("udp")
    items = []
    seen_req = seen_rep = 0
    for name, what, lines in UDP_WORKLOAD:
        argv = sut.argv("udp-client", host=env.server_host(), port=port)
        r = env.run_client(argv, data=b"\n".join(lines) + b"\n", timeout=TIMEOUT)
        items.append({"item": name, "what": what, "lines": lines, "r": r})
    reqs, reps = streams.udp_datagrams(env.wire().path, port, "server")
    for it in items:
        lines, r = it.pop("lines"), it.pop("r")
        faults = []
        got = reqs[seen_req:seen_req + len(lines)]
        seen_req += len(got)
        if [g.payload for g in got] != lines:
            bad = next((i for i, g in enumerate(got) if g.payload != lines[i]), len(got))
            faults.append({"side": "client", "frame": got[bad].frame if bad < len(got) else None,
                           "text": f"sent {len(got)} datagrams for {len(lines)} lines" + (
                               f"; datagram {bad + 1} (frame {got[bad].frame}): "
                               f"{first_diff(lines[bad], got[bad].payload)}" if bad < len(got) else "")})
        want = [upper(g.payload) for g in got]
        rep = reps[seen_rep:seen_rep + len(got)]
        extra = 0
        # replies beyond one per request (a double reply) belong to this item until the next item's requests
        nxt = reqs[seen_req].frame if seen_req < len(reqs) else None
        while seen_rep + len(rep) + extra < len(reps) and (nxt is None or reps[seen_rep + len(rep) + extra].frame < nxt):
            extra += 1
        seen_rep += len(rep) + extra
        wrong = next((i for i, (w, g) in enumerate(zip(want, rep)) if w != g.payload), None)
        if wrong is not None:
            faults.append({"side": "server", "frame": rep[wrong].frame,
                           "text": f"reply {wrong + 1} (frame {rep[wrong].frame}, {len(rep[wrong].payload)} "
                                   f"bytes) to {show(got[wrong].payload, 16)}: "
                                   f"{first_diff(want[wrong], rep[wrong].payload)}"})
        elif len(rep) < len(want):
            faults.append({"side": "server", "text": f"{len(rep)} replies to {len(want)} datagrams"})
        elif extra:
            faults.append({"side": "server", "text": f"{extra} replies more than the {len(want)} datagrams"})
        other = [g for g in rep if g.src[1] != port]
        if other:
            faults.append({"side": "server", "frame": other[0].frame,
                           "text": f"replied from port {other[0].src[1]}, not {port} (frame {other[0].frame})"})
        if not faults:
            out = printed(r.stdout, b"FROM SERVER:").split(b"\n")
            if out and out[-1] == b"":
                out.pop()
            if r.returncode is None:
                faults.append({"side": "client", "text": f"did not exit within {TIMEOUT:.0f} s although every "
                                                         f"reply arrived"})
            elif r.returncode != 0:
                faults.append({"side": "client", "text": f"exited {r.returncode}: "
                                                         f"{r.stderr.decode(errors='replace').strip()[-120:]!r}"})
            elif out != [upper(x) for x in lines]:
                faults.append({"side": "client", "text": f"printed {len(out)} lines although the server's replies "
                                                         f"on the wire were right: "
                                                         f"{first_diff(b'|'.join(upper(x) for x in lines), b'|'.join(out))}"})
        it.update(faults=faults, frames=[g.frame for g in got[:1]], exit=r.returncode)
    broke, lines = record(env, "udp", items)
    verdict(broke, lines)
    evidence(f"I1: {len(items)} workload items interoperate (session, pipelined, long datagram, binary)")


def _diff_at(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
