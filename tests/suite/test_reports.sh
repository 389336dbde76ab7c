#!/usr/bin/env bash
# The reports of a run over the mixed suite (tests/scenarios): TAP version 13
# read by the system's prove and TAP::Parser, JUnit XML valid against tests/data/junit.xsd
# (xmllint), the self-contained HTML page; and that the counts, the exit
# status, TAP, JUnit and HTML all agree. (The HTML page in a browser:
# test_html_chromium.sh.)
set -u
. "$SRC/tests/suite/lib.sh"
export TMPDIR=$TMP
MIXED=tests/scenarios

for tool in prove perl xmllint; do
  command -v $tool >/dev/null || { echo "SKIP: $tool is not installed (.ci/deps installs it)"; exit 77; }
done

# The system's prove (Debian 12: Test::Harness 3.44, which knows TAP up to
# version 13 and fails a document that says 14) reads the runner's TAP as is.
echo "# $(prove --version)"

# ---- one run, every report --------------------------------------------------
run "$RSTLAB" -j 4 --timeout 1 --tap --junit "$TMP/r.xml" --html "$TMP/r.html" $MIXED scripts/linger0.lua
expect_status 1
cp "$OUT" "$TMP/r.tap"
N=12 # 11 in the mixed suite, and linger0 (first: scripts/ sorts before tests/)

# ---- TAP ----------------------------------------------------------------------
[ "$(head -n1 "$TMP/r.tap")" = "TAP version 13" ] && ok "TAP starts with its version line" || bad "first line: $(head -n1 "$TMP/r.tap")"
[ "$(sed -n 2p "$TMP/r.tap")" = "1..$N" ] && ok "plan 1..$N" || bad "plan: $(sed -n 2p "$TMP/r.tap")"
expect_line '^not ok 2 - tests/scenarios/error.lua: error: an actor indexes nil$'
expect_line '^ok 11 - tests/scenarios/skip.lua: skip: not on this machine # SKIP needs a feature'
expect_line '^not ok 12 - tests/scenarios/syntax.lua: \(loading the file\)$'
expect_line '^ok [0-9]+ - scripts/linger0.lua: SO_LINGER'
expect_line '^  message: "tests/scenarios/fail.lua:4: one plus one: expected 3, got 2"$'
expect_line '^  severity: error$'
expect_line '^  timeout: true$'
expect_line '^    >>   2  S > C  \[S\.\]   ack 1    S > C  \[R\.\]'
expect_line '^# 4 passed, 7 failed, 1 skipped$'
# Numbered in report order (by file, then declaration), whatever finished first.
grep -E '^(not )?ok ' "$TMP/r.tap" | awk '{print ($1 == "not" ? $3 : $2)}' | tr '\n' ' ' >"$TMP/nums"
[ "$(cat "$TMP/nums")" = "$(seq -s ' ' 1 $N) " ] && ok "test points 1..$N in order" || bad "test point numbers: $(cat "$TMP/nums")"

# TAP::Parser reads every YAML block (a block it cannot read is a parse
# error), and each failing point carries its message.
cat >"$TMP/parse.pl" <<'EOF'
use strict; use warnings; use TAP::Parser;
open my $fh, '<', $ARGV[0] or die;
my $p = TAP::Parser->new({ tap => do { local $/; <$fh> } });
my ($last, $yaml) = (undef, 0);
while (my $r = $p->next) {
  if ($r->is_test) { $last = $r; }
  elsif ($r->is_yaml) {
    $yaml++;
    my $d = $r->data;
    die "YAML block without a message after test " . $last->number . "\n" unless $d->{message};
    die "YAML block without the report after test " . $last->number . "\n" unless $d->{report} =~ /\n/;
    print "yaml ", $last->number, ": $d->{severity}: $d->{message}\n";
  }
}
print "parse error: $_\n" for $p->parse_errors;
printf "tests %d passed %d failed %d skipped %d yaml %d\n", $p->tests_run,
  scalar($p->passed), scalar($p->failed), scalar($p->skipped), $yaml;
EOF
run perl "$TMP/parse.pl" "$TMP/r.tap"
expect_status 0
expect_no_line '^parse error'
expect_line "^tests $N passed 5 failed 7 skipped 1 yaml 7$"
expect_line '^yaml 4: fail: tests/scenarios/fail.lua:16: expectation failed: expectation line 2'
expect_line '^yaml 12: error: tests/scenarios/syntax.lua:6: '

# The system's prove runs rstlab on each file (--exec) and reads its TAP:
# all pass, then some fail.
run prove --exec "$RSTLAB --tap" $MIXED/pass.lua scripts/linger0.lua $MIXED/skip.lua
expect_status 0
expect_line '^All tests successful\.$'
expect_line '^Files=3, Tests=4,'
expect_no_line 'Parse errors'
run prove --exec "$RSTLAB --tap --timeout 1" $MIXED/pass.lua $MIXED/fail.lua $MIXED/error.lua
expect_status 1
expect_line '^tests/scenarios/fail.lua +\(Wstat: 256 .*Tests: 2 Failed: 2\)$'
expect_line '^tests/scenarios/error.lua +\(Wstat: 256 .*Tests: 1 Failed: 1\)$'
expect_line '^Files=3, Tests=5,'
expect_line '^Result: FAIL$'
expect_no_line 'Parse errors'
expect_no_line 'tests/scenarios/pass.lua +\(Wstat'

# ---- JUnit --------------------------------------------------------------------
run xmllint --noout --schema "$SRC/tests/data/junit.xsd" "$TMP/r.xml"
expect_status 0
expect_line 'r.xml validates'
# The schema does reject a document that is not of this shape.
sed 's/ classname="[^"]*"//' "$TMP/r.xml" >"$TMP/bad.xml"
run xmllint --noout --schema "$SRC/tests/data/junit.xsd" "$TMP/bad.xml"
[ "$STATUS" -ne 0 ] && ok "the schema rejects a testcase without classname" || bad "the schema accepts anything"
cp "$TMP/r.xml" "$OUT"
expect_line "^<testsuites name=\"rstlab\" tests=\"$N\" failures=\"2\" errors=\"5\" skipped=\"1\" time=\"[0-9.]+\">$"
expect_line '^  <testsuite name="tests/scenarios/hang.lua" id="[0-9]+" tests="3" failures="0" errors="3" skipped="0" '
# classname: the script as a dotted name (Jenkins splits it at the last dot
# into package and class); file: its path.
expect_line '^    <testcase classname="tests\.scenarios\.fail" name="fail: an assertion" file="tests/scenarios/fail.lua" time="[0-9.]+">$'
expect_line '^      <failure message="tests/scenarios/fail.lua:4: one plus one: expected 3, got 2" type="assertion">tests/scenarios/fail.lua:4: one plus one: expected 3, got 2</failure>$'
expect_line '<error message="scenario timed out after 1 s[^"]*" type="timeout">'
expect_line '<skipped message="needs a feature this fixture pretends to lack"/>'
expect_line '^      <system-out>pcap: [^<]*/fail-fail_the_capture_is_not_what_was_expected\.pcap</system-out>$'
expect_line '<testcase classname="scripts\.linger0" name="SO_LINGER \{1,0\} then close'
# The full report is the failure's text: the expected lines beside the packets.
expect_line '^&gt;&gt;   2  S &gt; C  \[S\.\]   ack 1    S &gt; C  \[R\.\] seq 0 ack 1'
[ "$(grep -c '<testcase ' "$TMP/r.xml")" -eq $N ] && ok "$N testcases" || bad "$(grep -c '<testcase ' "$TMP/r.xml") testcases"

# ---- HTML ---------------------------------------------------------------------
cp "$TMP/r.html" "$OUT"
expect_line '^<!DOCTYPE html>$'
expect_line '<p class="summary" id="summary">4 passed, 7 failed, 1 skipped \(5 of the failed are errors\)</p>'
# Self-contained: nothing to load (the SVG namespace is a name, not a fetch).
if grep -Eq '<link|<img|<iframe|src=|@import|url\(|https?://' <(sed 's#xmlns="http://www.w3.org/2000/svg"##g' "$TMP/r.html"); then
  bad "the page refers to something outside itself"
else
  ok "the page is self-contained"
fi
grep -o 'href="[^"]*"' "$TMP/r.html" | grep -v '^href="#' >/dev/null && bad "a link leaves the page" || ok "links stay in the page"
# Failures first, then skips, then passes.
grep -o '<section class="scenario [a-z]*"' "$TMP/r.html" | awk '{print $3}' | tr -d '"' | tr '\n' ' ' >"$TMP/order"
[ "$(cat "$TMP/order")" = "error fail fail error error error error skip pass pass pass pass " ] \
  && ok "failures first" || bad "section order: $(cat "$TMP/order")"
[ "$(grep -c '<section class="scenario' "$TMP/r.html")" -eq $N ] && ok "$N sections" || bad "sections"
# Every scenario with a capture has its ladder as SVG: linger0's shows its RST.
awk '/data-file="scripts\/linger0.lua"/,/<\/section>/' "$TMP/r.html" >"$TMP/linger0.html"
for flags in 'S' 'S\.' 'P\.' 'R\.'; do
  grep -q "<g class=\"pkt[^\"]*\" data-flags=\"$flags\"" "$TMP/linger0.html" \
    && ok "linger0's ladder has a [$flags] arrow" || bad "linger0's ladder has no [$flags] arrow"
done
grep -q '<text class="label"[^>]*>\[R\.\] seq 6 ack 6</text>' "$TMP/linger0.html" && ok "the RST's label" || bad "no RST label"
grep -q '<text class="mark"[^>]*>8: S &gt; C  \[R\.\]' "$TMP/linger0.html" && ok "the expected line beside the RST" \
  || bad "no expectation line beside the RST"
awk '/data-name="fail: the capture is not what was expected"/,/<\/section>/' "$TMP/r.html" >"$TMP/fail.html"
grep -q '<text class="mark failed"[^>]*>&gt;&gt; 2: S &gt; C  \[S\.\]' "$TMP/fail.html" \
  && ok "the failing line is marked in the diagram" || bad "no failing mark in the diagram"
if command -v python3 >/dev/null; then
  run python3 -c 'import sys, xml.dom.minidom as m, re
html = open(sys.argv[1], encoding="utf-8").read()
for svg in re.findall(r"<svg .*?</svg>", html, re.S): m.parseString(svg)
print("svg ok")' "$TMP/r.html"
  expect_line '^svg ok$'
fi

# ---- they all agree -------------------------------------------------------------
tap_notok=$(grep -c '^not ok ' "$TMP/r.tap")
tap_skip=$(grep -c '^ok .* # SKIP ' "$TMP/r.tap")
tap_pass=$(grep -E '^ok ' "$TMP/r.tap" | grep -vc ' # SKIP ')
j_fail=$(sed -n 's/^<testsuites.* failures="\([0-9]*\)".*/\1/p' "$TMP/r.xml")
j_err=$(sed -n 's/^<testsuites.* errors="\([0-9]*\)".*/\1/p' "$TMP/r.xml")
j_skip=$(sed -n 's/^<testsuites.* skipped="\([0-9]*\)".*/\1/p' "$TMP/r.xml")
h_pass=$(grep -c '<section class="scenario pass"' "$TMP/r.html")
h_bad=$(grep -Ec '<section class="scenario (fail|error)"' "$TMP/r.html")
h_skip=$(grep -c '<section class="scenario skip"' "$TMP/r.html")
if [ "$tap_pass/$tap_notok/$tap_skip" = "4/7/1" ] && [ "$((j_fail + j_err))/$j_skip" = "7/1" ] \
  && [ "$h_pass/$h_bad/$h_skip" = "4/7/1" ]; then
  ok "TAP, JUnit and HTML agree: 4 passed, 7 failed, 1 skipped (and exit status 1)"
else
  bad "disagreement: TAP $tap_pass/$tap_notok/$tap_skip JUnit $((j_fail + j_err))/$j_skip HTML $h_pass/$h_bad/$h_skip"
fi
# And with the human summary of the same suite.
run "$RSTLAB" -j 4 --timeout 1 $MIXED scripts/linger0.lua
expect_status 1
expect_line '^4 passed, 7 failed, 1 skipped$'

# ---- a report that cannot be written is an error --------------------------------
run "$RSTLAB" --junit "$TMP/no/such/dir/r.xml" $MIXED/pass.lua
expect_status 1
expect_line 'cannot write .*/no/such/dir/r.xml'

finish
