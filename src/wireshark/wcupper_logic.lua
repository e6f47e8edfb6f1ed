-- wcupper_logic: the wcupper dissector's protocol logic in plain Lua: judging replies, TCP line reassembly, matching.
--
-- No Wireshark API here (no Proto, Field, tvb, pinfo or tree), so it can be tested alone with any Lua 5.2. It keeps
-- no state of its own: the callers own the tables (conversations, streams) and pass them in. wcupper.lua loads it
-- with dofile from its own folder; Wireshark also loads it alone, as it loads every .lua file in its plugins
-- folders, and then it only builds and returns its table of functions.
--
-- Records (requests and replies) are tables: kind (1 request, 2 reply), frame, ts, data (the bytes, until judged),
-- tag (parse_tag), port (UDP: the server port), pos (TCP: the line's offset in its direction's byte stream).

local TAG_LEN = 13 -- "WC" + 10 digits + ":"
local SEQ_AHEAD = 0x40000000 -- a sequence number further ahead than this is behind (serial arithmetic)

local function upper(s)
    return (s:gsub("%l", string.upper)) -- %l is a-z only in the C locale Lua runs in: bytes >= 0x80 stay
end

-- The ten digits of a `WC0123456789:` tag that starts s, else nil.
local function parse_tag(s)
    if #s >= TAG_LEN and s:find("^WC%d%d%d%d%d%d%d%d%d%d:") then
        return s:sub(3, 12)
    end
    return nil
end

-- The errors of a reply against its request: a list of { name, text, offset }, name being "other_port",
-- "not_upper", "length" or "padded" (wcupper.lua's expert infos), offset the reply's first wrong byte (0-based;
-- nil for other_port). Upper case is ASCII only.
local function judge(req, rep)
    local errs = {}
    local want = upper(req.data)
    local got = rep.data
    if rep.port and req.port and rep.port ~= req.port then
        errs[#errs + 1] = { "other_port", string.format("reply from port %d, its request (frame %d) went to port %d",
                                                        rep.port, req.frame, req.port) }
    end
    if got == want then return errs end
    local n = math.min(#want, #got)
    local first = nil
    for i = 1, n do
        if got:byte(i) ~= want:byte(i) then first = i; break end
    end
    if first then
        local b = req.data:byte(first)
        local why = (b >= 0x61 and b <= 0x7a) and string.format("the upper case of 0x%02x", b)
                    or "unchanged: only a-z change"
        errs[#errs + 1] = { "not_upper", string.format(
            "reply differs from the upper case of its request (frame %d) at offset %d: 0x%02x where 0x%02x (%s) "
            .. "was expected", req.frame, first - 1, got:byte(first), want:byte(first), why), first - 1 }
    end
    if #got ~= #want then
        errs[#errs + 1] = { "length", string.format("reply has %d bytes, its request (frame %d) %d",
                                                    #got, req.frame, #want), n }
        if #got > #want then
            local tail = got:sub(#want + 1)
            local nuls = #tail:match("%z*$")
            if nuls > 0 then
                local stale = #tail - nuls
                errs[#errs + 1] = { "padded", string.format("reply padded with %d trailing NUL bytes%s", nuls,
                    stale > 0 and string.format(" after %d stale bytes", stale) or ""), n }
            end
        end
    end
    return errs
end

-- Pairs a request with its reply both ways and judges the reply (rep.errors); the bytes are dropped.
local function link(req, rep)
    req.reply, rep.request = rep, req
    rep.errors = judge(req, rep)
    req.data, rep.data = nil, nil -- judged: the bytes are no longer needed
end

-- The matching state of one conversation, convs[key], made on first use.
local function conv_of(convs, key)
    local c = convs[key]
    if not c then
        c = { reqs = {}, pending = {}, orphans = {}, waiting = {} }
        convs[key] = c
    end
    return c
end

-- TCP: a conforming reply stream has the request stream's length, so a reply line starts at the same stream
-- offset as its request line (shifted by the length errors of earlier replies). Matching by offset, not by
-- count, keeps a line missing from the capture (or from Wireshark's reassembly) from shifting every later pair.
local function match_tcp(c, rec)
    if rec.kind == 1 then
        c.reqs[rec.pos] = rec
        local rep = c.waiting[rec.pos]
        if rep then
            c.waiting[rec.pos] = nil
            c.shift = rep.pos - rec.pos + #rep.data - #rec.data
            link(rec, rep)
        end
        return
    end
    local at = rec.pos - (c.shift or 0)
    local req = c.reqs[at] or c.reqs[rec.pos]
    if req and not req.reply then
        c.shift = rec.pos - req.pos + #rec.data - #req.data
        link(req, rec)
    else
        c.waiting[at] = rec
    end
end

-- UDP: a reply answers the request with its tag, else the request whose upper case it is, else the oldest
-- unanswered one. Replies seen before their request (files not in time order) wait for a certain match.
local function same(req, rep)
    if req.tag or rep.tag then return req.tag == rep.tag end
    return upper(req.data) == rep.data
end

local function match_udp(c, rec)
    if rec.kind == 1 then
        for i, rep in ipairs(c.orphans) do
            if same(rec, rep) then
                table.remove(c.orphans, i)
                link(rec, rep)
                return
            end
        end
        c.pending[#c.pending + 1] = rec
        c.reqs[#c.reqs + 1] = rec
        return
    end
    local pick
    for i, req in ipairs(c.pending) do
        if same(req, rec) then pick = i; break end
    end
    if not pick and not rec.tag and #c.pending > 0 then pick = 1 end
    if pick then
        link(table.remove(c.pending, pick), rec)
        return
    end
    for i = #c.reqs, 1, -1 do -- an answered request that this reply repeats: network or server duplicate
        local req = c.reqs[i]
        if req.reply and req.tag and req.tag == rec.tag then
            rec.dup_of, rec.request = req.reply, req
            return
        end
    end
    c.orphans[#c.orphans + 1] = rec
end

-- TCP lines are reassembled per interface from each segment's sequence number: a retransmitted or duplicated
-- byte is taken once, a segment that arrives early waits for the gap before it, and each side of the capture is
-- its own byte stream. A gap that the receiver has acknowledged (st.acked, set by the caller) was lost by the
-- capture, not by the network (the bytes passed this point): the stream skips it, and the line around it,
-- instead of waiting for it forever.
--
-- streams[key]: one direction's state, made on first use with its data starting at sequence number `first`;
-- conv (the key of its conversation) and is_req (a request direction) are kept for the caller.
local function stream_state(streams, key, first, conv, is_req)
    local st = streams[key]
    if not st then
        st = { next = first, start = first, origin = first, chunks = {}, early = {}, acked = nil,
               conv = conv, is_req = is_req }
        streams[key] = st
    end
    return st
end

-- Feeds a segment's bytes [seq, seq + #data) (data nil: none, only check for gaps) into the stream. Returns the
-- completed lines as { pos = sequence number of the first byte, data, frame, ts } in order, and the gaps skipped
-- (a list of texts, for at.frame). at: { frame, ts, fin } of the segment (fin: the sender closed after it).
local function feed(st, seq, data, at)
    local lines, gaps = {}, {}
    local function take(from, bytes, seg)
        local skip = st.next - from -- bytes start at `from` <= st.next; keep only what is new
        if skip >= #bytes then return end
        if skip > 0 then bytes = bytes:sub(skip + 1) end
        local base, pos = st.next, 1
        while true do
            local nl = bytes:find("\n", pos, true)
            if not nl then break end
            if st.start then
                st.chunks[#st.chunks + 1] = bytes:sub(pos, nl)
                lines[#lines + 1] = { pos = st.start, data = table.concat(st.chunks), frame = seg.frame, ts = seg.ts }
            end -- else the end of a line whose middle the capture lost: skipped
            st.chunks = {}
            st.start = base + nl
            pos = nl + 1
        end
        if pos <= #bytes and st.start then st.chunks[#st.chunks + 1] = bytes:sub(pos) end
        st.next = base + #bytes
        if seg.fin and st.start and #st.chunks > 0 then -- the unterminated last line of a half-closed direction
            lines[#lines + 1] = { pos = st.start, data = table.concat(st.chunks), frame = seg.frame, ts = seg.ts }
            st.chunks = {}
            st.start = st.next
        end
    end
    if data then
        if seq <= st.next then
            take(seq, data, at)
        elseif seq - st.next < SEQ_AHEAD then
            local old = st.early[seq]
            if not old or #old.data < #data then
                st.early[seq] = { data = data, frame = at.frame, ts = at.ts, fin = at.fin }
            end
        end
    end
    local progress = true
    while progress do
        progress = false
        local lo
        for s, seg in pairs(st.early) do -- segments that arrived early and now fit
            if s <= st.next then
                st.early[s] = nil
                take(s, seg.data, seg)
                progress = true
            elseif not lo or s < lo then
                lo = s
            end
        end
        if not progress and lo and st.acked and st.acked - st.next > 0 and st.acked - st.next < SEQ_AHEAD then
            local to = math.min(lo, st.acked)
            gaps[#gaps + 1] = string.format("%d bytes of this direction (sequence numbers %d to %d) are not in "
                .. "the capture though the receiver acknowledged them: the line around them is skipped",
                to - st.next, st.next, to - 1)
            st.next, st.start, st.chunks = to, nil, {}
            progress = true
        end
    end
    return lines, gaps
end

return {
    upper = upper, parse_tag = parse_tag, judge = judge, link = link, conv_of = conv_of,
    match_tcp = match_tcp, same = same, match_udp = match_udp, stream_state = stream_state, feed = feed,
}
