# Sourced by run-tests.sh and run-bench.sh: the process they start gets the
# trap shim preloaded and pointed at a simulator socket in a private
# directory ($sim_dir, removed on exit). The suites and benchmarks start the
# simulator on that socket (src/sim/harness.ts); it runs without the shim.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sim_dir=$(mktemp -d /tmp/vmtoolsd-sim.XXXXXX)
trap 'rm -rf "$sim_dir"' EXIT
export VMTOOLSD_SIM_SOCKET="$sim_dir/trap.sock"
export VMTOOLSD_ASSUME_VMWARE=1
export VMTOOLSD_OVT_ROOT="$root/.cache/ovt/root"
export LD_PRELOAD="$root/build/Release/vmtoolsd_trap_shim.so"
