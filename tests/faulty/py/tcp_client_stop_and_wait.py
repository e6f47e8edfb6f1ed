"""TCP client, stop-and-wait: sends a line, waits for its reply, then the next one (the seed's loop
generalised). Prints 'FROM SERVER: ', half-closes for the last line, exits 0. Defect: C1 (pipelined)."""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=10)
rf = s.makefile("rb")
out = sys.stdout.buffer
lines = sys.stdin.buffer.read().split(b"\n")
tail = lines.pop()
for line in lines:
    s.sendall(line + b"\n")
    out.write(b"FROM SERVER: " + rf.readline())
if tail:
    s.sendall(tail)
s.shutdown(socket.SHUT_WR)
rest = rf.read()
if rest:
    out.write(b"FROM SERVER: " + rest)
out.flush()
