"""UDP, the textbook loop `data, addr = s.recvfrom(65535); s.sendto(data.upper(), addr)` on a wildcard
socket: the kernel picks the reply's source address by route, so on a host with several addresses a
request sent to a secondary address is answered from the primary one. Defect: U2's SHOULD."""
import zoolib

zoolib.serve_udp(zoolib.port_arg(), lambda data: data.upper(), pktinfo=False)
