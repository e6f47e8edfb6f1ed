"""TCP client, pipelined (a sender thread), which never half-closes: it reads as many reply lines as it sent
complete lines and exits 0, so an unterminated last line is sent but never answered or printed.
Defect: C1 (half-close, so that an unterminated last line is answered)."""
import socket
import sys
import threading

host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=10)
data = sys.stdin.buffer.read()
threading.Thread(target=s.sendall, args=(data,), daemon=True).start()
rf = s.makefile("rb")
out = sys.stdout.buffer
for _ in range(data.count(b"\n")):
    line = rf.readline()
    if not line:
        sys.exit("tcp-client: the server closed early")
    out.write(b"FROM SERVER: " + line)
out.flush()
