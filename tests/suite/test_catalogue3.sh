#!/usr/bin/env bash
# scripts/sock_destroy.lua and scripts/linger_timeout.lua pass, and fail
# when what they show is taken out of them.
set -u
. "$SRC/tests/suite/lib.sh"

run "$RSTLAB" -j 2 scripts/sock_destroy.lua scripts/linger_timeout.lua
expect_status 0
expect_line '^3 passed, 0 failed$'

# The owner of a destroyed socket reads ECONNABORTED, not ECONNRESET.
mutant scripts/sock_destroy.lua 's/t:fails_with("ECONNABORTED", conn:read/t:fails_with("ECONNRESET", conn:read/' \
  'expected failure ECONNRESET, got ECONNABORTED'

# The socket destroyed is the one named: destroying the client's instead,
# the server's read meets the client's RST (ECONNRESET), not the abort.
mutant scripts/sock_destroy.lua 's/t:eq(h:destroy(conn), 1, "sockets destroyed")/t:eq(h:destroy{ src = cli.addr }, 1, "sockets destroyed")/' \
  'expected failure ECONNABORTED, got ECONNRESET'

if [ "$(id -u)" -eq 0 ]; then
  mutant scripts/sock_destroy.lua 's/reason TCP_STATE/reason TCP_ABORT_ON_CLOSE/' \
    'expected reason TCP_ABORT_ON_CLOSE, kernel said TCP_STATE'
fi

# SO_LINGER {1, 0} instead: close() does not wait, and a RST goes out.
mutant scripts/linger_timeout.lua 's/linger = { 1, 2 }/linger = { 1, 0 }/' \
  'close\(\) blocked for the linger time'
finish
