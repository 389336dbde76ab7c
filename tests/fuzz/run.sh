#!/usr/bin/env bash
# Runs one libFuzzer target from its seed corpus for a bounded time.
#   run.sh FUZZER SEED_DIR [SECONDS [extra libFuzzer flags...]]
# New inputs go to a scratch corpus next to the binary (the seeds in the
# source tree are never written); a crash, leak or hang leaves its input in
# ./fuzz-artifacts/ and makes the run fail. The last line says how many
# inputs ran in how long.
set -euo pipefail
fuzzer=$1 seeds=$2 secs=${3:-30}
shift $(( $# < 3 ? $# : 3 ))
name=$(basename "$fuzzer")
work=$(dirname "$fuzzer")/fuzz-work/$name
mkdir -p "$work" fuzz-artifacts
log=$work/log
# Leaks are findings; so is any UBSan report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
set +e
"$fuzzer" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix=fuzz-artifacts/"$name"- "$@" \
  "$work" "$seeds" >"$log" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ]; then
  tail -n 60 "$log"
  echo "$name: FAILED (exit $rc); the input is in $(pwd)/fuzz-artifacts/"
  exit 1
fi
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
echo "$name: ${execs:-?} inputs in ${secs} s, no crash, leak or hang (corpus: $(ls "$work" | wc -l) files)"
