#!/usr/bin/env bash
# The seed scenarios pass as a suite, and each one fails when the behaviour
# it demonstrates is taken out of it (so no scenario passes whatever the
# kernel does).
set -u
. "$SRC/tests/suite/lib.sh"

run "$RSTLAB" -j 2 scripts/refused.lua scripts/linger0.lua scripts/unread_close.lua scripts/data_after_close.lua
expect_status 0
expect_line '^5 passed, 0 failed$'
# The kernel's reasons are checked where the tracepoint can be read (root);
# elsewhere each reason clause must say it was not checked.
if [ "$(id -u)" -eq 0 ]; then
  TRACING=1
  expect_no_line 'unchecked'
else
  TRACING=0
  expect_line 'unchecked: scripts/linger0.lua:[0-9]+: line 8: reason TCP_STATE unchecked: the tcp_send_reset tracepoint is not available'
fi

# linger0 without the SO_LINGER option: an orderly close, so EOF, not RST.
mutant scripts/linger0.lua 's/t:ok(conn:set{ linger = 0 })/-- linger taken out/; s/t:eq(conn:get("linger").secs, 0)//' \
  'expected failure ECONNRESET, got EOF'

# The kernel's reason must really be checked (where it can be read at all).
mutate scripts/linger0.lua 's/reason TCP_STATE/reason TCP_ABORT_ON_LINGER/'
run "$RSTLAB" "$MUT"
if [ "$TRACING" = 1 ]; then
  expect_status 1
  expect_line 'expected reason TCP_ABORT_ON_LINGER, kernel said TCP_STATE'
  expect_line '^ *>> +8 '
  expect_line 'pcap: .*\.pcap'
else
  expect_status 0
  expect_line 'reason TCP_ABORT_ON_LINGER unchecked'
fi

# unread_close reading everything: a FIN, and the peer sees EOF.
mutant scripts/unread_close.lua 's/t:eq(conn:read(5), "01234")/t:eq(conn:read(10), "0123456789")/; s/t:eq(conn:pending(), 5, "bytes left unread in the kernel")//' \
  'expected failure ECONNRESET, got EOF'

# refused with a listener on the port: connect succeeds.
mutant scripts/refused.lua '0,/local cli = assert(h:socket("inet"))/s//local cli = assert(h:socket("inet")); local l = assert(h:listen("127.0.0.1:" .. port))/' \
  'expected failure ECONNREFUSED, but the call succeeded'

# A RST that acks the wrong amount fails on its ack.
mutant scripts/unread_close.lua 's/seq 1 ack 11 len 0   reason/seq 1 ack 6 len 0   reason/' \
  'expected ack 6, got ack 11'

# data_after_close: the server leaves the request unread: its close sends
# a RST, not a FIN, and the client reads ECONNRESET, not EOF.
mutant scripts/data_after_close.lua 's/t:eq(conn:read(7, { all = true, timeout = 1 }), "request")/t:eq(conn:pending(), 7)/' \
  'expected \[F\.\], got \[R\.\]'

# The mini-socket's RST: bare (no ACK), with the timewait reason.
mutant scripts/data_after_close.lua 's/S > C  \[R\]    seq 2 win 0/S > C  [R.]   seq 2 win 0/' \
  'expected \[R\.\], got \[R\]'
if [ "$TRACING" = 1 ]; then
  mutant scripts/data_after_close.lua 's/reason TCP_TIMEWAIT_SOCKET/reason NO_SOCKET/' \
    'expected reason NO_SOCKET, kernel said TCP_TIMEWAIT_SOCKET'
fi

# EOF and errors stay apart: the client reads the FIN, never ECONNRESET,
# and its write fails with EPIPE, not ECONNRESET.
mutant scripts/data_after_close.lua '0,/t:fails_with("EOF", cli:read/s//t:fails_with("ECONNRESET", cli:read/' \
  'expected failure ECONNRESET, got EOF'
mutant scripts/data_after_close.lua '0,/t:fails_with("EPIPE"/s//t:fails_with("ECONNRESET"/' \
  'expected failure ECONNRESET, got EPIPE'

finish
