/**
 * OS identity (core-services.md §8.2 types 5/6, §8.5 type 11): os-release
 * parsing, guest-OS ids, the detailed-data string and its 648-byte header.
 */
import { strict as assert } from 'node:assert';

import { MemoryGuestInfoSources } from '../src/services/guestinfo/memorySources';
import { detailedDataBody, formatDetailedData, gatherOsIdentity, parseDetailedDataBody } from '../src/services/guestinfo/osInfo';
import { parseOsRelease } from '../src/services/guestinfo/osRelease';
import { defaultLinuxNames, distroShortName } from '../src/services/guestinfo/osShortName';
import { parseUptimeHundredths } from '../src/services/guestinfo/uptime';
import { DEBIAN12_OS_RELEASE } from './60-guestinfo-fixtures.test';

function guest(osRelease: string | undefined, release = '6.1.0-18-amd64', machine = 'x86_64'): MemoryGuestInfoSources {
  return new MemoryGuestInfoSources({
    uname: { sysname: 'Linux', release, machine },
    files: osRelease === undefined ? {} : { '/etc/os-release': osRelease },
  });
}

describe('60 guestinfo os-release', () => {
  it('strips double quotes only and joins found values in file order', () => {
    const r = parseOsRelease(DEBIAN12_OS_RELEASE);
    assert.ok(r);
    assert.equal(r.values.PRETTY_NAME, 'Debian GNU/Linux 12 (bookworm)');
    assert.equal(r.values.VERSION_ID, '12');
    assert.equal(r.distro, 'Debian GNU/Linux 12 (bookworm) Debian GNU/Linux 12 12 (bookworm)');
    assert.equal(r.score, 4);
    assert.equal(parseOsRelease("NAME='Alpine'\n")?.values.NAME, "'Alpine'");
  });

  it('rejects a file without any of the six keys, or with an unterminated quote', () => {
    assert.equal(parseOsRelease('ID=foo\n'), undefined);
    assert.equal(parseOsRelease('NAME="broken\n'), undefined);
  });

  it('falls back to /usr/lib/os-release', () => {
    const src = new MemoryGuestInfoSources({ files: { '/usr/lib/os-release': 'NAME="Ubuntu"\nVERSION_ID="22.04"\n' } });
    assert.equal(gatherOsIdentity(src).shortName, 'ubuntu-64');
  });
});

describe('60 guestinfo guest OS ids', () => {
  const cases: Array<[string, string | undefined, string]> = [
    ['Debian GNU/Linux 12 (bookworm) Debian GNU/Linux 12 12 (bookworm)', '12', 'debian12'],
    ['Debian GNU/Linux 4.0', '4', 'debian4'],
    ['Ubuntu 22.04.3 LTS Ubuntu 22.04 22.04.3 LTS (Jammy Jellyfish)', '22.04', 'ubuntu'],
    ['Red Hat Enterprise Linux 9.2 (Plow) Red Hat Enterprise Linux 9.2', '9.2', 'rhel9'],
    ['Red Hat Linux 9', '9', 'redhat'],
    ['CentOS Linux 7 (Core) CentOS Linux 7 7 (Core) cpe:/o:centos:centos:7', '7', 'centos7'],
    ['CentOS release 5.11', undefined, 'centos'],
    ['Oracle Linux Server 8.8', '8.8', 'oraclelinux8'],
    ['SUSE Linux Enterprise Server 15 SP5 SLES 15-SP5', '15-SP5', 'sles15'],
    ['openSUSE Leap 15.5', '15.5', 'opensuse'],
    ['VMware Photon OS/Linux VMware Photon OS 5.0', '5.0', 'vmware-photon'],
    ['Rocky Linux 9.2 (Blue Onyx)', '9.2', 'rockyLinux'],
    ['AlmaLinux 9.2', '9.2', 'almaLinux'],
    ['Amazon Linux 2023', '2023', 'amazonlinux2023'],
    ['Amazon Linux AMI 2018.03', '1', 'amazonlinux2'],
    ['Flatcar Container Linux by Kinvolk', '3510.2.0', 'flatcar'],
    ['Fedora Linux 38 (Cloud Edition)', '38', 'Fedora'],
  ];
  for (const [distro, versionId, expected] of cases) {
    it(`${distro.slice(0, 40)} → ${expected}`, () => {
      assert.equal(distroShortName(distro, versionId, 'x86_64', '6.1.0'), expected);
    });
  }

  it('is undefined for unknown distros, which then get the kernel-based default', () => {
    assert.equal(distroShortName('Talos (v1.5.0)', 'v1.5.0', 'x86_64', '6.1.0'), undefined);
    assert.deepEqual(defaultLinuxNames('6.1.0'), { distro: 'Other Linux 6.x kernel', shortName: 'other6xlinux' });
    assert.deepEqual(defaultLinuxNames('5.15.0'), { distro: 'Other Linux 5.x kernel', shortName: 'other5xlinux' });
    assert.deepEqual(defaultLinuxNames('7.2.1'), { distro: 'Other Linux 7.2 kernel', shortName: 'other5xlinux' });
    assert.deepEqual(defaultLinuxNames('2.6.32'), { distro: 'Other Linux 2.6.x kernel', shortName: 'other26xlinux' });
  });

  it('prefixes Arm guests with "arm-"', () => {
    assert.equal(distroShortName('Ubuntu 22.04', '22.04', 'aarch64', '6.1.0'), 'arm-ubuntu');
    assert.equal(gatherOsIdentity(guest('NAME="Debian GNU/Linux"\nVERSION_ID="12"\n', '6.1.0', 'aarch64')).shortName, 'arm-debian12-64');
  });
});

describe('60 guestinfo OS identity', () => {
  it('builds types 5, 6 and the detailed string as open-vm-tools 12.2 does on Debian 12', () => {
    const id = gatherOsIdentity(guest(DEBIAN12_OS_RELEASE, '6.18.44-fc-v669'));
    // Strings captured from Debian's libvmtools (Hostinfo_GetOSGuestString/GetOSName/GetOSDetailedData).
    assert.equal(id.shortName, 'debian12-64');
    assert.equal(id.fullName, 'Linux 6.18.44-fc-v669 Debian GNU/Linux 12 (bookworm) Debian GNU/Linux 12 12 (bookworm)');
    assert.equal(
      id.detailed,
      "architecture='X86' bitness='64' distroAddlVersion='12 (bookworm)' distroName='Debian GNU/Linux' " +
        "distroVersion='12' familyName='Linux' kernelVersion='6.18.44-fc-v669' prettyName='Debian GNU/Linux 12 (bookworm)'",
    );
  });

  it('uses generic names without os-release, and 32-bit ids without "-64"', () => {
    const id = gatherOsIdentity(guest(undefined, '6.5.0', 'i686'));
    assert.equal(id.shortName, 'other6xlinux');
    assert.equal(id.fullName, 'Linux 6.5.0 Other Linux 6.x kernel');
    assert.equal(id.detailed, "architecture='X86' bitness='32' distroName='Linux' familyName='Linux' kernelVersion='6.5.0'");
  });

  it('escapes quotes and backslashes, trims trailing blanks and skips empty values', () => {
    assert.equal(
      formatDetailedData({ prettyName: "It's a \\ test  ", distroName: '', bitness: '64' }),
      "bitness='64' prettyName='It\\'s a \\\\ test'",
    );
  });

  it('lays out the type 11 body: version, shortName[129]@4, fullName[513]@133, text@648 + NUL', () => {
    const body = detailedDataBody('debian12-64', 'Linux 6.1.0 Debian', "bitness='64'");
    assert.equal(body.length, 648 + "bitness='64'".length + 1);
    assert.equal(body.readUInt32LE(0), 1);
    assert.equal(body.subarray(4, 15).toString('latin1'), 'debian12-64');
    assert.equal(body[15], 0);
    assert.equal(body.subarray(133, 151).toString('latin1'), 'Linux 6.1.0 Debian');
    assert.ok(body.subarray(151, 648).every((b) => b === 0));
    assert.equal(body.subarray(648).toString('latin1'), "bitness='64'\0");
    assert.deepEqual(parseDetailedDataBody(body), {
      version: 1,
      shortName: 'debian12-64',
      fullName: 'Linux 6.1.0 Debian',
      detailed: "bitness='64'",
    });
  });

  it('cuts over-long names to 128 / 512 bytes so the NUL terminators survive', () => {
    const body = detailedDataBody('s'.repeat(300), 'f'.repeat(900), '');
    assert.equal(body[4 + 128], 0);
    assert.equal(body[133 + 512], 0);
    assert.equal(body.length, 649);
  });
});

describe('60 guestinfo uptime', () => {
  it('converts /proc/uptime to hundredths of a second without float rounding', () => {
    assert.equal(parseUptimeHundredths('1699.41 2784.41\n'), 169941n);
    assert.equal(parseUptimeHundredths('123456.07 1.00'), 12345607n);
    assert.equal(parseUptimeHundredths('0.99 0.00'), 99n);
    assert.equal(parseUptimeHundredths('garbage'), undefined);
  });
});
