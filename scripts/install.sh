#!/usr/bin/env bash
# Installs the built agent (dist/, build/Release/) as a native system service:
#   $DESTDIR$PREFIX/lib/vmtoolsd-node/   the package: bin/, dist/src/, the addon,
#                                        vmware-rpctool, the helpers vmtoolsd-runas
#                                        (guest operations) and vmtoolsd-freeze-holder
#                                        (quiesce), production node_modules/
#   $DESTDIR$PREFIX/bin/                 vmtoolsd, vmware-rpctool, vmware-toolbox-cmd
#   $DESTDIR$UNITDIR/vmtoolsd.service    (unless --no-units), ExecStart= pointing at $PREFIX/bin
#   $DESTDIR/etc/pam.d/vmtoolsd          (if the repository has pam/vmtoolsd and none is there yet)
#
# The container image build (container/build-image.sh) uses the same script
# with --destdir pointing at the image's root file system, so the native
# install and the image hold the same files.
#
# It never starts or enables anything: after a real install run
#   systemctl daemon-reload && systemctl enable --now vmtoolsd
# Tests run it with --destdir only (never against this machine's /usr or /etc).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() {
  cat <<'EOF'
usage: scripts/install.sh [--destdir DIR] [--prefix /usr/local] [--unitdir /etc/systemd/system] [--no-units]
  --destdir DIR   stage everything under DIR (packaging, image builds, tests)
  --prefix P      installation prefix (default /usr/local)
  --unitdir D     where vmtoolsd.service goes (default /etc/systemd/system)
  --no-units      do not install systemd units (container images)
Build first: bash scripts/setup.sh (or npm run build).
EOF
}

destdir=""
prefix=/usr/local
unitdir=/etc/systemd/system
units=1
while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) destdir=${2:?}; shift 2 ;;
    --destdir=*) destdir=${1#*=}; shift ;;
    --prefix) prefix=${2:?}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --unitdir) unitdir=${2:?}; shift 2 ;;
    --unitdir=*) unitdir=${1#*=}; shift ;;
    --no-units) units=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac
prefix=${prefix%/}

log() { printf 'install: %s\n' "$*" >&2; }

for f in dist/src/cli/vmtoolsd.js dist/src/cli/toolboxCmd.js \
         build/Release/vmtools_native.node build/Release/vmware-rpctool \
         build/Release/vmtoolsd-runas build/Release/vmtoolsd-freeze-holder; do
  [ -e "$f" ] || { echo "install.sh: $f missing; build first (bash scripts/setup.sh)" >&2; exit 1; }
done
# The bundles are what bin/ runs (bin/entry.js); one older than tsc's output
# would be skipped there, so refuse to install it.
for e in vmtoolsd toolboxCmd; do
  [ ! "dist/src/cli/$e.js" -nt "dist/src/cli/$e.bundle.js" ] ||
    { echo "install.sh: dist/src/cli/$e.bundle.js missing or stale; build first (bash scripts/setup.sh)" >&2; exit 1; }
done

pkg="$destdir$prefix/lib/vmtoolsd-node"
log "installing into ${destdir:-/} (prefix $prefix)"
rm -rf "$pkg"
install -d "$pkg/bin" "$pkg/build/Release" "$pkg/dist" "$destdir$prefix/bin"
install -m 0644 package.json "$pkg/"
[ -f package-lock.json ] && install -m 0644 package-lock.json "$pkg/"
install -m 0755 bin/vmtoolsd bin/vmware-toolbox-cmd "$pkg/bin/"
install -m 0644 bin/entry.js "$pkg/bin/"
install -m 0755 build/Release/vmware-rpctool "$pkg/build/Release/"
install -m 0644 build/Release/vmtools_native.node "$pkg/build/Release/"
# Spawned by the daemon, found upwards from dist/ in build/Release
# (guestops/runner.ts findRunasHelper, vmbackup/holder.ts findHolder). Not
# on PATH: they are the daemon's, never a user's command.
install -m 0755 build/Release/vmtoolsd-runas build/Release/vmtoolsd-freeze-holder "$pkg/build/Release/"
ln -sfn ../build/Release/vmware-rpctool "$pkg/bin/vmware-rpctool"

# Compiled sources without the simulator, the demo and source maps: none of
# them is needed by the agent or its tools (the simulator is a test fixture).
# tar keeps the mtimes bin/entry.js compares (bundle vs plain module).
tar -C dist -cf - --exclude='src/sim' --exclude='src/demo' --exclude='*.map' src | tar -C "$pkg/dist" -xf -

# Production dependencies only: a copy of node_modules pruned offline
# (no registry access; package-lock.json decides what stays).
cp -a node_modules "$pkg/node_modules"
( cd "$pkg" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null )
rm -f "$pkg/node_modules/.setup-stamp" "$pkg/node_modules/.package-lock.json"
# node-addon-api is a build-time header library; the built addon needs nothing from it.
rm -rf "$pkg/node_modules/node-addon-api" "$pkg/package-lock.json"

for b in vmtoolsd vmware-rpctool vmware-toolbox-cmd; do
  ln -sfn "../lib/vmtoolsd-node/bin/$b" "$destdir$prefix/bin/$b"
done

if [ -f pam/vmtoolsd ] && [ ! -e "$destdir/etc/pam.d/vmtoolsd" ]; then
  # Guest operations authenticate through PAM service "vmtoolsd"
  # (the distribution's own file, if any, wins).
  install -D -m 0644 pam/vmtoolsd "$destdir/etc/pam.d/vmtoolsd"
fi

if [ "$units" = 1 ]; then
  install -d "$destdir$unitdir"
  sed "s|/usr/local/bin/|$prefix/bin/|g" units/vmtoolsd.service >"$destdir$unitdir/vmtoolsd.service"
  chmod 0644 "$destdir$unitdir/vmtoolsd.service"
  log "unit: $unitdir/vmtoolsd.service (enable with: systemctl daemon-reload && systemctl enable --now vmtoolsd)"
fi
log "done: $(du -sh "$pkg" | cut -f1) in $prefix/lib/vmtoolsd-node"
