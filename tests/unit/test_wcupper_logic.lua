-- Unit test of the wcupper dissector's protocol logic (src/wireshark/wcupper_logic.lua), without Wireshark's API.
--
--   lua5.2 tests/unit/test_wcupper_logic.lua src/wireshark/wcupper_logic.lua     (CTest runs it through lua_test.sh)
--
-- Prints "PASS ..." last when every check holds, else raises an error that lists the failed checks.

local path = ... or error("usage: test_wcupper_logic.lua PATH/TO/wcupper_logic.lua")
local logic = dofile(path)
local failed, checks = {}, 0

local function show(v)
    if type(v) == "string" then return string.format("%q", v) end
    if type(v) == "table" and v.frame then return string.format("the record of frame %d", v.frame) end
    return tostring(v)
end

local function eq(got, want, what)
    checks = checks + 1
    if got ~= want then failed[#failed + 1] = string.format("%s: expected %s, got %s", what, show(want), show(got)) end
end

-- Lines as "pos:frame:data" strings, joined: one value to compare.
local function lines_of(lines)
    local t = {}
    for _, l in ipairs(lines) do t[#t + 1] = string.format("%d:%d:%s", l.pos, l.frame, l.data) end
    return table.concat(t, "|")
end

-- upper and parse_tag
eq(logic.upper("abc XYZ \233\n"), "ABC XYZ \233\n", "upper: a-z only, bytes >= 0x80 unchanged")
eq(logic.parse_tag("WC0000000042:hello"), "0000000042", "parse_tag of a tagged line")
eq(logic.parse_tag("WC00042:hello"), nil, "parse_tag with 5 digits")
eq(logic.parse_tag("WC0000000042"), nil, "parse_tag without the colon")

-- judge
eq(#logic.judge({ data = "ab\n", frame = 1 }, { data = "AB\n" }), 0, "judge of a right reply: no error")
local errs = logic.judge({ data = "ab\n", frame = 1 }, { data = "Ab\n" })
eq(#errs, 1, "judge of a wrong byte: one error")
eq(errs[1][1], "not_upper", "judge of a wrong byte: its name")
eq(errs[1][3], 1, "judge of a wrong byte: its offset")
eq(errs[1][2]:find("at offset 1: 0x62 where 0x42 (the upper case of 0x62)", 1, true) ~= nil, true,
   "judge of a wrong byte: its text, got " .. errs[1][2])
errs = logic.judge({ data = "hi\n", frame = 3 }, { data = "HI\n\0\0" })
eq(#errs, 2, "judge of a padded reply: length and padding")
eq(errs[1][1] .. "," .. errs[2][1], "length,padded", "judge of a padded reply: names")
eq(errs[2][2], "reply padded with 2 trailing NUL bytes", "judge of a padded reply: text")
errs = logic.judge({ data = "x", frame = 5, port = 9876 }, { data = "X", port = 9877 })
eq(#errs == 1 and errs[1][1], "other_port", "judge of a reply from another port")

-- feed: a line across segments, then byte by byte (each byte its own frame), retransmissions taken once
local streams = {}
local st = logic.stream_state(streams, "k", 1, "conv", true)
eq(logic.stream_state(streams, "k", 99, "other", false), st, "stream_state keeps the first state of a key")
eq(lines_of(logic.feed(st, 1, "hel", { frame = 1 })), "", "feed: no line before its LF")
eq(lines_of(logic.feed(st, 4, "lo\nwor", { frame = 2 })), "1:2:hello\n", "feed: a line across two segments")
eq(lines_of(logic.feed(st, 1, "hello\nworld\n", { frame = 3 })), "7:3:world\n",
   "feed: a retransmission adds its new bytes only")
local got = {}
for i = 1, 8 do
    for _, l in ipairs(logic.feed(st, 12 + i, ("one\ntwo\n"):sub(i, i), { frame = 10 + i })) do got[#got + 1] = l end
end
eq(lines_of(got), "13:14:one\n|17:18:two\n", "feed: one byte at a time")

-- feed: a segment that arrives early waits for the gap before it; FIN ends an unterminated line
st = logic.stream_state(streams, "early", 1, "conv", false)
eq(lines_of(logic.feed(st, 5, "two\nta", { frame = 1 })), "", "feed: an early segment waits")
eq(lines_of(logic.feed(st, 1, "one\n", { frame = 2 })), "1:2:one\n|5:1:two\n", "feed: the gap filled, both lines")
eq(lines_of(logic.feed(st, 11, "il", { frame = 3, fin = true })), "9:3:tail", "feed: FIN ends the last line")

-- feed: bytes the receiver acknowledged but the capture lacks are skipped, with the line around them
st = logic.stream_state(streams, "gap", 1, "conv", true)
eq(lines_of(logic.feed(st, 1, "ab", { frame = 1 })), "", "feed: a line's start")
eq(lines_of(logic.feed(st, 6, "ef\ngh\n", { frame = 2 })), "", "feed: after a gap, waits")
st.acked = 12
local lines, gaps = logic.feed(st, nil, nil, { frame = 3 })
eq(lines_of(lines), "9:2:gh\n", "feed: an acknowledged gap skips its line, the next one comes")
eq(gaps[1], "3 bytes of this direction (sequence numbers 3 to 5) are not in the capture though the receiver "
    .. "acknowledged them: the line around them is skipped", "feed: the gap's text")

-- match_tcp: by stream offset, a reply before its request, a long reply shifting the next pair
local convs = {}
local c = logic.conv_of(convs, "tcp")
eq(logic.conv_of(convs, "tcp"), c, "conv_of keeps a conversation")
local req, rep = { kind = 1, frame = 1, data = "ab\n", pos = 0 }, { kind = 2, frame = 2, data = "AB\n", pos = 0 }
logic.match_tcp(c, req)
logic.match_tcp(c, rep)
eq(req.reply == rep and rep.request == req and #rep.errors == 0 and rep.data == nil, true, "match_tcp: a pair")
rep = { kind = 2, frame = 3, data = "CD\n", pos = 3 }
req = { kind = 1, frame = 4, data = "cd\n", pos = 3 }
logic.match_tcp(c, rep)
logic.match_tcp(c, req)
eq(rep.request, req, "match_tcp: a reply before its request")
req, rep = { kind = 1, frame = 5, data = "x\n", pos = 6 }, { kind = 2, frame = 6, data = "X\0\n", pos = 6 }
logic.match_tcp(c, req)
logic.match_tcp(c, rep)
eq(rep.errors[1][1], "not_upper", "match_tcp: a long reply is judged")
req, rep = { kind = 1, frame = 7, data = "y\n", pos = 8 }, { kind = 2, frame = 8, data = "Y\n", pos = 9 }
logic.match_tcp(c, req)
logic.match_tcp(c, rep)
eq(rep.request, req, "match_tcp: the next reply, one byte later in its stream, still finds its request")

-- match_udp: by tag first, a network duplicate, an untagged reply before its request
c = logic.conv_of(convs, "udp")
local a = { kind = 1, frame = 1, data = "WC0000000001:a", tag = "0000000001" }
local b = { kind = 1, frame = 2, data = "WC0000000002:b", tag = "0000000002" }
local rb = { kind = 2, frame = 3, data = "WC0000000002:B", tag = "0000000002" }
local rb2 = { kind = 2, frame = 4, data = "WC0000000002:B", tag = "0000000002" }
for _, r in ipairs({ a, b, rb, rb2 }) do logic.match_udp(c, r) end
eq(rb.request == b and a.reply == nil, true, "match_udp: the tag picks the request, not the oldest")
eq(rb2.dup_of == rb and rb2.request == b, true, "match_udp: a second reply is a duplicate")
local ra = { kind = 2, frame = 5, data = "X" }
logic.match_udp(c, ra)
eq(ra.request, a, "match_udp: an untagged reply that matches none answers the oldest request")
eq(logic.same({ data = "q" }, { data = "Q" }), true, "same: untagged, by upper case")
c = logic.conv_of(convs, "udp2")
local ro, q = { kind = 2, frame = 6, data = "Q" }, { kind = 1, frame = 7, data = "q" }
logic.match_udp(c, ro)
logic.match_udp(c, q)
eq(ro.request, q, "match_udp: a reply seen before its request")

if #failed > 0 then
    error(string.format("%d of %d checks failed:\n  %s", #failed, checks, table.concat(failed, "\n  ")), 0)
end
print(string.format("PASS wcupper_logic: %d checks", checks))
