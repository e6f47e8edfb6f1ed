"""Makes the small captures of tests/data/wireshark/ with the lab (run from the checkout, as root, after a build).

    scripts/make-wireshark-data

Each capture is one lab scenario (client, router and server namespaces, both sides captured by the sniffer) with
a deliberately faulty server from build/tests/faulty-server, or the reference on another port. The wcupper
dissector's tests (tests/e2e/test_wireshark.py) read them: what each one must show is in tests/data/wireshark/
README.md. No impairment, so the scenarios run natively on any kernel.
"""
import os
import sys

from lab import proc, socktable
from wcrun import paths
from wcrun.samples import BINS, ROOT, record, tcp_ready

FAULTY = str(paths.bin_dir().parent / "tests" / "faulty-server")
OUT = ROOT / "tests" / "data" / "wireshark"


def udp_bound(node, port, p, timeout=10.0):
    """Polls until something in the namespace is bound to UDP `port`: a faulty server may answer from elsewhere,
    so an answer is no sign of readiness here."""
    def bound():
        proc._assert_alive(p, f"udp port {port}")
        return socktable.udp_bound(port, ns=node.ns)
    proc.poll_until(bound, timeout, what=f"udp port {port} bound in {node.ns}")


def udp_lines(port, lines):
    def traffic(topo):
        topo.client.exec([BINS["udp-client"], "--seq", "-t", "0.3", topo.server.addr4, str(port)],
                         input=lines, check=False)
    return traffic


def tcp_lines(port, lines):
    def traffic(topo):
        topo.client.exec([BINS["tcp-client"], "--raw", "-t", "1", topo.server.addr4, str(port)],
                         input=lines, check=False)
    return traffic


def one(name, note, argv, port, traffic):
    ready = udp_bound if port == 9876 else tcp_ready
    record(OUT, name, note, [(argv, "server", ready, port)], traffic)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    one("udp-pad", "faulty-server pad (the seed's UDPServer): every reply is the whole 1024-byte buffer",
        [FAULTY, "pad", "9876"], 9876, udp_lines(9876, b"hello\nsecond datagram\n"))
    one("udp-other-port", "faulty-server other-port: replies from a second socket, not from port 9876",
        [FAULTY, "other-port", "9876"], 9876, udp_lines(9876, b"hello\n"))
    one("tcp-latin1", "faulty-server latin1: also upper-cases the Latin-1 letters 0xE0-0xFE",
        [FAULTY, "latin1", "6789"], 6789, tcp_lines(6789, b"plain ascii\ncaf\xe9 ol\xe9\n"))
    one("tcp-first-line", "faulty-server first-line (the seed's TCPServer): only the first line is answered",
        [FAULTY, "first-line", "6789"], 6789, tcp_lines(6789, b"one\ntwo\nthree\n"))
    one("tcp-port-7000", "the reference tcp-server on port 7000: for Decode As",
        [BINS["tcp-server"], "-p", "7000"], 7000, tcp_lines(7000, b"decode me as wcupper\n"))
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
