#!/usr/bin/env bash
# The RST catalogue, part 1 (scripts/firewall_closed_port.lua,
# no_connection.lua, backlog_overflow.lua, shutdown.lua) passes, and each
# scenario fails, with the message that names it, when the behaviour it
# demonstrates is taken out of it: a sysctl, a firewall rule, a flag, a
# reason, an errno.
set -u
. "$SRC/tests/suite/lib.sh"

CAT="scripts/firewall_closed_port.lua scripts/no_connection.lua scripts/backlog_overflow.lua scripts/shutdown.lua"
# shellcheck disable=SC2086
run "$RSTLAB" -j 4 $CAT
expect_status 0
expect_line '^17 passed, 0 failed$'
if [ "$(id -u)" -eq 0 ]; then
  TRACING=1
  expect_no_line 'unchecked'
else
  TRACING=0
  expect_line 'unchecked: scripts/no_connection.lua:[0-9]+: line 2: reason TCP_FLAGS unchecked'
fi

# mrun PATTERN: run the mutated copy, only the scenarios PATTERN names.
mrun() { run "$RSTLAB" -j 4 --filter "$1" "$MUT"; }

# --- firewall_closed_port.lua

# A closed port's RST is the kernel's own: "reason none" fails on it.
if [ "$TRACING" = 1 ]; then
  mutate scripts/firewall_closed_port.lua 's/reason NO_SOCKET/reason none/'
  mrun 'no firewall'
  expect_status 1
  expect_line 'expected reason none, kernel said NO_SOCKET'
fi

# tcp_syn_retries decides when connect() gives up: with 2 it is 7 s, past
# the script's 6 s.
mutate scripts/firewall_closed_port.lua 's/a:sysctl("net.ipv4.tcp_syn_retries", 1)/a:sysctl("net.ipv4.tcp_syn_retries", 2)/'
mrun 'drops the SYN'
expect_status 1
expect_line 'expected failure ETIMEDOUT, got TIMEOUT \(TIMEOUT: connect to 10\.0\.0\.2:[0-9]+ did not complete within 6 s\)'

# Linear SYN timeouts (the default) retransmit 1 s apart: a third SYN.
mutate scripts/firewall_closed_port.lua '/tcp_syn_linear_timeouts/d'
mrun 'without linear'
expect_status 1
expect_line 'expectation line 3 \(no more packets within 2\.5 s\): unexpected packet during the quiet period: C > S  \[S\] seq 0 .* \(1\.[0-9]+ s after the previous packet\)'

# The firewall's RST: no kernel sent it.
if [ "$TRACING" = 1 ]; then
  mutate scripts/firewall_closed_port.lua 's/   reason none/   reason NO_SOCKET/'
  mrun 'TCP reset'
  expect_status 1
  expect_line 'expected reason NO_SOCKET, but no kernel sent a tcp_send_reset event for this RST'
  # Without the rule, the RST is the kernel's again.
  mutate scripts/firewall_closed_port.lua '/counter reject with tcp reset/d'
  mrun 'TCP reset'
  expect_status 1
  expect_line 'expectation line 2 \(S > C  \[R\.\]   seq 0 ack 1 win 0 len 0   reason none\): expected reason none, kernel said NO_SOCKET'
fi

# ICMP instead of a RST: a RST would refuse at once, not ~1 s later.
mutate scripts/firewall_closed_port.lua 's/counter reject with icmp type port-unreachable/counter reject with tcp reset/'
mrun 'ICMP port unreachable: no RST'
expect_status 1
expect_line 'connect\(\) failed at the second ICMP, ~1 s \(0\.0[0-9]*\)'

# A RST ends the attempt with connect(); the ICMP, arriving while
# connect() holds the socket, leaves it in SYN_SENT.
mutate scripts/firewall_closed_port.lua '/non-blocking connect/,/^end/s/counter reject with icmp type port-unreachable/counter reject with tcp reset/'
mrun 'non-blocking'
expect_status 1
expect_line 'the kernel.s attempt, after connect\(\) failed: expected "SYN_SENT", got "CLOSE"'

# --- no_connection.lua

if [ "$TRACING" = 1 ]; then
  mutate scripts/no_connection.lua 's/reason TCP_FLAGS/reason NO_SOCKET/'
  mrun 'an ACK to a listener'
  expect_status 1
  expect_line 'expectation line 2 \(S > X  \[R\]    seq 0 win 0 len 0   reason NO_SOCKET\): expected reason NO_SOCKET, kernel said TCP_FLAGS'
fi

# The RST to an ACK carries no ACK itself.
mutate scripts/no_connection.lua 's/S > X  \[R\]    seq 0 win 0 len 0   reason NO_SOCKET/S > X  [R.]   seq 0 win 0 len 0   reason NO_SOCKET/'
mrun 'an ACK to a closed port'
expect_status 1
expect_line 'expectation line 2 \(S > X  \[R\.\]   seq 0 win 0 len 0   reason NO_SOCKET\): expected \[R\.\], got \[R\]'

# A listener drops a segment without ACK; with an ACK it resets.
mutate scripts/no_connection.lua 's/flags = "P", seq = 1000, payload = "hello" })/flags = "P.", seq = 1000, ack = 5000, payload = "hello" })/; s/X > S  \[P\]    seq 0 len 5/X > S  [P.]   seq 0 len 5/'
mrun 'dropped without a word'
expect_status 1
expect_line 'expectation line 2 \(X > S  \[F\]    seq 5 len 0\): expected X > S, got S > X'
expect_line '>> +2  X > S  \[F\] .* S > X  \[R\] seq 0 win 0'

# A closed port instead of the listener answers them all.
mutate scripts/no_connection.lua '/dropped without a word/,/^end)/s/local srv = assert(b:listen("10.0.0.2:0"))/local srv = { addr = "10.0.0.2:" .. b:unused_port() }/'
mrun 'dropped without a word'
expect_status 1
expect_line '>> +2  X > S  \[F\] .* S > X  \[R\.\] seq 0 ack 5 win 0'

# --- backlog_overflow.lua

# A larger backlog: the third client gets in.
mutate scripts/backlog_overflow.lua 's/{ backlog = 1 }/{ backlog = 2 }/'
mrun 'a new SYN is dropped'
expect_status 1
expect_line 'expected failure TIMEOUT, but the call succeeded and returned true'

# tcp_abort_on_overflow = 0 where 1 is asserted: no RST, the read waits.
mutate scripts/backlog_overflow.lua '/tcp_abort_on_overflow = 1: the ACK/,/^end)/s/setup(t, 1)/setup(t, 0)/'
mrun 'gets a RST'
expect_status 1
expect_line 'expected failure ECONNRESET, got TIMEOUT \(TIMEOUT: read did not complete within 3 s\)'

if [ "$TRACING" = 1 ]; then
  mutate scripts/backlog_overflow.lua 's/reason INVALID_SYN/reason TCP_FLAGS/'
  mrun 'gets a RST'
  expect_status 1
  expect_line 'expectation line 5 \(S > L  \[R\]    seq 1 win 0 len 0   after 0 ± 0.05   reason TCP_FLAGS\): expected reason TCP_FLAGS, kernel said INVALID_SYN'
fi

# tcp_abort_on_overflow = 1 where 0 is asserted: a RST instead of the
# second SYN-ACK.
mutate scripts/backlog_overflow.lua '/tcp_abort_on_overflow = 0: the ACK/,/^end)/s/setup(t, 0)/setup(t, 1)/'
mrun 'thinks it is connected'
expect_status 1
expect_line 'expectation line 5 \(S > L  \[S\.\]   seq 0 ack 1   after synack 3\.0 ± 0\.3\): expected \[S\.\], got \[R\]'

# --- shutdown.lua

# SHUT_WR instead of SHUT_RD: recv() does not return 0 at once.
mutate scripts/shutdown.lua '0,/t:ok(conn:shutdown("r"))/s//t:ok(conn:shutdown("w"))/'
mrun 'SHUT_RD, then data'
expect_status 1
expect_line 'expected failure EOF, got TIMEOUT \(TIMEOUT: read did not complete within 1 s\)'

if [ "$TRACING" = 1 ]; then
  mutate scripts/shutdown.lua 's/reason TCP_ABORT_ON_CLOSE/reason TCP_STATE/'
  mrun 'SHUT_WR'
  expect_status 1
  expect_line 'expected reason TCP_STATE, kernel said TCP_ABORT_ON_CLOSE'
fi

# Everything read before the close: no RST after the FIN.
mutate scripts/shutdown.lua 's/t:eq(conn:pending(), 5, "bytes the server never read")/t:eq(conn:read(5), "hello")/'
mrun 'SHUT_WR'
expect_status 1
expect_line 'expectation line 8 \(S > C  \[R\.\]   seq 2 ack 6 len 0   after close 0 ± 0\.05   reason TCP_ABORT_ON_CLOSE\): no packet arrived within 2\.0 s'

# The RST in CLOSE_WAIT is EPIPE, not ECONNRESET.
mutate scripts/shutdown.lua 's/t:eq(cli:error(), "EPIPE", /t:eq(cli:error(), "ECONNRESET", /'
mrun 'SHUT_WR'
expect_status 1
expect_line 'the client.s SO_ERROR: the RST, recorded as EPIPE: expected "ECONNRESET", got "EPIPE"'

finish
