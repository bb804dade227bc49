#!/usr/bin/env bash
# Runs the mocha suites. The test process is started with the trap shim
# preloaded and pointed at a simulator socket in a private directory; the
# suites start the simulator on that socket (src/sim/harness.ts). The
# simulator itself runs without the shim.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=$(mktemp -d /tmp/vmtoolsd-test.XXXXXX)
trap 'rm -rf "$dir"' EXIT

export VMTOOLSD_SIM_SOCKET="$dir/trap.sock"
export VMTOOLSD_ASSUME_VMWARE=1
export VMTOOLSD_OVT_ROOT="$root/.cache/ovt/root"
export LD_PRELOAD="$root/build/Release/vmtoolsd_trap_shim.so"
if [ $# -eq 0 ]; then set -- "dist/test/**/*.test.js"; fi
exec npx --no-install mocha --timeout 30000 --reporter spec "$@"
