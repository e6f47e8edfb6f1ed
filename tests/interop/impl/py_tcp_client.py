"""A TCP client of the protocol in Python: standard input to the server as it comes (pipelined), a half-close
at its end, every reply byte to standard output. Usage: py_tcp_client.py HOST PORT [--crlf]

--crlf is a deliberate framing fault for the matrix's examples: every newline is sent as CR LF."""
import socket
import sys
import threading

s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
CRLF = sys.argv[3:] == ["--crlf"]


def send():
    while True:
        chunk = sys.stdin.buffer.read1(65536)
        if not chunk:
            break
        s.sendall(chunk.replace(b"\n", b"\r\n") if CRLF else chunk)
    s.shutdown(socket.SHUT_WR)       # the half-close: the server answers the last line and closes


threading.Thread(target=send, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    sys.stdout.buffer.write(data)
sys.stdout.buffer.flush()
