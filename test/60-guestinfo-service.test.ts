/**
 * GuestInfoService end to end against a fake RpcSender (core-services.md §8):
 * the first full report byte for byte, send-only-what-changed, cache clearing
 * on reset (§8.9), the fallbacks (types 5/6, type 9, type 3), broadcastIP,
 * vmsupport.start, the late-gather warning and the NIC-limit log.
 */
import { strict as assert } from 'node:assert';

import { RpcReply } from '../src/rpc/types';
import { GuestInfoConfig, defaultGuestInfoConfig } from '../src/services/guestinfo/config';
import { MemoryGuestInfoSources } from '../src/services/guestinfo/memorySources';
import { decodeGuestNicProto } from '../src/services/guestinfo/nicInfoXdr';
import { parseDetailedDataBody } from '../src/services/guestinfo/osInfo';
import { GuestInfoService, utilThrottle } from '../src/services/guestinfo/service';
import {
  FakeRpc,
  IFF_UP_BROADCAST_RUNNING_MULTICAST,
  REFERENCE_NICINFO_V3_HEX,
  addLinks,
  capturedGuest,
  v4,
} from './60-guestinfo-fixtures.test';

const OK: RpcReply = { ok: true, reply: Buffer.alloc(0) };
const FAIL: RpcReply = { ok: false, reply: Buffer.from('Unknown command') };

/** The captured guest plus a root file system and the /proc files the stats need. */
function guest(): MemoryGuestInfoSources {
  const src = capturedGuest();
  src.setFile('/proc/self/mountinfo', '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n22 27 0:21 / /proc rw - proc proc rw\n');
  src.statfsData.set('/', { bsize: 4096n, blocks: 1000n, bfree: 600n, bavail: 500n });
  src.setFile('/proc/meminfo', 'MemTotal: 1024 kB\nMemFree: 512 kB\nMemAvailable: 600 kB\n');
  return src;
}

const DETAILED =
  "architecture='X86' bitness='64' distroAddlVersion='12 (bookworm)' distroName='Debian GNU/Linux' " +
  "distroVersion='12' familyName='Linux' kernelVersion='6.18.44-fc-v669' prettyName='Debian GNU/Linux 12 (bookworm)'";
const FULL_NAME = 'Linux 6.18.44-fc-v669 Debian GNU/Linux 12 (bookworm) Debian GNU/Linux 12 12 (bookworm)';

/** Type 11 message written out field by field (core-services.md §8.5 table). */
function expectedDetailedMessage(): Buffer {
  const body = Buffer.alloc(648 + DETAILED.length + 1);
  body.writeUInt32LE(1, 0);
  body.write('debian12-64', 4, 'latin1');
  body.write(FULL_NAME, 133, 'latin1');
  body.write(DETAILED, 648, 'latin1');
  return Buffer.concat([Buffer.from('SetGuestInfo  11 ', 'latin1'), body]);
}

const EXPECTED_DISK_JSON =
  'SetGuestDiskInfo {\n"version":"1",\n"disks":[\n{"name":"Lw==","free":"2048000","size":"4096000","fstype":"ext4"}\n]}\0';

function setup(cfg: Partial<GuestInfoConfig> = {}, src = guest()): {
  svc: GuestInfoService;
  rpc: FakeRpc;
  src: MemoryGuestInfoSources;
  clock: { t: number };
} {
  const rpc = new FakeRpc();
  const clock = { t: 1_000_000 };
  const svc = new GuestInfoService({
    rpc,
    sources: src,
    config: { ...defaultGuestInfoConfig(), ...cfg },
    now: () => clock.t,
  });
  return { svc, rpc, src, clock };
}

/** "SetGuestInfo  7 …" → "7"; other commands → their first word. */
function kinds(rpc: FakeRpc): string[] {
  return rpc.texts().map((t) => {
    const m = /^SetGuestInfo {2}(\d+) /.exec(t);
    return m?.[1] ?? t.split(' ')[0] ?? '';
  });
}

describe('60 guestinfo service: first report', () => {
  it('sends build, OS, disks, host name, NICs, uptime and stats — each byte-exact', () => {
    const { svc, rpc } = setup();
    svc.reportAll();
    assert.deepEqual(kinds(rpc), ['4', '11', 'SetGuestDiskInfo', '1', '10', '7', '8']);
    const [build, detailed, disk, dns, nic, uptime, stats] = rpc.requests;
    assert.equal(build?.toString('latin1'), 'SetGuestInfo  4 build-25218885\0');
    assert.equal(detailed?.toString('hex'), expectedDetailedMessage().toString('hex'));
    assert.equal(disk?.toString('latin1'), EXPECTED_DISK_JSON);
    assert.equal(dns?.toString('latin1'), 'SetGuestInfo  1 vm\0');
    assert.equal(
      nic?.toString('hex'),
      Buffer.from('SetGuestInfo  10 ', 'latin1').toString('hex') + '00000003' + '00000001' + REFERENCE_NICINFO_V3_HEX,
    );
    assert.equal(uptime?.toString('latin1'), 'SetGuestInfo  7 169941\0');
    assert.equal(stats?.subarray(0, 16).toString('latin1'), 'SetGuestInfo  8 ');
    assert.equal(stats?.readUInt32LE(16), 5);
  });

  it('the type 11 body parses back into the OS identity', () => {
    const { svc, rpc } = setup();
    svc.reportAll();
    const body = rpc.requests[1]?.subarray('SetGuestInfo  11 '.length);
    assert.ok(body);
    assert.deepEqual(parseDetailedDataBody(body), { version: 1, shortName: 'debian12-64', fullName: FULL_NAME, detailed: DETAILED });
  });

  it('skips disk info with disable-query-diskinfo and stats with disable-perf-mon', () => {
    const { svc, rpc } = setup({ disableQueryDiskInfo: true, disablePerfMon: true });
    svc.reportAll();
    assert.deepEqual(kinds(rpc), ['4', '11', '1', '10', '7']);
    assert.equal(svc.statsIntervalMs(), 0);
    assert.equal(svc.pollIntervalMs(), 30000);
  });
});

describe('60 guestinfo service: send only what changed', () => {
  it('a quiet tick sends only the (changed) uptime, and nothing if even that is unchanged', () => {
    const { svc, rpc, src } = setup();
    svc.reportAll();
    rpc.clear();
    svc.tick();
    assert.deepEqual(rpc.texts(), []);
    src.setFile('/proc/uptime', '1729.41 2800.00\n');
    svc.tick();
    assert.deepEqual(rpc.texts(), ['SetGuestInfo  7 172941\0']);
  });

  it('a new address resends NIC info only; a host-name change resends types 1 and 10', () => {
    const { svc, rpc, src } = setup();
    svc.reportAll();
    rpc.clear();
    src.interfaces = { ...src.interfaces, eth0: [...(src.interfaces.eth0 ?? []), v4('192.0.2.99', '255.255.255.0')] };
    svc.tick();
    assert.deepEqual(kinds(rpc), ['10']);
    const sent = decodeGuestNicProto(rpc.requests[0]?.subarray('SetGuestInfo  10 '.length) ?? Buffer.alloc(0));
    assert.equal(sent.nics[0]?.ips.length, 4);
    rpc.clear();
    src.host = 'vm2';
    svc.tick();
    // The host name is also part of the NIC info's resolver data.
    assert.deepEqual(kinds(rpc), ['1', '10']);
    assert.equal(rpc.texts()[0], 'SetGuestInfo  1 vm2\0');
  });

  it('a free-space change resends the disk JSON', () => {
    const { svc, rpc, src } = setup();
    svc.reportAll();
    rpc.clear();
    src.statfsData.set('/', { bsize: 4096n, blocks: 1000n, bfree: 590n, bavail: 490n });
    svc.tick();
    assert.deepEqual(kinds(rpc), ['SetGuestDiskInfo']);
    assert.ok(rpc.texts()[0]?.includes('"free":"2007040"'));
  });

  it('a failed send is not cached and is retried at the next gather', () => {
    const { svc, rpc } = setup();
    rpc.reply = (req) => (req.toString('latin1').startsWith('SetGuestInfo  1 ') ? FAIL : OK);
    svc.reportAll();
    rpc.clear();
    rpc.reply = () => OK;
    svc.tick();
    assert.deepEqual(rpc.texts(), ['SetGuestInfo  1 vm\0']);
  });

  it('a string value only counts as delivered when the reply carries no text', () => {
    const { svc, rpc } = setup();
    rpc.reply = (req) => (req.toString('latin1').startsWith('SetGuestInfo  4 ') ? { ok: true, reply: Buffer.from('x') } : OK);
    svc.reportAll();
    rpc.clear();
    rpc.reply = () => OK;
    svc.tick();
    assert.deepEqual(kinds(rpc), ['4']);
  });

  it('a transport error counts as a failed send and does not stop the gather', () => {
    const { svc, rpc } = setup();
    rpc.reply = (req) => {
      if (req.toString('latin1').startsWith('SetGuestInfo  4 ')) throw new Error('channel down');
      return OK;
    };
    svc.reportAll();
    assert.deepEqual(kinds(rpc), ['4', '11', 'SetGuestDiskInfo', '1', '10', '7', '8']);
  });

  it('a primary-nics change forces the next NIC report even when the bytes are equal', () => {
    const { svc, rpc } = setup();
    svc.reportAll();
    rpc.clear();
    svc.updateConfig({ ...defaultGuestInfoConfig(), primaryNics: ['eth0'] });
    svc.tick();
    assert.deepEqual(kinds(rpc), ['10']);
    rpc.clear();
    svc.tick();
    assert.deepEqual(kinds(rpc), []);
  });
});

describe('60 guestinfo service: reset', () => {
  it('onReset clears the cache at the next update, so everything is resent', () => {
    const { svc, rpc } = setup();
    svc.reportAll();
    rpc.clear();
    svc.onReset();
    svc.tick();
    assert.deepEqual(kinds(rpc), ['4', '11', 'SetGuestDiskInfo', '1', '10', '7']);
  });

  it('a stats sample after a reset is the update that clears the cache', () => {
    const { svc, rpc } = setup();
    svc.reportAll();
    svc.onReset();
    assert.equal(svc.statsTick(), true);
    rpc.clear();
    svc.tick();
    assert.deepEqual(kinds(rpc), ['4', '11', 'SetGuestDiskInfo', '1', '10', '7']);
  });

  it('reportAll resends everything even without onReset', () => {
    const { svc, rpc } = setup();
    svc.reportAll();
    rpc.clear();
    svc.reportAll();
    assert.deepEqual(kinds(rpc), ['4', '11', 'SetGuestDiskInfo', '1', '10', '7', '8']);
  });
});

describe('60 guestinfo service: fallbacks', () => {
  it('a rejected type 11 switches to types 5 and 6 until the next reset', () => {
    const { svc, rpc } = setup();
    rpc.reply = (req) => (req.toString('latin1').startsWith('SetGuestInfo  11 ') ? FAIL : OK);
    svc.reportAll();
    assert.deepEqual(kinds(rpc).slice(0, 4), ['4', '11', '5', '6']);
    assert.equal(rpc.texts()[2], `SetGuestInfo  5 ${FULL_NAME}\0`);
    assert.equal(rpc.texts()[3], 'SetGuestInfo  6 debian12-64\0');
    rpc.clear();
    svc.onReset();
    svc.tick();
    assert.deepEqual(kinds(rpc).slice(0, 2), ['4', '11']);
  });

  it('overrides from [guestosinfo] replace the names in type 11 and in types 5/6', () => {
    const { svc, rpc } = setup({ osShortNameOverride: 'myos-64' });
    rpc.reply = (req) => (req.toString('latin1').startsWith('SetGuestInfo  11 ') ? FAIL : OK);
    svc.reportAll();
    const body = parseDetailedDataBody(rpc.requests[1]?.subarray(17) ?? Buffer.alloc(0));
    assert.equal(body.shortName, 'myos-64');
    assert.equal(body.fullName, '');
    assert.equal(rpc.texts()[2], 'SetGuestInfo  5 \0');
    assert.equal(rpc.texts()[3], 'SetGuestInfo  6 myos-64\0');
  });

  it('a rejected type 10 is retried as type 9 with the same V3 body, and type 9 is kept', () => {
    const src = guest();
    const { svc, rpc } = setup({}, src);
    rpc.reply = (req) => (req.toString('latin1').startsWith('SetGuestInfo  10 ') ? FAIL : OK);
    svc.reportAll();
    const nic9 = rpc.requests.find((r) => r.toString('latin1').startsWith('SetGuestInfo  9 '));
    assert.equal(
      nic9?.toString('hex'),
      Buffer.from('SetGuestInfo  9 ', 'latin1').toString('hex') + '0000000300000001' + REFERENCE_NICINFO_V3_HEX,
    );
    rpc.clear();
    src.interfaces = { ...src.interfaces, eth0: [v4('192.0.2.3', '255.255.255.0')] };
    svc.tick();
    assert.deepEqual(kinds(rpc), ['9']);
  });

  it('cuts NICs to 64 addresses in the type 9 form', () => {
    const src = guest();
    src.interfaces = { eth0: Array.from({ length: 70 }, (_, i) => v4(`10.1.0.${i + 1}`, '255.255.0.0')) };
    const { svc, rpc } = setup({}, src);
    rpc.reply = (req) => (req.toString('latin1').startsWith('SetGuestInfo  10 ') ? FAIL : OK);
    svc.reportAll();
    const t10 = rpc.requests.find((r) => r.toString('latin1').startsWith('SetGuestInfo  10 '));
    const t9 = rpc.requests.find((r) => r.toString('latin1').startsWith('SetGuestInfo  9 '));
    assert.equal(decodeGuestNicProto(t10?.subarray(17) ?? Buffer.alloc(0)).nics[0]?.ips.length, 70);
    assert.equal(decodeGuestNicProto(t9?.subarray(16) ?? Buffer.alloc(0)).nics[0]?.ips.length, 64);
  });

  it('a rejected JSON disk message falls back to type 3 for the session', () => {
    const { svc, rpc, src } = setup();
    rpc.reply = (req) => (req.toString('latin1').startsWith('SetGuestDiskInfo') ? FAIL : OK);
    svc.reportAll();
    assert.deepEqual(kinds(rpc).slice(2, 4), ['SetGuestDiskInfo', '3']);
    const legacy = rpc.requests[3];
    assert.equal(legacy?.length, 16 + 1 + 116 + 2);
    assert.equal(legacy?.[16], 1);
    rpc.clear();
    src.statfsData.set('/', { bsize: 4096n, blocks: 1000n, bfree: 10n, bavail: 10n });
    svc.tick();
    assert.deepEqual(kinds(rpc), ['3']);
  });
});

describe('60 guestinfo service: options, TCLO, logs', () => {
  it('broadcastIP 1 sends the primary IP with a NUL; 0 sends nothing; other values are not handled', () => {
    const { svc, rpc } = setup();
    assert.equal(svc.handleBroadcastIP('1'), true);
    assert.deepEqual(rpc.texts(), ['info-set guestinfo.ip 192.0.2.2\0']);
    rpc.clear();
    assert.equal(svc.handleSetOption('broadcastIP', '0'), true);
    assert.equal(svc.handleBroadcastIP('2'), false);
    assert.equal(svc.handleSetOption('synctime', '1'), false);
    assert.deepEqual(rpc.texts(), []);
  });

  it('broadcastIP reports an empty value when no address qualifies, and false when the host refuses', () => {
    const src = guest();
    src.interfaces = {};
    const { svc, rpc } = setup({}, src);
    rpc.reply = () => FAIL;
    assert.equal(svc.handleBroadcastIP('1'), false);
    assert.deepEqual(rpc.texts(), ['info-set guestinfo.ip \0']);
  });

  it('vmsupport.start spawns "vm-support -u -x" and reports failure text', async () => {
    const src = guest();
    const { svc } = setup({}, src);
    const handler = svc.tcloHandlers()['vmsupport.start'];
    assert.ok(handler);
    assert.deepEqual(await handler(Buffer.alloc(0)), { ok: false, result: 'Error starting vm-support script' });
    src.spawnable.add('vm-support');
    assert.deepEqual(await handler(Buffer.alloc(0)), { ok: true, result: '' });
    assert.deepEqual(src.spawned[0], { command: 'vm-support', args: ['-u', '-x'] });
  });

  it('Capabilities_Register sends the uptime only when it changed', () => {
    const { svc, rpc, src } = setup();
    svc.onCapabilitiesRegister();
    svc.onCapabilitiesRegister();
    src.setFile('/proc/uptime', '1700.00 1.00\n');
    svc.onCapabilitiesRegister();
    assert.deepEqual(rpc.texts(), ['SetGuestInfo  7 169941\0', 'SetGuestInfo  7 170000\0']);
  });

  it('logs a late gather (≥ 2 × poll-interval) to the VMX before gathering', () => {
    const { svc, rpc, clock } = setup();
    svc.reportAll();
    rpc.clear();
    clock.t += 59_000;
    svc.tick();
    assert.deepEqual(rpc.texts(), []);
    clock.t += 75_000;
    svc.tick();
    assert.deepEqual(rpc.texts(), [
      'log *** WARNING: GuestInfo collection interval longer than expected; actual=75 sec, expected=30 sec. ***\n\0',
    ]);
    rpc.clear();
    svc.onReset();
    clock.t += 600_000;
    svc.tick(); // the first gather after a reset has no reference point
    assert.ok(!rpc.texts().some((t) => t.startsWith('log ')));
  });

  it('logs the 16-NIC limit to the VMX and still sends the first 16', () => {
    const src = guest();
    addLinks(
      src,
      Array.from({ length: 20 }, (_, i) => ({
        name: `ens${i}`,
        ifindex: 10 + i,
        flags: IFF_UP_BROADCAST_RUNNING_MULTICAST,
        mac: `00:50:56:00:02:${i.toString(16).padStart(2, '0')}`,
      })),
    );
    const { svc, rpc } = setup({}, src);
    svc.reportAll();
    assert.ok(rpc.texts().includes('log GuestInfoGather: NIC limit (16) reached.\0'));
    const nic = rpc.requests.find((r) => r.toString('latin1').startsWith('SetGuestInfo  10 '));
    assert.equal(decodeGuestNicProto(nic?.subarray(17) ?? Buffer.alloc(0)).nics.length, 16);
  });

  it('throttles like Util_Throttle: first 100, then every 100th', () => {
    assert.ok(utilThrottle(1) && utilThrottle(99) && !utilThrottle(101) && utilThrottle(200) && !utilThrottle(10100));
  });
});
