/**
 * Disk info (core-services.md §8.6): which mounts are reported, sizes from
 * statfs, disk device names from sysfs, and both wire forms byte for byte.
 */
import { strict as assert } from 'node:assert';

import { diskDeviceNames } from '../src/services/guestinfo/diskDevices';
import {
  DiskEntry,
  diskInfoEqual,
  diskInfoJsonMessage,
  diskInfoLegacyMessage,
  gatherDiskInfo,
  parseMountinfo,
} from '../src/services/guestinfo/diskInfo';
import { MemoryGuestInfoSources } from '../src/services/guestinfo/memorySources';

const PVSCSI = '/sys/devices/pci0000:00/0000:00:15.0/0000:03:00.0';
const LSI_BUS0 = '/sys/devices/pci0000:00/0000:00:10.0';
const NVME = '/sys/devices/pci0000:00/0000:00:16.0/0000:0b:00.0';
const AHCI = '/sys/devices/pci0000:00/0000:00:11.0/0000:02:03.0';

/** A VMware-like sysfs: PVSCSI scsi0 (sda, sdb), LSI Logic on bus 0 (sdc), NVMe, AHCI SATA, an LVM volume. */
function sysfsGuest(): MemoryGuestInfoSources {
  const src = new MemoryGuestInfoSources();
  const scsiDisk = (pci: string, host: number, target: number, name: string, parts: string[]): void => {
    const dev = `${pci}/host${host}/target${host}:0:${target}/${host}:0:${target}:0`;
    const blk = `${dev}/block/${name}`;
    src.setFile(`${blk}/size`, '1\n');
    src.setSymlink(`${blk}/device`, `../../../${host}:0:${target}:0`);
    src.setSymlink(`/sys/class/block/${name}`, `../../${blk.slice('/sys/'.length)}`); // relative, as in sysfs
    for (const p of parts) {
      src.setFile(`${blk}/${p}/partition`, '1\n');
      src.setSymlink(`/sys/class/block/${p}`, `${blk}/${p}`);
    }
  };
  src.setFile(`${PVSCSI}/label`, 'SCSI0\n');
  src.setFile(`${PVSCSI}/class`, '0x010700\n');
  scsiDisk(PVSCSI, 0, 0, 'sda', ['sda1', 'sda2']);
  scsiDisk(PVSCSI, 0, 1, 'sdb', ['sdb1']);
  src.setFile(`${LSI_BUS0}/class`, '0x010000\n');
  scsiDisk(LSI_BUS0, 2, 3, 'sdc', []);

  // NVMe namespace 1 on controller nvme0, PCI label "nvme0".
  src.setFile(`${NVME}/label`, 'nvme0\n');
  src.setFile(`${NVME}/class`, '0x010802\n');
  src.setFile(`${NVME}/nvme/nvme0/dev`, '259:0\n');
  src.setFile(`${NVME}/nvme/nvme0/nvme0n1/nsid`, '1\n');
  src.setSymlink(`${NVME}/nvme/nvme0/nvme0n1/device`, '../../nvme0');
  src.setSymlink('/sys/class/block/nvme0n1', `${NVME}/nvme/nvme0/nvme0n1`);

  // AHCI SATA: disk on ata3 while ata1, ata2 also exist → port 2 → "sata0:2".
  src.setFile(`${AHCI}/label`, 'sata0\n');
  src.setFile(`${AHCI}/class`, '0x010601\n');
  src.setFile(`${AHCI}/ata1/x`, '');
  src.setFile(`${AHCI}/ata2/x`, '');
  const sataDev = `${AHCI}/ata3/host5/target5:0:0/5:0:0:0`;
  src.setFile(`${sataDev}/block/sdd/size`, '1\n');
  src.setSymlink(`${sataDev}/block/sdd/device`, '../../../5:0:0:0');
  src.setSymlink('/sys/class/block/sdd', `${sataDev}/block/sdd`);

  // LVM: /dev/mapper/vg-root → dm-0 with slaves sda2 and sdb1.
  src.setFile('/dev/dm-0', '');
  src.setSymlink('/dev/mapper/vg-root', '../dm-0');
  src.setSymlink('/sys/class/block/dm-0', '/sys/devices/virtual/block/dm-0');
  src.setSymlink('/sys/devices/virtual/block/dm-0/slaves/sda2', '/sys/class/block/sda2');
  src.setSymlink('/sys/devices/virtual/block/dm-0/slaves/sdb1', '/sys/class/block/sdb1');

  // /dev/root resolved through mountinfo's major:minor.
  src.setSymlink('/sys/dev/block/8:0', '/sys/class/block/sda');
  return src;
}

const MOUNTINFO = [
  '22 27 0:21 / /proc rw,relatime - proc proc rw',
  '27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
  '28 27 253:0 / /var rw - xfs /dev/mapper/vg-root rw',
  '29 27 0:24 / /tmp rw - tmpfs tmpfs rw',
  '30 27 8:48 / /data\\040dir rw - btrfs /dev/sdd rw',
  '31 27 0:40 / /mnt/nfs rw - nfs4 srv:/x rw',
  '32 27 259:1 / /boot/efi rw - vfat /dev/nvme0n1 rw',
  // A file bind-mounted over a file (as container sandboxes do): not a disk.
  '33 27 8:1 /stubs/record /usr/bin/systemctl ro - ext4 /dev/sda1 rw',
  '',
].join('\n');

function withMounts(src: MemoryGuestInfoSources): MemoryGuestInfoSources {
  src.setFile('/proc/self/mountinfo', MOUNTINFO);
  for (const d of ['/', '/var', '/data dir', '/boot/efi']) src.addDir(d);
  src.setFile('/usr/bin/systemctl', '#!/bin/sh\n');
  src.statfsData.set('/usr/bin/systemctl', { bsize: 4096n, blocks: 1000n, bfree: 500n, bavail: 450n });
  const fs = (bsize: bigint, blocks: bigint, bfree: bigint, bavail: bigint): { bsize: bigint; blocks: bigint; bfree: bigint; bavail: bigint } => ({ bsize, blocks, bfree, bavail });
  src.statfsData.set('/', fs(4096n, 1000n, 500n, 450n));
  src.statfsData.set('/var', fs(4096n, 2000n, 100n, 100n));
  src.statfsData.set('/data dir', fs(16384n, 10n, 5n, 5n));
  src.statfsData.set('/boot/efi', fs(512n, 1048576n, 1000000n, 1000000n));
  return src;
}

describe('60 guestinfo mount table', () => {
  it('parses mountinfo fields and undoes octal escapes', () => {
    const m = parseMountinfo(MOUNTINFO);
    assert.equal(m.length, 8);
    assert.deepEqual(m[4], { mountPoint: '/data dir', fsType: 'btrfs', source: '/dev/sdd', majorMinor: '8:48' });
  });

  it('reports only disk file systems (directories, not bind-mounted files), in mount order, with free excluding reserved blocks', () => {
    const disks = gatherDiskInfo(withMounts(sysfsGuest()), { includeReserved: false, reportDevices: false });
    assert.ok(disks);
    assert.deepEqual(
      disks.map((d) => [d.name, d.fsType, d.freeBytes, d.totalBytes]),
      [
        ['/', 'ext4', 450n * 4096n, 1000n * 4096n],
        ['/var', 'xfs', 100n * 4096n, 2000n * 4096n],
        ['/data dir', 'btrfs', 5n * 16384n, 10n * 16384n],
        ['/boot/efi', 'vfat', 1000000n * 512n, 1048576n * 512n],
      ],
    );
  });

  it('counts reserved blocks as free only with diskinfo-include-reserved and root', () => {
    const src = withMounts(sysfsGuest());
    assert.equal(gatherDiskInfo(src, { includeReserved: true, reportDevices: false })?.[0]?.freeBytes, 500n * 4096n);
    src.root = false;
    assert.equal(gatherDiskInfo(src, { includeReserved: true, reportDevices: false })?.[0]?.freeBytes, 450n * 4096n);
  });

  it('gives up (sends nothing) when a reported file system cannot be statfs-ed', () => {
    const src = withMounts(sysfsGuest());
    src.statfsData.delete('/var');
    assert.equal(gatherDiskInfo(src, { includeReserved: false, reportDevices: false }), undefined);
  });
});

describe('60 guestinfo disk device names', () => {
  const src = sysfsGuest();
  const mi = MOUNTINFO;
  it('names a partition on PVSCSI from the controller label and SCSI target', () => {
    assert.deepEqual(diskDeviceNames(src, '/dev/sda1', 'ext4', mi), ['scsi0:0']);
    assert.deepEqual(diskDeviceNames(src, '/dev/sdb', 'ext4', mi), ['scsi0:1']);
  });
  it('treats a label-less controller at PCI 0000:00:10.0 as scsi0', () => {
    assert.deepEqual(diskDeviceNames(src, '/dev/sdc', 'ext4', mi), ['scsi0:3']);
  });
  it('names NVMe namespaces nvmeN:(nsid-1) and AHCI disks sataN:port', () => {
    assert.deepEqual(diskDeviceNames(src, '/dev/nvme0n1', 'vfat', mi), ['nvme0:0']);
    assert.deepEqual(diskDeviceNames(src, '/dev/sdd', 'btrfs', mi), ['sata0:2']);
  });
  it('lists every disk below an LVM volume', () => {
    assert.deepEqual(diskDeviceNames(src, '/dev/mapper/vg-root', 'xfs', mi), ['scsi0:0', 'scsi0:1']);
  });
  it('resolves /dev/root through mountinfo major:minor', () => {
    assert.deepEqual(diskDeviceNames(src, '/dev/root', 'ext4', '27 1 8:0 / / rw - ext4 /dev/root rw\n'), ['scsi0:0']);
  });
  it('reports nothing for unknown devices, zfs pools and names without a path', () => {
    assert.deepEqual(diskDeviceNames(src, '/dev/vda', 'ext4', mi), []);
    assert.deepEqual(diskDeviceNames(src, '/dev/sda1', 'zfs', mi), []);
    assert.deepEqual(diskDeviceNames(src, 'rpool/ROOT', 'zfs', mi), []);
  });
});

describe('60 guestinfo disk messages', () => {
  const disks: DiskEntry[] = [
    { name: '/', freeBytes: 1843200n, totalBytes: 4096000n, fsType: 'ext4', devices: ['scsi0:0'] },
    { name: '/var', freeBytes: 409600n, totalBytes: 8192000n, fsType: 'xfs', devices: ['scsi0:0', 'scsi0:1'] },
    { name: '/x', freeBytes: 0n, totalBytes: 0n, fsType: '', devices: [] },
  ];

  it('frames SetGuestDiskInfo JSON exactly, with base64 names and a trailing NUL', () => {
    const expected =
      'SetGuestDiskInfo {\n"version":"1",\n"disks":[\n' +
      '{"name":"Lw==","free":"1843200","size":"4096000","fstype":"ext4","devices":["scsi0:0"]},\n' +
      '{"name":"L3Zhcg==","free":"409600","size":"8192000","fstype":"xfs","devices":["scsi0:0","scsi0:1"]},\n' +
      '{"name":"L3g=","free":"0","size":"0"}\n' +
      ']}\0';
    assert.equal(diskInfoJsonMessage(disks).toString('latin1'), expected);
    const json = expected.slice('SetGuestDiskInfo '.length, -1);
    assert.equal(JSON.parse(json).disks[1].devices[1], 'scsi0:1');
  });

  it('frames an empty disk list as header + "]}\\0"', () => {
    assert.equal(diskInfoJsonMessage([]).toString('latin1'), 'SetGuestDiskInfo {\n"version":"1",\n"disks":[\n]}\0');
  });

  it('packs the legacy type 3 form: count byte, 116-byte LE entries, two zero bytes', () => {
    const msg = diskInfoLegacyMessage(disks.slice(0, 2));
    const header = 'SetGuestInfo  3 ';
    assert.equal(msg.subarray(0, 16).toString('latin1'), header);
    const body = msg.subarray(16);
    assert.equal(body.length, 1 + 2 * 116 + 2);
    assert.equal(body[0], 2);
    assert.equal(body.readBigUInt64LE(1), 1843200n);
    assert.equal(body.readBigUInt64LE(9), 4096000n);
    assert.equal(body.subarray(17, 18).toString('latin1'), '/');
    assert.ok(body.subarray(18, 117).every((b) => b === 0));
    assert.equal(body.subarray(117 + 16, 117 + 20).toString('latin1'), '/var');
    assert.deepEqual([...body.subarray(-2)], [0, 0]);
  });

  it('caps the legacy form at 255 partitions', () => {
    const many = Array.from({ length: 300 }, (_, i) => ({ name: `/m${i}`, freeBytes: 1n, totalBytes: 2n, fsType: 'ext4', devices: [] }));
    const body = diskInfoLegacyMessage(many).subarray(16);
    assert.equal(body[0], 255);
    assert.equal(body.length, 1 + 255 * 116 + 2);
  });

  it('considers disk info unchanged when names and sizes match in any order', () => {
    const [a, b] = disks;
    assert.ok(a && b);
    assert.ok(diskInfoEqual([a, b], [b, { ...a, devices: [] }]));
    assert.ok(!diskInfoEqual([a, b], [b, { ...a, freeBytes: 1n }]));
    assert.ok(!diskInfoEqual([a], [a, b]));
  });
});
