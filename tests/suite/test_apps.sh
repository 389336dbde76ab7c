#!/usr/bin/env bash
# The scenarios of scripts/apps/ (real programs: curl, python3) pass, and
# each one fails when the behaviour it demonstrates is taken out of it:
# the program's exit status, message and log lines, the wire, the timing.
set -u
. "$SRC/tests/suite/lib.sh"

for prog in curl python3; do
  if ! command -v "$prog" >/dev/null; then
    echo "skip: $prog is not installed (.ci/deps build installs it)"
    exit 77
  fi
done
[ -x /usr/bin/python3 ] || { echo "skip: no /usr/bin/python3"; exit 77; }

run "$RSTLAB" -j 2 scripts/apps/ examples/own_program.lua
expect_status 0
expect_line '^4 passed, 0 failed$'
if [ "$(id -u)" -eq 0 ]; then
  TRACING=1
  expect_no_line 'unchecked'
else
  TRACING=0
fi

# --- curl_reset.lua

# An orderly close instead of the RST: curl sees the end of the stream
# 900 bytes short, exit 18, not 56.
mutant scripts/apps/curl_reset.lua 's/t:ok(conn:set{ linger = 0 })/-- linger taken out/' \
  "curl's exit status: expected 56, got 18"

# The whole body before the RST: curl has all it was promised and exits 0.
mutant scripts/apps/curl_reset.lua 's/Content-Length: 1000/Content-Length: 100/' \
  "curl's success: expected nil, got true"

# curl's message is compared whole.
mutant scripts/apps/curl_reset.lua 's/Recv failure: Connection reset by peer\\n"/Recv failure: Connection reset\\n"/' \
  "curl's stderr: expected"

# The RST's numbers and reason.
mutant scripts/apps/curl_reset.lua 's/#resp + 1, #req + 1), { from = "reset" })/#resp, #req + 1), { from = "reset" })/' \
  'expected seq [0-9]+, got seq [0-9]+'
if [ "$TRACING" = 1 ]; then
  mutant scripts/apps/curl_reset.lua 's/reason TCP_STATE/reason TCP_ABORT_ON_CLOSE/' \
    'expected reason TCP_ABORT_ON_CLOSE, kernel said TCP_STATE'
fi

# --- python_keepalive.lua

# No crash: the server's kernel answers the probes, recv() never fails.
mutant scripts/apps/python_keepalive.lua 's/  b:crash(); t:mark("crash")/  t:mark("crash")/' \
  "the client's report of ETIMEDOUT, got nil"

# Three probes, not two: the RST and ETIMEDOUT come a second later.
mutant scripts/apps/python_keepalive.lua 's/TCP_KEEPCNT, 2)/TCP_KEEPCNT, 3)/' \
  'expected \[R\.\], got \[\.\]'

# The timing is the kernel's: an idle time of 2 s moves every packet.
mutant scripts/apps/python_keepalive.lua 's/TCP_KEEPIDLE, 1)/TCP_KEEPIDLE, 2)/' \
  'expectation line 4 .*: expected after 1\.00 ± 0\.20 s, was 2\.0[0-9] s'

# The client's own clock is checked against the kernel's 3 s.
mutant scripts/apps/python_keepalive.lua 's/math.abs(secs - 3) <= tol/math.abs(secs - 4) <= tol/' \
  "the client's own clock: 3 s, got 3\.[0-9]+"
if [ "$TRACING" = 1 ]; then
  mutant scripts/apps/python_keepalive.lua 's/reason TCP_KEEPALIVE_TIMEOUT/reason TCP_STATE/' \
    'expected reason TCP_STATE, kernel said TCP_KEEPALIVE_TIMEOUT'
fi

# --- http_server_reset.lua

# The first client closes in order (FIN): http.server logs nothing for it,
# the report the scenario waits for never comes.
mutant scripts/apps/http_server_reset.lua '0,/t:ok(c1:set{ linger = 0 })/s//-- linger taken out/' \
  "no error report on the server's stderr \\(TIMEOUT: no line on .*python3's stderr within 5 s\\)"

# The second client sends its whole request before its RST: the server
# gets past parse_headers. What it does then depends on whether its
# answer left before the RST arrived (a log line "200", and an error
# report of the write, or no report at all): either way the scenario fails.
mutant scripts/apps/http_server_reset.lua 's|local half = "GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n"|local half = "GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n"|' \
  "the reset came while the headers were read|the report's first line: expected|no error report on the server's stderr|expected \"Exception occurred during processing"

# The log line of the served request is matched.
mutant scripts/apps/http_server_reset.lua 's|"GET / HTTP/1%.0" 200|"GET / HTTP/1%.0" 404|' \
  "the server's log line, got 127\.0\.0\.1 - - \[.*\] \"GET / HTTP/1\.0\" 200 -"
if [ "$TRACING" = 1 ]; then
  mutant scripts/apps/http_server_reset.lua '0,/len 0   reason TCP_STATE/s//len 0   reason NO_SOCKET/' \
    'expected reason NO_SOCKET, kernel said TCP_STATE'
fi

# --- examples/own_program.lua

# A client that closes in order instead of resetting: the program logs
# "closed", and there is no RST.
mutant examples/own_program.lua 's/t:ok(b:set{ linger = 0 })/-- linger taken out/' \
  'what the program logs: expected'

finish
