"""TCP client, correct pipelining and half-close, but it always prints the bare replies, as if --raw had been
given, although it was not. Defect: C1 (without --raw each reply line is printed as 'FROM SERVER: <reply>')."""
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
got = s.makefile("rb").read()
sys.stdout.buffer.write(got)
sys.exit(0 if len(got) == len(data) else "tcp-client: early close")
