#!/usr/bin/env bash
# Runs the mocha suites (all of them, or the compiled files given), in a
# process with the trap shim preloaded (scripts/shim-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/shim-env.sh
if [ $# -eq 0 ]; then set -- "dist/test/**/*.test.js"; fi
npx --no-install mocha --timeout 30000 --reporter spec "$@"
