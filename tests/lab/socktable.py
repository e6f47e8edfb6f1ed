"""The kernel's view of a network namespace: its socket tables (/proc/net/tcp, tcp6, udp, udp6) and its protocol
counters (/proc/net/snmp, netstat), read in that namespace. The one place the lab parses them."""
import dataclasses

from . import proc

# TCP states as /proc/net/tcp prints them (include/net/tcp_states.h, in hex)
CLOSE_WAIT, TIME_WAIT, LISTEN = "08", "06", "0A"


@dataclasses.dataclass(frozen=True)
class Sock:
    table: str          # "tcp", "tcp6", "udp" or "udp6" (tcp6 and udp6 hold the dual-stack sockets too)
    local_port: int
    remote_port: int
    state: str          # hex, as the table prints it: LISTEN, CLOSE_WAIT, ...
    tx_queue: int       # TCP: bytes sent and not yet acknowledged
    rx_queue: int       # TCP: bytes received and not yet read (a received FIN counts one)


def _port(addr):
    return int(addr.rsplit(":", 1)[1], 16)


def _read_tables(tables):
    out = []
    for table in tables:
        try:
            with open(f"/proc/thread-self/net/{table}") as f:
                next(f)
                for line in f:
                    x = line.split()
                    tx, rx = x[4].split(":")
                    out.append(Sock(table, _port(x[1]), _port(x[2]), x[3], int(tx, 16), int(rx, 16)))
        except FileNotFoundError:       # a kernel without IPv6
            continue
    return out


def sockets(tables=("tcp", "tcp6"), ns=None):
    """The sockets of `tables` in network namespace ns (None: the calling thread's)."""
    return proc.in_netns(ns, lambda: _read_tables(tables))


def tcp_listening(port, tables=("tcp", "tcp6"), ns=None):
    """True when a socket listens on TCP `port` ("tcp6" holds the IPv6 and dual-stack listeners, "tcp" the
    IPv4-only ones)."""
    return any(s.local_port == port and s.state == LISTEN for s in sockets(tables, ns))


def udp_bound(port, tables=("udp", "udp6"), ns=None):
    return any(s.local_port == port for s in sockets(tables, ns))


def connections(port, ns=None, done=(LISTEN,)):
    """The TCP sockets on local or remote `port` whose state is not in `done`."""
    return [s for s in sockets(ns=ns) if port in (s.local_port, s.remote_port) and s.state not in done]


def counters(ns=None):
    """{"TcpRetransSegs": n, "UdpInDatagrams": n, "TcpExtTCPTimeouts": n, ...}: nstat's names, from
    /proc/net/snmp and /proc/net/netstat of namespace ns."""
    def read():
        out = {}
        for name in ("snmp", "netstat"):
            with open(f"/proc/thread-self/net/{name}") as f:
                lines = f.read().splitlines()
            for head, vals in zip(lines[::2], lines[1::2]):
                prefix, names = head.split(":", 1)
                for k, v in zip(names.split(), vals.split(":", 1)[1].split()):
                    out[prefix + k] = int(v)
        return out
    return proc.in_netns(ns, read)
