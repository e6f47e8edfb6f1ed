"""A student's first UDP server (recvfrom(1024), decode().strip().upper(), IPv4 only)."""
import socket
import sys

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, addr = sock.recvfrom(1024)
    sock.sendto(data.decode().strip().upper().encode(), addr)
