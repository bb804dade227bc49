#!/usr/bin/env bash
# Runs the benchmarks (all, or those named) in a process with the trap shim
# preloaded (scripts/shim-env.sh); each prints its table and writes it to
# bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/shim-env.sh
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(channel timesync quiesce guestops)  # also: daemon (long soak), deploypkg
for b in "${benches[@]}"; do
  node "dist/bench/$b.js"
done
