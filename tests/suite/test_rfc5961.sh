#!/usr/bin/env bash
# scripts/rfc5961.lua passes, and each of its scenarios fails when what it
# shows is taken out of it.
set -u
. "$SRC/tests/suite/lib.sh"

run "$RSTLAB" -j 2 scripts/rfc5961.lua
expect_status 0
expect_line '^4 passed, 0 failed$'

# A RST one past rcv_nxt is only "in the window": no reset.
mutant scripts/rfc5961.lua 's/flags = "R", seq = "next" })        -- exactly rcv_nxt/flags = "R", seq = "next+1" })/' \
  'expected failure ECONNRESET, got TIMEOUT'

# A RST inside the window is not ignored: a challenge ACK comes.
mutant scripts/rfc5961.lua 's/seq = "next+100000000"/seq = "next+1000"/; s/seq 100000003 len 0/seq 1003 len 0/' \
  'expectation line 7 \(no more packets within 0.2 s\): unexpected packet during the quiet period: S > C  \[\.\] seq 1 ack 3'

# Without the rate limit both RSTs are challenged.
mutant scripts/rfc5961.lua 's/"net.ipv4.tcp_invalid_ratelimit", 300/"net.ipv4.tcp_invalid_ratelimit", 0/' \
  'expectation line 9 \(C > S  \[R\]    seq 33 .*\): expected C > S, got S > C'

# The counters are checked: a wrong count fails with what moved.
mutant scripts/rfc5961.lua 's/TCPSYNChallenge = 1, TCPChallengeACK = 1/TCPSYNChallenge = 0, TCPChallengeACK = 1/' \
  'counters of host host: TCPSYNChallenge: expected 0, moved \+1'
finish
