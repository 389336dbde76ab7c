-- A segment for a connection that does not exist (no SYN ever made it).
--
-- Host A crafts segments (h:send) from a port no socket of A owns, to host
-- B; A's kernel is kept quiet about B's answers, so only B speaks.
--
-- RFC 9293, 3.10.7.1 (CLOSED: no socket at all): every segment but a RST
-- is answered with a RST. When it carries an ACK the RST takes its
-- sequence number from that ack and carries no ACK flag: a bare [R],
-- seq = the segment's ack. Without an ACK, the RST acks what it saw: [R.]
-- seq 0, ack = seq + length (+1 for a FIN). Linux's reason: NO_SOCKET.
--
-- RFC 9293, 3.10.7.2 (LISTEN): an ACK is answered with a RST (seq = its
-- ack) as well, with or without data, and a FIN with an ACK too: the
-- listener is there, but nothing of it can accept an ACK. Linux answers
-- from the listener itself (tcp_rcv_state_process in TCP_LISTEN), so the
-- tracepoint names the listener (and 0.0.0.0:0 as the destination), with
-- the reason TCP_FLAGS. A segment with neither SYN, ACK nor RST (data
-- alone, a bare FIN, no flags at all) is dropped (RFC 9293, 3.10.7.2,
-- "other data or control": "Drop the segment and return"): Linux drops it
-- without a word and without a counter of its own (only InSegs moves). To
-- a closed port the same segments draw a RST.
--
-- The listener is not disturbed by any of it: nothing is queued for
-- accept, no half-open connection is made.

local function pair(t)
  local a, b = t.host, t:add_host("B")
  t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  local cap = assert(a:capture())
  return a, b, cap, "10.0.0.1:" .. a:unused_port()
end

-- The packets from "from" in absolute numbers: "seq/ack" each. Relative
-- numbers hide that a RST's seq is the ack it answers (with no SYN seen,
-- each direction counts from its own first packet), so the expectations
-- leave the crafted segments' acks out and this checks them.
local function numbers(cap, from)
  local out = {}
  for _, p in ipairs(cap:packets()) do
    if p.src == from then out[#out + 1] = p.seq .. "/" .. p.ack end
  end
  return table.concat(out, ", ")
end

-- The listener is as it was: listening, nothing to accept.
local function untouched(t, b, srv)
  t:fails_with("EAGAIN", srv:accept{ wait = false })
  t:eq(#b:sockets{ listeners = false }, 0, "B's sockets besides the listener")
  t:eq(srv:info().state, "LISTEN", "the listener")
end

scenario("an ACK to a listener: bare [R] with seq = its ack, reason TCP_FLAGS", function(t)
  local a, b, cap, x = pair(t)
  local srv = assert(b:listen("10.0.0.2:0"))
  local cb = b:counters()
  t:ok(a:send{ src = x, dst = srv.addr, flags = ".", seq = 1000, ack = 5000 })
  cap:expect({ X = x, S = srv }, [[
    X > S  [.]    seq 0 len 0
    S > X  [R]    seq 0 win 0 len 0   reason TCP_FLAGS
    no more packets within 0.3 s
  ]])
  t:eq(numbers(cap, x), "1000/5000", "the ACK's seq/ack")
  t:eq(numbers(cap, srv.addr), "5000/0", "the RST's seq/ack: seq = the ACK's ack")
  t:eq(#t:resets{ src = srv.addr, dst = "0.0.0.0:0", reason = "TCP_FLAGS" }, 1,
    "the event names the listener, no peer")
  untouched(t, b, srv)
  b:counters():since(cb):expect{ InSegs = 1, OutSegs = 1, OutRsts = 1, PassiveOpens = 0 }
end)

scenario("an ACK with data, a FIN with ACK to a listener: the same [R], the data not taken", function(t)
  local a, b, cap, x = pair(t)
  local srv = assert(b:listen("10.0.0.2:0"))
  local cb = b:counters()
  t:ok(a:send{ src = x, dst = srv.addr, flags = "P.", seq = 1000, ack = 5000, payload = "hello" })
  t:sleep(0.3) -- events of one address pair pair with their RST only 0.1 s apart or more
  t:ok(a:send{ src = x, dst = srv.addr, flags = "F.", seq = 1005, ack = 7000 })
  cap:expect({ X = x, S = srv }, [[
    X > S  [P.]   seq 0 len 5
    S > X  [R]    seq 0 win 0 len 0   reason TCP_FLAGS
    X > S  [F.]   seq 5 len 0
    S > X  [R]    seq 2000 win 0 len 0   reason TCP_FLAGS
    no more packets within 0.3 s
  ]])
  t:eq(numbers(cap, x), "1000/5000, 1005/7000", "the segments' seq/ack")
  t:eq(numbers(cap, srv.addr), "5000/0, 7000/0", "the RSTs' seq/ack")
  untouched(t, b, srv)
  b:counters():since(cb):expect{ InSegs = 2, OutRsts = 2 }
end)

scenario("an ACK to a closed port: bare [R] with seq = its ack, reason NO_SOCKET", function(t)
  local a, b, cap, x = pair(t)
  local server = "10.0.0.2:" .. b:unused_port()
  local cb = b:counters()
  t:ok(a:send{ src = x, dst = server, flags = ".", seq = 1000, ack = 5000 })
  t:sleep(0.3) -- events of one address pair pair with their RST only 0.1 s apart or more
  t:ok(a:send{ src = x, dst = server, flags = "P.", seq = 1000, ack = 6000, payload = "hello" })
  cap:expect({ X = x, S = server }, [[
    X > S  [.]    seq 0 len 0
    S > X  [R]    seq 0 win 0 len 0   reason NO_SOCKET
    X > S  [P.]   seq 0 len 5
    S > X  [R]    seq 1000 win 0 len 0   reason NO_SOCKET
    no more packets within 0.3 s
  ]])
  t:eq(numbers(cap, x), "1000/5000, 1000/6000", "the segments' seq/ack")
  t:eq(numbers(cap, server), "5000/0, 6000/0", "the RSTs' seq/ack")
  b:counters():since(cb):expect{ InSegs = 2, OutRsts = 2 }
end)

scenario("data, a bare FIN, no flags at all, without ACK, to a listener: dropped without a word", function(t)
  local a, b, cap, x = pair(t)
  local srv = assert(b:listen("10.0.0.2:0"))
  local cb = b:counters()
  t:ok(a:send{ src = x, dst = srv.addr, flags = "P", seq = 1000, payload = "hello" })
  t:ok(a:send{ src = x, dst = srv.addr, flags = "F", seq = 1005 })
  t:ok(a:send{ src = x, dst = srv.addr, flags = "none", seq = 1006, payload = "again" })
  cap:expect({ X = x, S = srv }, [[
    X > S  [P]    seq 0 len 5
    X > S  [F]    seq 5 len 0
    X > S  [none] seq 6 len 5
    no more packets within 0.3 s
  ]])
  t:eq(#t:resets(), 0, "RSTs the kernels announced")
  untouched(t, b, srv)
  b:counters():since(cb):expect{ InSegs = 3, OutSegs = 0, OutRsts = 0, InErrs = 0 }
end)

scenario("the same without ACK to a closed port: [R.] acking them, reason NO_SOCKET", function(t)
  local a, b, cap, x = pair(t)
  local server = "10.0.0.2:" .. b:unused_port()
  local cb = b:counters()
  t:ok(a:send{ src = x, dst = server, flags = "P", seq = 1000, payload = "hello" })
  t:sleep(0.3) -- events of one address pair pair with their RST only 0.1 s apart or more
  t:ok(a:send{ src = x, dst = server, flags = "F", seq = 1005 })
  cap:expect({ X = x, S = server }, [[
    X > S  [P]    seq 0 len 5
    S > X  [R.]   seq 0 ack 5 win 0 len 0   reason NO_SOCKET
    X > S  [F]    seq 5 len 0
    S > X  [R.]   seq 0 ack 6 win 0 len 0   reason NO_SOCKET
    no more packets within 0.3 s
  ]])
  t:eq(numbers(cap, server), "0/1005, 0/1006", "the RSTs' seq/ack: seq 0, ack = seq + len (+1 for the FIN)")
  b:counters():since(cb):expect{ InSegs = 2, OutRsts = 2 }
end)
