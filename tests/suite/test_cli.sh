#!/usr/bin/env bash
# The command line's conventions and messages: GNU option forms, --version,
# one-line usage errors, the exit status of a selection that runs nothing,
# --exclude, --fail-fast, --time-scale, colour and the progress line on a
# terminal, errors shown with file:line (the traceback under -v), and a
# pcap directory that cannot be made.
set -u
. "$SRC/tests/suite/lib.sh"
export TMPDIR=$TMP
MIXED=tests/scenarios

# ---- GNU option forms ---------------------------------------------------------
run "$RSTLAB" --list --filter=connect -j1 -- $MIXED/pass.lua
expect_status 0
expect_count 1 '^tests/scenarios/pass.lua: pass: connect, write, read$'
expect_count 1 '^tests/'
run "$RSTLAB" --list --jobs=2 --filter pass -vx $MIXED/pass.lua
expect_status 0
expect_count 2 '^tests/scenarios/pass.lua: '
# After --, an argument that looks like an option is a path.
run "$RSTLAB" --list -- --list
expect_status 0
expect_line '^--list: \(loading the file\)  ERROR '
run "$RSTLAB" --jobs=0 $MIXED/pass.lua
expect_status 2
expect_line "^rstlab: --jobs needs a positive integer, got '0'$"
run "$RSTLAB" --list=yes $MIXED/pass.lua
expect_status 2
expect_line '^rstlab: option --list takes no value$'

# ---- --version --------------------------------------------------------------------
run "$RSTLAB" --version
expect_status 0
want=$(sed -n 's/^project(rstlab VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[ "$(cat "$OUT")" = "rstlab $want" ] && ok "--version prints rstlab $want" || bad "--version printed '$(cat "$OUT")'"

# ---- a usage error: one line and a hint, not the whole help -----------------------
run "$RSTLAB" --foo $MIXED/pass.lua
expect_status 2
printf '%s\n' "rstlab: unknown option --foo" "Try 'rstlab --help' for more information." >"$TMP/want"
cmp -s "$OUT" "$TMP/want" && ok "unknown option: one line and the hint" || bad "unknown option: not the two lines"
run "$RSTLAB" -q $MIXED/pass.lua
expect_status 2
expect_line '^rstlab: unknown option -q$'
expect_no_line '^usage:'
run "$RSTLAB"
expect_status 2
expect_count 2 '.'
expect_line '^rstlab: no scenario file given$'

# ---- a selection that runs nothing: exit status 3 ---------------------------------
run "$RSTLAB" --filter 'no such scenario' $MIXED
expect_status 3
expect_line '^rstlab: nothing to run: --filter matches none of the 11 scenarios$'
expect_no_line 'passed'
run "$RSTLAB" --list --filter 'no such scenario' $MIXED
expect_status 3
mkdir "$TMP/empty"
run "$RSTLAB" "$TMP/empty"
expect_status 3
expect_line '^rstlab: nothing to run: no scenario file found'
run "$RSTLAB" --exclude 'pass' $MIXED/pass.lua
expect_status 3
expect_line '^rstlab: nothing to run: --exclude leaves out all 2 scenarios'
# An empty shard: pass.lua's 2 scenarios leave at least 3 of 5 shards empty.
empty=
for k in 1 2 3 4 5; do
  run "$RSTLAB" --list --shard $k/5 $MIXED/pass.lua
  grep -q '^tests/' "$OUT" || { empty=$k; break; }
done
if [ -n "$empty" ]; then
  run "$RSTLAB" --shard $empty/5 $MIXED/pass.lua
  expect_status 3
  expect_line "^rstlab: nothing to run: shard $empty/5 holds none of the 2 scenarios selected$"
else
  bad "no empty shard among 5 for 2 scenarios"
fi
# A path that does not exist is not an empty selection: it is an error result.
run "$RSTLAB" "$TMP/no-such-file.lua"
expect_status 1

# ---- --exclude: after --filter, repeatable ----------------------------------------
run "$RSTLAB" --list --filter pass --exclude 'closed port' $MIXED
expect_status 0
expect_count 1 '^tests/'
expect_line '^tests/scenarios/pass.lua: pass: connect, write, read$'
run "$RSTLAB" --list --exclude 'hang' --exclude='*.lua: fail' $MIXED
expect_status 0
expect_count 6 '^tests/'
expect_no_line '^tests/scenarios/(hang|fail)\.lua'
run "$RSTLAB" --exclude skip --exclude syntax --exclude hang --exclude error --exclude flaky --exclude fail $MIXED
expect_status 0
expect_line '^2 passed, 0 failed$'

# ---- -x / --fail-fast ---------------------------------------------------------------
# At -j 1 in file order: fail.lua's first scenario fails, nothing else starts.
run "$RSTLAB" -j 1 -x $MIXED/fail.lua $MIXED/pass.lua
expect_status 1
expect_line '^stopped at the first failure \(--fail-fast\): 3 of 4 scenarios not run$'
expect_line '^0 passed, 1 failed$'
expect_no_line '^PASS '
run "$RSTLAB" -j 1 --fail-fast --tap $MIXED/fail.lua $MIXED/pass.lua
expect_status 1
expect_line '^1\.\.4$'
expect_line '^not ok 1 - tests/scenarios/fail.lua: fail: an assertion$'
expect_count 3 '^ok [2-4] - .* # SKIP not run: --fail-fast stopped the run'
# What runs when the failure comes finishes: at -j 2 both fail.lua scenarios.
run "$RSTLAB" -j 2 -x $MIXED/fail.lua $MIXED/pass.lua
expect_status 1
expect_line '^0 passed, 2 failed$'
expect_line '2 of 4 scenarios not run$'
# Without it, everything runs.
run "$RSTLAB" -j 1 $MIXED/fail.lua $MIXED/pass.lua
expect_line '^2 passed, 2 failed$'
expect_no_line 'not run'

# ---- --time-scale -----------------------------------------------------------------
for v in 0 -1 x; do
  run "$RSTLAB" --time-scale "$v" $MIXED/pass.lua
  expect_status 2
done
expect_line "^rstlab: --time-scale needs a positive number, got 'x'$"
run "$RSTLAB" --time-scale 1.5 $MIXED/pass.lua
expect_status 0
# The runner's kill deadline scales: a file whose top level never returns is
# killed after (timeout + grace) x F.
printf 'scenario("never declared", function() end)\nwhile true do end\n' >"$TMP/spin.lua"
run "$RSTLAB" --timeout 0.2 "$TMP/spin.lua"
expect_status 1
expect_line 'killed after 1\.25 s: loading the file did not finish'
run "$RSTLAB" --timeout 0.2 --time-scale 2 "$TMP/spin.lua"
expect_status 1
expect_line 'killed after 2\.5 s: loading the file did not finish'

# ---- errors: file:line and the message; the traceback under -v ---------------------
run "$RSTLAB" $MIXED/error.lua tests/bad/misuse.lua
expect_status 1
expect_line '^      tests/scenarios/error.lua:6: attempt to index a nil value'
expect_line '^      tests/bad/misuse.lua:5: attempt to use a closed socket$'
expect_no_line 'stack traceback'
expect_no_line 'stdlib/rstlab/'
run "$RSTLAB" -v $MIXED/error.lua
expect_status 1
expect_line '^      stack traceback:$'

# ---- a pcap directory that cannot be made --------------------------------------------
run "$RSTLAB" --pcap-dir /proc/x/y $MIXED/pass.lua
expect_status 2
expect_line '^rstlab: cannot make the pcap directory /proc/x/y: '
expect_no_line 'internal error|^PASS|passed'
expect_count 1 '.'

# ---- on a terminal: colour, NO_COLOR, the progress line --------------------------------
term() { run script -qec "stty cols 200; TERM=xterm $1" /dev/null; }
term "NO_COLOR= \"$RSTLAB\" -j 2 --timeout 1 $MIXED/pass.lua $MIXED/skip.lua $MIXED/fail.lua"
grep -q $'\e\[32mPASS\e\[0m  tests/scenarios/pass.lua' "$OUT" && ok "PASS in green" || bad "no green PASS"
grep -q $'\e\[31mFAIL\e\[0m  tests/scenarios/fail.lua' "$OUT" && ok "FAIL in red" || bad "no red FAIL"
grep -q $'\e\[33mSKIP\e\[0m  tests/scenarios/skip.lua' "$OUT" && ok "SKIP in yellow" || bad "no yellow SKIP"
grep -q $'^  \e\[31mFAIL\e\[0m  tests/scenarios/fail.lua' "$OUT" && ok "the summary's FAIL in red" || bad "summary not coloured"
term "NO_COLOR=1 \"$RSTLAB\" -j 2 --timeout 1 $MIXED/pass.lua $MIXED/fail.lua"
grep -q $'\e\[3[0-9]m' "$OUT" && bad "colour with NO_COLOR=1" || ok "no colour with NO_COLOR=1"
grep -q $'\e\[K\[[0-9]/4\] ' "$OUT" && ok "the progress line stays with NO_COLOR" || bad "no progress line"
# A scenario that runs 2 s: the progress line names it and ticks meanwhile,
# and its last state is the final count.
term "\"$RSTLAB\" --timeout 2 --filter 'waits forever' $MIXED/hang.lua"
tr '\r' '\n' <"$OUT" | sed -n 's/^\x1b\[K//p' | grep '^\[' >"$TMP/frames"
grep -q '^\[0/1\] 0 passed, 0 failed  [0-9.]* s  running: tests/scenarios/hang.lua: hang: waits forever$' "$TMP/frames" \
  && ok "the progress line names the running scenario" || bad "no running scenario named: $(head -3 "$TMP/frames")"
n=$(grep '^\[0/1\]' "$TMP/frames" | sed 's/.*failed  \([0-9.]*\) s.*/\1/' | sort -u | wc -l)
[ "$n" -ge 2 ] && ok "the elapsed time ticks ($n values during the scenario)" || bad "the progress line did not tick ($n)"
tr '\r' '\n' <"$OUT" | sed -n '/ERROR.* hang: waits forever/,$p' | sed -n 's/^\x1b\[K//p' | grep '^\[' >"$TMP/after"
[ -s "$TMP/after" ] && ! grep -v '^\[1/1\] 0 passed, 1 failed  [0-9.]* s$' "$TMP/after" \
  && ok "after the result, the progress line shows the new count only" || bad "a stale progress line after the result"
last=$(tail -n1 "$TMP/frames")
[[ "$last" == "[1/1] 0 passed, 1 failed  "*" s" ]] && ok "the last progress line has the final count" \
  || bad "the last progress line is stale: '$last'"

finish
