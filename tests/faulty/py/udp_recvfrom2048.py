"""UDP, Kurose & Ross's UDPServer.py buffer: recvfrom(2048), so a larger datagram is truncated to its first
2,048 bytes. Defect: U1 (requests up to 65,507 bytes answered exactly)."""
import zoolib

zoolib.serve_udp(zoolib.port_arg(), lambda data: data.upper(), bufsize=2048)
