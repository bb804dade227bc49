/**
 * NIC gathering and filtering (core-services.md §8.3, §8.4): exclude-nics
 * globs, primary/low-priority ordering, the 16-NIC cap, routes, resolver
 * data, and the primary IP for broadcastIP — plus a byte-for-byte match with
 * what open-vm-tools itself produced for a captured guest.
 */
import { strict as assert } from 'node:assert';

import { DEFAULT_EXCLUDE_NICS, defaultGuestInfoConfig } from '../src/services/guestinfo/config';
import { ipv6ToBytes, ipv6ToText } from '../src/services/guestinfo/ipAddress';
import { MemoryGuestInfoSources } from '../src/services/guestinfo/memorySources';
import { globMatch, isNicExcluded, parsePatternList } from '../src/services/guestinfo/nicFilter';
import { NicGatherOptions, gatherNicInfo } from '../src/services/guestinfo/nicGatherer';
import { encodeNicInfoV3 } from '../src/services/guestinfo/nicInfoXdr';
import { findPrimaryIp } from '../src/services/guestinfo/primaryIp';
import { parseProcNetIpv6Route, parseProcNetRoute } from '../src/services/guestinfo/procNetRoute';
import { gatherDnsConfig, parseResolvConf } from '../src/services/guestinfo/resolvConf';
import {
  IFF_UP_BROADCAST_RUNNING_MULTICAST as UP,
  REFERENCE_NICINFO_V3_HEX,
  addLinks,
  capturedGuest,
  v4,
  v6,
} from './60-guestinfo-fixtures.test';

function opts(over: Partial<NicGatherOptions> = {}): NicGatherOptions {
  const d = defaultGuestInfoConfig();
  return {
    excludeNics: d.excludeNics,
    primaryNics: d.primaryNics,
    lowPriorityNics: d.lowPriorityNics,
    maxIpv4Routes: d.maxIpv4Routes,
    maxIpv6Routes: d.maxIpv6Routes,
    ...over,
  };
}

const mac = (i: number): string => `00:50:56:00:01:${i.toString(16).padStart(2, '0')}`;

/** A guest with the given UP Ethernet links (ifindex = position + 2) and one IPv4 each. */
function guestWith(names: string[]): MemoryGuestInfoSources {
  const src = new MemoryGuestInfoSources({ hostname: 'g' });
  addLinks(src, [{ name: 'lo', ifindex: 1, flags: 0x9, type: 772, mac: '00:00:00:00:00:00' }]);
  addLinks(
    src,
    names.map((name, i) => ({ name, ifindex: i + 2, flags: UP, mac: mac(i) })),
  );
  src.interfaces = Object.fromEntries(names.map((n, i) => [n, [v4(`10.0.${i}.1`, '255.255.255.0')]]));
  return src;
}

const macsOf = (src: MemoryGuestInfoSources, o: NicGatherOptions): string[] =>
  gatherNicInfo(src, o).nicInfo.nics.map((n) => n.macAddress);

describe('60 guestinfo exclude-nics globs', () => {
  it('matches GLib pattern-spec semantics: * any run, ? one char, [ literal', () => {
    assert.ok(globMatch('docker*', 'docker0'));
    assert.ok(globMatch('docker*', 'docker'));
    assert.ok(!globMatch('docker*', 'xdocker0'));
    assert.ok(globMatch('veth????', 'veth1a2b'));
    assert.ok(!globMatch('veth????', 'veth1a2'));
    assert.ok(globMatch('*ipvs*', 'kube-ipvs0'));
    assert.ok(globMatch('a*b*c', 'aXXbYYc'));
    assert.ok(!globMatch('a*b*c', 'aXXbYY'));
    assert.ok(globMatch('eth[0]', 'eth[0]'));
    assert.ok(!globMatch('eth[0]', 'eth0'));
    assert.ok(globMatch('*', ''));
  });

  it('parses comma lists, trimming blanks and dropping empty items', () => {
    assert.deepEqual(parsePatternList('docker*, veth*,,virbr* '), ['docker*', 'veth*', 'virbr*']);
    assert.deepEqual(parsePatternList(''), []);
  });

  it('excludes container/CNI devices by default but not real NICs', () => {
    const cfg = { excludeNics: DEFAULT_EXCLUDE_NICS, primaryNics: [], lowPriorityNics: [] };
    for (const name of [
      'docker0', 'veth1234abc', 'virbr0', 'antrea-gw0', 'antrea-tun0', 'cali1f2e3d', 'cilium_host',
      'flannel.1', 'cni0', 'kube-ipvs0', 'ovs-system', 'weave',
    ]) {
      assert.ok(isNicExcluded(cfg, name), `${name} should be excluded`);
    }
    for (const name of ['eth0', 'ens192', 'enp0s3', 'br-ex', 'bond0', 'eth0.100']) {
      assert.ok(!isNicExcluded(cfg, name), `${name} should be reported`);
    }
  });
});

describe('60 guestinfo NIC gathering', () => {
  it('matches open-vm-tools byte for byte on the captured guest', () => {
    const { nicInfo, maxNicsReached } = gatherNicInfo(capturedGuest(), opts());
    assert.equal(maxNicsReached, false);
    assert.equal(encodeNicInfoV3(nicInfo).toString('hex'), REFERENCE_NICINFO_V3_HEX);
  });

  it('skips loopback, down links and excluded names; keeps kernel index order', () => {
    const src = guestWith(['eth0', 'docker0', 'veth9f', 'eth1']);
    addLinks(src, [{ name: 'eth2', ifindex: 50, flags: 0x1002, mac: mac(0x50) }]); // down
    assert.deepEqual(macsOf(src, opts()), [mac(0), mac(3)]);
  });

  it('reports UP links without addresses, and zero MACs for address-less links', () => {
    const src = guestWith(['eth0']);
    addLinks(src, [{ name: 'wg0', ifindex: 9, flags: 0x91, type: 65534, mac: '' }]);
    const { nics } = gatherNicInfo(src, opts()).nicInfo;
    assert.deepEqual(nics.map((n) => [n.macAddress, n.ips.length]), [[mac(0), 1], ['00:00:00:00:00:00', 0]]);
  });

  it('caps the report at 16 NICs and says so', () => {
    const names = Array.from({ length: 20 }, (_, i) => `ens${i}`);
    const res = gatherNicInfo(guestWith(names), opts());
    assert.equal(res.nicInfo.nics.length, 16);
    assert.equal(res.maxNicsReached, true);
    assert.deepEqual(res.nicInfo.nics.map((n) => n.macAddress), names.slice(0, 16).map((_, i) => mac(i)));
    assert.doesNotThrow(() => encodeNicInfoV3(res.nicInfo));
  });

  it('with 30 veth devices the real NIC is still reported (default exclude-nics)', () => {
    const names = [...Array.from({ length: 30 }, (_, i) => `veth${i}`), 'ens192'];
    const res = gatherNicInfo(guestWith(names), opts());
    assert.deepEqual(res.nicInfo.nics.map((n) => n.macAddress), [mac(30)]);
    assert.equal(res.maxNicsReached, false);
  });

  it('puts primary-nics first and low-priority-nics last, so the cap drops low-priority ones', () => {
    const src = guestWith(['eth0', 'docker0', 'ens192', 'tun0']);
    const o = opts({ excludeNics: [], primaryNics: ['ens*'], lowPriorityNics: ['docker*', 'eth0'] });
    assert.deepEqual(macsOf(src, o), [mac(2), mac(3), mac(0), mac(1)]);
    // A name in both lists counts as primary.
    assert.deepEqual(macsOf(src, opts({ excludeNics: [], primaryNics: ['tun0'], lowPriorityNics: ['tun0'] }))[0], mac(3));
  });

  it('an empty exclude list reports everything that is up', () => {
    assert.equal(macsOf(guestWith(['eth0', 'docker0']), opts({ excludeNics: [] })).length, 2);
  });

  it('collects alias labels, skips 127/8 and ::1, keeps IPv4 before IPv6 and fe80::', () => {
    const src = guestWith(['eth0']);
    src.interfaces = {
      eth0: [v4('10.0.0.1', '255.255.255.0'), v6('2001:db8::1', 64), v6('fe80::1', 64), v6('::1', 128)],
      'eth0:1': [v4('10.0.1.1', '255.255.0.0'), v4('127.0.0.2', '255.0.0.0')],
      eth01: [v4('10.9.9.9', '255.255.255.255')],
    };
    const nic0 = gatherNicInfo(src, opts()).nicInfo.nics[0];
    assert.ok(nic0);
    const shown = nic0.ips.map((e) =>
      e.address.type === 1 ? `${[...e.address.address].join('.')}/${e.prefixLength}/${e.status}` : `${ipv6ToText(e.address.address)}/${e.prefixLength}/${e.status}`,
    );
    assert.deepEqual(shown, ['10.0.0.1/24/1', '10.0.1.1/16/1', '2001:db8::1/64/5', 'fe80::1/64/5']);
    assert.equal(nic0.ips[0]?.origin, undefined);
  });
});

describe('60 guestinfo routes', () => {
  it('parses /proc/net/route host-order hex and counts only RTF_UP lines against the limit', () => {
    const text =
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
      'eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n' +
      'eth0\t0001A8C0\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' +
      'eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n';
    const routes = parseProcNetRoute(text, 2);
    assert.ok(routes);
    assert.deepEqual(routes.map((r) => [r.destination.toString('hex'), r.gateway.toString('hex'), r.mask.toString('hex'), r.metric]), [
      ['00000000', 'c0a80101', '00000000', 100],
      ['c0a80100', '00000000', 'ffffff00', 0],
    ]);
    assert.equal(parseProcNetRoute('garbage\n', 10), undefined);
  });

  it('parses /proc/net/ipv6_route with hex metric and flags', () => {
    const r = parseProcNetIpv6Route(
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n',
      5,
    );
    assert.ok(r);
    assert.equal(r[0]?.metric, 1024);
    assert.equal(r[0]?.nextHop.toString('hex'), 'fd000000000000000000000000000001');
  });

  it('maps a route device to the NIC with its MAC; other devices are skipped', () => {
    const src = guestWith(['eth0', 'docker0']);
    addLinks(src, [
      { name: 'br0', ifindex: 20, flags: UP, mac: mac(0) }, // a bridge carrying eth0's MAC
      { name: 'tun0', ifindex: 21, flags: 0x91, type: 65534, mac: '' },
    ]);
    src.setFile(
      '/proc/net/route',
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
        'br0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' +
        'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n' +
        'tun0\t0000080A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n',
    );
    // br0 itself is reported too (it is UP and not excluded), after eth0.
    const { nicInfo } = gatherNicInfo(src, opts());
    assert.equal(nicInfo.routes.length, 1);
    assert.equal(nicInfo.routes[0]?.ifIndex, 0);
    assert.equal(nicInfo.routes[0]?.nextHop?.address.toString('hex'), '0a000001');
    assert.equal(nicInfo.routes[0]?.type, 0);
  });

  it('gives IPv4 routes priority within the 100-route limit and honours max-ipv*-routes', () => {
    const src = guestWith(['eth0']);
    const v4lines = Array.from({ length: 120 }, (_, i) => `eth0\t${(i + 1).toString(16).padStart(8, '0')}\t00000000\t0001\t0\t0\t0\tFFFFFFFF\t0\t0\t0`);
    src.setFile('/proc/net/route', `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n${v4lines.join('\n')}\n`);
    src.setFile(
      '/proc/net/ipv6_route',
      'fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n',
    );
    const all = gatherNicInfo(src, opts()).nicInfo.routes;
    assert.equal(all.length, 100);
    assert.ok(all.every((r) => r.dest.type === 1));
    const few = gatherNicInfo(src, opts({ maxIpv4Routes: 3, maxIpv6Routes: 1 })).nicInfo.routes;
    assert.deepEqual(few.map((r) => r.dest.type), [1, 1, 1, 2]);
    assert.equal(gatherNicInfo(src, opts({ maxIpv4Routes: 0, maxIpv6Routes: 0 })).nicInfo.routes.length, 0);
  });
});

describe('60 guestinfo resolver data', () => {
  it('parses nameserver/search/domain with glibc precedence (last of search/domain wins)', () => {
    const c = parseResolvConf('# c\nsearch a.example b.example\nnameserver 10.0.0.1\ndomain corp.example\nnameserver fd00::53\n');
    assert.deepEqual(c.nameservers, ['10.0.0.1', 'fd00::53']);
    assert.deepEqual(c.search, ['corp.example']);
    assert.equal(c.domain, 'corp.example');
  });

  it('reports gethostname, an always-present domain and at most three servers', () => {
    const src = new MemoryGuestInfoSources({
      hostname: 'web1',
      files: { '/etc/resolv.conf': 'nameserver 1.1.1.1\nnameserver bogus\nnameserver 8.8.8.8\nnameserver 9.9.9.9\nnameserver 4.4.4.4\n' },
    });
    const dns = gatherDnsConfig(src);
    assert.ok(dns);
    assert.equal(dns.hostName, 'web1');
    assert.equal(dns.domainName, '');
    assert.deepEqual(dns.servers.map((s) => [...s.address].join('.')), ['1.1.1.1', '8.8.8.8', '9.9.9.9']);
    assert.deepEqual(dns.searchSuffixes, []);
  });

  it('derives the domain from a dotted host name when resolv.conf has none', () => {
    const dns = gatherDnsConfig(new MemoryGuestInfoSources({ hostname: 'web1.corp.example', files: { '/etc/resolv.conf': '' } }));
    assert.equal(dns?.domainName, 'corp.example');
    assert.deepEqual(dns?.searchSuffixes, ['corp.example']);
  });

  it('reports systemd-resolved upstream servers instead of the 127.0.0.53 stub', () => {
    const src = new MemoryGuestInfoSources({
      hostname: 'u',
      files: {
        '/run/systemd/resolve/stub-resolv.conf': 'nameserver 127.0.0.53\nsearch lan\n',
        '/run/systemd/resolve/resolv.conf': 'nameserver 192.168.1.1\nnameserver 192.168.1.2\n',
      },
      symlinks: { '/etc/resolv.conf': '../run/systemd/resolve/stub-resolv.conf' },
    });
    const dns = gatherDnsConfig(src);
    assert.deepEqual(dns?.servers.map((s) => [...s.address].join('.')), ['192.168.1.1', '192.168.1.2']);
    assert.deepEqual(dns?.searchSuffixes, ['lan']);
  });
});

describe('60 guestinfo primary IP (broadcastIP)', () => {
  it('is the first acceptable IPv4 address in getifaddrs order', () => {
    assert.equal(findPrimaryIp(capturedGuest(), defaultGuestInfoConfig()), '192.0.2.2');
  });

  it('skips excluded, loopback, 0.0.0.0, link-local/ULA/site-local IPv6; falls back to global IPv6', () => {
    const src = guestWith(['docker0', 'eth0']);
    src.interfaces = {
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', internal: true }],
      docker0: [v4('172.17.0.1', '255.255.0.0')],
      eth0: [v4('0.0.0.0', '0.0.0.0'), v6('fe80::1', 64), v6('fd00::5', 64), v6('fec0::1', 64), v6('2001:db8::7', 64)],
    };
    assert.equal(findPrimaryIp(src, defaultGuestInfoConfig()), '2001:db8::7');
  });

  it('prefers primary-nics over address order and returns "" when nothing qualifies', () => {
    const src = guestWith(['eth0', 'ens224']);
    const cfg = { ...defaultGuestInfoConfig(), primaryNics: ['ens*'] };
    assert.equal(findPrimaryIp(src, cfg), '10.0.1.1');
    assert.equal(findPrimaryIp(new MemoryGuestInfoSources(), defaultGuestInfoConfig()), '');
  });

  it('treats low-priority NICs as a last resort', () => {
    const src = guestWith(['eth0', 'ens224']);
    const cfg = { ...defaultGuestInfoConfig(), lowPriorityNics: ['eth0'] };
    assert.equal(findPrimaryIp(src, cfg), '10.0.1.1');
  });
});

describe('60 guestinfo address helpers', () => {
  it('parses and prints IPv6 in canonical form', () => {
    for (const [text, hex] of [
      ['::', '00000000000000000000000000000000'],
      ['::1', '00000000000000000000000000000001'],
      ['fe80::fc:ff:fe00:1', 'fe8000000000000000fc00fffe000001'],
      ['2001:db8:0:1::', '20010db8000000010000000000000000'],
      ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ] as const) {
      assert.equal(ipv6ToBytes(text).toString('hex'), hex);
      assert.equal(ipv6ToText(Buffer.from(hex, 'hex')), text);
    }
    assert.equal(ipv6ToText(ipv6ToBytes('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  });
});
