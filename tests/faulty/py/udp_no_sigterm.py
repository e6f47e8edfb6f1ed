"""UDP, correct replies (from the right address too) but no signal handling: SIGTERM kills it with status
-15. Defect: U4."""
import socket
import sys

import zoolib

s = zoolib.udp_socket(int(sys.argv[1]))
while True:
    data, anc, _, addr = s.recvmsg(65535, 256)
    s.sendmsg([data.upper()], zoolib.reply_cmsgs(anc), 0, addr)
