#!/usr/bin/env bash
# Sets up everything the agent, its tests and benchmarks need on a fresh
# Debian 12 machine, and does nothing more on a machine where it already ran:
#   1. Debian packages: the compiler toolchain and open-vm-tools' libraries;
#   2. Debian's open-vm-tools 12.2, unpacked into .cache/ovt (never installed:
#      its service must not start on this machine), the differential reference;
#   3. npm packages, the native build (addon, vmware-rpctool, trap shim), tsc,
#      and the bundled entry points (scripts/bundle.js).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf 'setup: %s\n' "$*" >&2; }

# Libraries Debian's vmtoolsd links against, plus what the build needs.
apt_packages=(g++ make python3 pkg-config binutils xfsprogs
  libglib2.0-0 libmspack0 libxmlsec1 libxmlsec1-openssl libtirpc3 libdrm2
  libfuse3-3 libudev1 libxml2 libssl3 iproute2 util-linux
  debootstrap umoci runc systemd  # container image build and run, unit verification (97, 98)
  dbus-daemon                     # a private system bus with a fake logind (62-power-logind)
  cabextract gcab                 # deployPkg tests: cross-check our CAB reader/writer
  libpam0g-dev passwd)            # guest ops: PAM (addon), throw-away test users (useradd/chpasswd)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages (run as root to install): ${missing[*]}"; exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

ovt="$root/.cache/ovt"
if [ ! -x "$ovt/root/usr/bin/vmware-rpctool" ]; then
  log "unpacking Debian's open-vm-tools into .cache/ovt (reference only, not installed)"
  mkdir -p "$ovt"
  ( cd "$ovt" && rm -f open-vm-tools_*.deb &&
    { apt-get download open-vm-tools >/dev/null 2>&1 || { apt-get update -qq && apt-get download open-vm-tools >/dev/null; }; } &&
    dpkg-deb -x open-vm-tools_*.deb root )
fi

stamp=node_modules/.setup-stamp
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || { [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ]; }; then
  log "installing npm packages"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
  touch "$stamp"
fi

# Rebuild native code only when a source changed since the last build.
native_out=build/Release/vmtools_native.node
if [ ! -f "$native_out" ] || [ ! -x build/Release/vmtoolsd-runas ] || [ ! -x build/Release/vmtoolsd-freeze-holder ] || [ -n "$(find native binding.gyp -newer "$native_out" -print -quit)" ]; then
  log "building native code (addon, vmware-rpctool, trap shim)"
  npx --no-install node-gyp rebuild --loglevel=error >/dev/null
fi
log "compiling TypeScript"
npx --no-install tsc -p tsconfig.json
log "bundling the entry points"
node scripts/bundle.js >/dev/null
