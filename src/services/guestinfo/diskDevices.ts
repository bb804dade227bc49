/**
 * Maps a mounted file system's source device to VMware virtual-disk names
 * such as "scsi0:1", "sata0:0", "ide1:0" or "nvme0:0" by walking sysfs, the
 * way open-vm-tools' diskInfo.c does (core-services.md §8.6: "device names
 * … derived from sysfs (<controller label>:<unit>)"):
 *
 *  - LVM / device-mapper: one name per entry of /sys/class/block/dm-N/slaves;
 *  - SCSI-like disks: the unit is the target of the "H:C:T:L" device node, the
 *    controller name comes from the PCI device's "label" file (the VMX puts
 *    e.g. "scsi0" or "sata0" there), with the LSI Logic/BusLogic adapter at
 *    PCI 0000:00:10.0 assumed to be scsi0;
 *  - SAS: the unit is taken from the "phy-X:Y" entry under sas_port;
 *  - IDE: "ide<n>:<unit>" with n counted from the ata/host nodes;
 *    AHCI SATA: the counted port becomes the unit;
 *  - NVMe: unit = nsid − 1.
 * If any device of a file system cannot be named, none are reported.
 */
import { DISK_DEVICE_NAME_SIZE } from './constants';
import { GuestInfoSources } from './sources';

export const SYS_CLASS_BLOCK = '/sys/class/block';
export const SYS_DEV_BLOCK = '/sys/dev/block';

// diskInfo.c: PCI class codes of the controller.
const PCI_IDE = 0x010100;
const PCI_SATA_AHCI_1 = 0x010601;
const PCI_SUBCLASS = 0xffff00;

const SCSI_NODE = /^.*\/\d+:\d+:(\d+):\d+$/;
const NVME_CTRL = /^.*\/nvme\d+$/;
const NVME_NS = /^.*\/nvme\d+n(\d+)$/;

function readFirstLine(src: GuestInfoSources, p: string): string | undefined {
  const t = src.readFile(p);
  return t === undefined ? undefined : (t.split('\n')[0] ?? '');
}

/** "<label>:<unit>" from the controller's PCI "label" file, or the scsi0 fallback. */
function pciName(src: GuestInfoSources, pciDevPath: string, unit: string): string {
  const label = readFirstLine(src, `${pciDevPath}/label`);
  if (label === undefined) {
    // LSI Logic Parallel / BusLogic on PCI bus 0 have no label: they are scsi0.
    if (!src.exists(`${pciDevPath}/label`) && (src.realpath(pciDevPath) ?? '').endsWith('/0000:00:10.0')) {
      return `scsi0:${unit}`;
    }
    return '';
  }
  return `${label.slice(0, 24)}:${unit}`;
}

/** Number of ata<N>/host<N> siblings below this disk's one: the IDE channel or SATA port. */
function ideSataIndex(src: GuestInfoSources, tgtHostPath: string, pciDevPath: string): number | undefined {
  const real = src.realpath(tgtHostPath) ?? '';
  let m = /^.*\/ata(\d+)$/.exec(real);
  let sibling = /^ata(\d+)$/;
  if (!m) {
    m = /^.*\/host(\d+)$/.exec(real);
    sibling = /^host(\d+)$/;
  }
  if (!m || m[1] === undefined) return undefined;
  const host = Number(m[1]);
  let n = 0;
  for (const name of src.listDir(pciDevPath) ?? []) {
    const s = sibling.exec(name);
    if (s?.[1] !== undefined && Number(s[1]) < host) n++;
  }
  return n;
}

/** The PCI class of the controller; may move both paths one level up (older IDE layouts). */
function devClass(src: GuestInfoSources, paths: { pci: string; dev: string }): number {
  let classPath = `${paths.pci}/class`;
  if (!src.exists(classPath)) {
    classPath = `${paths.pci}/../class`;
    if (!src.exists(classPath)) return 0;
    paths.pci += '/..';
    paths.dev += '/..';
  }
  const v = parseInt((readFirstLine(src, classPath) ?? '').trim(), 16);
  return Number.isFinite(v) ? v : 0;
}

/** SAS disks: take the unit from "phy-X:Y" and step both paths up past the port. */
function checkSas(src: GuestInfoSources, paths: { pci: string; dev: string }, unit: string): string {
  if (!src.isDirectory(`${paths.pci}/sas_port`)) return unit;
  let newUnit = '?';
  for (const name of src.listDir(paths.pci) ?? []) {
    const m = /^phy-\d+:(\d+)$/.exec(name);
    if (m?.[1] !== undefined) {
      newUnit = m[1];
      break;
    }
  }
  paths.dev = `${paths.pci}/..`;
  paths.pci = `${paths.dev}/..`;
  return newUnit;
}

function nvmeUnit(src: GuestInfoSources, devPath: string): string | undefined {
  const dir = devPath.slice(0, devPath.lastIndexOf('/'));
  const nsidText = src.readFile(`${dir}/nsid`);
  let nsid: number;
  if (nsidText !== undefined) {
    nsid = parseInt(nsidText.trim(), 10);
    if (!Number.isFinite(nsid)) return undefined;
  } else {
    const m = NVME_NS.exec(src.realpath(dir) ?? '');
    if (m?.[1] === undefined) return undefined;
    nsid = Number(m[1]);
  }
  return String(nsid - 1);
}

/**
 * Name of the virtual disk holding the block device at `startPath`
 * (a /sys/class/block/<dev> or /sys/dev/block/M:m path); "" if unknown.
 */
export function blockDeviceName(src: GuestInfoSources, startPath: string): string {
  let devPath = `${startPath}/device`;
  if (!src.exists(devPath)) {
    devPath = `${startPath}/../device`; // a partition: the disk is one level up
    if (!src.exists(devPath)) return '';
  }
  const real = src.realpath(devPath) ?? '';
  let name = '';
  const scsi = SCSI_NODE.exec(real);
  if (scsi?.[1] !== undefined) {
    let unit = scsi[1];
    const paths = { dev: `${devPath}/../..`, pci: `${devPath}/../../..` };
    unit = checkSas(src, paths, unit);
    const cls = devClass(src, paths);
    if ((cls & PCI_SUBCLASS) === PCI_IDE || cls === PCI_SATA_AHCI_1) {
      const n = ideSataIndex(src, paths.dev, paths.pci);
      if (n === undefined) return '';
      if ((cls & PCI_SUBCLASS) === PCI_IDE) name = `ide${n}:${unit}`;
      else unit = String(n);
    }
    if (name === '') name = pciName(src, paths.pci, unit);
  } else if (NVME_CTRL.test(real)) {
    const unit = nvmeUnit(src, devPath);
    if (unit === undefined) return '';
    name = pciName(src, `${devPath}/../..`, unit);
  } else {
    return '';
  }
  return name.toLowerCase().slice(0, DISK_DEVICE_NAME_SIZE - 1);
}

/** Device names for a device-mapper volume, or undefined if `fsName` is not one. */
function lvmDeviceNames(src: GuestInfoSources, fsName: string): string[] | undefined {
  const real = src.realpath(fsName);
  if (real === undefined) return undefined;
  const slavesPath = `${SYS_CLASS_BLOCK}/${real.slice(real.lastIndexOf('/') + 1)}/slaves`;
  if (!src.isDirectory(slavesPath)) return undefined;
  const slaves = src.listDir(slavesPath);
  if (slaves === undefined) return [];
  if (slaves.length === 0) return undefined; // a plain disk has an empty "slaves" directory
  return slaves.map((s) => blockDeviceName(src, `${slavesPath}/${s}`));
}

/** /dev/root and similar pseudo names: find the block device by major:minor from mountinfo. */
function devRootPath(mountinfo: string | undefined, fsName: string): string | undefined {
  if (mountinfo === undefined) return undefined;
  const needle = ` ${fsName} `;
  for (const line of mountinfo.split('\n')) {
    if (line.includes(needle)) {
      const majMin = line.split(' ')[2];
      return majMin === undefined ? undefined : `${SYS_DEV_BLOCK}/${majMin}`;
    }
  }
  return undefined;
}

/**
 * Disk names for the file system mounted from `fsName` ("/dev/sda1",
 * "/dev/mapper/vg-root", …); [] when unknown or not fully resolvable.
 */
export function diskDeviceNames(
  src: GuestInfoSources,
  fsName: string,
  fsType: string,
  mountinfo: string | undefined,
): string[] {
  let names = lvmDeviceNames(src, fsName);
  if (names === undefined) {
    names = [];
    const slash = fsName.lastIndexOf('/');
    // ZFS pools are not block devices the PCI walk understands.
    if (slash >= 0 && fsType !== 'zfs') {
      let name = blockDeviceName(src, `${SYS_CLASS_BLOCK}/${fsName.slice(slash + 1)}`);
      if (name === '') {
        const alt = devRootPath(mountinfo, fsName);
        if (alt !== undefined) name = blockDeviceName(src, alt);
      }
      names = [name];
    }
  }
  return names.some((n) => n === '') ? [] : names;
}
