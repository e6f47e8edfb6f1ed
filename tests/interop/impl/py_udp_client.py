"""A UDP client of the protocol in Python: one datagram per line of standard input (without its newline), each
reply printed on its own line; exits 3 when a reply does not come after 3 tries. Usage: py_udp_client.py HOST PORT"""
import socket
import sys

s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], int(sys.argv[2])))
s.settimeout(1.0)
for line in sys.stdin.buffer.read().split(b"\n")[:-1]:
    for _ in range(3):
        s.send(line)
        try:
            reply = s.recv(65535)
            break
        except socket.timeout:
            continue
    else:
        print(f"no reply to {line[:40]!r} after 3 tries", file=sys.stderr)
        sys.exit(3)
    sys.stdout.buffer.write(reply + b"\n")
