#!/bin/sh
# Run by the image's INSTALL / UNINSTALL labels, inside a privileged
# container with the host's root at $HOST (/host):
#   install    puts the podman unit into $HOST/etc/systemd/system as
#              vmtoolsd-podman.service, pointing at $IMAGE, and creates
#              $HOST/etc/vmware-tools (the tools.conf bind);
#   uninstall  removes the unit again.
# Enabling stays the host's decision: systemctl enable --now vmtoolsd-podman
set -eu
HOST=${HOST:-/host}
IMAGE=${IMAGE:-localhost/vmtoolsd-node:latest}
NAME=${NAME:-vmtoolsd}
src=/usr/lib/vmtoolsd-node/container
unit=$HOST/etc/systemd/system/vmtoolsd-podman.service
[ -d "$HOST/etc" ] || { echo "install-host.sh: host root not bound at $HOST (-v /:/host)" >&2; exit 1; }
case "${1:-install}" in
  install)
    mkdir -p "$HOST/etc/systemd/system" "$HOST/etc/vmware-tools"
    sed -e "s|^Environment=VMTOOLSD_IMAGE=.*|Environment=VMTOOLSD_IMAGE=$IMAGE|" \
        -e "s|^Environment=VMTOOLSD_NAME=.*|Environment=VMTOOLSD_NAME=$NAME|" \
        "$src/vmtoolsd-podman.service" >"$unit.tmp"
    chmod 0644 "$unit.tmp"
    mv "$unit.tmp" "$unit"
    echo "installed $unit; now run on the host: systemctl daemon-reload && systemctl enable --now vmtoolsd-podman"
    ;;
  uninstall)
    rm -f "$unit"
    echo "removed $unit; run on the host: systemctl daemon-reload"
    ;;
  *) echo "usage: install-host.sh install|uninstall" >&2; exit 2 ;;
esac
