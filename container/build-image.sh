#!/usr/bin/env bash
# Builds the vmtoolsd-node container image without a Docker engine:
#   1. a Debian 12 (bookworm) minbase root file system from debootstrap,
#      cached in .cache/container/ (rebuilt only when the package list changes);
#   2. the Node runtime the project is built and tested with (node on PATH,
#      or $NODE_BIN), and the agent installed by scripts/install.sh;
#   3. umoci packs it as an OCI image with the RUN/INSTALL labels, and the
#      layout is tarred into an OCI archive:
#        $OUT/vmtoolsd-node.oci.tar   (default OUT=.cache/container/out)
#      load it with `podman load -i` or `skopeo copy oci-archive:...`.
#
# Rerun it after every build of the agent (bash scripts/setup.sh first); it
# reuses the base root file system, so a rebuild takes about a minute. It
# needs root (debootstrap, chroot, file ownership) and installs debootstrap
# and umoci with apt-get when they are missing.
#
#   container/build-image.sh [--if-stale]   --if-stale: do nothing when the
#                                           archive was built from the same inputs
# Environment: NODE_BIN (the Node runtime to ship), SUITE, MIRROR (Debian),
# CACHE_DIR (default .cache/container: base tarball, .debs, work dirs),
# OUT (default $CACHE_DIR/out), IMAGE_NAME, TAG.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, file ownership)"

SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
OUT=${OUT:-${CACHE_DIR:-$root/.cache/container}/out}
NODE_BIN=${NODE_BIN:-$(command -v node || true)}
IMAGE_NAME=${IMAGE_NAME:-vmtoolsd-node}
TAG=${TAG:-latest}
cache=${CACHE_DIR:-$root/.cache/container}
archive=$OUT/$IMAGE_NAME.oci.tar

# Debian packages on top of minbase (which already has bash, coreutils,
# util-linux, libpam-modules/libpam-runtime for guest-ops authentication):
#   systemd, systemd-sysv  systemctl and /sbin/shutdown: power operations ask
#                          the HOST's systemd over the bound /run/systemd
#                          (SYSTEMD_IGNORE_CHROOT=1); nothing of systemd runs here
#   libstdc++6             the Node runtime and the addon
base_packages=(systemd systemd-sysv libstdc++6)

# Everything the image is made of, by content (tsc rewrites dist/ on every
# run, so modification times would always say "stale").
inputs_hash() {
  {
    find dist/src build/Release/vmtools_native.node build/Release/vmware-rpctool \
         build/Release/vmtoolsd-runas build/Release/vmtoolsd-freeze-holder bin \
         package.json package-lock.json scripts/install.sh container units pam -type f ! -path 'dist/src/sim/*' ! -path 'dist/src/demo/*' \
         ! -name '*.map' -print0 2>/dev/null | sort -z | xargs -0 sha256sum
    "$NODE_BIN" -v; stat -c '%s %Y' "$NODE_BIN"
    printf '%s\n' "$SUITE" "$MIRROR" "$IMAGE_NAME" "$TAG"
  } | sha256sum | cut -c1-64
}

if [ "${1:-}" = "--if-stale" ] && [ -f "$archive" ] && [ -f "$archive.inputs" ] &&
   [ "$(cat "$archive.inputs")" = "$(inputs_hash)" ]; then
  log "up to date: $archive"
  exit 0
fi

for f in dist/src/cli/vmtoolsd.js build/Release/vmtools_native.node build/Release/vmware-rpctool \
         build/Release/vmtoolsd-runas build/Release/vmtoolsd-freeze-holder pam/vmtoolsd; do
  [ -e "$f" ] || die "$f missing: run bash scripts/setup.sh first"
done
[ -x "$NODE_BIN" ] || die "no node runtime (set NODE_BIN)"

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v umoci >/dev/null || need+=(umoci)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

mkdir -p "$cache/debs" "$OUT"
# The base root file system, keyed by what goes into it.
key=$(printf '%s\n' "$SUITE" "$MIRROR" "${base_packages[@]}" "base-v1" | sha256sum | cut -c1-16)
base=$cache/base-$SUITE-$key.tar
if [ ! -f "$base" ]; then
  log "debootstrap $SUITE minbase (+ ${base_packages[*]}); cached as $(basename "$base")"
  tmp=$(mktemp -d "$cache/debootstrap.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  debootstrap --variant=minbase --cache-dir="$cache/debs" \
    --include="$(IFS=,; echo "${base_packages[*]}")" "$SUITE" "$tmp/rootfs" "$MIRROR" >"$tmp/log" 2>&1 ||
    { tail -20 "$tmp/log" >&2; die "debootstrap failed"; }
  r=$tmp/rootfs
  # What a service image never uses: documentation, man pages, translations,
  # apt's lists and caches, logs of the bootstrap.
  rm -rf "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* \
         "$r"/usr/share/locale/* "$r"/usr/share/lintian "$r"/var/cache/apt/* \
         "$r"/var/lib/apt/lists/* "$r"/var/cache/debconf/*-old "$r"/var/log/* \
         "$r"/etc/machine-id "$r"/var/lib/dbus/machine-id
  : >"$r/etc/machine-id"
  # systemd units shipped by the packages must never start inside the image.
  rm -rf "$r"/etc/systemd/system/*.wants
  tar -C "$r" --numeric-owner -cf "$base.part" .
  mv "$base.part" "$base"
  rm -rf "$tmp"; trap - EXIT
fi

work=$(mktemp -d "$cache/image.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"
tar -C "$rootfs" --numeric-owner -xf "$base"
# debootstrap copied this build machine's resolver and host name; the image
# gets the VM's through the host network and the binds (empty files stay as
# mount points).
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"

# The Node runtime: the very binary the agent is built and tested with (its
# dependencies are libc, libstdc++ and libgcc, all in the base).
install -D -m 0755 "$NODE_BIN" "$rootfs/usr/local/bin/node"
bash scripts/install.sh --destdir "$rootfs" --prefix /usr --no-units
# Guest operations authenticate through PAM service "vmtoolsd": the
# repository's pam/vmtoolsd, copied by install.sh, and nothing else (it
# includes pam_shells, which reads the host's /etc/shells through the bind).
cmp -s pam/vmtoolsd "$rootfs/etc/pam.d/vmtoolsd" || die "/etc/pam.d/vmtoolsd in the image is not pam/vmtoolsd"
# Files the INSTALL label puts on the host.
install -d "$rootfs/usr/lib/vmtoolsd-node/container"
install -m 0644 units/vmtoolsd-podman.service units/vmtoolsd-docker.service "$rootfs/usr/lib/vmtoolsd-node/container/"
install -m 0755 container/install-host.sh "$rootfs/usr/lib/vmtoolsd-node/container/install-host.sh"
# Atomic system container files (`atomic install --system` reads /exports).
install -d "$rootfs/exports"
install -m 0644 container/atomic/manifest.json container/atomic/config.json.template \
  container/atomic/service.template container/atomic/tmpfiles.template "$rootfs/exports/"
# Mount points of the documented binds (container/README.md).
install -d "$rootfs/host" "$rootfs/etc/vmware-tools" "$rootfs/run/systemd" "$rootfs/home"

# The image must run: Node, the addon and both CLIs, inside the new root
# (with a clean environment: nothing of this machine's may help).
inroot() { chroot "$rootfs" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "$@"; }
inroot node -e '
  const napi = Number(process.versions.napi);
  if (!(napi >= 8)) { console.error("N-API " + napi + " < 8"); process.exit(1); }
  require("/usr/lib/vmtoolsd-node/build/Release/vmtools_native.node");
  require("/usr/lib/vmtoolsd-node/dist/src/cli/toolboxCmd.js");' ||
  die "the addon or the toolbox command does not load on the image's Node"
inroot vmtoolsd --help >/dev/null || die "vmtoolsd --help fails in the image"
# The helpers the daemon spawns, found where the daemon looks for them
# (guestops/runner.ts findRunasHelper, vmbackup/holder.ts findHolder: upwards
# from dist/ to build/Release), executable, and running on the image's libc.
inroot node -e '
  const fs = require("fs");
  const pkg = "/usr/lib/vmtoolsd-node/dist/src/services/";
  const runas = require(pkg + "guestops/runner.js").findRunasHelper();
  const holder = require(pkg + "vmbackup/holder.js").findHolder();
  for (const [what, p] of [["vmtoolsd-runas", runas], ["vmtoolsd-freeze-holder", holder]]) {
    if (!p || !fs.existsSync(p)) { console.error(what + " not found by the daemon (" + p + ")"); process.exit(1); }
    fs.accessSync(p, fs.constants.X_OK);
    console.log(p);
  }' >"$work/helpers" || die "the guest-ops or freeze helper is missing from the image"
# With --help both refuse with their usage (freeze holder: 64, EX_USAGE;
# runas: 127, its "usage" stage): enough to show the image's dynamic linker
# runs them, without freezing or running anything.
for h in $(cat "$work/helpers"); do
  set +e; inroot "$h" --help </dev/null >/dev/null 2>&1; rc=$?; set -e
  case "$rc" in 64|127) ;; *) die "$h does not run in the image (exit $rc)" ;; esac
done
inroot sh -c 'command -v vmware-toolbox-cmd && command -v vmware-rpctool && command -v systemctl && command -v shutdown' >/dev/null ||
  die "PATH incomplete in the image"

# The run line (RUN label, container/README.md explains every bind).
binds="-v /run/systemd:/run/systemd -v /:/host:rslave -v /etc/passwd:/etc/passwd:ro -v /etc/shadow:/etc/shadow:ro -v /etc/group:/etc/group:ro -v /etc/shells:/etc/shells:ro -v /home:/home:rslave -v /var/log:/var/log -v /tmp:/tmp -v /etc/vmware-tools:/etc/vmware-tools -v /etc/os-release:/etc/os-release:ro"
flags="--privileged --net=host --pid=host --ipc=host --uts=host -e SYSTEMD_IGNORE_CHROOT=1"
run_label="podman run -d --replace --name \${NAME} $flags $binds \${IMAGE}"
install_label="podman run --rm --privileged -v /:/host -e HOST=/host -e NAME=\${NAME} -e IMAGE=\${IMAGE} \${IMAGE} /usr/lib/vmtoolsd-node/container/install-host.sh install"
uninstall_label="podman run --rm --privileged -v /:/host -e HOST=/host -e NAME=\${NAME} -e IMAGE=\${IMAGE} \${IMAGE} /usr/lib/vmtoolsd-node/container/install-host.sh uninstall"
linuxkit_config=$(tr -d '\n' <container/linuxkit/org.mobyproject.config.json | tr -s ' ')

log "packing with umoci"
layout=$work/oci
umoci init --layout "$layout"
umoci new --image "$layout:$TAG"
umoci unpack --image "$layout:$TAG" "$work/bundle" >/dev/null
rm -rf "$work/bundle/rootfs"
mv "$rootfs" "$work/bundle/rootfs"
umoci repack --image "$layout:$TAG" --history.created_by "container/build-image.sh" "$work/bundle"
version=$(node -p 'require("./package.json").version')
umoci config --image "$layout:$TAG" \
  --author "vmtoolsd-node" \
  --config.cmd /usr/bin/vmtoolsd \
  --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --config.env "SYSTEMD_IGNORE_CHROOT=1" \
  --config.env "VMTOOLSD_DEPLOYPKG_TARGET_ROOT=/host" \
  --config.stopsignal SIGTERM \
  --config.label "name=$IMAGE_NAME" \
  --config.label "version=$version" \
  --config.label "summary=VMware guest agent (vmtoolsd-node), to run privileged with the host's namespaces" \
  --config.label "RUN=$run_label" \
  --config.label "INSTALL=$install_label" \
  --config.label "UNINSTALL=$uninstall_label" \
  --config.label "org.mobyproject.config=$linuxkit_config" \
  --config.label "org.opencontainers.image.title=$IMAGE_NAME" \
  --config.label "org.opencontainers.image.version=$version" \
  --history.created_by "container/build-image.sh: config"
umoci gc --layout "$layout"

rm -f "$archive.part"
tar -C "$layout" -cf "$archive.part" .
mv "$archive.part" "$archive"
inputs_hash >"$archive.inputs"
unpacked=$(du -sb "$work/bundle/rootfs" | cut -f1)
packed=$(stat -c %s "$archive")
printf 'archive_bytes=%s\nrootfs_bytes=%s\nnode=%s\n' "$packed" "$unpacked" "$("$NODE_BIN" -v)" >"$OUT/$IMAGE_NAME.size"
log "wrote $archive: $((packed / 1048576)) MiB archive, $((unpacked / 1048576)) MiB unpacked (node $("$NODE_BIN" -v))"
