-- wcupper: Wireshark dissector for the uppercase protocol (tests/conformance/PROTOCOL.md).
--
-- A client sends a line (TCP, port 6789) or a datagram (UDP, port 9876); the server answers with its upper case
-- (ASCII a-z -> A-Z, every other byte unchanged). This dissector shows each request and reply, the `WC…:` sequence
-- tag of `udp-client --seq`, links each request to its reply both ways with the reply time, and raises expert info
-- when a reply is wrong (error) or a request has none (warning). Any other port works through "Decode As".
--
-- The project's captures hold both capture points in one file (interface 0 client side, 1 server side), so the
-- same packet appears twice: all matching state is kept per interface, and each side is matched on its own.
--
-- Wireshark 4.0, Lua 5.2. Load it with `tshark -X lua_script:wcupper.lua` or put it in the personal plugins folder,
-- with wcupper_logic.lua (the protocol logic, plain Lua) beside it.

-- dofile, not require: a reload (Analyze > Reload Lua Plugins) reads the logic again, and package.path stays as is.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or ""
local loaded, logic = pcall(dofile, here .. "wcupper_logic.lua")
if not loaded then
    error(string.format("wcupper: cannot load %swcupper_logic.lua (it belongs beside wcupper.lua): %s", here, logic), 0)
end

local TCP_PORT, UDP_PORT = 6789, 9876

local p = Proto("wcupper", "Wirecheck uppercase protocol")

local KIND = { [1] = "request", [2] = "reply" }
local f = {
    kind      = ProtoField.uint8("wcupper.kind", "Kind", base.DEC, KIND),
    request   = ProtoField.bytes("wcupper.request", "Request"),
    reply     = ProtoField.bytes("wcupper.reply", "Reply"),
    text      = ProtoField.string("wcupper.text", "Text"),
    len       = ProtoField.uint32("wcupper.len", "Length", base.DEC),
    tag       = ProtoField.uint64("wcupper.tag", "Sequence tag", base.DEC),
    reply_in  = ProtoField.framenum("wcupper.reply_in", "Reply in", base.NONE, frametype.RESPONSE),
    request_in = ProtoField.framenum("wcupper.request_in", "Request in", base.NONE, frametype.REQUEST),
    time      = ProtoField.relative_time("wcupper.time", "Reply time"),
    pos       = ProtoField.uint32("wcupper.stream_offset", "Offset in the byte stream", base.DEC),
    diff      = ProtoField.uint32("wcupper.diff_offset", "First wrong byte at offset", base.DEC),
}
p.fields = f

local e = {
    not_upper  = ProtoExpert.new("wcupper.reply.not_upper", "Reply is not the upper case of its request",
                                 expert.group.PROTOCOL, expert.severity.ERROR),
    length     = ProtoExpert.new("wcupper.reply.length", "Reply length differs from its request's",
                                 expert.group.PROTOCOL, expert.severity.ERROR),
    padded     = ProtoExpert.new("wcupper.reply.padded", "Reply is padded with trailing NUL bytes",
                                 expert.group.PROTOCOL, expert.severity.ERROR),
    other_port = ProtoExpert.new("wcupper.reply.other_port", "Reply comes from another port than the request went to",
                                 expert.group.PROTOCOL, expert.severity.ERROR),
    no_reply   = ProtoExpert.new("wcupper.request.no_reply", "Request without a reply",
                                 expert.group.SEQUENCE, expert.severity.WARN),
    no_request = ProtoExpert.new("wcupper.reply.no_request", "Reply without a request",
                                 expert.group.SEQUENCE, expert.severity.WARN),
    dup_reply  = ProtoExpert.new("wcupper.reply.duplicate", "Another reply to an answered request",
                                 expert.group.SEQUENCE, expert.severity.WARN),
    gap        = ProtoExpert.new("wcupper.capture_gap", "Bytes missing from the capture",
                                 expert.group.SEQUENCE, expert.severity.WARN),
}
p.experts = e

local fe_number = Field.new("frame.number") -- nil when this pass builds no tree: no field can be read
local fe_iface = Field.new("frame.interface_id")
local fe_stream = Field.new("tcp.stream")
local fe_fin = Field.new("tcp.flags.fin")
local fe_seq = Field.new("tcp.seq")
local fe_seq_raw = Field.new("tcp.seq_raw")

-- State built on the first pass and read on every pass: records[frame][n] describes the n-th PDU of a frame.
-- built[frame]: "first" when the frame was matched in the first pass (every later pass then knows the whole file),
-- "late" when the first pass had no tree (tshark -2 without a filter) and the frame was matched on a later pass.
-- gap_notes[frame]: the gaps in the capture that were skipped there (texts).
local records, convs, heur_frames, streams, built, gap_notes = {}, {}, {}, {}, {}, {}

function p.init() -- a new file, or a reload: forget everything
    records, convs, heur_frames, streams, built, gap_notes = {}, {}, {}, {}, {}, {}
end

-- True when this call must match the frame: the first time it is seen with its fields readable.
local function must_build(pinfo)
    return not built[pinfo.number] and fe_number() ~= nil
end

local function mark_built(pinfo)
    built[pinfo.number] = pinfo.visited and "late" or "first"
end

-- True when the whole file was matched before this pass, so a missing partner is really missing.
local function complete(pinfo)
    return pinfo.visited and built[pinfo.number] == "first"
end

local function field_value(fe, default)
    local v = fe()
    if v == nil then return default end
    return v.value
end

local function summary(s)
    local t = s:sub(1, 40):gsub("[^\32-\126]", ".")
    if #s > 40 then t = t .. "…" end
    return t
end

local function new_record(pinfo, kind, data, port)
    return { kind = kind, frame = pinfo.number, ts = pinfo.abs_ts, data = data, port = port,
             tag = logic.parse_tag(data), text = summary(data) }
end

local function label_of(rec)
    return string.format("%s line (frame %d)", rec.kind == 1 and "Request" or "Reply", rec.frame)
end

local function iface_of()
    return field_value(fe_iface, 0)
end

local function add_time(tree, a, b)
    local d = b - a
    local sign = d < 0 and -1 or 1
    d = math.abs(d)
    local s = math.floor(d)
    local ns = math.floor((d - s) * 1e9 + 0.5)
    tree:add(f.time, NSTime.new(sign * s, sign * ns))
end

-- pdu: a tvb with exactly the PDU's bytes (the datagram, or the reassembled line); anchor: where the subtree
-- points in this frame (nil: the whole tvb).
local function render(anchor, pdu, pinfo, tree, rec)
    local label = rec.kind == 1 and "Request" or "Reply"
    local n = pdu and pdu:len() or 0
    local st = tree:add(p, anchor)
    st:append_text(string.format(", %s, %d bytes", label, n))
    st:add(f.kind, rec.kind):set_generated()
    if n > 0 then
        st:add(rec.kind == 1 and f.request or f.reply, pdu())
        st:add(f.text, pdu(), rec.text)
    end
    st:add(f.len, n):set_generated()
    if rec.tag then
        st:add(f.tag, pdu(2, 10), UInt64.new(tonumber(rec.tag)))
    end
    if rec.pos then st:add(f.pos, rec.pos):set_generated() end
    if rec.kind == 1 then
        if rec.reply then
            st:add(f.reply_in, rec.reply.frame):set_generated()
        elseif complete(pinfo) then
            st:add_proto_expert_info(e.no_reply, "request without a reply in this capture (on this interface)")
        end
    else
        local req = rec.request
        if req then
            st:add(f.request_in, req.frame):set_generated()
            add_time(st, req.ts, rec.ts)
        end
        if rec.dup_of then
            st:add_proto_expert_info(e.dup_reply, string.format(
                "another reply to the request in frame %d, first answered in frame %d", req.frame, rec.dup_of.frame))
        elseif not req and complete(pinfo) then
            st:add_proto_expert_info(e.no_request, "reply without a request in this capture (on this interface)")
        end
        local errs = rec.errors or {}
        if errs[1] and errs[1][3] then st:add(f.diff, errs[1][3]):set_generated() end
        for _, err in ipairs(errs) do
            st:add_proto_expert_info(e[err[1]], err[2])
        end
    end
    return label
end

-- Returns the record of the n-th PDU of this frame, creating it on the first pass.
local function record(pinfo, make)
    local n = (tonumber(pinfo.private.wcupper_n) or 0) + 1
    pinfo.private.wcupper_n = tostring(n)
    local fr = records[pinfo.number]
    if not fr then fr = {}; records[pinfo.number] = fr end
    if not fr[n] and must_build(pinfo) then
        fr[n] = make()
        mark_built(pinfo)
    end
    return fr[n]
end

local function set_info(pinfo, text)
    pinfo.cols.protocol = "WCUPPER"
    local old = tostring(pinfo.private.wcupper_info or "")
    local new = old == "" and text or old .. "; " .. text
    pinfo.private.wcupper_info = new
    pinfo.cols.info = new
end

local function server_port(pinfo, default)
    local m = pinfo.match_uint
    if m and (m == pinfo.src_port or m == pinfo.dst_port) then return m end
    return default
end

local function dissect_udp(tvb, pinfo, tree, from_heuristic)
    local len = tvb:len()
    local data = len > 0 and tvb:raw(0, len) or ""
    local sport = from_heuristic and nil or server_port(pinfo, UDP_PORT)
    local is_req = not from_heuristic and pinfo.dst_port == sport
    local rec = record(pinfo, function()
        local kind = is_req and 1 or 2
        local client_addr = is_req and pinfo.src or pinfo.dst
        local client_port = is_req and pinfo.src_port or pinfo.dst_port
        local server_addr = is_req and pinfo.dst or pinfo.src
        local r = new_record(pinfo, kind, data, is_req and pinfo.dst_port or pinfo.src_port)
        logic.match_udp(logic.conv_of(convs, table.concat({ "udp", iface_of(), tostring(client_addr), client_port,
                                                            tostring(server_addr) }, "|")), r)
        return r
    end)
    if not rec then return 0 end
    local label = render(tvb(), len > 0 and tvb or nil, pinfo, tree, rec)
    set_info(pinfo, string.format("%s %s", label, summary(data)))
    return len
end

-- TCP lines are reassembled by logic.feed, per interface, from each segment's sequence number, not by Wireshark's
-- TCP reassembly: in a file with both capture points the same segment appears twice, and TCP's reassembly (one per
-- connection, not per interface) mixes the copies. streams[iface|stream|port]: one direction (the data that `port`
-- sends) as seen on one interface.

-- logic.feed, keeping the gaps it skipped for the frame that showed them (gap_notes[at.frame]).
local function feed(st, seq, data, at)
    local lines, gaps = logic.feed(st, seq, data, at)
    if #gaps > 0 then
        local notes = gap_notes[at.frame] or {}
        gap_notes[at.frame] = notes
        for _, g in ipairs(gaps) do notes[#notes + 1] = g end
    end
    return lines
end

-- Makes records of completed lines and matches them; each goes to its line's frame (l.frame).
local function emit(st, lines)
    local c = logic.conv_of(convs, st.conv)
    for _, l in ipairs(lines) do
        local r = { kind = st.is_req and 1 or 2, frame = l.frame, ts = l.ts, data = l.data,
                    tag = logic.parse_tag(l.data), text = summary(l.data) }
        -- pos: the line's byte offset in its direction's stream, the same on both sides of the connection
        r.abs, r.pos, r.len, r.bytes = l.pos, l.pos - st.origin, #l.data, l.data
        logic.match_tcp(c, r)
        records[l.frame] = records[l.frame] or {}
        table.insert(records[l.frame], r)
    end
end

local function dissect_tcp(tvb, pinfo, tree)
    local len = tvb:len()
    local sport = server_port(pinfo, math.min(pinfo.src_port, pinfo.dst_port))
    local is_req = pinfo.dst_port == sport
    local iface, stream = iface_of(), field_value(fe_stream, 0)
    local seg_start = field_value(fe_seq, 0)
    if must_build(pinfo) then
        mark_built(pinfo)
        -- With relative numbers (tcp.seq differs from tcp.seq_raw) the data starts at 1, even when the first
        -- segment this interface saw came later (reordered); with absolute numbers, at the first one seen.
        local first = (seg_start ~= field_value(fe_seq_raw, seg_start)) and 1 or seg_start
        local st = logic.stream_state(streams, table.concat({ iface, stream, pinfo.src_port }, "|"), first,
                                      table.concat({ "tcp", iface, stream, sport }, "|"), is_req)
        local at = { frame = pinfo.number, ts = pinfo.abs_ts, fin = field_value(fe_fin, false) }
        local lines = feed(st, seg_start, tvb:raw(0, len), at)
        for _, l in ipairs(lines) do l.frame, l.ts = at.frame, at.ts end -- complete here, even if its end came early
        emit(st, lines)
    end
    -- Render every line that this frame completed.
    local all = records[pinfo.number] or {}
    for _, rec in ipairs(all) do
        -- The line's bytes that lie in this segment; the whole line is a new data source.
        local from = math.max(rec.abs, seg_start) - seg_start
        local to = math.min(rec.abs + rec.len, seg_start + len) - seg_start
        local range = (to > from and from < len) and tvb(from, to - from) or nil
        local pdu = rec.len > 0 and ByteArray.new(rec.bytes, true):tvb(label_of(rec)) or nil
        local label = render(range or tvb(), pdu, pinfo, tree, rec)
        set_info(pinfo, string.format("%s %s", label, rec.text))
    end
    local gaps = gap_notes[pinfo.number] or {}
    if #all == 0 or #gaps > 0 then
        local st = tree:add(p, tvb())
        if #all == 0 then
            pinfo.cols.protocol = "WCUPPER"
            pinfo.cols.info = string.format("[part of a line: %d bytes]", len)
            st:append_text(string.format(", %d bytes of a line that ends in a later segment", len))
        end
        for _, g in ipairs(gaps) do st:add_proto_expert_info(e.gap, g) end
        pinfo.private.wcupper_gaps_shown = "1"
    end
    return len
end

-- Watches the ACKs of wcupper connections (a postdissector sees every frame, pure ACKs too): bytes that the
-- receiver acknowledged passed the capture point, so a gap before them is the capture's, and is skipped.
local acks = Proto("wcupper_acks", "wcupper ACK watch")
local fe_ack = Field.new("tcp.ack")
local fe_dstport = Field.new("tcp.dstport")

function acks.dissector(tvb, pinfo, tree)
    local notes = gap_notes[pinfo.number]
    if notes and not pinfo.private.wcupper_gaps_shown then -- a pure ACK, which wcupper itself never sees
        local st = tree:add(p, tvb())
        for _, g in ipairs(notes) do st:add_proto_expert_info(e.gap, g) end
    end
    if built[-pinfo.number] or fe_number() == nil then return end
    local ack, stream = field_value(fe_ack, nil), field_value(fe_stream, nil)
    if not ack or not stream then return end
    built[-pinfo.number] = true
    local st = streams[table.concat({ iface_of(), stream, field_value(fe_dstport, 0) }, "|")]
    if not st then return end
    if not st.acked or ack - st.acked > 0 then st.acked = ack end
    if next(st.early) then
        emit(st, feed(st, nil, nil, { frame = pinfo.number, ts = pinfo.abs_ts }))
    end
end
register_postdissector(acks)

function p.dissector(tvb, pinfo, tree)
    if pinfo.in_error_pkt then return 0 end -- the copy inside an ICMP error is not a new request
    if pinfo.port_type == 2 then -- PT_TCP
        return dissect_tcp(tvb, pinfo, tree)
    end
    return dissect_udp(tvb, pinfo, tree, false)
end

-- A UDP reply from another port than the server's (U2) reaches no port table: a heuristic claims a datagram
-- that goes to a client with a request waiting, from that request's server address.
local function heuristic(tvb, pinfo, tree)
    if pinfo.in_error_pkt then return false end
    local decided = heur_frames[pinfo.number]
    if decided == nil then
        if fe_number() == nil then return false end -- no tree in this pass: decide when the fields are there
        local key = table.concat({ "udp", iface_of(), tostring(pinfo.dst), pinfo.dst_port, tostring(pinfo.src) }, "|")
        local c = convs[key]
        decided = c ~= nil and #c.pending > 0
        heur_frames[pinfo.number] = decided
    end
    if not decided then return false end
    dissect_udp(tvb, pinfo, tree, true)
    return true
end

DissectorTable.get("tcp.port"):add(TCP_PORT, p)
DissectorTable.get("udp.port"):add(UDP_PORT, p)
p:register_heuristic("udp", heuristic)
