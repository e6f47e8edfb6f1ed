"""The sniffer end to end: live capture on lo and across two namespaces, SIGTERM, offline labelling,
bad input files, privileges. tshark and capinfos are the independent readers of what we write."""
import json
import os
import pathlib
import secrets
import signal
import stat
import shutil
import struct
import subprocess
import tempfile

import pytest

from lab import proc

pytestmark = pytest.mark.capture

TIMEOUT = 30


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("timeout", TIMEOUT)
    return subprocess.run(argv, **kw)


def tshark_fields(path, *fields, display_filter=None):
    """Rows of tshark fields (stdout only: tshark says 'Running as user root' on stderr)."""
    argv = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=|"]
    if display_filter:
        argv += ["-Y", display_filter]
    for f in fields:
        argv += ["-e", f]
    r = run(argv)
    assert r.returncode == 0, f"tshark failed on {path}: {r.stderr.decode(errors='replace')}"
    return [line.split("|") for line in r.stdout.decode().splitlines()]


def capinfos_ok(path):
    """capinfos reads the file without a warning, and finds it in strict time order (as every file we write)."""
    r = run(["capinfos", "-T", "-r", "-c", "-k", str(path)])
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0 and "warn" not in err.lower(), f"capinfos on {path}: rc {r.returncode}: {err}"
    order = run(["capinfos", "-T", "-r", "-o", str(path)]).stdout.decode().rstrip("\n").split("\t")[-1]
    assert order == "True", f"capinfos on {path}: strict time order is {order!r}, expected 'True'"
    return r.stdout.decode()


class Sniffer:
    """A running sniffer; readiness is its --ready-file, polled."""

    def __init__(self, bins, tmp_path, args, name="sniffer"):
        self.ready = tmp_path / f"{name}.ready"
        self.proc = proc.Process([bins["sniffer"], *args, "--ready-file", str(self.ready)],
                                 name=name, logdir=str(tmp_path))
        proc.poll_until(lambda: self._ready(), timeout=10, what="sniffer ready file")

    def _ready(self):
        if not self.proc.alive():
            raise AssertionError(f"sniffer exited early\n{self.proc.describe()}")
        return self.ready.exists()

    def stop(self, sig=signal.SIGTERM):
        rc = self.proc.stop(sig, timeout=5)
        assert rc == 0, f"sniffer exit {rc}\n{self.proc.describe()}"
        return self.proc.stderr().decode(errors="replace")

    def close(self):
        self.proc.close()


@pytest.fixture
def sniffer(bins, tmp_path):
    started = []

    def start(*args, name="sniffer"):
        s = Sniffer(bins, tmp_path, args, name)
        started.append(s)
        return s
    yield start
    for s in reversed(started):
        s.close()


def test_lo_tcp_session_labels_agree_with_tshark(bins, tcp_server, sniffer, tmp_path):
    out, js = tmp_path / "tcp-lo.pcapng", tmp_path / "tcp-lo.json"
    s = sniffer("-i", "lo", "-f", f"tcp port {tcp_server}", "-w", str(out), "--json", str(js),
                "--comment", "e2e: tcp-client echo over lo", "--describe", "lo=loopback")
    r = run([bins["tcp-client"], "127.0.0.1", str(tcp_server)], input=b"hello\nworld\n")
    assert r.returncode == 0, r.stderr
    s.stop()
    assert not (tmp_path / "tcp-lo.pcapng.partial").exists()
    info = capinfos_ok(out)
    assert "e2e: tcp-client echo over lo" in run(["capinfos", str(out)]).stdout.decode()
    rows = tshark_fields(out, "frame.number", "frame.interface_name", "frame.interface_description",
                         "tcp.flags.syn", "tcp.flags.ack", "tcp.len", "tcp.seq", "tcp.ack",
                         "tcp.flags.fin", "frame.comment")
    assert rows, f"no packets: {info}"
    assert {r[1] for r in rows} == {"lo"} and {r[2] for r in rows} == {"loopback"}
    comments = [r[9].replace("\\n", "").strip() for r in rows]
    # tshark's own view of the handshake: SYN, SYN+ACK, then the first ACK with rel seq 1, ack 1 and no data.
    syn = [i for i, r in enumerate(rows) if r[3] == "1" and r[4] == "0"]
    synack = [i for i, r in enumerate(rows) if r[3] == "1" and r[4] == "1"]
    third = [i for i, r in enumerate(rows) if r[3] == "0" and r[5] == "0" and r[6] == "1" and r[7] == "1"
             and r[8] == "0"]
    assert len(syn) == 1 and len(synack) == 1 and third, rows
    assert comments[syn[0]] == "handshake 1/3 SYN", comments
    assert comments[synack[0]] == "handshake 2/3 SYN-ACK", comments
    assert comments[third[0]] == "handshake 3/3 ACK", comments
    data = [(r[6], r[5], c) for r, c in zip(rows, comments) if r[5] not in ("", "0")]
    for seq, length, c in data:
        assert c.startswith(f"data seq={seq} len={length}"), (seq, length, c)
    fins = [c for r, c in zip(rows, comments) if r[8] == "1"]
    assert len(fins) == 2 and all(c.endswith("FIN") for c in fins), fins
    # No tshark analysis verdict on a clean loopback session, and none from us.
    assert not tshark_fields(out, "frame.number", display_filter="tcp.analysis.flags")
    assert not [c for c in comments if "retransmission" in c or "out-of-order" in c]
    summary = json.loads(js.read_text())
    (flow,) = summary["flows"]
    assert flow["proto"] == "tcp" and flow["handshake"] and flow["close"] == "fin"
    assert flow["bytes"] == [12, 12], flow
    assert flow["dport"] == tcp_server
    (iface,) = summary["interfaces"]
    assert iface["name"] == "lo" and iface["drop"] == 0 and iface["packets"] == len(rows)


def test_udp_seq_labels_and_verbose(bins, udp_server, sniffer, tmp_path):
    out, js = tmp_path / "udp-seq.pcapng", tmp_path / "udp-seq.json"
    s = sniffer("-i", "lo", "-f", f"udp port {udp_server}", "-w", str(out), "--json", str(js), "-v")
    r = run([bins["udp-client"], "--seq", "-q", "-n", "20", "127.0.0.1", str(udp_server)])
    assert r.returncode == 0, r.stderr
    s.stop()
    capinfos_ok(out)
    comments = [r[0].replace("\\n", "") for r in tshark_fields(out, "frame.comment",
                                                                display_filter="udp.payload contains \"WC\"")]
    expected = [f"udp seq={i}" for i in range(20) for _ in range(2)]   # request and reply
    assert comments == expected, comments
    lines = s.proc.stdout().decode().splitlines()
    assert any(f".{udp_server}: UDP, length 64  # udp seq=19" in line for line in lines), lines[-3:]
    flows = json.loads(js.read_text())["flows"]
    tagged = [f for f in flows if sum(f["tagged"]) == 40]
    assert tagged and tagged[0]["lost"] == [0, 0] and tagged[0]["duplicates"] == [0, 0], flows


def test_sigterm_mid_capture_leaves_valid_file(bins, udp_server, sniffer, tmp_path):
    out = tmp_path / "sigterm.pcapng"
    s = sniffer("-i", "lo", "-f", f"udp port {udp_server}", "-w", str(out))
    with proc.Process([bins["udp-client"], "--seq", "-q", "-n", "1000000", "--rate", "2000",
                       "127.0.0.1", str(udp_server)], name="udp-client", logdir=str(tmp_path)) as c:
        # Mid-capture: the sniffer has flushed at least once (the .partial file is growing).
        partial = tmp_path / "sigterm.pcapng.partial"
        proc.poll_until(lambda: partial.exists() and partial.stat().st_size > 10000, timeout=10,
                        what="capture data flushed")
        assert c.alive()
        s.stop(signal.SIGTERM)
    assert out.exists() and not partial.exists()
    info = capinfos_ok(out)
    n = int(next(line for line in info.splitlines() if line.startswith(str(out))).split("\t")[1])
    assert n > 0


def test_count_and_duration_stop_cleanly(bins, udp_server, sniffer, tmp_path):
    out = tmp_path / "count.pcapng"
    s = sniffer("-i", "lo", "-f", f"udp port {udp_server}", "-w", str(out), "-c", "6")
    run([bins["udp-client"], "--seq", "-q", "-n", "10", "127.0.0.1", str(udp_server)])
    assert s.proc.wait(timeout=10) == 0, s.proc.describe()
    assert len(tshark_fields(out, "frame.number")) == 6
    r = run([bins["sniffer"], "-i", "lo", "-G", "0.3", "-w", str(tmp_path / "g.pcapng")])
    assert r.returncode == 0, r.stderr
    capinfos_ok(tmp_path / "g.pcapng")


def test_offline_annotated_copy_and_classic_pcap(bins, tcp_server, sniffer, tmp_path):
    classic = tmp_path / "classic.pcap"
    s = sniffer("-i", "lo", "-f", f"tcp port {tcp_server}", "-w", str(classic), "--format", "pcap")
    run([bins["tcp-client"], "127.0.0.1", str(tcp_server)], input=b"abc\n")
    s.stop()
    assert "pcap" in capinfos_ok(classic)
    copy = tmp_path / "annotated.pcapng"
    r = run([bins["sniffer"], "-r", str(classic), "-w", str(copy), "--json", "-"])
    assert r.returncode == 0, r.stderr
    capinfos_ok(copy)
    comments = [c[0].replace("\\n", "") for c in tshark_fields(copy, "frame.comment")]
    assert comments[:3] == ["handshake 1/3 SYN", "handshake 2/3 SYN-ACK", "handshake 3/3 ACK"], comments
    assert json.loads(r.stdout)["flows"][0]["handshake"] is True


def malformed_inputs(good: bytes):
    bad = {"empty": b"", "random": secrets.token_bytes(4096), "truncated-header": good[:20],
           "truncated-block": good[:len(good) - 7]}
    huge = bytearray(good)
    huge[4:8] = struct.pack("<I", 0x7FFFFFF0)
    bad["huge-shb-length"] = bytes(huge)
    odd = bytearray(good)
    odd[4:8] = struct.pack("<I", struct.unpack("<I", good[4:8])[0] + 3)
    bad["length-not-multiple-of-4"] = bytes(odd)
    # The first IDB's trailer disagrees with its header.
    shb_len = struct.unpack("<I", good[4:8])[0]
    idb_len = struct.unpack("<I", good[shb_len + 4:shb_len + 8])[0]
    mism = bytearray(good)
    mism[shb_len + idb_len - 4:shb_len + idb_len] = struct.pack("<I", idb_len + 4)
    bad["trailer-mismatch"] = bytes(mism)
    classic = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    classic += struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"x" * 16
    bad["classic-huge-caplen"] = bytes(classic)
    # More interfaces than the sniffer keeps slots for (mergecap of 40 two-sided captures gives 80): the SHB and
    # first IDB of the good file, then 32 more copies of that IDB.
    bad["33-interfaces"] = good[:shb_len + idb_len] + good[shb_len:shb_len + idb_len] * 32
    return bad


def test_malformed_inputs_give_clear_errors(bins, tmp_path):
    good = pathlib.Path(__file__).resolve().parent.parent / "data" / "sniffer-tcp-lo.pcapng"
    data = good.read_bytes()
    assert run([bins["sniffer"], "-r", str(good)]).returncode == 0
    for name, content in malformed_inputs(data).items():
        f = tmp_path / f"{name}.pcapng"
        f.write_bytes(content)
        out = tmp_path / f"{name}.out.pcapng"
        r = run([bins["sniffer"], "-r", str(f), "-w", str(out)], timeout=10)
        err = r.stderr.decode(errors="replace")
        assert r.returncode == 1, f"{name}: exit {r.returncode}: {err}"
        assert str(f) in err and "Sanitizer" not in err, f"{name}: {err}"
        assert not out.exists(), f"{name}: a partial copy was given the final name"


def test_without_privilege_names_cap_net_raw(bins, tmp_path):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv is not installed")
    r = run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
             bins["sniffer"], "-i", "lo", "-w", str(tmp_path / "x.pcapng")])
    assert r.returncode == 1 and b"CAP_NET_RAW" in r.stderr, r.stderr


@pytest.mark.parametrize("argv", [[], ["-i", "lo", "-r", "x"], ["-i", "lo", "-s", "10"],
                                  ["-i", "a", "-i", "b", "--format", "pcap", "-w", "x"],
                                  ["--format", "txt", "-i", "lo"], ["-i", "lo", "stray"]])
def test_usage_errors_exit_2(bins, argv):
    r = run([bins["sniffer"], *argv])
    assert r.returncode == 2 and b"--help" in r.stderr, (argv, r.stderr)


@pytest.fixture
def two_namespaces():
    """Client and server namespaces joined by a veth pair; deleted last in, first out."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    tag = secrets.token_hex(3)
    names = [f"wc-snf-c{tag}", f"wc-snf-s{tag}"]
    created = []
    try:
        for ns in names:
            run(["ip", "netns", "add", ns], check=True)
            created.append(ns)
        cli, srv = names
        cmds = [["ip", "link", "add", "vc", "netns", cli, "type", "veth", "peer", "name", "vs", "netns", srv],
                ["ip", "-n", cli, "addr", "add", "10.77.0.1/24", "dev", "vc"],
                ["ip", "-n", srv, "addr", "add", "10.77.0.2/24", "dev", "vs"]]
        for ns, dev in ((cli, "vc"), (srv, "vs")):
            cmds += [["ip", "-n", ns, "link", "set", "lo", "up"], ["ip", "-n", ns, "link", "set", dev, "up"]]
        for c in cmds:
            run(c, check=True)
        yield cli, srv
    finally:
        for ns in reversed(created):
            run(["ip", "netns", "del", ns])


@pytest.mark.lab
def test_two_namespaces_into_one_file(bins, sniffer, two_namespaces, tmp_path):
    cli, srv = two_namespaces
    out, js = tmp_path / "two-netns.pcapng", tmp_path / "two-netns.json"
    with proc.Process(["ip", "netns", "exec", srv, bins["udp-server"], "-p", "9876"], name="udp-server",
                      logdir=str(tmp_path)) as server:
        s = sniffer("-i", f"vc@{cli}", "-i", f"vs@{srv}", "-w", str(out), "--json", str(js),
                    "-f", "udp port 9876", "--describe", f"vc@{cli}=client side",
                    "--describe", f"vs@{srv}=server side", "--comment", "two namespaces, one veth pair")

        def answered():
            assert server.alive(), server.describe()
            return run(["ip", "netns", "exec", cli, bins["udp-client"], "-q", "-t", "0.2", "10.77.0.2"],
                       input=b"probe\n").returncode == 0
        proc.poll_until(answered, timeout=10, what="udp-server in its namespace")
        r = run(["ip", "netns", "exec", cli, bins["udp-client"], "--seq", "-q", "-n", "10", "10.77.0.2"])
        assert r.returncode == 0, r.stderr
        s.stop()
    capinfos_ok(out)
    rows = tshark_fields(out, "frame.interface_name", "frame.interface_description",
                         "frame.packet_flags_direction", "ip.src", "frame.comment",
                         display_filter="udp.payload contains \"WC\"")
    by_iface = {}
    for name, desc, direction, src, comment in rows:
        by_iface.setdefault(name, []).append((desc, direction, src, comment.replace("\\n", "")))
    assert set(by_iface) == {f"vc@{cli}", f"vs@{srv}"}, by_iface.keys()
    for name, side, mine in ((f"vc@{cli}", "client side", "10.77.0.1"), (f"vs@{srv}", "server side", "10.77.0.2")):
        pkts = by_iface[name]
        assert len(pkts) == 20 and {p[0] for p in pkts} == {side}
        # Outbound (0x2) exactly when the interface's own address sent it.
        for _, direction, src, _ in pkts:
            assert int(direction, 16) == (2 if src == mine else 1), (name, direction, src)
        assert [p[3] for p in pkts] == [f"udp seq={i}" for i in range(10) for _ in range(2)]
    summary = json.loads(js.read_text())
    assert [i["name"] for i in summary["interfaces"]] == [f"vc@{cli}", f"vs@{srv}"]
    assert all(i["drop"] == 0 for i in summary["interfaces"])
    # One flow per capture point: the same datagram seen twice is not a duplicate.
    assert sorted(f["interface"] for f in summary["flows"] if sum(f["tagged"])) == [f"vc@{cli}", f"vs@{srv}"]
    assert all(f["duplicates"] == [0, 0] for f in summary["flows"])


def test_drop_privileges_creates_files_as_user(bins, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    # pytest's tmp_path is private to root: USER needs a directory it can reach.
    d = pathlib.Path(tempfile.mkdtemp(prefix="wc-snf-z-"))
    try:
        os.chmod(d, 0o1777)
        out = d / "z.pcapng"
        r = run([bins["sniffer"], "-i", "lo", "-G", "0.2", "-Z", "nobody", "-w", str(out)])
        assert r.returncode == 0, r.stderr
        assert out.stat().st_uid != 0
        capinfos_ok(out)
    finally:
        shutil.rmtree(d)


def test_full_disk_is_an_error_and_no_valid_file(bins, tmp_path):
    """ENOSPC while writing: exit 1 naming the error; the final name is never created."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    src = tmp_path / "big.pcap"
    rec = struct.pack("<IIII", 0, 0, 1000, 1000) + b"\x02" * 1000
    src.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + rec * 300)
    mnt = tmp_path / "small"
    mnt.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    try:
        r = run([bins["sniffer"], "-r", str(src), "-w", str(mnt / "out.pcapng")])
        err = r.stderr.decode(errors="replace")
        assert r.returncode == 1 and "No space left on device" in err, err
        assert not (mnt / "out.pcapng").exists()
    finally:
        run(["umount", str(mnt)])


SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "captures" / "samples"


def per_frame(path, *fields):
    rows = tshark_fields(path, "frame.number", "frame.interface_id", *fields)
    return {int(r[0]): r[1:] for r in rows}


@pytest.mark.parametrize("sample", ["tcp-retransmissions.pcapng", "udp-loss-reorder.pcapng", "tcp-session.pcapng"])
def test_offline_relabels_both_sides_as_live(bins, tmp_path, sample):
    """The samples hold both sides of the lab (interface 0 client side, 1 server side) and their comments are
    the live sniffer's labels. Read offline, every frame gets the same label again, on the same interface:
    the server-side copy of a segment is not a retransmission of the client-side one."""
    src, out, js = SAMPLES / sample, tmp_path / f"relabelled-{sample}", tmp_path / "summary.json"
    r = run([bins["sniffer"], "-r", str(src), "-w", str(out), "--json", str(js), "-v"])
    assert r.returncode == 0, r.stderr
    capinfos_ok(out)
    fields = ("frame.interface_name", "frame.interface_description", "frame.comment", "frame.packet_flags")
    want, got = per_frame(src, *fields), per_frame(out, *fields)
    assert want.keys() == got.keys()
    for n in want:
        assert got[n] == want[n], f"frame {n}: expected {want[n]}, got {got[n]}"
    names = {row[1] for row in got.values()}
    assert len(names) == 2 and all(n.startswith("to-router@") for n in names), names
    # The labels were computed, not copied: -v prints what the tracker said, one line per frame.
    labels = [line.split("  # ", 1)[1] for line in r.stdout.decode().splitlines()]
    assert labels == [want[n][3].replace("\\n", "") for n in sorted(want)]
    # The section comments are kept.
    info = run(["capinfos", str(out)]).stdout.decode()
    assert "wirecheck lab scenario: samples/" in info and "interface 0 is the client side" in info
    summary = json.loads(js.read_text())
    ifaces = [i["name"] for i in summary["interfaces"]]
    assert len(ifaces) == 2 and sum(i["packets"] for i in summary["interfaces"]) == len(want)
    assert sorted({f["interface"] for f in summary["flows"]}) == sorted(ifaces)
    if sample == "tcp-retransmissions.pcapng":
        # Each side's flow counts only that side's resends: the same numbers tshark finds per side.
        for f in summary["flows"]:
            assert f["segments"][0] + f["segments"][1] < len(want), f


def test_offline_mixed_link_types_pcapng_keeps_them_pcap_refuses(bins, tmp_path):
    """One pcapng file with an Ethernet and a raw-IP interface: the pcapng copy keeps one IDB each; classic
    pcap cannot hold two link types, and says so."""
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    def opt(code, value):
        return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)

    ip = bytes.fromhex("450000280001000040110000c0a80001c0a80002") + struct.pack(">HHHH", 1000, 2000, 8, 0)
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip
    data = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opt(1, b"mixed\n") + opt(0, b""))
    data += block(1, struct.pack("<HHI", 1, 0, 0) + opt(2, b"eth-side") + opt(0, b""))
    data += block(1, struct.pack("<HHI", 101, 0, 0) + opt(2, b"raw-side") + opt(0, b""))
    data += block(6, struct.pack("<IIIII", 0, 0, 1, len(eth), len(eth)) + eth + b"\0" * (-len(eth) % 4)
                  + opt(1, b"from the file") + opt(0, b""))
    data += block(6, struct.pack("<IIIII", 1, 0, 2, len(ip), len(ip)) + ip + opt(0, b""))
    src = tmp_path / "mixed.pcapng"
    src.write_bytes(data)
    out = tmp_path / "mixed-out.pcapng"
    r = run([bins["sniffer"], "-r", str(src), "-w", str(out)])
    assert r.returncode == 0, r.stderr
    rows = tshark_fields(out, "frame.interface_name", "frame.encap_type", "frame.comment", "udp.srcport")
    assert [(x[0], x[3]) for x in rows] == [("eth-side", "1000"), ("raw-side", "1000")], rows
    # Both comments, and neither ends in a newline (tshark would print it as a literal \\n).
    assert rows[0][2].split(",") == ["from the file", "udp len=0"], rows[0][2]
    r = run([bins["sniffer"], "-r", str(src), "-w", str(tmp_path / "mixed.pcap"), "--format", "pcap"])
    err = r.stderr.decode()
    assert r.returncode == 1 and "one link type" in err and "eth-side" in err and "raw-side" in err, err
    assert not (tmp_path / "mixed.pcap").exists()


def test_offline_errors_name_the_invariant_and_offset(bins, tmp_path):
    good = (pathlib.Path(__file__).resolve().parent.parent / "data" / "sniffer-tcp-lo.pcapng").read_bytes()
    bad = malformed_inputs(good)["trailer-mismatch"]
    f = tmp_path / "mismatch.pcapng"
    f.write_bytes(bad)
    r = run([bins["sniffer"], "-r", str(f)])
    err = r.stderr.decode()
    assert r.returncode == 1 and "block total length in header" in err and "don't match at offset" in err, err


def test_offline_write_to_dev_null_keeps_the_device(bins):
    """-w /dev/null is written in place: renaming a .partial onto it would replace the device."""
    sample = SAMPLES / "tcp-session.pcapng"
    for fmt in ("pcapng", "pcap"):
        r = run([bins["sniffer"], "-r", str(sample), "-w", "/dev/null", "--format", fmt])
        assert r.returncode == 0, r.stderr
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode), f"/dev/null is no longer a device after {fmt}"
