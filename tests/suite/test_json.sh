#!/usr/bin/env bash
# --json (doc/json.md) over the mixed suite (tests/scenarios): every line
# parses (python3's json module), carries the schema and the right values
# for passing, failing, erroring, timed-out, skipped and unloadable
# scenarios, then the summary; to a FILE (human lines stay on stdout) and
# to stdout (-, alone there; with --tap too it is a usage error); lines
# are written while the run goes on (read before a hanging scenario ends);
# --repeat and --fail-fast; --json-packets against the scenario's
# expectation and against tcpdump reading the same pcap.
set -u
. "$SRC/tests/suite/lib.sh"
export TMPDIR=$TMP
MIXED=tests/scenarios

for tool in python3 tcpdump; do
  command -v $tool >/dev/null || { echo "SKIP: $tool is not installed (.ci/deps installs it)"; exit 77; }
done

# check FILE PYTHON: run PYTHON (statements) with L = the parsed lines of
# FILE (every line must parse, and carry schema and version), S = the
# start object, R = the result objects, by = {name: result}, E = the
# summary; `want(cond, what)` is one check. Prints ok/FAILED lines.
check() {
  local file=$1
  shift
  python3 - "$file" "$@" >"$TMP/check.out" 2>&1 <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
else:
    print("FAILED: the last line does not end with a newline")
L = []
for i, text in enumerate(lines, 1):
    try:
        L.append(json.loads(text))
    except Exception as e:
        print("FAILED: line %d does not parse: %s: %r" % (i, e, text[:200]))
        sys.exit(0)
def want(cond, what):
    print(("ok: " if cond else "FAILED: ") + what)
for i, o in enumerate(L, 1):
    if o.get("schema") != "rstlab-results" or o.get("version") != 1:
        want(False, "line %d carries schema rstlab-results, version 1: %r" % (i, o))
S = L[0] if L and L[0].get("type") == "start" else None
E = L[-1] if L and L[-1].get("type") == "summary" else None
R = [o for o in L if o.get("type") == "result"]
by = {o["name"]: o for o in R}
exec(sys.argv[2])
EOF
  while IFS= read -r line; do
    case $line in
      ok:*) ok "${line#ok: }" ;;
      *) bad "$line" ;;
    esac
  done <"$TMP/check.out"
}

# ---- the mixed suite to a FILE ----------------------------------------------
run "$RSTLAB" -j 2 --timeout 1 --json "$TMP/r.jsonl" $MIXED
expect_status 1
# The human lines stay on stdout, the count too.
expect_line '^PASS  tests/scenarios/pass.lua: pass: connect, write, read'
expect_line '^3 passed, 7 failed, 1 skipped$'
check "$TMP/r.jsonl" '
want(S is not None and S["scenarios"] == 11 and S["packets"] is False, "start: 11 scenarios, no packets")
want(S is not None and S["started"].endswith("Z") and S["rstlab"] != "", "start: when, and the version")
want(len(L) == 13 and len(R) == 11, "start, 11 results, summary: %d lines" % len(L))
want(E is not None and (E["passed"], E["failed"], E["errors"], E["skipped"], E["total"]) == (3, 7, 5, 1, 11),
     "summary: 3 passed, 7 failed (5 errors), 1 skipped of 11: %r" % E)
want(E is not None and E["ok"] is False and E["interrupted"] is None and E["stopped"] is False, "summary: not ok, not interrupted")
want(sorted(o["rank"] for o in R) == list(range(1, 12)), "ranks 1..11, each once")
for o in R:
    want(isinstance(o["duration"], (int, float)) and o["duration"] >= 0 and isinstance(o["timeout"], bool)
         and isinstance(o["logs"], list) and isinstance(o["unchecked"], list) and isinstance(o["pcaps"], list)
         and "captures" not in o, "%s: the fields every result has" % o["name"])
a = by["fail: an assertion"]
want((a["status"], a["file"], a["decl"], a["where"], a["message"]) ==
     ("fail", "tests/scenarios/fail.lua", 1, "tests/scenarios/fail.lua:4", "one plus one: expected 3, got 2"), "failed assertion: %r" % a)
want(a["first_line"] == "tests/scenarios/fail.lua:4: one plus one: expected 3, got 2", "failed assertion: first_line")
c = by["fail: the capture is not what was expected"]
want(c["status"] == "fail" and "expectation line 2" in c["message"] and ">>   2  S > C  [S.]" in c["details"], "failed expectation, with details")
want(len(c["pcaps"]) == 1 and c["pcaps"][0].endswith(".pcap"), "failed expectation: its pcap %r" % c["pcaps"])
import os
want(all(os.path.getsize(p) > 24 for p in c["pcaps"]), "the pcap is on disk, with packets")
e = by["error: an actor indexes nil"]
want(e["status"] == "error" and e["timeout"] is False and "attempt to index a nil value" in e["message"]
     and "stack traceback" in e["traceback"], "an error, with its traceback")
for n in ("hang: waits forever", "hang: the script'"'"'s timeout of 0.5 s wins"):
    want(by[n]["status"] == "error" and by[n]["timeout"] is True, "%s: an error, timeout true" % n)
want(by["hang: spins forever"]["status"] == "error" and "timed out after 1 s" in by["hang: spins forever"]["message"]
     and by["hang: spins forever"]["timeout"] is True, "a busy loop: an error that says it timed out, timeout true")
want("timed out after 0.5 s" in by["hang: the script'"'"'s timeout of 0.5 s wins"]["message"], "the script'"'"'s own timeout")
k = by["skip: not on this machine"]
want(k["status"] == "skip" and k["message"] == "needs a feature this fixture pretends to lack", "skip, with its reason")
p = by["pass: connect, write, read"]
want(p["status"] == "pass" and "message" not in p and p["logs"] == ["the server read ping"] and p["pcaps"] == [],
     "pass: no message, its log, no pcap kept")
y = by["(loading the file)"]
want(y["status"] == "error" and y["file"] == "tests/scenarios/syntax.lua" and "syntax.lua:6:" in y["message"],
     "a file that does not load: an error")
'

# ---- text that is not UTF-8 ------------------------------------------------------
# A scenario's message and log with bytes that are not UTF-8: each becomes
# U+FFFD, and the object says so.
printf '%s\n' 'scenario("bytes", function(t)' '  t:log("log \255")' '  error("got \255\254 here", 0)' 'end)' >"$TMP/bytes.lua"
run "$RSTLAB" --json "$TMP/bytes.jsonl" "$TMP/bytes.lua"
expect_status 1
check "$TMP/bytes.jsonl" '
r = R[0]
want(r["status"] == "error" and r["message"].endswith("bytes.lua:3: got \ufffd\ufffd here") and r["logs"] == ["log \ufffd"],
     "bad bytes replaced by U+FFFD, one each: %r %r" % (r["message"], r["logs"]))
want(r.get("replaced_utf8") is True and "replaced_utf8" not in S and "replaced_utf8" not in E, "replaced_utf8 on that object only")
'

# ---- a spawned program's output ------------------------------------------------
printf '%s\n' 'scenario("prog", function(t)' \
  '  local p = assert(t.host:spawn({ "sh", "-c", "echo out; echo err >&2; exit 3" }))' \
  '  t:eq(select(3, p:wait()), 3)' 'end)' >"$TMP/prog.lua"
run "$RSTLAB" --json "$TMP/prog.jsonl" "$TMP/prog.lua"
expect_status 0
check "$TMP/prog.jsonl" '
p = R[0]["programs"]
want(len(p) == 1 and p[0]["argv"] == ["sh", "-c", "echo out; echo err >&2; exit 3"], "the program and its argv: %r" % p)
want(p[0]["status"] == "exit 3" and p[0]["stdout"] == "out\n" and p[0]["stderr"] == "err\n", "how it ended, what it wrote: %r" % p)
want(p[0]["stdout_bytes"] == 4 and p[0]["timed_out"] is False and p[0]["pid"] > 0, "bytes, timeout, pid")
'

# ---- to stdout: JSON alone there ------------------------------------------------
timeout 120 "$RSTLAB" -j 2 --timeout 1 --json - $MIXED/pass.lua $MIXED/fail.lua $MIXED/skip.lua \
  >"$TMP/stdout.jsonl" 2>"$TMP/stderr"
STATUS=$?
cp "$TMP/stderr" "$OUT"
expect_status 1
expect_no_line '^(PASS|FAIL|SKIP) '
check "$TMP/stdout.jsonl" '
want(len(L) == 7 and S is not None and E is not None, "stdout holds only JSON: start, 5 results, summary")
want((E["passed"], E["failed"], E["skipped"]) == (2, 2, 1), "the summary of stdout")
'
# Two formats cannot share stdout.
run "$RSTLAB" --tap --json - $MIXED/pass.lua
expect_status 2
expect_line '^rstlab: --tap and --json - both write to stdout: give all but one a FILE$'
# TAP on stdout, JSON in a file: both whole.
run "$RSTLAB" --tap --json "$TMP/both.jsonl" $MIXED/pass.lua
expect_status 0
expect_line '^TAP version 13$'
expect_line '^ok 2 - tests/scenarios/pass.lua: pass: SYN to a closed port'
check "$TMP/both.jsonl" 'want(len(R) == 2 and E["passed"] == 2, "TAP on stdout and JSON in a file")'
run "$RSTLAB" --json-packets $MIXED/pass.lua
expect_status 2
expect_line '^rstlab: --json-packets needs --json FILE$'
run "$RSTLAB" --json "$TMP/no/such/dir/r.jsonl" $MIXED/pass.lua
expect_status 2
expect_line '^rstlab: cannot open the report file .*/no/such/dir/r.jsonl: No such file or directory$'

# A file that cannot be written: said once, and the run fails.
if [ -w /dev/full ]; then
  run "$RSTLAB" --json /dev/full $MIXED/pass.lua
  expect_status 1
  expect_count 1 '^rstlab: cannot write /dev/full: No space left on device$'
  expect_line '^2 passed, 0 failed$'
fi

# ---- streamed: lines are there while the run goes on -------------------------
# "waits forever" writes its pid to the FIFO once it runs; the pass line
# must be in the file while it still hangs; Ctrl-C ends the run, and the
# summary says so.
mkfifo "$TMP/fifo"
RSTLAB_TEST_FIFO=$TMP/fifo timeout 120 "$RSTLAB" -j 2 --timeout 60 --json "$TMP/live.jsonl" \
  --filter 'waits forever' --filter 'connect, write, read' $MIXED/hang.lua $MIXED/pass.lua >"$TMP/live.out" 2>&1 &
RUNNER=$!
exec 3<>"$TMP/fifo" # read-write: opening it does not wait for a writer
HANG_PID=
read -t 60 -r -u 3 HANG_PID || bad "the hanging scenario did not start in 60 s"
exec 3<&-
# Wait for the pass line (tail -F follows the file as it grows).
exec 4< <(exec tail -n +1 -F "$TMP/live.jsonl" 2>/dev/null)
TAIL=$!
if timeout 30 grep -q -m1 '"status":"pass"' <&4; then
  ok "the pass line is in the file while a scenario still runs"
else
  bad "no pass line in 30 s"
fi
kill "$TAIL" 2>/dev/null
exec 4<&-
if kill -0 "$HANG_PID" 2>/dev/null && kill -0 "$RUNNER" 2>/dev/null; then
  ok "the hanging scenario (pid $HANG_PID) and the runner are still running"
else
  bad "the hanging scenario or the runner had ended"
fi
cp "$TMP/live.jsonl" "$TMP/live-then.jsonl"
check "$TMP/live-then.jsonl" '
want(S is not None and S["scenarios"] == 2, "the start line came first")
want(len(R) == 1 and R[0]["name"] == "pass: connect, write, read" and E is None, "one result, no summary yet")
'
kill -INT "$RUNNER"
wait "$RUNNER"
STATUS=$?
cp "$TMP/live.out" "$OUT"
expect_status 130
check "$TMP/live.jsonl" '
want(len(R) == 1 and E is not None, "after Ctrl-C: still one result, then the summary")
want(E["interrupted"] == "SIGINT" and E["not_finished"] == 1 and E["ok"] is False, "the summary says the run was interrupted: %r" % E)
'

# ---- --repeat and --fail-fast ---------------------------------------------------
RSTLAB_TEST_FLAKY=$TMP/flaky.count run "$RSTLAB" -j 1 --repeat 3 --json "$TMP/rep.jsonl" $MIXED/flaky.lua
expect_status 1
check "$TMP/rep.jsonl" '
want(S["rounds"] == 3 and [(o["round"], o["status"]) for o in R] == [(1, "pass"), (2, "fail"), (3, "pass")],
     "one line per attempt, with its round: %r" % [(o.get("round"), o["status"]) for o in R])
want(E["rounds"] == 3 and E["attempts"] == 3 and E["failed"] == 1, "summary: 3 rounds, 3 attempts, failed")
want(E["flaky"] == [{"file": "tests/scenarios/flaky.lua", "name": "flaky: fails on the second attempt",
     "attempts": ["pass", "fail", "pass"]}], "summary: the flaky scenario and its attempts")
'
run "$RSTLAB" -j 1 -x --json "$TMP/ff.jsonl" $MIXED/fail.lua $MIXED/pass.lua
expect_status 1
check "$TMP/ff.jsonl" '
want(len(R) == 1 and R[0]["status"] == "fail", "--fail-fast: one result")
want(E["stopped"] is True and len(E["not_run"]) == 3 and all("--fail-fast" in w["why"] for w in E["not_run"]),
     "--fail-fast: the summary lists the 3 not run")
'

# ---- --json-packets ---------------------------------------------------------------
# "SYN to a closed port is answered by RST" expects C > S [S] then
# S > C [R.] seq 0 ack 1: the packets say that, and what tcpdump reads
# from the same pcap.
run "$RSTLAB" --json "$TMP/pk.jsonl" --json-packets --pcap-dir "$TMP/pcaps" \
  --filter 'answered by RST' $MIXED/pass.lua
expect_status 0
check "$TMP/pk.jsonl" '
r = R[0]
want(S["packets"] is True and len(R) == 1 and r["status"] == "pass", "one passing scenario, packets asked")
want(len(r["pcaps"]) == 1, "its pcap (--pcap-dir)")
caps = r["captures"]
want(len(caps) == 1 and len(caps[0]["packets"]) == 2, "one capture of two packets")
b, (syn, rst) = caps[0]["binds"], caps[0]["packets"]
want(syn["src"] == b["C"] and syn["dst"] == b["S"] and rst["src"] == b["S"] and rst["dst"] == b["C"], "C > S, then S > C: %r" % b)
want(syn["flags"] == "S" and rst["flags"] == "R.", "flags [S], then [R.]")
want(rst["seq"] == 0 and rst["ack"] == (syn["seq"] + 1) % 2**32, "the RST: seq 0, ack the SYN'"'"'s seq + 1")
want(syn["len"] == 0 and rst["len"] == 0 and rst["win"] == 0, "no payload, the RST'"'"'s window 0")
want(syn["saddr"] == "127.0.0.1" and syn["sport"] == int(syn["src"].rsplit(":", 1)[1]), "address and port apart")
want(syn["injected"] is False and rst["injected"] is False, "nothing crafted")
want(syn["index"] == 1 and rst["index"] == 2 and 0 <= syn["t"] <= rst["t"] and syn["ts"] <= rst["ts"], "index and time")
want(syn["expect"] == "1: C > S  [S]" and rst["expect"] == "2: S > C  [R.]   seq 0 ack 1", "the expectation line each matched")
want(("reason" in rst) != ("reason_unknown" in rst) and rst.get("reason", "NO_SOCKET") == "NO_SOCKET",
     "the RST: the kernel'"'"'s reason NO_SOCKET, or why it is unknown: %r" % rst.get("reason", rst.get("reason_unknown")))
want("reason" not in syn and "reason_unknown" not in syn, "no reason on a SYN")
open(sys.argv[1] + ".tcpdump", "w").write("%s\n%s %s %s %s %d %d\n%s %s %s %s %d %d\n" % (r["pcaps"][0],
     syn["saddr"], syn["sport"], syn["daddr"], syn["dport"], syn["seq"], syn["win"],
     rst["saddr"], rst["sport"], rst["daddr"], rst["dport"], rst["seq"], rst["ack"]))
'
# tcpdump, a decoder of its own, reads the same two packets from the pcap.
{ read -r PCAP; read -r s1 sp1 d1 dp1 seq1 win1; read -r s2 sp2 d2 dp2 seq2 ack2; } <"$TMP/pk.jsonl.tcpdump"
run tcpdump -S -nn -r "$PCAP"
expect_count 2 ' IP '
expect_line "^[0-9:.]+ IP $s1\\.$sp1 > $d1\\.$dp1: Flags \\[S\\], seq $seq1, win $win1,"
expect_line "^[0-9:.]+ IP $s2\\.$sp2 > $d2\\.$dp2: Flags \\[R\\.\\], seq $seq2, ack $ack2, win 0, length 0"

finish
