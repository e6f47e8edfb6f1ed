#!/usr/bin/env python3
"""wirecheck conformance: run the reference servers and clients through a short session and report.

This first version runs on loopback: it starts a TCP and a UDP server (ours by default, or any
command given with --tcp-server-cmd / --udp-server-cmd), sends the lecture's session through our
clients, and prints what happened.
"""
import argparse
import os
import pathlib
import shlex
import socket
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from lab import proc  # noqa: E402

BIN = pathlib.Path(os.environ.get("WIRECHECK_BIN", ROOT / "build" / "bin"))
SESSION = b"hello, world\nThe quick brown fox jumps over the lazy dog.\nCRLF line\r\n\xc3\xa9t\xc3\xa9 utf-8\n"


def upper(b):
    return bytes(c - 32 if 97 <= c <= 122 else c for c in b)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="scripts/conformance", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tcp-server-cmd", default=f"{BIN}/tcp-server -p {{port}}",
                    help="shell command template with {host} and {port} (default: our tcp-server)")
    ap.add_argument("--udp-server-cmd", default=f"{BIN}/udp-server -p {{port}}",
                    help="shell command template with {host} and {port} (default: our udp-server)")
    ap.add_argument("--timeout", type=float, default=10.0, help="readiness deadline in seconds (default 10)")
    return ap.parse_args(argv)


def session(kind, server_cmd, client_argv, timeout):
    sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    port = proc.free_port(sock_type)
    cmd = server_cmd.format(host="127.0.0.1", port=port)
    print(f"[{kind}] server: {cmd}")
    with proc.Process(cmd, name=f"{kind}-server", shell=True) as p:
        if kind == "tcp":
            proc.wait_tcp_listening("127.0.0.1", port, p, timeout)
        else:
            proc.wait_udp_answering("127.0.0.1", port, p, timeout)
        argv = client_argv + ["127.0.0.1", str(port)]
        print(f"[{kind}] client: {' '.join(map(shlex.quote, argv))}  (stdin: {len(SESSION.splitlines())} lines)")
        r = subprocess.run(argv, input=SESSION, capture_output=True, timeout=timeout * 3)
    for line in r.stdout.decode(errors="replace").splitlines():
        print(f"    {line}")
    for line in r.stderr.decode(errors="replace").splitlines():
        print(f"    (stderr) {line}")
    return r


def main(argv):
    args = parse_args(argv)
    ok = True
    r = session("tcp", args.tcp_server_cmd, [str(BIN / "tcp-client"), "-t", str(args.timeout)], args.timeout)
    want = b"".join(b"FROM SERVER: " + upper(l) for l in SESSION.splitlines(keepends=True))
    tcp_ok = r.returncode == 0 and r.stdout == want
    print(f"[tcp] {'PASS' if tcp_ok else 'FAIL'}: exit {r.returncode}, "
          f"{'replies are the upper case of the requests' if tcp_ok else 'replies differ from the upper case'}")
    ok &= tcp_ok
    r = session("udp", args.udp_server_cmd, [str(BIN / "udp-client"), "--seq", "-w", "8",
                                             "-t", "1"], args.timeout)
    udp_ok = r.returncode == 0
    print(f"[udp] {'PASS' if udp_ok else 'FAIL'}: exit {r.returncode} "
          f"(0: every datagram answered exactly; 3: lost; 4: wrong reply)")
    ok &= udp_ok
    print("conformance:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
