"""The student's UDP server after reading the suite's output once: the whole datagram, as bytes."""
import socket
import sys

UPPER = bytes(c - 32 if 97 <= c <= 122 else c for c in range(256))

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, addr = sock.recvfrom(65535)             # U1: up to 65,507 bytes, nothing cut
    sock.sendto(data.translate(UPPER), addr)      # U1: bytes, never decoded
