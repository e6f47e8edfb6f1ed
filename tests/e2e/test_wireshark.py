"""The wcupper dissector and the wirecheck profile, read by tshark on the project's captures.

Every run loads the dissector from the checkout (-X lua_script:src/wireshark/wcupper.lua) and the profile from a
private configuration folder (WIRESHARK_CONFIG_DIR, -C wirecheck), as a user would after scripts/wireshark-setup.
tshark runs two passes (-2) with a read filter (-R frame): without one, tshark's first pass builds no protocol
tree, no field can be read, and the dissector can only match requests and replies on the second pass.

The captures hold both capture points (interface 0 client side, 1 server side): each request and reply appears
once per interface, and the dissector matches each side on its own. The faulty servers' captures are
tests/data/wireshark/ (made by scripts/make-wireshark-data; README there says what each holds).
"""
import collections
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LUA = ROOT / "src" / "wireshark" / "wcupper.lua"
PROFILE = ROOT / "src" / "wireshark" / "profile"
DATA = ROOT / "tests" / "data" / "wireshark"
SAMPLES = sorted((ROOT / "captures" / "samples").glob("*.pcapng")) + \
    sorted((ROOT / "tests" / "data" / "reliability").glob("*.pcapng"))
REQUEST, REPLY = "1", "2"


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """A Wireshark configuration folder holding a copy of the wirecheck profile (Wireshark rewrites profiles)."""
    d = tmp_path_factory.mktemp("wireshark-config")
    shutil.copytree(PROFILE, d / "profiles" / "wirecheck")
    return d


_runs = {}


def tshark(config, path, *args, profile=True, dissector=True):
    """tshark's stdout; each distinct run once per session (tshark takes a second or two just to start)."""
    key = (str(config), str(path), args, profile, dissector)
    if key not in _runs:
        _runs[key] = _tshark(config, path, *args, profile=profile, dissector=dissector)
    return _runs[key]


def _tshark(config, path, *args, profile=True, dissector=True):
    argv = ["tshark", "-r", str(path), "-2", "-R", "frame"]
    if profile:
        argv += ["-C", "wirecheck"]
    if dissector:
        argv += ["-X", f"lua_script:{LUA}"]
    r = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(config), "WIRESHARK_CONFIG_DIR": str(config)})
    assert r.returncode == 0, f"tshark {' '.join(args)}: exit {r.returncode}\n{r.stderr}"
    assert "Lua" not in r.stderr, r.stderr  # a Lua error while loading shows only on stderr
    assert "Lua Error" not in r.stdout, r.stdout
    return r.stdout  # "Running as user root" goes to stderr


FIELDS = ["frame.number", "frame.interface_id", "wcupper.kind", "wcupper.len", "wcupper.tag", "wcupper.text",
          "wcupper.request_in", "wcupper.reply_in", "wcupper.diff_offset", "wcupper.stream_offset"]


def pdus(config, path, *args, **kw):
    """One dict per wcupper PDU (a frame may hold several lines): its fields, with frame and interface."""
    out = tshark(config, path, "-Y", "wcupper", "-T", "fields", "-E", "aggregator=\x1f", "-E", "occurrence=a",
                 *[x for f in FIELDS for x in ("-e", f)], *args, **kw)
    rows = []
    for line in out.splitlines():
        cols = line.split("\t")
        frame, iface, per = cols[0], cols[1], [c.split("\x1f") if c else [] for c in cols[2:]]
        kinds = per[0]
        links = {REQUEST: iter(per[5]), REPLY: iter(per[4])}  # reply_in on requests, request_in on replies
        for i, kind in enumerate(kinds):
            rows.append({"frame": int(frame), "iface": int(iface), "kind": kind, "len": int(per[1][i]),
                         "tag": per[2][i] if i < len(per[2]) and len(per[2]) == len(kinds) else None,
                         "text": per[3][i] if i < len(per[3]) else "",
                         "peer": int(next(links[kind], 0) or 0)})
    return rows


def expert(config, path, *args, **kw):
    """tshark -z expert,wcupper as {severity: Counter(summary)} (severity: Errors, Warns, ...)."""
    out = tshark(config, path, "-q", "-z", "expert,wcupper", *args, **kw)
    found, sev = collections.defaultdict(collections.Counter), None
    for line in out.splitlines():
        m = re.match(r"^(\w+) \(\d+\)$", line)
        if m:
            sev = m.group(1)
            continue
        m = re.match(r"^\s+(\d+)\s+\S+\s+(\S+)\s+(.*)$", line)
        if m and sev and m.group(2) == "WCUPPER":
            found[sev][m.group(3).strip()] += int(m.group(1))
    return found


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_reference_captures_have_no_error(config, path):
    found = expert(config, path)
    assert not found["Errors"], f"{path.name}: the reference's replies flagged: {dict(found['Errors'])}"
    rows = pdus(config, path)
    replies = [r for r in rows if r["kind"] == REPLY]
    assert replies, f"{path.name}: the dissector found no reply"
    # Every reply on an interface has its request there: the two sides never mix.
    orphans = [r for r in replies if not r["peer"]]
    assert not orphans, f"{path.name}: replies without a request: {orphans[:3]}"


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_no_error_without_the_profile_either(config, path):
    """Wireshark's default TCP settings hide segments from the dissector (warnings), but never make errors."""
    found = expert(config, path, profile=False)
    assert not found["Errors"], f"{path.name}: {dict(found['Errors'])}"


def test_tcp_session_fields_and_links(config):
    rows = pdus(config, ROOT / "captures" / "samples" / "tcp-session.pcapng")
    by_frame = {r["frame"]: r for r in rows}
    for iface in (0, 1):
        side = [r for r in rows if r["iface"] == iface]
        assert [(r["kind"], r["len"]) for r in side] == [(REQUEST, 13), (REQUEST, 45), (REPLY, 13), (REPLY, 45)], side
        req, rep = side[0], side[2]
        assert req["text"] == "hello, world." and rep["text"] == "HELLO, WORLD.", (req, rep)
        # Links both ways: the request names the reply's frame and the reply the request's.
        assert req["peer"] == rep["frame"] and rep["peer"] == req["frame"], (req, rep)
        assert by_frame[req["peer"]]["kind"] == REPLY
    out = tshark(config, ROOT / "captures" / "samples" / "tcp-session.pcapng", "-Y", "wcupper.kind == 2",
                 "-T", "fields", "-e", "wcupper.time")
    times = [float(t) for line in out.split() for t in line.split(",")]
    assert times and all(0 < t < 1 for t in times), times


def test_lines_reassembled_across_segments(config):
    """3,000 lines of 43 bytes in 1,448-byte segments, with losses: every line whole, on each side."""
    rows = pdus(config, ROOT / "captures" / "samples" / "tcp-retransmissions.pcapng")
    for iface in (0, 1):
        side = [r for r in rows if r["iface"] == iface]
        count = collections.Counter(r["kind"] for r in side)
        assert count == {REQUEST: 3000, REPLY: 3000}, f"interface {iface}: {count}"
        assert {r["len"] for r in side} == {43}, f"interface {iface}: line lengths {sorted({r['len'] for r in side})}"


def test_udp_pad_length_and_padding(config):
    path = DATA / "udp-pad.pcapng"
    rows = pdus(config, path)
    replies = [r for r in rows if r["kind"] == REPLY]
    # sorted: the file is in time order, so the server side's reply comes before the client side's
    assert sorted((r["iface"], r["len"], r["tag"]) for r in replies) == \
        [(0, 1024, "0"), (0, 1024, "1"), (1, 1024, "0"), (1, 1024, "1")], replies
    assert all(r["peer"] for r in replies), replies
    errors = expert(config, path)["Errors"]
    reqs = {r["frame"]: r["len"] for r in rows if r["kind"] == REQUEST}
    want = collections.Counter()
    for r in replies:
        want[f"reply has 1024 bytes, its request (frame {r['peer']}) {reqs[r['peer']]}"] += 1
    want["reply padded with 1006 trailing NUL bytes"] = 2
    want["reply padded with 996 trailing NUL bytes"] = 2
    assert errors == want, f"expected {dict(want)}, got {dict(errors)}"


def test_udp_reply_from_another_port(config):
    path = DATA / "udp-other-port.pcapng"
    errors = expert(config, path)["Errors"]
    assert sum(errors.values()) == 2, dict(errors)  # one reply per interface
    assert all(re.fullmatch(r"reply from port \d+, its request \(frame \d+\) went to port 9876", k)
               for k in errors), dict(errors)
    replies = [r for r in pdus(config, path) if r["kind"] == REPLY]
    assert len(replies) == 2 and all(r["peer"] for r in replies), replies


def test_tcp_latin1_first_wrong_byte(config):
    path = DATA / "tcp-latin1.pcapng"
    errors = expert(config, path)["Errors"]
    assert sum(errors.values()) == 2, dict(errors)
    assert all("at offset 3: 0xc9 where 0xe9 (unchanged: only a-z change) was expected" in k for k in errors), \
        dict(errors)
    out = tshark(config, path, "-Y", "wcupper.reply.not_upper", "-T", "fields", "-e", "wcupper.diff_offset")
    assert out.split() == ["3", "3"], out
    ok = [r for r in pdus(config, path) if r["kind"] == REPLY and r["text"] == "PLAIN ASCII."]
    assert len(ok) == 2, "the ASCII line is answered right, and its reply is not flagged"


def test_request_without_reply_is_a_warning(config):
    path = DATA / "tcp-first-line.pcapng"
    found = expert(config, path)
    assert not found["Errors"], dict(found["Errors"])
    assert found["Warns"] == {"request without a reply in this capture (on this interface)": 4}, dict(found["Warns"])
    rows = pdus(config, path)
    unanswered = sorted((r["iface"], r["text"]) for r in rows if r["kind"] == REQUEST and not r["peer"])
    assert unanswered == [(0, "three."), (0, "two."), (1, "three."), (1, "two.")], unanswered
    flagged = tshark(config, path, "-Y", "wcupper.request.no_reply", "-T", "fields", "-e", "frame.number")
    assert sorted({r["frame"] for r in rows if r["kind"] == REQUEST and not r["peer"]}) == \
        sorted(int(x) for x in flagged.split()), flagged


def test_decode_as_on_another_port(config):
    path = DATA / "tcp-port-7000.pcapng"
    assert not pdus(config, path), "port 7000 is not wcupper's without Decode As"
    rows = pdus(config, path, "-d", "tcp.port==7000,wcupper")
    assert sorted((r["iface"], r["kind"], r["text"]) for r in rows) == [
        (0, REQUEST, "decode me as wcupper."), (0, REPLY, "DECODE ME AS WCUPPER."),
        (1, REQUEST, "decode me as wcupper."), (1, REPLY, "DECODE ME AS WCUPPER.")], rows
    assert all(r["peer"] for r in rows), rows
    assert not expert(config, path, "-d", "tcp.port==7000,wcupper")["Errors"]


def test_profile_colors_and_columns(config):
    def rules(path):
        out = tshark(config, path, "--color", "-T", "fields", "-e", "frame.coloring_rule.name")
        return collections.Counter(out.splitlines())

    assert rules(DATA / "udp-pad.pcapng")["wcupper: wrong reply"] == 4
    assert rules(ROOT / "captures" / "samples" / "tcp-retransmissions.pcapng")["retransmission"] > 0
    assert rules(ROOT / "tests" / "data" / "reliability" / "udp-loss10-reord25-dup05.pcapng")[
        "DUPLICATE (by the network)"] > 0
    # The profile's columns: the interface and the packet comment beside the usual ones.
    first = tshark(config, ROOT / "captures" / "samples" / "tcp-session.pcapng", "-c", "1").splitlines()[0]
    assert "to-router@" in first and "handshake 1/3 SYN" in first, first


def test_a_segment_the_capture_lost_is_skipped(config, tmp_path):
    """Server side without the client's second segment (the server acknowledged it, so the capture lost it): a
    warning names the gap, the lines around it are skipped, and the stream goes on instead of waiting forever."""
    sample = ROOT / "captures" / "samples" / "tcp-retransmissions.pcapng"
    lossy = tmp_path / "gap.pcapng"
    gone = tshark(config, sample, "-Y", "frame.interface_id == 1 && tcp.dstport == 6789 && tcp.seq == 1449",
                  "-T", "fields", "-e", "frame.number").split()
    assert len(gone) == 1, gone
    subprocess.run(["editcap", str(sample), str(lossy), gone[0]], check=True, capture_output=True, timeout=60)
    found = expert(config, lossy)
    assert not found["Errors"], dict(found["Errors"])
    gaps = [k for k in found["Warns"] if "are not in the capture" in k]
    assert gaps == ["1448 bytes of this direction (sequence numbers 1449 to 2896) are not in the capture though the "
                    "receiver acknowledged them: the line around them is skipped"], dict(found["Warns"])
    rows = pdus(config, lossy)
    side1 = collections.Counter(r["kind"] for r in rows if r["iface"] == 1)
    # Lines 34 to 68 (stream bytes 1420 to 2924) touch the gap; every other line is there.
    assert side1 == {REQUEST: 3000 - 35, REPLY: 3000}, side1
    assert collections.Counter(r["kind"] for r in rows if r["iface"] == 0) == {REQUEST: 3000, REPLY: 3000}
