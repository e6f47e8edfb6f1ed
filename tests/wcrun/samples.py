"""Makes the sample captures in captures/samples/ with the lab (run from the checkout, as root).

    scripts/make-samples          natively when the kernel has netem, else inside User-Mode Linux

Each sample is one lab scenario: client, router and server namespaces, both sides captured by the sniffer
into one pcapng whose section comment says how it was made. Open them in Wireshark: the packet comments
explain every packet (Edit > Preferences > Appearance > Columns: add "Packet comment").
"""
import os
import shutil
import subprocess
import sys

from lab import capture, netem, netns, uml
from wcrun import paths

ROOT = paths.checkout()     # a checkout's tool: it writes captures/samples/
BIN = paths.bin_dir()
BINS = {n: str(BIN / n) for n in ("tcp-server", "tcp-client", "udp-server", "udp-client", "sniffer")}
OUT = ROOT / "captures" / "samples"


def record(outdir, name, note, servers, traffic, impair=None):
    """One capture made with the lab: `servers` [(argv, name, ready(node, port, proc), port)] start in the server
    namespace, `impair(im)` sets netem, `traffic(topo)` runs the clients while the sniffer captures. The two-sided
    file and one file per side (see lab.capture) end up as <outdir>/<name>{,.client,.server}.pcapng; the
    scenario's record and logs, which are for tests, go."""
    with netns.Topology() as topo:
        im = netem.Impairments(topo)
        if impair:
            impair(im)
        sc = capture.Scenario(f"{outdir.name}/{name}", topo, im, BINS, outdir=outdir)
        sc.note(note)
        for argv, pname, ready, port in servers:
            ready(topo.server, port, topo.server.spawn(argv, name=pname))
        sc.start_capture()
        traffic(topo)
        sc.finish("passed")
        for extra in (sc.json, sc.logdir):
            if extra.is_dir():
                shutil.rmtree(extra, ignore_errors=True)
            else:
                extra.unlink(missing_ok=True)
        final = outdir / f"{name}.pcapng"
        for src, dst in ((sc.pcapng, final), *((sc.sides[k], capture.side_paths(final)[k]) for k in sc.sides)):
            if src.exists():
                src.rename(dst)
                print(f"wrote {dst.relative_to(ROOT)}")


def tcp_ready(node, port, p):
    node.wait_tcp(port, p)


def udp_ready(node, port, p):
    node.wait_udp(port, p)


def scenario(name, note, impair, traffic):
    record(OUT, name, note, [([BINS["tcp-server"], "-p", "6789"], "tcp-server", tcp_ready, 6789),
                             ([BINS["udp-server"], "-p", "9876"], "udp-server", udp_ready, 9876)], traffic, impair)


def tcp_session(topo):
    topo.client.exec([BINS["tcp-client"], topo.server.addr4, "6789"],
                     input=b"hello, world\nThe quick brown fox jumps over the lazy dog.\n")


def tcp_lossy(topo):
    data = b"".join(b"line %04d of a transfer that loses packets\n" % i for i in range(3000))
    topo.client.exec([BINS["tcp-client"], "--raw", topo.server.addr4, "6789"], input=data, timeout=120)


def udp_lossy(topo):
    topo.client.exec([BINS["udp-client"], "--seq", "-q", "-n", "200", "-s", "40", "-w", "16", "-t", "0.3",
                      "--rate", "500", topo.server.addr4, "9876"], check=False, timeout=60)


def main():
    if not uml.inside_uml() and not netem.netem_native():
        r = subprocess.run([sys.executable, str(paths.uml_py()), "run", "--", sys.executable,
                            __file__])
        return r.returncode
    OUT.mkdir(parents=True, exist_ok=True)
    scenario("tcp-session", "one TCP session: handshake, two lines echoed in upper case, FIN teardown",
             lambda im: None, tcp_session)
    scenario("tcp-retransmissions",
             "3,000 pipelined lines; the router loses 3% of segments each way and delays them 10 ms: "
             "look for the packet comments 'retransmission'",
             lambda im: (im.set_rto_min(10), im.set(netem.C2S, delay_ms=10, loss=3),
                         im.set(netem.S2C, delay_ms=10, loss=3)), tcp_lossy)
    scenario("udp-loss-reorder",
             "200 tagged datagrams (udp-client --seq); the router loses 10% and reorders 25% of the requests "
             "(10 ms delay): look for the packet comments 'gap', 'reordered'",
             lambda im: (im.set(netem.C2S, delay_ms=10, loss=10, reorder=25),
                         im.set(netem.S2C, delay_ms=10)), udp_lossy)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
