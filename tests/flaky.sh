#!/usr/bin/env bash
# Flakiness hunt (not part of CI): runs the scenario suite many times,
# several runs at once, each with -j JOBS, while CPU burners compete for the
# processors, and reports every scenario that ever failed, with the output
# of a run where it did.
#
#   tests/flaky.sh [-n RUNS] [-p PARALLEL] [-j JOBS] [-b BURNERS] [-t SECS] [PATH...]
#
# Defaults: 50 runs, 2 at once, -j 4, 2 burners (yes > /dev/null), no new
# run started after 1800 s; PATH: scripts/. Uses ./build/rstlab (set
# RSTLAB to use another). Logs stay in a directory it names at the end.
# Exit status 0 when no scenario ever failed.
set -u
cd "$(dirname "$0")/.."
runs=50 par=2 jobs=4 burners=2 maxsecs=1800
while getopts n:p:j:b:t: o; do
  case $o in
    n) runs=$OPTARG ;; p) par=$OPTARG ;; j) jobs=$OPTARG ;;
    b) burners=$OPTARG ;; t) maxsecs=$OPTARG ;;
    *) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(scripts/)
rstlab=${RSTLAB:-./build/rstlab}
[ -x "$rstlab" ] || { echo "flaky: $rstlab not built (bash .ci/build build)" >&2; exit 2; }

logs=$(mktemp -d "${TMPDIR:-/tmp}/rstlab-flaky.XXXXXX")
pids=()
cleanup() { [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in $(seq "$burners"); do
  yes >/dev/null &
  pids+=($!)
done

start=$SECONDS started=0
one_run() { # one_run I: a whole suite run, bounded in time
  timeout 900 "$rstlab" -j "$jobs" "${paths[@]}" >"$logs/run-$1.log" 2>&1
  echo $? >"$logs/run-$1.rc"
}
running=0
while [ $started -lt "$runs" ] && [ $((SECONDS - start)) -lt "$maxsecs" ]; do
  if [ $running -ge "$par" ]; then wait -n; running=$((running - 1)); fi
  started=$((started + 1))
  one_run $started &
  running=$((running + 1))
done
while [ $running -gt 0 ]; do wait -n; running=$((running - 1)); done
elapsed=$((SECONDS - start))
cleanup
pids=()

# Every scenario that failed, how often, and one run where it did.
scen=0 fails=0 badruns=0
declare -A count first
for ((i = 1; i <= started; i++)); do
  log=$logs/run-$i.log
  rc=$(cat "$logs/run-$i.rc" 2>/dev/null || echo "?")
  n=$(grep -Ec '^(PASS|FAIL|ERROR|SKIP) ' "$log")
  scen=$((scen + n))
  if [ "$rc" != 0 ]; then badruns=$((badruns + 1)); fi
  while IFS= read -r line; do
    name=$(sed -E 's/^(FAIL|ERROR) +//; s/ \([0-9.]+ m?s\)$//' <<<"$line")
    count[$name]=$(( ${count[$name]:-0} + 1 ))
    first[$name]=${first[$name]:-$log}
    fails=$((fails + 1))
  done < <(grep -E '^(FAIL|ERROR) ' "$log")
  if [ "$rc" != 0 ] && ! grep -Eq '^(FAIL|ERROR) ' "$log"; then
    count["(run $i: exit status $rc, no failed scenario)"]=1
    first["(run $i: exit status $rc, no failed scenario)"]=$log
    fails=$((fails + 1))
  fi
done

echo "flaky: $started runs of ${paths[*]} (-j $jobs, $par at once, $burners CPU burners) in ${elapsed} s"
echo "flaky: $scen scenario runs, $fails failed, $badruns runs with a non-zero exit status"
for name in "${!count[@]}"; do
  printf '  %4d x %s   (e.g. %s)\n' "${count[$name]}" "$name" "${first[$name]}"
done | sort -rn
# The logs stay only when there is something in them to look at.
if [ "$fails" -eq 0 ] && [ "$badruns" -eq 0 ]; then
  rm -rf "$logs"
else
  echo "flaky: logs in $logs"
fi
[ "$fails" -eq 0 ]
