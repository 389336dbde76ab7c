#!/usr/bin/env bash
# Resources do not grow and nothing is left behind:
# 1. 240 scenarios (tests/resources/many.lua, 12 times) in one process,
#    stock lua5.4 with the module: its descriptors, Lua heap, resident
#    memory (plain builds; ASan's quarantine grows by design, LSan checks
#    leaks there) and child processes do not grow from round to round.
# 2. After that run, after a scenario killed at its timeout, and after
#    SIGINT to the runner: the host's interfaces, addresses, routes, rules,
#    network namespaces and nft ruleset are as they were, no RST-reason
#    BPF program is left once its process is gone, no scenario process is
#    left, and $TMPDIR holds nothing.
# Runs alone (RUN_SERIAL): it compares machine-wide state.
set -u
. "$SRC/tests/suite/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "skipped: needs root (BPF, nft)"; exit 77; }

export TMPDIR=$TMP/tmpdir
mkdir -p "$TMPDIR"
SNAP=$TMP/snap

# The RST-reason programs (core/trace.c names them rstlab_rst) loaded in
# the kernel whose holders are gone: held by no process's descriptor.
stale_programs() {
  local id
  for id in $(bpftool prog show 2>/dev/null | sed -n 's/^\([0-9]*\): tracepoint  name rstlab_rst .*/\1/p'); do
    grep -qsx "prog_id:[[:space:]]*$id" /proc/[0-9]*/fdinfo/* || echo "$id"
  done
}
host_state() {
  echo "# links"; ip -o link show | awk -F': ' '{print $2}' | sort
  echo "# addresses"; ip -o addr show | awk '{print $2, $3, $4}' | sort
  echo "# routes"; ip route show table all | sort
  echo "# rules"; ip rule show; ip -6 rule show
  echo "# netns"; ip netns list
  echo "# nft"; if command -v nft >/dev/null; then nft list ruleset; else echo "(no nft)"; fi
}
snapshot() { host_state >"$SNAP.$1" 2>&1; }
same_as_before() {
  host_state >"$SNAP.now" 2>&1
  if cmp -s "$SNAP.before" "$SNAP.now"; then ok "host network state unchanged $1"
  else bad "host network state changed $1:"; diff "$SNAP.before" "$SNAP.now"; fi
  local st
  st=$(stale_programs)
  # the kernel frees a program after an RCU grace period
  if [ -n "$st" ]; then sleep 1; st=$(comm -12 <(echo "$st") <(stale_programs)); fi
  [ -z "$st" ] && ok "no RST-reason BPF program left $1" || bad "BPF programs left $1: $st"
  local left
  left=$(ls -A "$TMPDIR")
  [ -z "$left" ] && ok "nothing left in \$TMPDIR $1" || bad "left in \$TMPDIR $1: $left"
}
gone() { # gone PID WHAT
  if [ -n "$1" ] && ! kill -0 "$1" 2>/dev/null; then ok "$2 is gone"; else bad "$2 ($1) is still there"; fi
}
# wait_for FILE: until a scenario wrote its mark (bounded: 20 s).
wait_for() {
  for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.1; done
  return 1
}

snapshot before

# ---- 1. many scenarios in one process -----------------------------------
ROUNDS=20
run env LD_PRELOAD="${RSTLAB_LUA_PRELOAD:-}" LUA_CPATH="$RSTLAB_MODULE_DIR/?.so;;" \
  lua5.4 tests/resources/loop.lua $ROUNDS
expect_status 0
n=$(grep -c '^round [0-9]*: passed 20 failed 0 ' "$OUT")
[ "$n" -eq $ROUNDS ] && ok "$ROUNDS rounds of 20 scenarios passed" || bad "only $n of $ROUNDS rounds passed"
field() { sed -n "s/^round $1: .* $2 \([0-9]*\).*/\1/p" "$OUT"; }
fd2=$(field 2 fds) fdN=$(field $ROUNDS fds)
[ -n "$fdN" ] && [ "$fdN" -le "$fd2" ] && ok "descriptors: $fd2 after round 2, $fdN after round $ROUNDS" \
  || bad "descriptors grew: $fd2 after round 2, $fdN after round $ROUNDS"
# The heap after a round's two full collections takes one of two sizes
# about 17 KB apart (269 or 286 KB here, in no order from round to round,
# in this release and the one before: something sized by the round's peak
# is kept until the next). So a leak is looked for between the smallest
# heap of rounds 2-4 and that of the last three, 16 rounds later: at most
# 20 KB more, where that step alone is 17 (a leak of 2.3 KB a round, 20
# scenarios, fails it whatever the steps do).
lua_min() { # lua_min FIRST LAST: the smallest heap of those rounds
  local r m= v
  for r in $(seq "$1" "$2"); do
    v=$(field "$r" lua_kb)
    [ -n "$v" ] && { [ -z "$m" ] || [ "$v" -lt "$m" ]; } && m=$v
  done
  echo "$m"
}
lua_early=$(lua_min 2 4) lua_late=$(lua_min $((ROUNDS - 2)) $ROUNDS)
[ -n "$lua_early" ] && [ -n "$lua_late" ] && [ "$lua_late" -le $((lua_early + 20)) ] \
  && ok "Lua heap: $lua_early KB at least in rounds 2-4, $lua_late KB in rounds $((ROUNDS - 2))-$ROUNDS" \
  || bad "Lua heap grew: ${lua_early:-?} KB at least in rounds 2-4, ${lua_late:-?} KB in rounds $((ROUNDS - 2))-$ROUNDS"
ch=$(field $ROUNDS children)
[ "$ch" = 0 ] && ok "no child process left" || bad "$ch child processes left"
if [ -z "${RSTLAB_LUA_PRELOAD:-}" ]; then
  # The allocator settles within a few rounds (measured: +8 KB a round at
  # first, flat after); a leak of even 1 KB a scenario would be +20 KB a round.
  rss4=$(field 4 rss_kb) rssN=$(field $ROUNDS rss_kb)
  [ -n "$rssN" ] && [ "$rssN" -le $((rss4 + 256)) ] && ok "resident memory: $rss4 KB after round 4, $rssN KB after round $ROUNDS" \
    || bad "resident memory grew: $rss4 KB after round 4, $rssN KB after round $ROUNDS"
else
  echo "note: resident memory not compared in a sanitized build (ASan's quarantine grows; LSan checks leaks at exit)"
fi
same_as_before "after $((ROUNDS * 20)) scenarios"

# ---- 2. a scenario killed at its timeout --------------------------------
export RSTLAB_TEST_MARK=$TMP/mark-stuck
run "$RSTLAB" --timeout 1 --filter "stuck in a C call" --filter "good:" tests/resources/held.lua tests/bad/good.lua
expect_status 1
expect_line 'killed after [0-9.]+ s'
expect_line '^PASS .*good: bytes cross'
child=$(cat "$RSTLAB_TEST_MARK" 2>/dev/null)
[ -n "$child" ] && ok "the stuck scenario ran (pid $child)" || bad "the stuck scenario never started"
gone "$child" "the killed scenario process"
same_as_before "after a scenario was killed at its timeout"

# ---- 3. SIGINT to the runner --------------------------------------------
export RSTLAB_TEST_MARK=$TMP/mark-waits
"$RSTLAB" --filter "waits for a minute" tests/resources/held.lua >"$OUT" 2>&1 &
runner=$!
if wait_for "$RSTLAB_TEST_MARK"; then
  child=$(cat "$RSTLAB_TEST_MARK")
  ok "the waiting scenario runs (pid $child)"
  kill -INT $runner
  # bounded: the runner must end within 10 s of SIGINT
  for _ in $(seq 100); do kill -0 $runner 2>/dev/null || break; sleep 0.1; done
  if kill -0 $runner 2>/dev/null; then bad "the runner did not end after SIGINT"; kill -KILL $runner; fi
  wait $runner
  STATUS=$?
  [ "$STATUS" -eq 130 ] && ok "exit status 130 after SIGINT" || bad "exit status $STATUS after SIGINT, expected 130"
  gone "$child" "the interrupted scenario process"
else
  bad "the waiting scenario never started"
  kill -KILL $runner 2>/dev/null; wait $runner
fi
same_as_before "after SIGINT to the runner"

finish
