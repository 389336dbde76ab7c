#!/usr/bin/env bash
# The HTML report in a real browser: headless Chromium loads the page (it
# has nothing to fetch), lays out every ladder diagram, and linger0's diagram
# shows its packets, the RST among them. Skipped when Chromium is missing
# (.ci/deps installs Debian's chromium).
set -u
. "$SRC/tests/suite/lib.sh"
export TMPDIR=$TMP

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "SKIP: chromium is not installed (.ci/deps installs it)"; exit 77; }

run "$RSTLAB" --timeout 1 --html "$TMP/r.html" scripts/linger0.lua tests/scenarios/fail.lua tests/scenarios/pass.lua
expect_status 1

# No network: the page must render from the file alone.
run timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$TMP/profile" --proxy-server=127.0.0.1:9 --dump-dom "file://$TMP/r.html"
expect_status 0
# What the browser made of the page (stderr lines of Chromium start with '[').
grep -v '^\[' "$OUT" >"$TMP/dom.html"
cp "$TMP/dom.html" "$OUT"
expect_line '<p class="summary" id="summary">3 passed, 2 failed</p>'
# The inline script ran after layout and recorded each diagram's size.
n_svg=$(grep -o '<svg class="ladder"' "$TMP/dom.html" | wc -l)
n_drawn=$(grep -Eo '<svg class="ladder"[^>]* data-rendered="[1-9][0-9]*x[1-9][0-9]*"' "$TMP/dom.html" | wc -l)
[ "$n_svg" -eq 3 ] && ok "3 ladder diagrams" || bad "$n_svg ladder diagrams"
[ "$n_drawn" -eq "$n_svg" ] && ok "every diagram was laid out with a size" || bad "$n_drawn of $n_svg diagrams laid out"
# linger0's diagram, as rendered: its 8 packets, the RST last.
awk '/data-file="scripts\/linger0.lua"/,/<\/section>/' "$TMP/dom.html" >"$TMP/linger0.html"
[ "$(grep -c '<g class="pkt' "$TMP/linger0.html")" -eq 8 ] && ok "linger0: 8 packet arrows" \
  || bad "linger0: $(grep -c '<g class="pkt' "$TMP/linger0.html") packet arrows"
grep -o 'class="label"[^>]*>[^<]*' "$TMP/linger0.html" | sed 's/.*>//' >"$TMP/labels"
printf '%s\n' '[S] seq 0' '[S.] seq 0 ack 1' '[.] seq 1 ack 1' '[P.] seq 1:6 ack 1 len 5' \
  '[.] seq 1 ack 6' '[P.] seq 1:6 ack 6 len 5' '[.] seq 6 ack 6' '[R.] seq 6 ack 6' >"$TMP/want"
cmp -s "$TMP/labels" "$TMP/want" && ok "linger0's arrows in order, [R.] last" \
  || { bad "linger0's arrows"; diff "$TMP/want" "$TMP/labels"; }
grep -Eq '<svg class="ladder"[^>]* data-rendered="[1-9][0-9]*x[1-9][0-9]*"' "$TMP/linger0.html" \
  && ok "linger0's diagram has a size on the page" || bad "linger0's diagram not laid out"

finish
