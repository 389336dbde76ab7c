#!/usr/bin/env bash
# Hosts, links and faults: the scenarios of issue 9 pass, each fails when
# the fault or the behaviour it shows is taken out of it, a timing clause
# that is off fails with a clear report, misuse is a clear error, and no
# namespace, interface or rule is left behind after a scenario, whether it
# passed, failed, timed out or was killed by a signal.
set -u
. "$SRC/tests/suite/lib.sh"

# Needs a network namespace with a user namespace or root, and nftables in
# it: the sandbox says when it cannot have one.
probe=$TMP/probe.lua
cat >"$probe" <<'EOF'
scenario("probe", function(t) t:add_host("B"); t.host:drop{ dir = "out", flags = "R" } end)
EOF
run "$RSTLAB" "$probe"
if [ "$STATUS" -ne 0 ]; then
  echo "skipped: hosts are not available here:"; sed 's/^/| /' "$OUT"
  exit 77
fi

# The kernel's reasons for RSTs need the tracepoint, so root; without it
# they are reported unchecked, and the checks that need them are skipped.
reasons=0
[ "$(id -u)" -eq 0 ] && reasons=1
expect_checked() { [ $reasons -eq 1 ] && expect_no_line 'unchecked'; }

S=scripts
run "$RSTLAB" -j 3 $S/half_open_reboot.lua $S/keepalive_timeout.lua $S/middlebox_reset.lua
expect_status 0
expect_line '^3 passed, 0 failed$'
expect_checked

# --- half_open_reboot ----------------------------------------------------
# No crash: B answers the second write, nothing resets the client.
mutant $S/half_open_reboot.lua 's/^  b:crash()$//; s/^  b:reboot()$//; s/t:eq(#b:sockets(), 0, /t:eq(#b:sockets(), 2, /; s/t:eq(#a:sockets{ state = "ESTABLISHED" }, 1, /t:eq(1, 1, /' \
  'expected failure ECONNRESET, got TIMEOUT'

# A "crash" that talks (the server's process dies: its kernel resets the
# connection at once) is not a half-open connection: the RST comes first.
mutant $S/half_open_reboot.lua 's/^  b:crash()$/  conn:set{ linger = 0 }; conn:close(); srv:close()/; s/^  b:reboot()$//; s/t:eq(#a:sockets{ state = "ESTABLISHED" }, 1, /t:eq(1, 1, /' \
  'the write is only queued: it succeeds: expected 5, got nil'

# The crash must keep every packet off the wire: a capture on B's side
# sees nothing of it either.
mutate $S/half_open_reboot.lua 's/^  local cap = assert(a:capture())          -- A.s side of the wire$/  local cap = assert(b:capture())/'
run "$RSTLAB" "$MUT"
expect_status 0

# The reason is really checked.
if [ $reasons -eq 1 ]; then
  mutant $S/half_open_reboot.lua 's/reason NO_SOCKET/reason TCP_STATE/' \
    'expected reason TCP_STATE, kernel said NO_SOCKET'
fi

# --- keepalive_timeout ---------------------------------------------------
# No cut: B answers the probes, keepalive never gives up.
mutant $S/keepalive_timeout.lua 's/^  link:cut()$//' 'expected failure ETIMEDOUT, got TIMEOUT'

# Timing clauses: a probe interval of 2 s is seen, and reported, as such.
mutant $S/keepalive_timeout.lua 's/idle = 1, interval = 1, count = 2/idle = 1, interval = 2, count = 2/' \
  'expectation line 5 \(C > S  \[\.\]    seq 0 ack 1 len 0   after 1\.0 ± 0\.2\): expected after 1\.00 ± 0\.20 s, was 2\.0[0-9] s'
expect_line '^ *>> +5 '

# A timing clause that is off fails with a clear report, naming the line.
mutant $S/keepalive_timeout.lua 's/after 1.0 ± 0.2   -- probe 2/after 1.5 ± 0.2   -- probe 2/' \
  'expected after 1\.50 ± 0\.20 s, was 1\.0[0-9] s'
expect_line '^ *>> +5 .*after 1\.5 ± 0\.2'
expect_line 'pcap: .*\.pcap'

# One probe more (count 3): a probe where the RST was expected.
mutant $S/keepalive_timeout.lua 's/interval = 1, count = 2/interval = 1, count = 3/' \
  'expected \[R\.\], got \[\.\]'

if [ $reasons -eq 1 ]; then
  mutant $S/keepalive_timeout.lua 's/reason TCP_KEEPALIVE_TIMEOUT/reason TCP_TIMEOUT/' \
    'expected reason TCP_TIMEOUT, kernel said TCP_KEEPALIVE_TIMEOUT'
fi

# --- middlebox_reset -----------------------------------------------------
# The middlebox remembers the flow: the request reaches the server.
mutant $S/middlebox_reset.lua 's/^  local forgot = lb:drop.*$/  local forgot = { hits = function() return 1 end }/' \
  'expected failure ECONNRESET, got TIMEOUT'

# One way cut a>b, and nth-packet drop rules, each doing exactly that.
cat >"$TMP/faults.lua" <<'EOF'
scenario("cut a>b: A's packets are lost, B's arrive", function(t)
  local a, b = t.host, t:add_host("B")
  local l = t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  local cap = assert(a:capture())
  local srv = assert(b:listen("10.0.0.2:0"))
  local cli = assert(a:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept())
  l:cut{ dir = "a>b" }
  assert(conn:write("to A"))
  t:eq(cli:read(4, { timeout = 1 }), "to A")
  assert(cli:write("to B"))
  t:fails_with("TIMEOUT", conn:read(4, { timeout = 0.5 }))
  t:ok(l:dropped() >= 2, "the cut took A's data and its ACKs")
  l:heal()
  t:eq(conn:read(4, { timeout = 3 }), "to B")          -- a retransmission
  cap:expect({ C = cli, S = conn }, [[
    ...
    C > S  [P.]   seq 1 len 4
    ...
    C > S  [P.]   seq 1 len 4            -- retransmitted: the first was lost
  ]])
end)

scenario("drop the 2nd data segment B receives: only it is retransmitted", function(t)
  local a, b = t.host, t:add_host("B")
  t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  local cap = assert(a:capture())
  local srv = assert(b:listen("10.0.0.2:0"))
  local rule = b:drop{ dir = "in", flags = "P", nth = 2 }
  local cli = assert(a:connect(srv.addr, { timeout = 2, nodelay = true }))
  local conn = assert(srv:accept())
  for _, w in ipairs { "one", "two", "six" } do
    assert(cli:write(w))
    t:eq(conn:read(3, { timeout = 3 }), w)
  end
  t:eq(rule:hits(), 1, "packets the rule dropped")
  cap:expect({ C = cli, S = conn }, [[
    ...
    C > S  [P.]   seq 1 len 3
    S > C  [.]    ack 4
    C > S  [P.]   seq 4 len 3
    C > S  [P.]   seq 4 len 3            -- the retransmission of the dropped one
    S > C  [.]    ack 7
    C > S  [P.]   seq 7 len 3
    S > C  [.]    ack 10
  ]])
end)

scenario("drop B's RSTs: the crash-free way to make a connection half-open", function(t)
  local a, b = t.host, t:add_host("B")
  t:link(a, b, { a = "fd00::1/64", b = "fd00::2/64" })
  local cap = assert(a:capture())
  local srv = assert(b:listen("[fd00::2]:0"))
  local cli = assert(a:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept())
  local rule = b:drop{ dir = "out", flags = "R" }
  conn:set{ linger = 0 }
  conn:close()
  t:eq(rule:hits(), 1)
  rule:remove()
  t:eq(#a:sockets{ state = "ESTABLISHED" }, 1, "A's half-open connection")
  assert(cli:write("x"))
  t:fails_with("ECONNRESET", cli:read(1, { timeout = 2 }))
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    S > C  [S.]
    C > S  [.]
    C > S  [P.]   len 1
    S > C  [R]    seq 1                  -- (its reason would be ambiguous: the
  ]])                                    -- dropped RST was logged too)
end)

scenario("one capture of both ends of a link: one timeline, each packet sent before received", function(t)
  local a, b = t.host, t:add_host("B")
  local cap = assert(a:capture())          -- before the link: it follows A's interfaces
  local l = t:link(a, b, { a = "10.0.0.1/24", b = "10.0.0.2/24" })
  cap:add(b, l.b_if)
  local srv = assert(b:listen("10.0.0.2:0"))
  local cli = assert(a:connect(srv.addr, { timeout = 2 }))
  local conn = assert(srv:accept())
  for i = 1, 20 do
    assert(cli:write("ping")); t:eq(conn:read(4), "ping")
    assert(conn:write("pong")); t:eq(cli:read(4), "pong")
  end
  cap:expect({ C = cli, S = conn }, [[
    C > S  [S]
    C > S  [S]
    S > C  [S.]
    S > C  [S.]
  ]])
  local pk = cap:packets()
  t:ok(#pk >= 80 and #pk % 2 == 0, "every packet twice: " .. #pk)
  for i = 1, #pk, 2 do
    local p, q = pk[i], pk[i + 1]
    t:eq(q.src .. q.flags .. q.seq .. q.len, p.src .. p.flags .. p.seq .. p.len, "packet " .. i .. " seen twice")
    local sender = p.src == cli.addr and "host:eth0" or "B:eth0"
    t:eq(p.iface, sender, "packet " .. i .. ": the sender's end first")
    t:ok(p.ts <= q.ts, "packet " .. i .. ": in time order")
  end
  local path = os.tmpname()
  local wrote, why = cap:write(path)
  os.remove(path)
  t:ok(wrote, "one pcap file of both interfaces", why)
end)

scenario("a crashed host refuses work until it reboots", function(t)
  local b = t:add_host("B")
  b:crash()
  local ok, err = pcall(b.listen, b, "127.0.0.1:0")
  t:ok(not ok and err:find("host B is down", 1, true), "listen on a crashed host: " .. tostring(err))
  b:reboot()
  t:ok(b:listen("127.0.0.1:0"))
end)
EOF
run "$RSTLAB" "$TMP/faults.lua"
expect_status 0
expect_line '^5 passed, 0 failed$'
expect_checked

# --- misuse is a clear error -------------------------------------------
cat >"$TMP/misuse.lua" <<'EOF'
local function raises(t, pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  t:ok(not ok, "no error for " .. pattern)
  t:ok(tostring(err):find(pattern, 1, true), "error text: " .. tostring(err) .. " (wanted: " .. pattern .. ")")
end
scenario("misuse", function(t)
  local b = t:add_host("B")
  raises(t, "not per network namespace", b.sysctl, b, "kernel.pid_max", 1)
  raises(t, "'net.core.netdev_max_backlog' does not exist inside a network namespace: it is either global",
    b.sysctl, b, "net.core.netdev_max_backlog", 2000)
  raises(t, "there is a host named B already", t.add_host, t, "B")
  raises(t, "cannot be linked to itself", t.link, t, b, b)
  raises(t, "not an address with a prefix length", t.link, t, t.host, b, { a = "10.0.0.1" })
  raises(t, 'dir must be "in", "out" or "fwd"', b.drop, b, { flags = "R" })
  raises(t, "unknown flag letter 'X'", b.drop, b, { dir = "in", flags = "X" })
  raises(t, 'reset = true needs dir = "fwd"', b.drop, b, { dir = "in", reset = true })
  raises(t, "reboot: host B is not down", b.reboot, b)
  t:eq(b:sysctl("net.ipv4.tcp_abort_on_overflow", 1), "1")
  t:eq(t.host:sysctl("net.ipv4.tcp_abort_on_overflow"), "0", "the other host keeps its own")
end)
EOF
run "$RSTLAB" "$TMP/misuse.lua"
expect_status 0
expect_line '^1 passed, 0 failed$'

# --- nothing left behind -------------------------------------------------
# Every namespace a scenario made is referred to by nothing once it ended:
# no process has it as its namespace or holds an fd to it, nothing names it
# in /run/netns or mounts it. (The kernel frees an anonymous namespace with
# its last reference; tests/core/test_netns.c checks that one goes with its
# last fd, veth end and rules included.)
netns_before=$(ls /run/netns 2>/dev/null | sort | tr '\n' ' ')
links_before=$(ls /sys/class/net | sort | tr '\n' ' ')
export RSTLAB_HOSTS_INFO=$TMP/info
left_behind() {
  local ino found=0
  # Only this test's runs can hold these namespaces: look at the processes
  # whose command line names the fixture (scenario processes are forks of
  # the runner, so theirs does too). A namespace inode number is reused
  # quickly, and tests running beside this one make namespaces of their own.
  local procs=() p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "hosts/teardown.lua" && procs+=("$p")
  done
  for ino in $(awk '$1 == "netns" { print $2 }' "$RSTLAB_HOSTS_INFO"); do
    for p in "${procs[@]}"; do
      if ls -l "$p/ns/net" "$p/fd/" 2>/dev/null | grep -q "net:\[$ino\]"; then
        echo "namespace $ino is still referred to by $p"; found=1
      fi
    done
    if grep -q "nsfs.*net:\[$ino\]" /proc/self/mountinfo; then echo "namespace $ino is mounted"; found=1; fi
  done
  for pid in $(awk '$1 == "pid" { print $2 }' "$RSTLAB_HOSTS_INFO"); do
    if [ -d /proc/$pid ]; then echo "scenario process $pid is still there"; found=1; fi
  done
  [ "$(ls /run/netns 2>/dev/null | sort | tr '\n' ' ')" = "$netns_before" ] || { echo "/run/netns changed"; found=1; }
  [ "$(ls /sys/class/net | sort | tr '\n' ' ')" = "$links_before" ] || { echo "interfaces changed"; found=1; }
  return $found
}
check_teardown() { # what, expected number of namespaces
  local n
  n=$(grep -c '^netns' "$RSTLAB_HOSTS_INFO" 2>/dev/null || echo 0)
  [ "$n" -eq "$2" ] && ok "$1: the scenario made $n namespaces" || bad "$1: $n namespaces reported, expected $2"
  if left_behind >"$TMP/left"; then ok "$1: nothing left behind"; else bad "$1: $(cat "$TMP/left")"; fi
}

T=tests/suite/hosts/teardown.lua
: >"$RSTLAB_HOSTS_INFO"
run "$RSTLAB" --filter 'after a pass' $T
expect_status 0
check_teardown "pass" 3

: >"$RSTLAB_HOSTS_INFO"
run "$RSTLAB" --filter 'after an error' $T
expect_status 1
expect_line 'a scenario that fails after making hosts'
check_teardown "error" 3

: >"$RSTLAB_HOSTS_INFO"
run "$RSTLAB" --filter "after the scenario's own timeout" $T
expect_status 1
expect_line 'timed out after 1 s'
check_teardown "timeout" 3

# A signal: the runner is stopped while the scenario holds everything.
# The scenario's info line comes through a FIFO (no sleeping in the test).
rm -f "$RSTLAB_HOSTS_INFO"
mkfifo "$RSTLAB_HOSTS_INFO"
exec 7<>"$RSTLAB_HOSTS_INFO"
"$RSTLAB" --filter 'after a signal' $T >"$OUT" 2>&1 &
runner=$!
lines=()
while [ ${#lines[@]} -lt 4 ] && read -r -t 20 -u 7 line; do lines+=("$line"); done
exec 7<&-
rm -f "$RSTLAB_HOSTS_INFO"
printf '%s\n' "${lines[@]}" >"$RSTLAB_HOSTS_INFO"
kill -TERM $runner
timeout 20 tail --pid=$runner -f /dev/null
wait $runner
STATUS=$?
expect_status 143
for pid in $(awk '$1 == "pid" { print $2 }' "$RSTLAB_HOSTS_INFO"); do
  timeout 20 tail --pid="$pid" -f /dev/null
done
check_teardown "SIGTERM" 3

finish
