#!/usr/bin/env bash
# Spawned programs (h:spawn) when the runner itself is killed with SIGKILL:
# no process a scenario spawned is left, nor anything those spawned in
# turn (a background child, a daemon in a session of its own). Found by
# their PID namespace and by a marker in their command lines. Then the same
# in a rootless run (as user nobody), when it can be had here. (The other
# paths, pass, fail, error and timeout: tests/lua/test_spawn.lua.)
set -u
. "$SRC/tests/suite/lib.sh"

MARK="4242.$$$(date +%N | cut -c1-6)"
cat >"$TMP/kill.lua" <<EOF
scenario("programs, then the runner is killed", function(t)
  local p = assert(t.host:spawn({ "sh", "-c",
    "sleep $MARK & setsid sh -c 'sleep $MARK &' </dev/null >/dev/null 2>&1; echo up; exec sleep $MARK" }))
  t:eq(p:read_line({ timeout = 10 }), "up")
  local f = assert(io.open(os.getenv("SPAWN_FIFO"), "w"))
  f:write(p.pid, "\n")
  f:close()
  p:wait()
end)
EOF
chmod 755 "$TMP"
chmod 644 "$TMP/kill.lua"
# Where a run as nobody may keep its files.
mkdir -m 1777 "$TMP/pub"

# count_marked: processes of the machine running "sleep $MARK".
count_marked() {
  # "[4]242...": a pattern that does not match grep's own command line
  grep -l -a -- "[${MARK:0:1}]${MARK:1}" /proc/[0-9]*/cmdline 2>/dev/null | wc -l
}
# in_ns NS: the pids of the processes in PID namespace NS.
in_ns() {
  ls -l /proc/[0-9]*/ns/pid 2>/dev/null | grep -F -- "-> $1" | sed -E 's|.* /proc/([0-9]+)/ns/pid .*|\1|'
}

# kill_run [AS...]: run kill.lua (as the user AS... says), wait for the
# program to be up, SIGKILL the runner, wait for every process of the
# program's PID namespace to end (bounded), and check what is left.
kill_run() {
  local fifo=$TMP/fifo who=${*:-root}
  rm -f "$fifo"
  mkfifo -m 666 "$fifo"
  # No timeout(1) in between: $! must be the runner itself (setpriv execs
  # it). The kill below bounds it.
  SPAWN_FIFO=$fifo TMPDIR=$TMP/pub "$@" "$RSTLAB" --timeout 60 "$TMP/kill.lua" >"$OUT" 2>&1 &
  local runner=$!
  local pid
  pid=$(timeout 30 cat "$fifo")
  if [ -z "$pid" ]; then
    bad "$who: the scenario did not start its program"
    kill -9 "$runner" 2>/dev/null
    wait "$runner" 2>/dev/null
    return
  fi
  local ns pids
  ns=$(readlink "/proc/$pid/ns/pid")
  pids=$(in_ns "$ns")
  # init, sh exec'd into sleep, its background sleep, the daemon's sleep
  if [ "$(echo $pids | wc -w)" -eq 4 ]; then
    ok "$who: 4 processes in the program's PID namespace"
  else
    bad "$who: the program's PID namespace holds $(echo $pids | wc -w) processes, expected 4: $pids"
    pids=$pid # not a namespace of its own: wait for the program only
  fi
  [ "$(count_marked)" -eq 3 ] && ok "$who: the program and the 2 it started run" \
    || bad "$who: $(count_marked) processes run sleep $MARK, expected 3"
  kill -9 "$runner"
  wait "$runner" 2>/dev/null
  local p
  for p in $pids; do timeout 10 tail --pid="$p" -s 0.05 -f /dev/null; done
  [ -z "$(in_ns "$ns")" ] && ok "$who: nothing left in the program's PID namespace" \
    || bad "$who: left in the program's PID namespace: $(in_ns "$ns")"
  [ "$(count_marked)" -eq 0 ] && ok "$who: no process runs sleep $MARK" \
    || bad "$who: $(count_marked) processes still run sleep $MARK"
}

kill_run

# Rootless: the runner makes a user namespace for each scenario.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null \
   && setpriv --reuid=nobody --regid=nogroup --clear-groups unshare -Urn true 2>/dev/null \
   && setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$RSTLAB"; then
  kill_run setpriv --reuid=nobody --regid=nogroup --clear-groups
else
  echo "rootless run skipped: user nobody cannot make a user namespace here, or cannot run $RSTLAB"
fi
finish
