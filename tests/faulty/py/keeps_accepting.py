"""TCP, the socketserver documentation's ThreadingTCPServer with a SIGTERM handler that lets the replies in
flight finish for a grace period and then exits 0, but never closes its listener: new clients are accepted and
served until the very end. Defect: T7 (SHOULD: on SIGTERM the server stops accepting)."""
import os
import signal
import sys
import threading

from no_sigterm import Handler, Server     # the same documentation server; only its stop differs

GRACE_S = 3.0


def stop(_sig, _frame):
    # The defect: the grace period is right, the listener stays open through it.
    threading.Timer(GRACE_S, lambda: os._exit(0)).start()


signal.signal(signal.SIGTERM, stop)
with Server(("::", int(sys.argv[1])), Handler) as srv:
    srv.serve_forever()
