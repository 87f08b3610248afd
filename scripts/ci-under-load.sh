#!/usr/bin/env bash
# CI on a busy machine: clones this checkout's HEAD (committed work only) into a temporary directory,
# keeps every core busy with one CPU hog each (`yes > /dev/null`), runs `bash .ci/run` there, and
# prints the slowest tests against their timeouts and the wall time. The hogs are stopped however it
# ends. A pass here is what the suite promises: no test fails for the machine being slow.
#
#   bash scripts/ci-under-load.sh            hogs = cores (nproc)
#   HOGS=1 bash scripts/ci-under-load.sh     fewer hogs
#   KEEP=1 bash scripts/ci-under-load.sh     keep the clone (its test-results/) afterwards
set -uo pipefail
src=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
head=$(git -C "$src" rev-parse HEAD)
hogs=${HOGS:-$(nproc)}
work=$(mktemp -d "${TMPDIR:-/tmp}/rehearse-ci-load-XXXXXX")
pids=()

stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait "${pids[@]}" 2>/dev/null
  pids=()
  if [ "${KEEP:-0}" = 1 ]; then echo "clone kept: $work"; else rm -rf "$work"; fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "cloning $head into $work"
git clone --quiet --no-checkout "$src" "$work/rehearse" && git -C "$work/rehearse" checkout --quiet --detach "$head" ||
  { echo "could not clone $src at $head"; exit 1; }

for _ in $(seq 1 "$hogs"); do
  yes > /dev/null &
  pids+=($!)
done
echo "started $hogs CPU hog(s): ${pids[*]}"

t0=$(date +%s)
(cd "$work/rehearse" && bash .ci/run) 2>&1 | tee "$work/ci.log"
rc=${PIPESTATUS[0]}
wall=$(( $(date +%s) - t0 ))

echo
echo "== under load ($hogs hog(s) on $(nproc) core(s)): .ci/run exit $rc, wall time $((wall / 60)) min $((wall % 60)) s"
if [ -f "$work/rehearse/test-results/vitest.json" ]; then
  node "$work/rehearse/scripts/slow-tests.js" "$work/rehearse/test-results/vitest.json" 10
fi
[ -f "$work/rehearse/test-results/ci-phases.txt" ] && { echo "phases (s):"; cat "$work/rehearse/test-results/ci-phases.txt"; }
grep -E '^tests: ' "$work/ci.log" | tail -1
exit "$rc"
