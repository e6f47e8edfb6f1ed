"""UDP client, the textbook's: sendto, then recvfrom with no timeout: a lost reply (or request) leaves it
waiting forever. Output and format are right. Defect: C2 (reply timeout, exit 3 on a missing reply)."""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for line in sys.stdin.buffer.read().split(b"\n")[:-1]:
    s.sendto(line, (host, port))
    reply, _ = s.recvfrom(65535)
    sys.stdout.buffer.write(b"FROM SERVER:" + reply + b"\n")
    sys.stdout.flush()
