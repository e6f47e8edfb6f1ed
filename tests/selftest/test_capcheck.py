"""wcrun.capcheck, the last step of scripts/test: it passes the captures the project writes and fails a file out
of time order, a packet without a label, a file it cannot read, and a run that wrote nothing. (Its judge of
Wireshark's flags is tests/e2e/test_analysis_per_side.py's, which shows it failing the two-sided files.)"""
import hashlib
import os
import pathlib
import shutil
import struct

from lab import analysis, capture
from wcrun import capcheck

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests/data/reliability/tcp-loss10-reord25-dup05.pcapng"
UNSORTED = ROOT / "tests/data/fuzz/pcapread/lab-two-sides.pcapng"   # written before the sniffer sorted


def test_the_project_s_captures_pass(tmp_path, capsys):
    for p in (GOLDEN, *capture.side_paths(GOLDEN).values()):
        shutil.copy(p, tmp_path / p.name)
    assert capcheck.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3 captures, 0 out of time order; 2 one-side files" in out and "0 files with a problem" in out, out


def test_a_file_out_of_time_order_fails(tmp_path, capsys):
    shutil.copy(UNSORTED, tmp_path / "x.pcapng")
    assert capcheck.main(["-q", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "x.pcapng: not in time order: frame " in out and "1 out of time order" in out, out


def _pcapng(labels):
    """A one-interface pcapng with a packet per label, each at a later time; None: a packet without a comment."""
    def opt(code, v):
        return struct.pack("<HH", code, len(v)) + v + b"\0" * (-len(v) % 4)

    def block(t, body):
        return struct.pack("<II", t, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opt(0, b""))
    out += block(1, struct.pack("<HHI", 1, 0, 262144) + opt(0, b""))
    for n, label in enumerate(labels):
        d = b"\x02" * 60
        out += block(6, struct.pack("<IIIII", 0, 0, 1000 + n, len(d), len(d)) + d
                     + (opt(1, label.encode()) if label else b"") + opt(0, b""))
    return out


def test_a_packet_without_a_label_fails(tmp_path, capsys):
    (tmp_path / "x.pcapng").write_bytes(_pcapng(["ARP who-has", None, "ARP reply", None]))
    assert capcheck.main(["-q", str(tmp_path)]) == 1
    assert "x.pcapng: 2 packets without a label (frames 2, 4)" in capsys.readouterr().out
    (tmp_path / "x.pcapng").write_bytes(_pcapng(["ARP who-has", "ARP reply"]))
    assert capcheck.main(["-q", str(tmp_path)]) == 0


def test_an_unreadable_file_fails(tmp_path, capsys):
    (tmp_path / "cut.pcapng").write_bytes(GOLDEN.read_bytes()[:1000])
    assert capcheck.main(["-q", str(tmp_path)]) == 1
    assert "cut.pcapng: unreadable: " in capsys.readouterr().out


def test_nothing_to_check_is_an_error(tmp_path, capsys):
    shutil.copy(GOLDEN, tmp_path / "old.pcapng")
    os.utime(tmp_path / "old.pcapng", (1000, 1000))
    assert capcheck.main(["--since", "2000", str(tmp_path)]) == 2
    assert "capcheck: no capture in " in capsys.readouterr().err


def test_a_resend_hidden_by_the_sender_s_dropped_packets_is_not_judged_false():
    """The ledger knows one send of the server's segment; Wireshark on the client's file calls it a
    retransmission. False when the server's capture is complete; unknown (so not false) when the server's
    capture dropped packets, where its first send may have been."""
    seg = {"proto": 6, "ip_id": 7, "l4": b"x" * 40, "flags": "A", "payload": 20, "seq": 1000, "ack": 1,
           "src": "10.0.0.2"}
    key = (6, 7, hashlib.blake2b(seg["l4"], digest_size=12).digest())
    sent = {"proto": 6, "_key": key, "ts": 5, "seq": 1000, "ack": 1, "payload": 20, "flags": "A",
            "fate": "delivered", "reordered": False, "delay_ns": None}
    t = analysis.Truth.__new__(analysis.Truth)
    t.client, t.server = "10.0.0.1", "10.0.0.2"
    t.pk = {0: [(10, seg)], 1: [(5, seg)]}
    t.led = type("Led", (), {"entries": {"s2c": [sent], "c2s": []}})()
    flags = {"retransmission", "spurious_retransmission", "out_of_order"}
    t.incomplete = {0: False, 1: False}     # what "previous segment not captured" is excused by
    t.dropped = {0: False, 1: False}
    assert t.judge(0, 0, flags) == flags
    t.dropped = {0: True, 1: False}      # the receiver's drops say nothing of what was sent before
    assert t.judge(0, 0, flags) == flags
    t.dropped = {0: False, 1: True}
    assert t.judge(0, 0, flags) == set()
    # A repeated ACK: a duplicate ACK that the server's drops may hide the first of.
    ack = dict(seg, payload=0, l4=b"a" * 20)
    t.pk = {0: [(10, ack)], 1: [(5, ack)]}
    t.dropped = {0: False, 1: False}
    assert t.judge(0, 0, {"duplicate_ack"}) == {"duplicate_ack"}
    t.dropped = {0: False, 1: True}
    assert t.judge(0, 0, {"duplicate_ack"}) == set()
