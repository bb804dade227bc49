#!/usr/bin/env bash
# Runs the benchmarks with the trap shim preloaded (as the tests do); each
# prints its table and writes it to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=$(mktemp -d /tmp/vmtoolsd-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export VMTOOLSD_SIM_SOCKET="$dir/trap.sock"
export VMTOOLSD_ASSUME_VMWARE=1
export VMTOOLSD_OVT_ROOT="$root/.cache/ovt/root"
export LD_PRELOAD="$root/build/Release/vmtoolsd_trap_shim.so"
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(channel)
for b in "${benches[@]}"; do
  node "dist/bench/$b.js"
done
