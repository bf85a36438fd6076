#!/usr/bin/env bash
# The suite on a busy machine: `npm test` N times in a row (5 by default) in a clean clone of
# the committed HEAD, while a CPU hog keeps one core busy, then the tally. A flaky test shows
# up here long before CI refuses good work for it.
#
#   bash test/busy-rounds.sh            # 5 rounds, hog on the last CPU
#   ROUNDS=2 bash test/busy-rounds.sh   # fewer
#   HOG=0 bash test/busy-rounds.sh      # a quiet machine, for comparison
#
# The hog is one `node -e 'for(;;){}'` pinned with taskset; it is started before each round
# and killed by its PID after it, and on any exit of this script. Each round's output is kept
# in the log folder printed at the start.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${ROUNDS:-5}"
hog_on="${HOG:-1}"
cpu="$(($(nproc) - 1))"
work="$(mktemp -d /tmp/tsgi-rounds.XXXXXX)"
# mktemp's 0700 would keep the tests that drop privileges (--uid nobody) out of the clone.
chmod 755 "$work"
hog=""

suite=""
stop_hog() {
  if [ -n "$hog" ]; then
    kill "$hog" 2>/dev/null || true
    wait "$hog" 2>/dev/null || true
    hog=""
  fi
}
# Interrupted: the round's whole process group goes too (npm, tap, the test files; each test
# file's own watchdog then stops the proxies and runners it started).
stop_all() {
  [ -n "$suite" ] && kill -- "-$suite" 2>/dev/null || true
  stop_hog
}
trap stop_all EXIT

echo "clean clone of $(git rev-parse --short HEAD) in $work/tsgi; logs in $work"
git clone --quiet --no-hardlinks "$PWD" "$work/tsgi"
cd "$work/tsgi"
npm ci --no-audit --no-fund --loglevel=error >"$work/npm-ci.log" 2>&1

passed=0
failed=0
for round in $(seq 1 "$rounds"); do
  if [ "$hog_on" = 1 ]; then
    taskset -c "$cpu" node -e 'for (;;) {}' &
    hog=$!
  fi
  started=$(date +%s)
  log="$work/round-$round.log"
  # -w: setsid waits for npm even when it has to fork (as a group leader under job control).
  setsid -w npm test >"$log" 2>&1 &
  suite=$!
  if wait "$suite"; then
    verdict="pass"
    passed=$((passed + 1))
  else
    verdict="FAIL"
    failed=$((failed + 1))
  fi
  suite=""
  stop_hog
  summary="$(grep -E '^# \{ total: ' "$log" | tail -1 || true)"
  echo "round $round: $verdict in $(($(date +%s) - started)) s ${summary#\# }"
  # The failing files and assertions, for the record.
  grep -E '^not ok|^    not ok|^        not ok' "$log" | head -20 | sed 's/^/    /' || true
done
echo "busy-machine rounds: $passed passed, $failed failed (hog on CPU $cpu: $([ "$hog_on" = 1 ] && echo yes || echo no))"
[ "$failed" -eq 0 ]
