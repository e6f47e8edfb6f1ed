"""The wire analysis on hand-made ledgers: a check that cannot fail proves nothing."""
from types import SimpleNamespace

from wcrun.wire import undelivered_tcp_bytes


def entry(seq, n, fate, ts):
    return {"proto": 6, "fate": fate, "payload": n, "seq": seq, "sport": 40000, "dport": 6789, "ts": ts,
            "flags": "A"}


def ledger(*entries):
    return SimpleNamespace(entries={"c2s": list(entries), "s2c": []})


def test_lost_and_never_resent_is_reported():
    led = ledger(entry(1000, 100, "delivered", 1), entry(1100, 100, "lost", 2), entry(1200, 100, "delivered", 3))
    assert [p.seq for p in undelivered_tcp_bytes(led)] == [1100]


def test_resent_later_in_two_pieces_is_recovered():
    led = ledger(entry(1100, 100, "lost", 1), entry(1100, 60, "delivered", 5), entry(1160, 40, "delivered", 6))
    assert undelivered_tcp_bytes(led) == []


def test_half_resent_is_reported():
    led = ledger(entry(1100, 100, "lost", 1), entry(1100, 60, "delivered", 5))
    assert len(undelivered_tcp_bytes(led)) == 1


def test_lost_spurious_retransmission_of_a_delivered_original():
    led = ledger(entry(1100, 100, "delivered", 1), entry(1100, 100, "lost", 2))
    assert undelivered_tcp_bytes(led) == []


def test_sequence_wrap():
    top = 0xFFFFFFFF - 49
    led = ledger(entry(top, 100, "lost", 1), entry(top, 50, "delivered", 2), entry(0, 50, "delivered", 3))
    assert undelivered_tcp_bytes(led) == []
    led = ledger(entry(top, 100, "lost", 1), entry(top, 50, "delivered", 2))
    assert len(undelivered_tcp_bytes(led)) == 1
