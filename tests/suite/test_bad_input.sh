#!/usr/bin/env bash
# Bad input gets a clear message naming the file and line, and the rest of
# the run goes on: every file of tests/bad/ runs in one rstlab run, with a
# file that does not exist. Each bad scenario must fail with its message;
# the good scenarios (one per bad file, and tests/bad/good.lua) must pass.
set -u
. "$SRC/tests/suite/lib.sh"

# has TEXT: some line of the last run's output contains TEXT (not a regex).
has() { grep -Fq -- "$1" "$OUT" && ok "output has: $1" || bad "no line has: $1"; }
# passed NAME: the scenario NAME passed.
passed() { grep -Eq "^PASS +.*: $1 \(" "$OUT" && ok "passed: $1" || bad "did not pass: $1"; }

run "$RSTLAB" -j 2 --timeout 10 tests/bad/ tests/bad/no_such_file.lua
expect_status 1
expect_line '^10 passed, 31 failed$'
expect_no_line 'internal error|rstlab: child'

# The other scenarios still ran, and passed.
passed 'good: bytes cross a loopback connection'
for what in 'the actor error' 'the bad addresses' 'the bad captures' 'the bad expectations' \
            'the bad options' 'the misuse' 'the scenarios that never end' 'the host and link misuse'; do
  passed "after $what"
done

# A script with a syntax error; a file that is not there.
has "tests/bad/syntax.lua:3: <name> expected near '='"
has "tests/bad/no_such_file.lua: No such file or directory"

# An error thrown inside an actor.
has "tests/bad/actor_error.lua:6: boom in the second actor"

# Scenarios that never end: one waiting, one spinning (interrupted where it
# runs, since its loop never gives the event loop a turn).
has "scenario timed out after 1 s (actor 1 waiting at tests/bad/never_ends.lua:6)"
has "tests/bad/never_ends.lua:11: scenario timed out after 1 s while running here, without ever waiting (a busy loop?)"

# Invalid addresses and ports.
has "tests/bad/bad_address.lua:3: invalid address '127.0.0.1:99999'"
has "tests/bad/bad_address.lua:7: invalid address '127.0.0.1'"
has "tests/bad/bad_address.lua:12: invalid address 'localhost:80'"
has "tests/bad/bad_address.lua:17: address 127.0.0.1:80 is IPv4, the socket is IPv6 (\"inet6\")"

# Unknown socket options and bad values.
has "tests/bad/bad_option.lua:4: unknown socket option 'lingr' (known: linger, "
has "tests/bad/bad_option.lua:9: option 'linger' takes seconds, false or {on, seconds}, got string"
has "tests/bad/bad_option.lua:14: value 1099511627776 out of range for 'rcvbuf'"
has "tests/bad/bad_option.lua:19: option 'nodelay' takes a boolean, got string"
has "tests/bad/bad_option.lua:24: option 'keepalive': unknown field 'intervall' (idle, interval, count)"

# Bad capture filters and interfaces.
has "tests/bad/bad_capture.lua:4: bad capture filter \"tcp port\": can't parse filter expression: syntax error"
has "tests/bad/bad_capture.lua:8: nosuch0: No such device exists"
has "tests/bad/bad_capture.lua:12: capture: expected a table of options, got string (\"tcp port 80\")"
has "tests/bad/bad_capture.lua:16: capture: unknown option 'fitler' (buffer, filter, iface)"

# Bad expectation lines: the file line of the bad line itself.
has "tests/bad/bad_expect.lua:7: expectation line 2: unknown flag letter 'X': S > C  [X.]   ack 1"
has "tests/bad/bad_expect.lua:13: expectation line 1: unknown clause 'sequence': C > S [S] sequence 0"
has "tests/bad/bad_expect.lua:20: expectation line 2: name 'D' is not bound (bound: C, S): S > D  [R.]"

# Misuse: a closed socket, a wait outside an actor, a NaN timeout; a huge
# read is "at most n" bytes, not a huge buffer (the scenario passes).
has "tests/bad/misuse.lua:5: attempt to use a closed socket"
has "tests/bad/misuse.lua:10: cannot wait on a timer inside a coroutine of the script's own"
has "tests/bad/misuse.lua:15: accept: timeout must be a non-negative number of seconds, got -nan"
passed 'a huge read'

# Hosts and links used the wrong way.
has "tests/bad/bad_host.lua:3: add_host: the name must be a word (letters, digits, _ and -), got host B"
has "tests/bad/bad_host.lua:8: add_host: there is a host named B already"
has "tests/bad/bad_host.lua:13: reboot: host B is not down (crash it first)"
has "tests/bad/bad_host.lua:17: link: a host cannot be linked to itself"
expect_line "tests/bad/bad_host.lua:22: '10\.0\.0\.1' is not an address with a prefix length"
has "tests/bad/bad_host.lua:27: link: unknown option 'mtu' (a, a_if, b, b_if)"
has "tests/bad/bad_host.lua:31: link: the second host must be a host of this scenario (t.host or t:add_host)"

# A top level that never ends is killed at the timeout, naming the file;
# the good file beside it still runs.
printf 'scenario("declared", function(t) end)\nwhile true do end\n' >"$TMP/loops.lua"
run "$RSTLAB" --timeout 1 "$TMP/loops.lua" tests/bad/good.lua
expect_status 1
expect_line "^ERROR +$TMP/loops.lua: \(loading the file\)"
expect_line 'killed after [0-9.]+ s: loading the file did not finish'
passed 'good: bytes cross a loopback connection'
expect_line '^1 passed, 1 failed$'

# A top level, then a scenario, that write on the report pipe (file
# descriptor 3): an error saying so, never a hang (the file's process, left
# serving, used to keep the runner waiting for ever, even through SIGTERM).
cat >"$TMP/pipe_top.lua" <<'EOF'
local f = assert(io.open("/proc/self/fd/3", "w"))
f:write("not a listing\n")
f:close()
scenario("one", function(t) end)
scenario("two", function(t) end)
EOF
cat >"$TMP/pipe_scenario.lua" <<'EOF'
scenario("writes on its report pipe", function(t)
  local f = assert(io.open("/proc/self/fd/3", "w"))
  f:write("not a report\n")
  f:close()
end)
scenario("beside it", function(t) t:ok(true) end)
EOF
run timeout -s KILL 60 "$RSTLAB" "$TMP/pipe_top.lua" "$TMP/pipe_scenario.lua"
expect_status 1
expect_line "^ERROR +$TMP/pipe_top.lua: \(loading the file\)"
expect_line 'loading the file ended without a list of its scenarios \(exit status 0; its report pipe carried [0-9]+ bytes that are not a report'
expect_line "^ERROR +$TMP/pipe_scenario.lua: writes on its report pipe"
expect_line 'the scenario process ended without a result \(exit status 0; its report pipe carried [0-9]+ bytes'
passed 'beside it'
expect_line '^1 passed, 2 failed$'

finish
