"""UDP client with a 1 s timeout and retries, which on a reply that never comes prints a message and goes on,
exiting 0 at the end. Defect: C2 (exit 3 when a message got no reply)."""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
s.connect((host, port))
for line in sys.stdin.buffer.read().split(b"\n")[:-1]:
    for attempt in range(3):
        s.send(line)
        try:
            reply = s.recv(65535)
        except socket.timeout:
            continue
        sys.stdout.buffer.write(b"FROM SERVER:" + reply + b"\n")
        break
    else:
        print(f"udp-client: no reply to {line[:40]!r} after 3 tries", file=sys.stderr)
sys.stdout.flush()
