"""A careful UDP client for the lecture's protocol, right in every reply it prints, with a timeout, retries and
exit 3 on loss, but none of the generated-traffic options: --seq, -n, -s and --rate are rejected, and it prints
no summary. Defect: C2 (requirement C2.3)."""
import argparse
import socket
import sys

ap = argparse.ArgumentParser(prog="udp-client-no-options")
ap.add_argument("--raw", action="store_true")
ap.add_argument("--retries", type=int, default=0)
ap.add_argument("-t", "--timeout", type=float, default=1.0)
ap.add_argument("host")
ap.add_argument("port", type=int, nargs="?", default=9876)
a = ap.parse_args()          # the defect: --seq, -n, -s, --rate are unknown options (exit 2)

s = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET, socket.SOCK_DGRAM)
s.connect((a.host, a.port))
s.settimeout(a.timeout)
lost = 0
for line in sys.stdin.buffer:
    msg = line[:-1] if line.endswith(b"\n") else line
    for _ in range(a.retries + 1):
        s.send(msg)
        try:
            reply = s.recv(65535)
            break
        except (socket.timeout, ConnectionRefusedError):
            continue
    else:
        print(f"no reply to {msg[:40]!r} after {a.retries + 1} tries", file=sys.stderr)
        lost += 1
        continue
    sys.stdout.buffer.write((b"" if a.raw else b"FROM SERVER:") + reply + b"\n")
    sys.stdout.flush()
sys.exit(3 if lost else 0)
