"""Faults and privileges (issue 7): the sniffer killed with SIGKILL mid-capture, and the servers' -Z drop.

What "readable after SIGKILL" means here. The sniffer writes FILE.partial and renames it only on a clean exit, so a
killed capture is never presented as complete. Its output buffer is written out every WC_SNIFF_FLUSH_MS (1 s), and
the kernel hands packets over in TPACKET_V3 blocks within WC_SNIFF_BLOCK_TIMEOUT_MS (100 ms): everything received
more than about 1.1 s before the kill is in the file as whole pcapng blocks, and the last flush interval is lost.
A write cut by the kill may leave one torn block at the end, which libpcap and tests/lab/pcapfile.py rightly
refuse; truncating the file to its last complete block (`complete_blocks` below) recovers everything before it:
our reader parses it and libpcap (sniffer -r) reads it.

The full disk is covered by test_sniffer.py::test_full_disk_is_an_error_and_no_valid_file (exit 1 naming ENOSPC,
no final name), and UDP's "never amplifies" by test_adversarial.py::test_udp_never_amplifies.
"""
import os
import pwd
import re
import signal
import socket
import struct
import subprocess
import time

import pytest

from lab import pcapfile, proc

FLUSH_S, BLOCK_TIMEOUT_S = 1.0, 0.1      # WC_SNIFF_FLUSH_MS, WC_SNIFF_BLOCK_TIMEOUT_MS (capture.h)
SLACK_S = 0.4                            # scheduling on a loaded machine
TAG = re.compile(rb"WC(\d{10}):")


def need_root(what):
    if os.geteuid() != 0:
        pytest.skip(f"needs root: {what}")


def complete_blocks(buf):
    """The longest prefix of pcapng `buf` (little-endian, as our writer writes) made of whole blocks: each one's
    total length a multiple of 4, at least 12, inside the buffer and equal to its trailer."""
    pos = 0
    while len(buf) - pos >= 12:
        blen = struct.unpack_from("<I", buf, pos + 4)[0]
        if blen % 4 or blen < 12 or pos + blen > len(buf) or struct.unpack_from("<I", buf, pos + blen - 4)[0] != blen:
            break
        pos += blen
    return buf[:pos]


@pytest.mark.capture
@pytest.mark.slow
def test_sigkill_loses_at_most_the_last_flush_interval(bins, udp_server, tmp_path):
    need_root("capturing on lo needs CAP_NET_RAW")
    out, ready = tmp_path / "killed.pcapng", tmp_path / "killed.ready"
    partial = tmp_path / "killed.pcapng.partial"
    sent = {}                            # seq -> monotonic send time
    with proc.Process([bins["sniffer"], "-i", "lo", "-f", f"udp dst port {udp_server}", "-w", str(out),
                       "--ready-file", str(ready)], name="sniffer", logdir=str(tmp_path)) as snf:
        proc.poll_until(lambda: ready.exists() or not snf.alive(), timeout=10, what="sniffer ready file")
        assert snf.alive(), snf.describe()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("127.0.0.1", udp_server))
            start = time.monotonic()
            seq = 0
            # A steady flow of 200 datagrams per second for 2.5 s; the sleep paces traffic, it waits for nothing.
            while time.monotonic() - start < 2.5:
                s.send(b"WC%010d:steady flow" % seq)
                sent[seq] = time.monotonic()
                seq += 1
                time.sleep(0.005)  # paces the flow (the scenario); waits for nothing
        killed_at = time.monotonic()
        snf.send_signal(signal.SIGKILL)
        assert snf.wait(10) == -signal.SIGKILL
    assert not out.exists(), "a killed capture must not get its final name"
    assert partial.exists(), "the killed capture's .partial file is gone"
    buf = partial.read_bytes()
    whole = complete_blocks(buf)
    assert len(whole) > 0, f"no complete block in {partial} ({len(buf)} bytes)"
    cap = pcapfile.parse(whole)
    got = {int(m.group(1)) for p in cap.packets if (m := TAG.search(p.data))}
    due = {n for n, t in sent.items() if t < killed_at - FLUSH_S - BLOCK_TIMEOUT_S - SLACK_S}
    assert len(due) >= 100, f"only {len(due)} datagrams were due: the flow was too short"
    missing = sorted(due - got)
    assert not missing, (f"{len(missing)} of {len(due)} datagrams sent over {FLUSH_S + BLOCK_TIMEOUT_S + SLACK_S} s "
                         f"before the kill are not in the file: first {missing[:10]}; file {len(buf)} bytes, "
                         f"{len(whole)} in whole blocks, {len(cap.packets)} packets")
    # libpcap reads the recovered prefix too (through the sniffer's offline path).
    recovered = tmp_path / "recovered.pcapng"
    recovered.write_bytes(whole)
    r = subprocess.run([bins["sniffer"], "-r", str(recovered)], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert f"{len(cap.packets)} packets".encode() in r.stderr, r.stderr.decode(errors="replace")


def privileged_port(kind):
    """A free port below 1024: binding it needs root, so serving on it as USER shows the drop came after."""
    for port in range(1000, 900, -1):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
        return port
    pytest.skip("no free port in 901..1000")


def status_fields(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


@pytest.mark.parametrize("server", ["tcp-server", "udp-server"])
def test_server_drops_privileges_after_binding(bins, server):
    need_root("dropping privileges")
    nobody = pwd.getpwnam("nobody")
    kind = socket.SOCK_STREAM if server == "tcp-server" else socket.SOCK_DGRAM
    port = privileged_port(kind)
    with proc.Process([bins[server], "-p", str(port), "-4", "-Z", "nobody"], name=server) as p:
        # The port accepts connections as soon as it is bound, before the drop; "listening on" is logged
        # after it, so that line is the readiness to wait for.
        proc.poll_until(lambda: b"listening on" in p.stderr() or not p.alive(), timeout=10,
                        what=f"{server} logging that it listens")
        assert p.alive(), p.describe()
        st = status_fields(p.pid)
        want_uid, want_gid = [str(nobody.pw_uid)] * 4, [str(nobody.pw_gid)] * 4
        assert st["Uid"].split() == want_uid, f"Uid (real, effective, saved, fs): want {want_uid}, got {st['Uid']}"
        assert st["Gid"].split() == want_gid, f"Gid: want {want_gid}, got {st['Gid']}"
        assert set(st["Groups"].split()) <= {str(nobody.pw_gid)}, f"supplementary groups left: {st['Groups']}"
        assert int(st["CapEff"], 16) == 0, f"effective capabilities left: {st['CapEff']}"
        # Still serving, as nobody, on the port only root could bind.
        if server == "tcp-server":
            r = subprocess.run([bins["tcp-client"], "-t", "5", "127.0.0.1", str(port)], input=b"as nobody\n",
                               capture_output=True, timeout=15)
            assert r.stdout == b"FROM SERVER: AS NOBODY\n", r
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                s.connect(("127.0.0.1", port))
                s.send(b"as nobody")
                assert s.recv(100) == b"AS NOBODY"
        assert p.stop() == 0, p.describe()
