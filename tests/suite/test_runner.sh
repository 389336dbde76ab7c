#!/usr/bin/env bash
# The runner's options over the mixed suite of tests/scenarios (passing,
# failing, erroring, hanging, skipped, flaky and unloadable scenarios):
# -j, --list, --filter, --shard, --timeout, --repeat, --until-fail, -v,
# --pcap-dir, the progress line, Ctrl-C, exit statuses.
set -u
. "$SRC/tests/suite/lib.sh"
export TMPDIR=$TMP # the runner's default pcap directory goes there too
MIXED=tests/scenarios
NMIXED=11

# ---- the mixed suite: counts and exit status --------------------------------
run "$RSTLAB" -j 4 --timeout 1 $MIXED
expect_status 1
expect_line '^3 passed, 7 failed, 1 skipped$'
expect_line '^did not pass \(2 failed, 5 errors\):$'
expect_line '^ERROR  tests/scenarios/syntax.lua: \(loading the file\)'
expect_line '^ERROR  tests/scenarios/error.lua: error: an actor indexes nil'
expect_line "attempt to index a nil value"
expect_line '^FAIL  tests/scenarios/fail.lua: fail: an assertion'
expect_line '^SKIP  tests/scenarios/skip.lua: skip: not on this machine: needs a feature'
# The failure report: the expected line beside the captured packet, and a
# ladder with the failing line marked.
expect_line '^ +>> +2  S > C  \[S\.\] +ack 1 +S > C  \[R\.\] seq 0 ack 1'
expect_line '│◀──\[R\.\] seq 0 ack 1──│ .*>> 2: S > C  \[S\.\]'
# Not a terminal: plain lines, no progress line.
if grep -q $'\r\|\e' "$OUT"; then bad "carriage returns or escapes without a terminal"; else ok "plain lines"; fi
# The closing summary lists what did not pass in report order.
sed -n '/^did not pass/,/passed, /p' "$OUT" | grep -E '^  (FAIL|ERROR)' | awk '{print $2}' >"$TMP/order"
sort -c "$TMP/order" 2>/dev/null && ok "summary in file order" || bad "summary not in file order: $(cat "$TMP/order")"

# ---- -j: parallel runs give the results of -j 1 ----------------------------
run "$RSTLAB" -j 1 --timeout 1 --tap $MIXED
expect_status 1
grep -E '^(not )?ok ' "$OUT" >"$TMP/j1"
run "$RSTLAB" -j 8 --timeout 1 --tap $MIXED
expect_status 1
grep -E '^(not )?ok ' "$OUT" >"$TMP/j8"
[ "$(wc -l <"$TMP/j1")" -eq $NMIXED ] && ok "$NMIXED test points" || bad "$(wc -l <"$TMP/j1") test points"
cmp -s "$TMP/j1" "$TMP/j8" && ok "-j 8 gives the results of -j 1" || { bad "-j 8 differs from -j 1"; diff "$TMP/j1" "$TMP/j8"; }
run "$RSTLAB" -j 0 $MIXED
expect_status 2

# ---- --list ----------------------------------------------------------------
run "$RSTLAB" --list $MIXED
expect_status 0
[ "$(wc -l <"$OUT")" -eq $NMIXED ] && ok "--list lists $NMIXED scenarios" || bad "--list: $(wc -l <"$OUT") lines"
expect_line '^tests/scenarios/hang.lua: hang: spins forever$'
expect_line "^tests/scenarios/syntax.lua: \(loading the file\)  ERROR .*'\)' expected"
expect_no_line '^(PASS|FAIL|ERROR) '
cp "$OUT" "$TMP/all"

# ---- --filter --------------------------------------------------------------
run "$RSTLAB" --list --filter 'PASS:' $MIXED
[ "$(wc -l <"$OUT")" -eq 2 ] && ok "--filter is case-insensitive" || bad "--filter PASS: gave $(wc -l <"$OUT") lines"
run "$RSTLAB" --list --filter 'hang*wins' --filter 'skip.lua' $MIXED
[ "$(wc -l <"$OUT")" -eq 2 ] && ok "--filter with * and twice" || bad "two filters gave $(wc -l <"$OUT") lines"
expect_line "^tests/scenarios/hang.lua: hang: the script's timeout of 0.5 s wins$"
expect_line '^tests/scenarios/skip.lua: '
run "$RSTLAB" --filter 'pass: connect' $MIXED
expect_status 0
expect_line '^1 passed, 0 failed$'
# (A selection that runs nothing: tests/suite/test_cli.sh.)

# ---- --shard ---------------------------------------------------------------
: >"$TMP/shards"
for k in 1 2 3; do
  run "$RSTLAB" --list --shard $k/3 $MIXED
  grep '^tests/' "$OUT" >>"$TMP/shards"
  [ "$(wc -l <"$OUT")" -lt $NMIXED ] || bad "shard $k/3 holds everything"
done
sort "$TMP/shards" >"$TMP/shards.sorted"
sort "$TMP/all" >"$TMP/all.sorted"
cmp -s "$TMP/shards.sorted" "$TMP/all.sorted" && ok "3 shards: each scenario exactly once" \
  || { bad "3 shards do not partition the suite"; diff "$TMP/shards.sorted" "$TMP/all.sorted"; }
# By hash of file and name, not by position: a scenario stays in its shard
# when other files are added or left out.
for k in 1 2 3; do
  # (A shard of pass.lua alone may be empty: exit status 3, no line.)
  run "$RSTLAB" --list --shard $k/3 $MIXED/pass.lua
  grep '^tests/' "$OUT" >"$TMP/pass.$k"
done
cat "$TMP/pass.1" "$TMP/pass.2" "$TMP/pass.3" | sort >"$TMP/pass.sorted"
grep '^tests/scenarios/pass.lua' "$TMP/all" | sort | cmp -s - "$TMP/pass.sorted" \
  && ok "pass.lua alone is split completely" || bad "pass.lua alone: shards lose scenarios"
for k in 1 2 3; do
  run "$RSTLAB" --list --shard $k/3 $MIXED ./tests/scenarios/pass.lua
  grep '^tests/scenarios/pass.lua' "$OUT" | sort >"$TMP/with"
  sort "$TMP/pass.$k" | cmp -s - "$TMP/with" && ok "shard $k/3 of pass.lua is the same with the whole suite" \
    || bad "shard $k/3 of pass.lua changes with the other files"
done
run "$RSTLAB" --shard 4/3 $MIXED
expect_status 2
run "$RSTLAB" --shard x $MIXED
expect_status 2

# ---- --timeout -------------------------------------------------------------
run "$RSTLAB" --timeout 1 $MIXED/hang.lua
expect_status 1
expect_line '^0 passed, 3 failed$'
expect_line 'hang: waits forever: scenario timed out after 1 s'
expect_line 'hang: spins forever: .*(timed out after 1 s|killed after)'
# A script's own timeout wins over --timeout (0.5 s, not 60).
run "$RSTLAB" --timeout 60 --filter 'wins' $MIXED
expect_status 1
expect_line "^      scenario timed out after 0.5 s"
run "$RSTLAB" --timeout 0 $MIXED
expect_status 2

# ---- --repeat and --until-fail ---------------------------------------------
run "$RSTLAB" --repeat 3 $MIXED/pass.lua
expect_status 0
expect_line '^3 rounds, 6 attempts$'
expect_line '^2 passed, 0 failed$'
expect_line 'connect, write, read \([0-9]+ ms\)  \[round 3\]'
export RSTLAB_TEST_FLAKY=$TMP/flaky.count
rm -f "$RSTLAB_TEST_FLAKY"
run "$RSTLAB" --repeat 3 $MIXED/flaky.lua $MIXED/pass.lua
expect_status 1
expect_line '^  flaky: tests/scenarios/flaky.lua: flaky: fails on the second attempt: pass fail pass$'
expect_line 'flaky: 1 of 3 attempts failed'
expect_line '^2 passed, 1 failed$'
rm -f "$RSTLAB_TEST_FLAKY"
run "$RSTLAB" --until-fail $MIXED/flaky.lua
expect_status 1
expect_line '^2 rounds, 2 attempts$'
expect_line ': pass fail$'
unset RSTLAB_TEST_FLAKY
run "$RSTLAB" --until-fail --repeat 4 $MIXED/pass.lua
expect_status 0
expect_line '^4 rounds, 8 attempts$'
run "$RSTLAB" --repeat 0 $MIXED
expect_status 2

# ---- -v: the ladder of passing scenarios -----------------------------------
run "$RSTLAB" $MIXED/pass.lua
expect_no_line '\[R\.\] seq 0 ack 1'
run "$RSTLAB" -v $MIXED/pass.lua
expect_status 0
expect_line '^      capture host:lo:$'
expect_line '│◀──\[R\.\] seq 0 ack 1──│  \+0\.[0-9]+s  2: S > C  \[R\.\] +seq 0 ack 1$'
expect_line 'log: the server read ping'

# ---- --pcap-dir: every capture, named after its scenario --------------------
run "$RSTLAB" --pcap-dir "$TMP/pcaps" $MIXED/pass.lua $MIXED/fail.lua
expect_status 1
for f in pass-pass_SYN_to_a_closed_port_is_answered_by_RST.pcap \
         fail-fail_the_capture_is_not_what_was_expected.pcap; do
  if [ -s "$TMP/pcaps/$f" ] && tcpdump -nr "$TMP/pcaps/$f" 2>/dev/null | grep -q 'Flags \[R\.\]'; then
    ok "pcap $f holds the RST"
  else
    bad "no readable $TMP/pcaps/$f"
  fi
done
# Without --pcap-dir, only failing scenarios keep theirs.
run "$RSTLAB" $MIXED/pass.lua $MIXED/fail.lua
kept=$(sed -n 's/^ *pcap: //p' "$OUT")
[ -n "$kept" ] && [ -s "$kept" ] && ok "a failing scenario keeps its pcap" || bad "no pcap kept: '$kept'"
n=$(find "$(dirname "${kept:-/nonexistent}")" -name '*.pcap' | wc -l)
[ "$n" -eq 1 ] && ok "only the failing capture is kept" || bad "$n pcap files kept"

# ---- the progress line, on a terminal only ----------------------------------
run script -qec "\"$RSTLAB\" -j 2 $MIXED/pass.lua $MIXED/skip.lua" /dev/null
grep -q $'\e\[K\[[0-9]/3\] ' "$OUT" && ok "progress line on a terminal" || bad "no progress line on a terminal"
expect_line '2 passed, 0 failed, 1 skipped'

# ---- Ctrl-C: kill the children, still summarise what finished ---------------
# (timeout --foreground passes the signal on to rstlab alone, once.)
mkfifo "$TMP/fifo"
RSTLAB_TEST_FIFO=$TMP/fifo timeout --foreground 120 "$RSTLAB" -j 1 --timeout 60 --junit "$TMP/int.xml" --tap \
  $MIXED >"$TMP/int.tap" 2>"$TMP/int.err" &
rpid=$!
# "hang: waits forever" writes its pid to the FIFO once it runs (after the
# files before hang.lua finished, at -j 1).
cpid=$(timeout 60 head -n1 "$TMP/fifo")
kill -INT $rpid
wait $rpid
STATUS=$?
cat "$TMP/int.tap" "$TMP/int.err" >"$OUT"
expect_status 130
expect_line '^rstlab: SIGINT: stopping, killing the running scenarios$'
expect_line '^Bail out! interrupted by SIGINT$'
[ "$(grep -cE '^(not )?ok ' "$TMP/int.tap")" -eq 4 ] && ok "the 4 finished scenarios are reported" \
  || bad "$(grep -cE '^(not )?ok ' "$TMP/int.tap") test points after Ctrl-C"
[ -n "$cpid" ] && ! kill -0 "$cpid" 2>/dev/null && ok "the running child was killed" || bad "child '$cpid' still there"
[ "$(grep -c '<testcase ' "$TMP/int.xml")" -eq 4 ] && ok "JUnit written with what finished" || bad "JUnit after Ctrl-C"
# SIGTERM too, with the human summary.
mkfifo "$TMP/fifo2"
RSTLAB_TEST_FIFO=$TMP/fifo2 timeout --foreground 120 "$RSTLAB" -j 2 --timeout 60 $MIXED/hang.lua $MIXED/pass.lua \
  >"$OUT" 2>&1 &
rpid=$!
timeout 60 head -n1 "$TMP/fifo2" >/dev/null
kill -TERM $rpid
wait $rpid
STATUS=$?
expect_status 143
expect_line '^interrupted \(SIGTERM\): [0-9]+ of 5 scenarios did not finish$'
expect_line '^[0-9] passed, [0-9] failed$'

# ---- a file's scenarios are forked from its server ---------------------------
# Each gets a copy of what the file's top level made, as it made it, and a
# random sequence of its own; nothing of the run is left when it ends.
cat >"$TMP/served.lua" <<'EOS'
local made = { n = 0 }
for i = 1, 6 do
  scenario("served " .. i, function(t)
    made.n = made.n + 1
    t:eq(made.n, 1, "the top level's table, as the file left it")
    local f = assert(io.open(os.getenv("RSTLAB_TEST_RANDOM"), "a"))
    f:write(math.random(1, 1 << 40), "\n")
    f:close()
  end)
end
EOS
export RSTLAB_TEST_RANDOM=$TMP/random RSTLAB_TEST_MARK="served-$$"
run "$RSTLAB" -j 2 "$TMP/served.lua"
expect_status 0
expect_line '^6 passed, 0 failed$'
[ "$(sort -u "$TMP/random" | wc -l)" -eq 6 ] && ok "6 scenarios, 6 random sequences" \
  || bad "random draws: $(tr '\n' ' ' <"$TMP/random")"
unset RSTLAB_TEST_RANDOM RSTLAB_TEST_MARK # (not in the environment of grep below)
left=$(grep -lz "RSTLAB_TEST_MARK=served-$$" /proc/[0-9]*/environ 2>/dev/null | wc -l)
[ "$left" -eq 0 ] && ok "no process of the run is left" || bad "$left processes of the run are left"

# ---- -j counts the scenarios that work: one that waits lets the next start ----
cat >"$TMP/waits.lua" <<'EOS'
local core = require "rstlab.core"
local function span(name, fn)
  local t0 = core.wallclock()
  fn()
  local f = assert(io.open(os.getenv("RSTLAB_TEST_SPANS"), "a"))
  f:write(string.format("%s %.6f %.6f\n", name, t0, core.wallclock()))
  f:close()
end
for i = 1, 2 do
  scenario("waits " .. i, function(t) span("waits" .. i, function() t:sleep(0.5) end) end)
end
for i = 1, 2 do
  scenario("works " .. i, function(t)
    span("works" .. i, function() local c = os.clock() repeat until os.clock() - c >= 0.3 end)
  end)
end
EOS
export RSTLAB_TEST_SPANS=$TMP/spans
overlap() { # overlap A B: whether the spans of A and B overlap in time
  awk -v a="$1" -v b="$2" '$1 == a { s1 = $2; e1 = $3 } $1 == b { s2 = $2; e2 = $3 }
    END { exit !(s1 < e2 && s2 < e1) }' "$TMP/spans"
}
run "$RSTLAB" -j 1 "$TMP/waits.lua"
expect_status 0
overlap waits1 waits2 && ok "-j 1: two waiting scenarios at once" || bad "-j 1: the waiting scenarios ran one after the other: $(cat "$TMP/spans")"
overlap works1 works2 && bad "-j 1: two working scenarios at once: $(cat "$TMP/spans")" || ok "-j 1: one working scenario at a time"
rm -f "$TMP/spans"
run "$RSTLAB" -j 1 --max-waiting 0 "$TMP/waits.lua"
expect_status 0
overlap waits1 waits2 && bad "--max-waiting 0: two scenarios at once: $(cat "$TMP/spans")" || ok "--max-waiting 0: one at a time"
rm -f "$TMP/spans"
# The default -j is the processors the run may use (its affinity), not
# those of the machine: on one CPU (taskset), one working scenario at once.
if command -v taskset >/dev/null && [ "$(nproc --all)" -ge 2 ]; then
  run taskset -c 0 "$RSTLAB" "$TMP/waits.lua"
  expect_status 0
  overlap works1 works2 && bad "taskset -c 0, default -j: two working scenarios at once: $(cat "$TMP/spans")" \
    || ok "taskset -c 0, default -j: one working scenario at a time"
  rm -f "$TMP/spans"
  run taskset -c 0,1 "$RSTLAB" "$TMP/waits.lua"
  expect_status 0
  overlap works1 works2 && ok "taskset -c 0,1, default -j: two working scenarios at once" \
    || bad "taskset -c 0,1, default -j: the working scenarios ran one after the other: $(cat "$TMP/spans")"
  rm -f "$TMP/spans"
else
  echo "# skipped: the default -j under taskset (no taskset, or one CPU)"
fi
run "$RSTLAB" --max-waiting -1 "$TMP/waits.lua"
expect_status 2
expect_line "--max-waiting needs an integer from 0 to 150, got '-1'"
unset RSTLAB_TEST_SPANS

# A file's last scenario of a single round runs in the server itself (no
# state of it is needed afterwards: a fork saved); the others run in
# processes forked from it. With --repeat, every one is forked.
cat >"$TMP/last.lua" <<'EOS'
local core = require "rstlab.core"
local loader = core.pid()
for i = 1, 3 do
  scenario("last " .. i, function(t)
    local f = assert(io.open(os.getenv("RSTLAB_TEST_PIDS"), "a"))
    f:write(i, " ", core.pid() == loader and "server" or "forked", "\n")
    f:close()
  end)
end
EOS
export RSTLAB_TEST_PIDS=$TMP/pids
pids_are() { # pids_are WHAT EXPECTED: the scenarios' lines, sorted
  local got
  got=$(sort -u "$TMP/pids" | tr '\n' ' ')
  [ "$got" = "$2" ] && ok "$1: $2" || bad "$1: expected '$2', got '$got'"
  rm -f "$TMP/pids"
}
run "$RSTLAB" -j 1 "$TMP/last.lua"
expect_status 0
pids_are "-j 1" "1 forked 2 forked 3 server "
run "$RSTLAB" -j 1 --filter 'last 2' "$TMP/last.lua"
expect_status 0
pids_are "one scenario alone" "2 server "
run "$RSTLAB" -j 1 --repeat 2 "$TMP/last.lua"
expect_status 0
pids_are "--repeat 2" "1 forked 2 forked 3 forked "
unset RSTLAB_TEST_PIDS

# A server killed in the middle of its file: the scenarios left run in
# processes of their own, as files without a server do.
cat >"$TMP/server_killed.lua" <<'EOS'
for i = 1, 6 do
  scenario("slow " .. i, function(t) t:sleep(0.3) end)
end
EOS
# (--max-waiting 0: one at a time, so that at 0.7 s the server is between
# its scenarios, not running the last one itself)
timeout 60 "$RSTLAB" -j 1 --max-waiting 0 "$TMP/server_killed.lua" >"$OUT" 2>&1 &
rpid=$!
sleep 0.7
runner=$(pgrep -o -P "$rpid")     # (rpid is timeout's)
server=$(pgrep -o -P "$runner")   # the runner's oldest child: the file's server
[ -n "$server" ] && kill -KILL "$server"
wait "$rpid"
STATUS=$?
expect_status 0
expect_line '^6 passed, 0 failed$'

# ---- usage ------------------------------------------------------------------
run "$RSTLAB" --no-such-option $MIXED
expect_status 2
expect_line 'unknown option --no-such-option'
run "$RSTLAB" --help
expect_status 0
expect_line '^      --shard K/N'
# (The rest of the command line: tests/suite/test_cli.sh.)

finish
