/**
 * The simulated VMX as a reader of guest information (core-services.md §8),
 * its auto-reset session (§2.2), the --verbose narrator and the RPC log ring
 * buffer. No native code: VmxHost is fed the exact bytes GuestInfoService
 * produces, through an RpcSender that calls host.handleRpci, and the TCLO
 * side is driven at the router (TcloRouter) the backdoor message layer uses.
 * One suite runs the simulator process and talks vsock to it over UNIX sockets.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { RpcReply, RpcSender } from '../src/rpc/types';
import { defaultGuestInfoConfig, GuestInfoConfig } from '../src/services/guestinfo/config';
import { MemoryGuestInfoSources } from '../src/services/guestinfo/memorySources';
import { setGuestInfoBinary, setGuestInfoString } from '../src/services/guestinfo/messages';
import { encodeGuestNicProtoV3, decodeGuestNicProto } from '../src/services/guestinfo/nicInfoXdr';
import { GuestInfoService } from '../src/services/guestinfo/service';
import { InterfaceAddress } from '../src/services/guestinfo/sources';
import { typedIpFromText } from '../src/services/guestinfo/ipAddress';
import { ControlServer, SimClient } from '../src/sim/control';
import { decodeGuestRpcPacket, encodeGuestRpcPacket } from '../src/sim/datamap';
import { GuestIp, GuestNic, parseDetailedFields } from '../src/sim/guestinfo-decode';
import { suitableIp, vsphereIpAddress } from '../src/sim/guest-ip';
import { startSimulator } from '../src/sim/harness';
import { VmxHost, VmxHostOptions } from '../src/sim/host';
import { attachNarrator, describeMessage } from '../src/sim/narrator';
import { RpcLog, RpcLogEntry } from '../src/sim/rpclog';
import { DEFAULT_SESSION_OPTIONS } from '../src/sim/session';
import type { TcloEndpoint } from '../src/sim/tclo';
import { packetReader } from './helpers/packet-reader';

// ---------------------------------------------------------------------------
// Fixtures

const T0 = 1_700_000_000_000;

function v4(address: string, netmask: string): InterfaceAddress {
  return { address, netmask, family: 'IPv4', internal: false };
}

function v6(address: string, prefix: number): InterfaceAddress {
  const mask = Buffer.alloc(16);
  for (let i = 0; i < prefix; i++) mask[i >> 3] = (mask[i >> 3] ?? 0) | (0x80 >> (i & 7));
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(mask.readUInt16BE(i).toString(16));
  return { address, netmask: groups.join(':'), family: 'IPv6', internal: false };
}

const OS_RELEASE = [
  'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
  'NAME="Debian GNU/Linux"',
  'VERSION_ID="12"',
  'VERSION="12 (bookworm)"',
  'VERSION_CODENAME=bookworm',
  'ID=debian',
  '',
].join('\n');

const ROUTE_HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n';

/**
 * A two-NIC Debian guest: eth0 00:50:56:aa:bb:cc with 10.0.0.5/24 and an
 * IPv6 link-local address, eth1 00:50:56:aa:bb:dd with 192.168.7.9/16, a
 * default route via 10.0.0.1, two ext4/xfs file systems.
 */
function guestSources(): MemoryGuestInfoSources {
  const src = new MemoryGuestInfoSources({
    hostname: 'web01',
    uname: { sysname: 'Linux', release: '6.1.0-18-amd64', machine: 'x86_64' },
    files: {
      '/etc/os-release': OS_RELEASE,
      '/proc/uptime': '4242.17 8000.00\n',
      '/etc/resolv.conf': 'nameserver 10.0.0.53\nsearch example.test\n',
      // /proc/net/route holds little-endian hex: 10.0.0.1 = 0100000A.
      '/proc/net/route':
        ROUTE_HEADER +
        'eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n' +
        'eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n',
      '/proc/net/ipv6_route': '',
      '/proc/self/mountinfo':
        '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n' +
        '22 27 0:21 / /proc rw - proc proc rw\n' +
        '28 27 254:16 / /srv/data rw - xfs /dev/vdb rw\n',
      '/proc/meminfo': 'MemTotal: 2048000 kB\nMemFree: 1024000 kB\nMemAvailable: 1500000 kB\n',
    },
    // Mount points are directories (disk info skips file bind mounts).
    dirs: ['/', '/srv/data'],
    statfs: {
      '/': { bsize: 4096n, blocks: 2_000_000n, bfree: 1_200_000n, bavail: 1_000_000n },
      '/srv/data': { bsize: 4096n, blocks: 500_000n, bfree: 400_000n, bavail: 400_000n },
    },
    interfaces: {
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', internal: true }],
      eth0: [v4('10.0.0.5', '255.255.255.0'), v6('fe80::250:56ff:feaa:bbcc', 64)],
      eth1: [v4('192.168.7.9', '255.255.0.0')],
    },
  });
  const link = (name: string, ifindex: number, flags: number, mac: string, type = 1): void => {
    const d = `/sys/class/net/${name}`;
    src.setFile(`${d}/ifindex`, `${ifindex}\n`);
    src.setFile(`${d}/flags`, `0x${flags.toString(16)}\n`);
    src.setFile(`${d}/type`, `${type}\n`);
    src.setFile(`${d}/address`, `${mac}\n`);
  };
  link('lo', 1, 0x9, '00:00:00:00:00:00', 772);
  link('eth0', 2, 0x1003, '00:50:56:aa:bb:cc');
  link('eth1', 3, 0x1003, '00:50:56:aa:bb:dd');
  return src;
}

/** The guest's RPC channel, short-circuited into the host's RPCI processor. */
class HostRpc implements RpcSender {
  readonly requests: Buffer[] = [];
  constructor(private readonly host: VmxHost) {}

  send(request: Buffer | string): RpcReply {
    const raw = Buffer.isBuffer(request) ? Buffer.from(request) : Buffer.from(request, 'utf8');
    this.requests.push(raw);
    const reply = this.host.handleRpci(raw, { transport: 'backdoor', channel: 1, pid: 4242, privileged: false });
    // channel.md §4.2: "1 " = success, "0 " = failure; the text follows the prefix.
    return { ok: reply[0] === 0x31, reply: reply.subarray(2) };
  }
}

interface Rig {
  host: VmxHost;
  clock: { t: number };
  src: MemoryGuestInfoSources;
  svc: GuestInfoService;
  rpc: HostRpc;
}

function rig(hostOpts: VmxHostOptions = {}, cfg: Partial<GuestInfoConfig> = {}): Rig {
  const clock = { t: T0 };
  const host = new VmxHost({ now: () => clock.t, pidAlive: () => true, ...hostOpts });
  const src = guestSources();
  const rpc = new HostRpc(host);
  const svc = new GuestInfoService({ rpc, sources: src, config: { ...defaultGuestInfoConfig(), ...cfg }, now: () => clock.t });
  return { host, clock, src, svc, rpc };
}

const header = (type: number): Buffer => Buffer.from(`SetGuestInfo  ${type} `, 'latin1');

function nicMessage(nics: Array<{ mac: string; ips: string[] }>, type = 10): Buffer {
  const body = encodeGuestNicProtoV3({
    nics: nics.map((n) => ({
      macAddress: n.mac,
      ips: n.ips.map((cidr) => {
        const [addr, prefix] = cidr.split('/');
        const address = typedIpFromText(addr ?? '');
        assert.ok(address, cidr);
        return { address, prefixLength: Number(prefix) };
      }),
    })),
    routes: [],
  });
  return setGuestInfoBinary(type, body);
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

// ---------------------------------------------------------------------------

describe('06 VMX simulator: guest info view (core-services.md §8)', () => {
  it('decodes the first full report of GuestInfoService: NICs, IPs, routes, DNS, OS, uptime, disks, stats', () => {
    const { host, svc, rpc } = rig();
    svc.reportAll();
    assert.ok(rpc.requests.length >= 7);
    const v = host.getGuestView();

    assert.deepEqual(v.errors, []);
    assert.equal(v.received, 7, 'build, OS detailed, disks, host name, NICs, uptime, stats');
    assert.deepEqual(v.hostName, { value: 'web01', time: T0, type: 1 });
    assert.deepEqual(v.toolsBuild, { value: 'build-25218885', time: T0, type: 4 });

    // NICs (type 10, §8.3): order, MACs, addresses with prefixes.
    assert.equal(v.nicInfo?.type, 10);
    assert.equal(v.nics.length, 2);
    const [eth0, eth1] = v.nics;
    assert.deepEqual(eth0, {
      index: 0,
      name: null,
      mac: '00:50:56:aa:bb:cc',
      ips: [
        { address: '10.0.0.5', prefixLength: 24, family: 'IPv4', status: 1 },
        { address: 'fe80::250:56ff:feaa:bbcc', prefixLength: 64, family: 'IPv6', status: 5 },
      ],
      dns: null,
    });
    assert.equal(eth1?.mac, '00:50:56:aa:bb:dd');
    assert.deepEqual(eth1?.ips.map((i) => `${i.address}/${i.prefixLength}`), ['192.168.7.9/16']);
    const routes = v.nicInfo?.value.routes ?? [];
    assert.deepEqual(
      routes.map((r) => [r.destination, r.prefixLength, r.gateway, r.nicIndex]),
      [
        ['0.0.0.0', 0, '10.0.0.1', 0],
        ['10.0.0.0', 24, null, 0],
      ],
    );
    assert.deepEqual(v.nicInfo?.value.dns?.servers, ['10.0.0.53']);
    assert.deepEqual(v.nicInfo?.value.dns?.searchSuffixes, ['example.test']);

    // guest.ipAddress (§8.4): first IPv4 of the first NIC.
    assert.equal(v.ipAddress, '10.0.0.5');
    assert.equal(v.ipAddressTime, T0);

    // OS identity from type 11 (§8.5).
    assert.equal(v.osDetailed?.type, 11);
    assert.deepEqual(v.osName, { value: 'debian12-64', time: T0, type: 11 });
    assert.match(v.osFullName?.value ?? '', /^Linux 6\.1\.0-18-amd64 Debian GNU\/Linux 12 \(bookworm\)/);
    assert.equal(v.osDetailed?.value.fields.prettyName, 'Debian GNU/Linux 12 (bookworm)');
    assert.equal(v.osDetailed?.value.fields.kernelVersion, '6.1.0-18-amd64');
    assert.equal(v.osDetailed?.value.fields.bitness, '64');

    // Uptime in hundredths (type 7).
    assert.deepEqual(v.uptime, { value: { hundredths: 424217, seconds: 4242.17 }, time: T0, type: 7 });

    // Disks from the JSON form (§8.6): mount points, sizes, fs types.
    assert.equal(v.disks?.type, null);
    assert.deepEqual(v.disks?.value, [
      { mountPoint: '/', freeBytes: 4096 * 1_000_000, capacityBytes: 4096 * 2_000_000, fsType: 'ext4', devices: [] },
      { mountPoint: '/srv/data', freeBytes: 4096 * 400_000, capacityBytes: 4096 * 500_000, fsType: 'xfs', devices: [] },
    ]);

    // Stats (type 8, §8.7) through decodeStatsBody.
    assert.equal(v.stats?.type, 8);
    assert.equal(v.stats?.value.version, 5);
    assert.equal(v.stats?.value.memTotalKiB, 2048000);
    const byName = new Map(v.stats?.value.stats.map((s) => [s.name, s.value]));
    assert.equal(byName.get('MEM_FREE'), 1024000);
    assert.equal(byName.get('MEM_AVAILABLE'), 1500000);
    assert.equal(byName.get('MEM_PHYS_USABLE'), 2048000);

    // The request is answered as a VMX does and logged byte for byte.
    const log = host.getRpcLog().filter((e) => e.request?.subarray(0, 17).toString('latin1') === 'SetGuestInfo  10 ');
    assert.equal(log.length, 1);
    assert.deepEqual(log[0]?.reply, Buffer.from('1 '));
  });

  it('keeps the latest value per type with the time it arrived', () => {
    const { host, svc, src, clock } = rig();
    svc.reportAll();
    clock.t += 30_000;
    src.setFile('/proc/uptime', '4272.50 8000.00\n');
    src.interfaces = { ...src.interfaces, eth0: [v4('10.0.0.77', '255.255.255.0')] };
    svc.tick();
    const v = host.getGuestView();
    assert.deepEqual(v.uptime, { value: { hundredths: 427250, seconds: 4272.5 }, time: T0 + 30_000, type: 7 });
    assert.equal(v.hostName?.time, T0, 'unchanged values are not re-sent (§8.9), so they keep their time');
    assert.equal(v.ipAddress, '10.0.0.77');
    assert.equal(v.ipAddressTime, T0 + 30_000);
    assert.equal(v.nicInfo?.time, T0 + 30_000);
  });

  it('falls back like a guest whose host rejects type 11, JSON disks and type 10', () => {
    const { host, svc } = rig();
    // A host that knows none of the newer forms: only the fallbacks are accepted (§8.3, §8.5, §8.6).
    host.setRpciHandler('SetGuestInfo', (req) => (/^SetGuestInfo {2}(10|11) /.test(req.raw.subarray(0, 20).toString('latin1')) ? '0 Unknown type' : '1 '));
    host.setCannedReply('SetGuestDiskInfo', '0 Unknown command');
    svc.reportAll();
    const v = host.getGuestView();
    assert.equal(v.osDetailed, null, 'a rejected message is not the host’s value');
    assert.deepEqual(v.osName, { value: 'debian12-64', time: T0, type: 6 });
    assert.equal(v.osFullName?.type, 5);
    assert.equal(v.disks?.type, 3, 'legacy type 3 list');
    assert.deepEqual(
      v.disks?.value.map((d) => [d.mountPoint, d.freeBytes, d.capacityBytes, d.fsType]),
      [
        ['/', 4096 * 1_000_000, 4096 * 2_000_000, null],
        ['/srv/data', 4096 * 400_000, 4096 * 500_000, null],
      ],
    );
    assert.equal(v.nicInfo?.type, 9, 'V3 data under type 9');
    assert.equal(v.ipAddress, '10.0.0.5');
    assert.deepEqual(v.errors, []);
  });

  it('names NICs after the virtual NIC with the same MAC when configured', () => {
    const { host, svc } = rig({ vnics: { '00:50:56:AA:BB:DD': 'ethernet1' } });
    svc.reportAll();
    assert.deepEqual(host.getGuestView().nics.map((n) => n.name), [null, 'ethernet1']);
    host.guestView.setVnics({ '00:50:56:aa:bb:cc': 'ethernet0' });
    assert.deepEqual(host.getGuestView().nics.map((n) => n.name), ['ethernet0', null]);
  });

  it('shows guestinfo.ip written on Set_Option broadcastIP 1 (§4)', () => {
    const { host, svc } = rig();
    assert.equal(host.getGuestView().broadcastIp, null);
    assert.equal(svc.handleBroadcastIP('1'), true);
    assert.equal(host.getGuestView().broadcastIp, '10.0.0.5');
  });

  it('binary bodies are decoded from the raw bytes: NUL trimming would corrupt them', () => {
    const msg = nicMessage([{ mac: '00:50:56:00:00:01', ips: ['10.1.2.3/8'] }]);
    assert.equal(msg[msg.length - 1], 0, 'an XDR body ends in zero words (absent optionals)');
    let end = msg.length;
    while (end > 0 && msg[end - 1] === 0) end--;
    assert.throws(() => decodeGuestNicProto(msg.subarray(header(10).length, end)));
    const host = new VmxHost({ pidAlive: () => true });
    host.handleRpci(msg, { transport: 'vsock', channel: 1, pid: null, privileged: true });
    assert.equal(host.getGuestView().ipAddress, '10.1.2.3');
  });

  it('records a body that fails to decode as an error with the reason, and still answers "1 "', () => {
    const { host, svc, clock } = rig();
    svc.reportAll();
    clock.t += 1000;
    const ctx = { transport: 'backdoor' as const, channel: 2, pid: 1, privileged: false };
    const corrupt = Buffer.concat([header(10), Buffer.from('00000003000000010000000100000011', 'hex')]);
    const cases: Array<[Buffer, number | null, RegExp]> = [
      [corrupt, 10, /truncated XDR at offset 16/],
      [Buffer.concat([header(8), Buffer.alloc(115)]), 8, /truncated stat record/],
      [Buffer.concat([header(10), Buffer.from('0000000200000001', 'hex')]), 10, /version 2/],
      [Buffer.concat([header(8), Buffer.alloc(40)]), 8, /shorter than the 112-byte header/],
      [Buffer.concat([header(11), Buffer.alloc(20)]), 11, /too short/],
      [setGuestInfoString(7, 'soon'), 7, /not a decimal number/],
      [setGuestInfoString(42, 'x'), 42, /unknown SetGuestInfo type 42/],
      [Buffer.concat([header(2), Buffer.alloc(8)]), 2, /GuestNicInfoV1/],
      [Buffer.concat([header(3), Buffer.from([2]), Buffer.alloc(116)]), 3, /needs 233 bytes/],
      [Buffer.from('SetGuestInfo 7 100\0'), null, /malformed header/],
      [Buffer.from('SetGuestDiskInfo {"version":"1",\0'), null, /not JSON/],
      [Buffer.from('SetGuestDiskInfo {"version":"2","disks":[]}\0'), null, /unsupported disk info version/],
    ];
    for (const [req] of cases) assert.deepEqual(host.handleRpci(req, ctx), Buffer.from('1 '), req.toString('latin1'));
    const v = host.getGuestView();
    assert.equal(v.errors.length, cases.length);
    cases.forEach(([req, type, reason], i) => {
      const e = v.errors[i];
      assert.ok(e);
      assert.equal(e.type, type, req.toString('latin1'));
      assert.match(e.reason, reason);
      assert.equal(e.length, req.length);
      assert.equal(e.time, T0 + 1000);
      assert.equal(e.command, req.toString('latin1').startsWith('SetGuestDiskInfo') ? 'SetGuestDiskInfo' : 'SetGuestInfo');
    });
    // The last good values stay.
    assert.equal(v.ipAddress, '10.0.0.5');
    assert.equal(v.uptime?.value.hundredths, 424217);
    assert.equal(v.disks?.value.length, 2);
  });

  it('bounds the error list and clear() forgets everything', () => {
    const host = new VmxHost({ pidAlive: () => true });
    for (let i = 0; i < 60; i++) host.handleRpci(setGuestInfoString(7, `x${i}`), { transport: 'vsock', channel: 1, pid: null, privileged: true });
    const v = host.getGuestView();
    assert.equal(v.errors.length, 50);
    assert.match(v.errors[49]?.reason ?? '', /x59/);
    host.guestView.clear();
    assert.deepEqual(host.getGuestView().errors, []);
    assert.equal(host.getGuestView().received, 0);
  });

  it('parses detailed-data fields with escapes (§8.5)', () => {
    assert.deepEqual(parseDetailedFields("architecture='X86' prettyName='It\\'s \\\\ fine' bitness='64'"), {
      architecture: 'X86',
      prettyName: "It's \\ fine",
      bitness: '64',
    });
  });
});

describe('06 VMX simulator: guest.ipAddress (§8.4)', () => {
  const nic = (index: number, ...ips: string[]): GuestNic => ({
    index,
    name: null,
    mac: `00:50:56:00:00:0${index}`,
    dns: null,
    ips: ips.map((cidr): GuestIp => {
      const [address = '', prefix] = cidr.split('/');
      return { address, prefixLength: Number(prefix), family: address.includes(':') ? 'IPv6' : 'IPv4' };
    }),
  });

  it('takes the first suitable address of the first NIC, IPv4 first', () => {
    assert.equal(vsphereIpAddress([nic(0, '2001:db8::5/64', '10.0.0.5/24'), nic(1, '10.9.9.9/8')]), '10.0.0.5');
    assert.equal(vsphereIpAddress([nic(0, '2001:db8::5/64'), nic(1, '10.9.9.9/8')]), '2001:db8::5');
    assert.equal(vsphereIpAddress([nic(0, 'fe80::1/64', '169.254.3.4/16'), nic(1, '192.168.1.2/24')]), '192.168.1.2');
    assert.equal(vsphereIpAddress([nic(0), nic(1, '0.0.0.0/0', '127.0.0.2/8', '::1/128', '::/0')]), null);
    assert.equal(vsphereIpAddress([]), null);
  });

  it('classifies addresses', () => {
    const ip = (address: string, family: GuestIp['family'] = 'IPv4'): GuestIp => ({ address, prefixLength: 0, family });
    assert.equal(suitableIp(ip('10.0.0.1')), true);
    assert.equal(suitableIp(ip('169.254.0.1')), false);
    assert.equal(suitableIp(ip('fd00::1', 'IPv6')), true, 'unique-local is a real address to vSphere');
    assert.equal(suitableIp(ip('fe80::1', 'IPv6')), false);
    assert.equal(suitableIp(ip('not-an-ip')), false);
    assert.equal(suitableIp(ip('1.2.3.4', 'other')), false);
  });
});

describe('06 VMX simulator: waitForIp', () => {
  it('resolves once a NIC report carries an IP; at once if known; rejects on timeout', async () => {
    const host = new VmxHost({ pidAlive: () => true });
    const ctx = { transport: 'vsock' as const, channel: 1, pid: null, privileged: true };
    await assert.rejects(host.waitForIp(20), /no guest IP within 20 ms \(NIC reports: none\)/);
    const waiting = host.waitForIp(5000);
    let settled = false;
    void waiting.then(() => (settled = true));
    host.handleRpci(nicMessage([{ mac: '00:50:56:00:00:01', ips: ['fe80::1/64'] }]), ctx);
    await tick();
    assert.equal(settled, false, 'a link-local address is not an IP for govc');
    host.handleRpci(nicMessage([{ mac: '00:50:56:00:00:01', ips: ['fe80::1/64', '10.0.0.5/24'] }]), ctx);
    assert.equal(await waiting, '10.0.0.5');
    assert.equal(await host.waitForIp(1), '10.0.0.5');
  });

  it('over the control socket: SimClient.getGuestView / waitForIp / clearGuestView', async () => {
    const { host, svc } = rig();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim06-'));
    const control = new ControlServer(host);
    await control.listen(path.join(dir, 'control.sock'));
    const client = await SimClient.connect(path.join(dir, 'control.sock'));
    try {
      const pending = client.waitForIp(5000);
      await client.ping();
      svc.reportAll();
      assert.equal(await pending, '10.0.0.5');
      const v = await client.getGuestView();
      assert.equal(v.ipAddress, '10.0.0.5');
      assert.equal(v.hostName?.value, 'web01');
      assert.deepEqual(v.nics[0]?.ips[0], { address: '10.0.0.5', prefixLength: 24, family: 'IPv4', status: 1 });
      await client.clearGuestView();
      assert.equal((await client.getGuestView()).ipAddress, null);
      await assert.rejects(client.waitForIp(30), /no guest IP within 30 ms/);
    } finally {
      client.close();
      await control.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------
// Auto-reset

/**
 * A guest TCLO loop at the router level (channel.md §5.1): send the pending
 * reply (or an empty poll), then fetch a command, answer it with `answer`.
 * Microtasks run between iterations, as they do between trap frames.
 */
class TcloGuest {
  readonly received: string[] = [];
  private pending = Buffer.alloc(0);
  readonly ep: TcloEndpoint;

  constructor(
    private readonly host: VmxHost,
    id = 7,
    private readonly answer: (cmd: string) => string = defaultAnswer,
  ) {
    this.ep = host.tclo.newEndpoint('backdoor', id, 4242);
  }

  /** One loop iteration; returns the command fetched, if any. */
  iterate(): string | null {
    this.host.tclo.guestSent(this.ep, this.pending);
    this.pending = Buffer.alloc(0);
    const cmd = this.host.tclo.offer(this.ep);
    if (!cmd) return null;
    this.host.tclo.acknowledge(this.ep);
    const text = cmd.toString('latin1');
    this.received.push(text);
    this.pending = Buffer.from(this.answer(text), 'latin1');
    return text;
  }

  /** Iterates until `n` commands were received (or the budget runs out). */
  async run(n: number, budget = 200): Promise<void> {
    for (let i = 0; i < budget && this.received.length < n; i++) {
      this.iterate();
      await tick();
    }
  }

  close(): void {
    this.host.tclo.removeEndpoint(this.ep, 'closed by the guest');
  }
}

function defaultAnswer(cmd: string): string {
  return cmd === 'reset' ? 'OK ATR toolbox' : 'OK ';
}

const OPENING = ['reset', 'ping', 'Capabilities_Register', ...DEFAULT_SESSION_OPTIONS.map(([k, v]) => `Set_Option ${k} ${v}`)];

describe('06 VMX simulator: auto-reset session (core-services.md §2.2)', () => {
  it('drives reset → ping → Capabilities_Register → Set_Option burst, in order, logged in the RPC log', async () => {
    const host = new VmxHost({ pidAlive: () => true, autoReset: { pingIntervalMs: 0 } });
    const g = new TcloGuest(host);
    assert.equal(g.iterate(), 'reset', 'reset goes out with the RECVSIZE right after the first send');
    await g.run(OPENING.length);
    g.iterate(); // carries the last reply
    await tick();
    assert.deepEqual(g.received, OPENING);
    assert.equal(OPENING[3], 'Set_Option broadcastIP 1');
    const tclo = host.getRpcLog().filter((e) => e.proto === 'TCLO');
    assert.deepEqual(tclo.map((e) => e.request?.toString()), OPENING);
    assert.deepEqual(tclo.map((e) => e.reply?.toString()), OPENING.map(defaultAnswer));
    assert.deepEqual(host.listTclo().map((e) => e.app), ['toolbox']);
    const [s] = host.autoReset.list();
    assert.equal(s?.state, 'running');
    assert.equal(s?.app, 'toolbox');
    assert.equal(s?.endpoint, 'backdoor:7');
    assert.equal(s?.commands, OPENING.length);
  });

  it('pings periodically once the session runs', async () => {
    const host = new VmxHost({ pidAlive: () => true, autoReset: { pingIntervalMs: 20, options: [['broadcastIP', '1']] } });
    const g = new TcloGuest(host);
    await g.run(4);
    const deadline = Date.now() + 3000;
    while (g.received.length < 7 && Date.now() < deadline) {
      g.iterate();
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(g.received.slice(0, 4), ['reset', 'ping', 'Capabilities_Register', 'Set_Option broadcastIP 1']);
    assert.deepEqual(g.received.slice(4, 7), ['ping', 'ping', 'ping']);
    assert.ok((host.autoReset.list()[0]?.pings ?? 0) >= 2);
    g.close();
    assert.equal(host.autoReset.list()[0]?.state, 'closed');
    host.shutdown();
  });

  it('gives up when reset is not answered with OK ATR, and ends with the channel', async () => {
    const host = new VmxHost({ pidAlive: () => true, autoReset: true });
    const bad = new TcloGuest(host, 3, () => 'ERROR Unknown Command');
    await bad.run(1);
    bad.iterate();
    await tick();
    await tick();
    const failed = host.autoReset.list().find((s) => s.endpoint === 'backdoor:3');
    assert.equal(failed?.state, 'failed');
    assert.match(failed?.error ?? '', /reset answered "ERROR Unknown Command"/);
    assert.deepEqual(bad.received, ['reset']);

    const good = new TcloGuest(host, 4);
    await good.run(2);
    good.close();
    await tick();
    assert.equal(host.autoReset.list().find((s) => s.endpoint === 'backdoor:4')?.state, 'closed');
    assert.deepEqual(good.received, ['reset', 'ping']);
  });

  it('is off by default and can be switched on and off at run time', async () => {
    const host = new VmxHost({ pidAlive: () => true });
    const a = new TcloGuest(host, 1);
    await a.run(1, 5);
    assert.deepEqual(a.received, [], 'tests drive TCLO themselves unless asked');
    host.autoReset.configure({ pingIntervalMs: 0, options: [] });
    host.autoReset.enable();
    const b = new TcloGuest(host, 2);
    await b.run(3);
    assert.deepEqual(b.received, ['reset', 'ping', 'Capabilities_Register']);
    host.autoReset.disable();
    const c = new TcloGuest(host, 5);
    await c.run(1, 5);
    assert.deepEqual(c.received, []);
    assert.equal(host.autoReset.config().enabled, false);
  });
});

describe('06 VMX simulator: --verbose narrator', () => {
  it('writes one short line per event', async () => {
    const host = new VmxHost({ pidAlive: () => true, autoReset: { pingIntervalMs: 0, options: [['broadcastIP', '1']] } });
    const lines: string[] = [];
    attachNarrator(host.events, (l) => lines.push(l));
    const rpc = new HostRpc(host);
    const g = new TcloGuest(host, 9, (cmd) => {
      if (cmd === 'reset') {
        rpc.send('info-set guestinfo.vmtools.versionString 13.1.0\0');
        return 'OK ATR toolbox';
      }
      if (cmd === 'Set_Option broadcastIP 1') rpc.send('info-set guestinfo.ip 10.0.0.5\0');
      return 'OK ';
    });
    await g.run(4);
    g.iterate();
    await tick();
    rpc.send(nicMessage([{ mac: '00:50:56:00:00:01', ips: ['10.0.0.5/24'] }]));
    rpc.send('no.such.command 1\0');
    rpc.send(setGuestInfoString(7, 'soon'));
    g.close();

    const body = nicMessage([{ mac: '00:50:56:00:00:01', ips: ['10.0.0.5/24'] }]).length - 17;
    assert.deepEqual(lines, [
      'guest TCLO channel backdoor:9 open (pid 4242)',
      'host → reset',
      'guest → info-set guestinfo.vmtools.versionString 13.1.0',
      'guest ← OK ATR toolbox',
      'host → ping',
      'guest ← OK ',
      'host → Capabilities_Register',
      'guest ← OK ',
      'host → Set_Option broadcastIP 1',
      'guest → info-set guestinfo.ip 10.0.0.5',
      'guest ← OK ',
      `guest → SetGuestInfo  10 <${body}-byte body>`,
      'guest NICs 00:50:56:00:00:01 10.0.0.5/24',
      'guest IP 10.0.0.5',
      'guest → no.such.command 1  ⇒ 0 Unknown command',
      'guest → SetGuestInfo  7 soon',
      'guest info not decoded (SetGuestInfo type 7): uptime is not a decimal number: "soon"',
      'guest TCLO channel backdoor:9 gone (closed by the guest)',
    ]);
    assert.ok(lines.every((l) => l.length <= 130 && !l.includes('\n')));
  });

  it('renders messages on one line, cut when long', () => {
    assert.equal(describeMessage(Buffer.from('log line one\nline two\0')), 'log line one\\nline two');
    assert.equal(describeMessage(Buffer.from('SetGuestDiskInfo {\n"version":"1",\n"disks":[\n]}\0')), 'SetGuestDiskInfo <30-byte JSON>');
    assert.equal(describeMessage(Buffer.from('a\x01b')), 'a\\x01b');
    const long = describeMessage(Buffer.from('log ' + 'x'.repeat(500)));
    assert.equal(long.length, 120);
    assert.ok(long.endsWith('…'));
    assert.equal(describeMessage(null), '(none)');
  });
});

// ---------------------------------------------------------------------------
// RPC log ring buffer

/** The pre-ring-buffer implementation, as the reference for semantics. */
class ArrayLog {
  entries: RpcLogEntry[] = [];
  private nextSeq = 1;
  constructor(public limit: number) {}
  add(e: Omit<RpcLogEntry, 'seq'>): RpcLogEntry {
    const entry: RpcLogEntry = { seq: this.nextSeq++, ...e };
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    return entry;
  }
  get(since = 0): RpcLogEntry[] {
    return since <= 0 ? [...this.entries] : this.entries.filter((e) => e.seq > since);
  }
  clear(): void {
    this.entries = [];
  }
}

function entry(i: number): Omit<RpcLogEntry, 'seq'> {
  return { time: i, transport: 'backdoor', proto: 'RPCI', channel: 0, pid: 1, request: Buffer.from(`r${i}`), reply: null };
}

describe('06 VMX simulator: RPC log ring buffer', () => {
  it('keeps the newest `limit` entries with contiguous seqs; since-polling works across wrap-around and clear()', () => {
    const log = new RpcLog(3);
    for (let i = 1; i <= 5; i++) assert.equal(log.add(entry(i)).seq, i);
    const seqs = (es: RpcLogEntry[]): number[] => es.map((e) => e.seq);
    assert.deepEqual(seqs(log.get()), [3, 4, 5]);
    assert.deepEqual(seqs(log.get(0)), [3, 4, 5]);
    assert.deepEqual(seqs(log.get(1)), [3, 4, 5], 'a poller that fell behind gets what is left');
    assert.deepEqual(seqs(log.get(3)), [4, 5]);
    assert.deepEqual(seqs(log.get(3.5)), [4, 5]);
    assert.deepEqual(seqs(log.get(5)), []);
    assert.deepEqual(seqs(log.get(99)), []);
    assert.equal(log.size, 3);
    log.clear();
    assert.deepEqual(log.get(), []);
    assert.equal(log.add(entry(6)).seq, 6, 'seqs survive clear()');
    assert.deepEqual(seqs(log.get(5)), [6]);
    assert.deepEqual(seqs(log.get(6)), []);
    // The same objects come back (TCLO entries get their reply filled in later).
    const e = log.add(entry(7));
    e.reply = Buffer.from('late');
    assert.equal(log.get(6)[0]?.reply?.toString(), 'late');
  });

  it('limit 0 keeps nothing; changing the limit keeps the newest entries', () => {
    const none = new RpcLog(0);
    none.add(entry(1));
    assert.deepEqual(none.get(), []);
    const log = new RpcLog(5);
    for (let i = 1; i <= 8; i++) log.add(entry(i));
    log.limit = 2;
    assert.deepEqual(log.get().map((x) => x.seq), [7, 8]);
    log.limit = 4;
    log.add(entry(9));
    log.add(entry(10));
    log.add(entry(11));
    assert.deepEqual(log.get().map((x) => x.seq), [8, 9, 10, 11]);
    assert.deepEqual(log.get(9).map((x) => x.seq), [10, 11]);
  });

  it('matches the array implementation on a random workload', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (const limit of [1, 2, 7, 64]) {
      const a = new RpcLog(limit);
      const b = new ArrayLog(limit);
      for (let step = 0; step < 3000; step++) {
        const op = rand(100);
        if (op < 80) {
          assert.equal(a.add(entry(step)).seq, b.add(entry(step)).seq);
        } else if (op < 98) {
          const since = rand(3000) - 5;
          assert.deepEqual(a.get(since).map((x) => x.seq), b.get(since).map((x) => x.seq), `limit ${limit} step ${step} since ${since}`);
        } else {
          a.clear();
          b.clear();
        }
      }
    }
  });

  it('adds in constant time at the limit', () => {
    const log = new RpcLog(10000);
    const start = process.hrtime.bigint();
    for (let i = 0; i < 200_000; i++) log.add(entry(i));
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.equal(log.size, 10000);
    assert.equal(log.get(199_999).length, 1);
    // splice(0, 1) on a 10 000-entry array made this several times slower; generous bound for loaded CI.
    assert.ok(ms < 2000, `${ms} ms`);
  });
});

// ---------------------------------------------------------------------------
// The simulator process with --auto-reset --verbose, guest over vsock UNIX sockets

function tmpSock(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sim06-')), name);
}

function connect(p: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(p, () => resolve(s));
    s.once('error', reject);
  });
}

describe('06 VMX simulator: process with --auto-reset --verbose', function () {
  this.timeout(20000);

  it('runs the session on a vsock TCLO connection, decodes guest info and narrates on stderr', async () => {
    const sim = await startSimulator({
      trapSocket: tmpSock('trap.sock'),
      vsockSockets: true,
      autoReset: true,
      pingIntervalMs: 100,
      verbose: true,
    });
    const socks: net.Socket[] = [];
    try {
      assert.ok(sim.vsockTcloSocket && sim.vsockRpciSocket);
      const state = await sim.client.getAutoReset();
      assert.equal(state.enabled, true);
      assert.equal(state.pingIntervalMs, 100);

      // The guest: a vsock TCLO connection (§6.4: the host pushes) and an RPCI one.
      const tclo = await connect(sim.vsockTcloSocket);
      const rpci = await connect(sim.vsockRpciSocket);
      socks.push(tclo, rpci);
      const nextCmd = packetReader(tclo);
      const nextReply = packetReader(rpci);
      const rpc = async (req: Buffer): Promise<string> => {
        rpci.write(encodeGuestRpcPacket({ type: 1, payload: req }));
        return decodeGuestRpcPacket(await nextReply()).payload?.toString('latin1') ?? '';
      };
      const received: string[] = [];
      while (received.length < OPENING.length + 1) {
        const cmd = decodeGuestRpcPacket(await nextCmd()).payload?.toString('latin1') ?? '';
        received.push(cmd);
        if (cmd === 'Set_Option broadcastIP 1') assert.equal(await rpc(Buffer.from('info-set guestinfo.ip 10.0.0.5\0')), '1 ');
        tclo.write(encodeGuestRpcPacket({ type: 1, payload: Buffer.from(defaultAnswer(cmd)) }));
      }
      assert.deepEqual(received, [...OPENING, 'ping']);

      const ipWait = sim.client.waitForIp(5000);
      assert.equal(await rpc(nicMessage([{ mac: '00:50:56:aa:bb:cc', ips: ['10.0.0.5/24'] }])), '1 ');
      assert.equal(await rpc(setGuestInfoString(1, 'web01')), '1 ');
      assert.equal(await ipWait, '10.0.0.5');
      const v = await sim.client.getGuestView();
      assert.equal(v.hostName?.value, 'web01');
      assert.equal(v.broadcastIp, '10.0.0.5');
      assert.deepEqual(v.nics.map((n) => n.mac), ['00:50:56:aa:bb:cc']);

      const sessions = (await sim.client.getAutoReset()).sessions;
      assert.equal(sessions[0]?.state, 'running');
      assert.equal(sessions[0]?.app, 'toolbox');
      const log = (await sim.client.getRpcLog()).filter((e) => e.proto === 'TCLO');
      assert.deepEqual(log.slice(0, OPENING.length).map((e) => e.request?.toString()), OPENING);

      const off = await sim.client.setAutoReset(false);
      assert.equal(off.enabled, false);

      const stderr = sim.stderr();
      for (const want of ['host → reset', 'guest ← OK ATR toolbox', 'host → Set_Option broadcastIP 1', 'guest → info-set guestinfo.ip 10.0.0.5', 'guest IP 10.0.0.5', 'guest hostname web01']) {
        assert.ok(stderr.includes(want), `stderr lacks ${JSON.stringify(want)}:\n${stderr}`);
      }
      const lines = stderr.trim().split('\n');
      assert.ok(lines.every((l) => /^sim \d\d:\d\d:\d\d\.\d{3} \S/.test(l)), stderr);
    } finally {
      for (const s of socks) s.destroy();
      await sim.stop();
    }
  });
});
