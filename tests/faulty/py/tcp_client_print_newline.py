"""TCP client, correct on the wire, printing with `print("FROM SERVER:", line.decode())`: print's own space
after the colon and its own newline after the reply's, so every reply is followed by an empty line.
Defect: C1 (the output format)."""
import socket
import sys
import threading

host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=10)
data = sys.stdin.buffer.read()


def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)


threading.Thread(target=send, daemon=True).start()
for line in s.makefile("rb"):
    print("FROM SERVER:", line.decode("utf-8", "replace"))
