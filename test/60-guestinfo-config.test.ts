/**
 * [guestinfo] / [guestosinfo] settings (core-services.md §8.1, §8.3, §8.5, §8.6)
 * and the framing helpers every guestInfo message uses (§8.2, §4, §10).
 */
import { strict as assert } from 'node:assert';

import { DEFAULT_EXCLUDE_NICS, buildGuestInfoConfig, defaultGuestInfoConfig } from '../src/services/guestinfo/config';
import { Logger } from '../src/services/guestinfo/logger';
import {
  broadcastIpMessage,
  lateGatherLogMessage,
  parseSetGuestInfo,
  setGuestInfoBinary,
  setGuestInfoString,
  uptimeMessage,
  vmxLogMessage,
} from '../src/services/guestinfo/messages';

function getter(ini: Record<string, Record<string, string>>): (s: string, k: string) => string | undefined {
  return (s, k) => ini[s]?.[k];
}

function recordingLog(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug: () => undefined, info: () => undefined, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) };
}

describe('60 guestinfo config', () => {
  it('has the reference defaults (30 s / 20 s, 100 routes, devices reported)', () => {
    const d = defaultGuestInfoConfig();
    assert.equal(d.pollIntervalSec, 30);
    assert.equal(d.statsIntervalSec, 20);
    assert.equal(d.maxIpv4Routes, 100);
    assert.equal(d.maxIpv6Routes, 100);
    assert.equal(d.diskInfoReportDevice, true);
    assert.equal(d.diskInfoIncludeReserved, false);
    assert.equal(d.disableQueryDiskInfo, false);
    assert.deepEqual(d.excludeNics, [...DEFAULT_EXCLUDE_NICS]);
    for (const ref of ['docker*', 'veth*', 'virbr*', 'cali*']) assert.ok(d.excludeNics.includes(ref));
  });

  it('reads every key by its reference name', () => {
    const cfg = buildGuestInfoConfig(
      getter({
        guestinfo: {
          'poll-interval': '10',
          'stats-interval': '0',
          'disable-perf-mon': 'true',
          'disable-query-diskinfo': 'TRUE',
          'exclude-nics': 'docker*,veth*',
          'primary-nics': 'ens*, eth0',
          'low-priority-nics': 'tun*',
          'max-ipv4-routes': '5',
          'max-ipv6-routes': '0',
          'diskinfo-include-reserved': '1',
          'diskinfo-report-device': 'false',
        },
        guestosinfo: { 'short-name': 'myos-64', 'long-name': 'My OS' },
      }),
    );
    assert.deepEqual(cfg, {
      pollIntervalSec: 10,
      statsIntervalSec: 0,
      disablePerfMon: true,
      disableQueryDiskInfo: true,
      excludeNics: ['docker*', 'veth*'],
      primaryNics: ['ens*', 'eth0'],
      lowPriorityNics: ['tun*'],
      maxIpv4Routes: 5,
      maxIpv6Routes: 0,
      diskInfoIncludeReserved: true,
      diskInfoReportDevice: false,
      osShortNameOverride: 'myos-64',
      osLongNameOverride: 'My OS',
    });
  });

  it('lets an empty exclude-nics disable all exclusions', () => {
    assert.deepEqual(buildGuestInfoConfig(getter({ guestinfo: { 'exclude-nics': '' } })).excludeNics, []);
  });

  it('falls back to defaults with a warning for invalid or out-of-range values', () => {
    const log = recordingLog();
    const cfg = buildGuestInfoConfig(
      getter({ guestinfo: { 'poll-interval': 'soon', 'max-ipv4-routes': '101', 'max-ipv6-routes': '-1', 'disable-perf-mon': 'yes' } }),
      log,
    );
    assert.equal(cfg.pollIntervalSec, 30);
    assert.equal(cfg.maxIpv4Routes, 100);
    assert.equal(cfg.maxIpv6Routes, 100);
    assert.equal(cfg.disablePerfMon, false);
    assert.equal(log.warnings.length, 4);
  });

  it('ignores long-name without short-name', () => {
    const cfg = buildGuestInfoConfig(getter({ guestosinfo: { 'long-name': 'X' } }));
    assert.equal(cfg.osShortNameOverride, undefined);
    assert.equal(cfg.osLongNameOverride, undefined);
  });
});

describe('60 guestinfo message framing', () => {
  it('string values: two spaces after SetGuestInfo, one before the value, trailing NUL', () => {
    const m = setGuestInfoString(1, 'vm1');
    assert.equal(m.toString('latin1'), 'SetGuestInfo  1 vm1\0');
    // reference-figures.md §2: the uptime example is exactly 25 bytes.
    const up = uptimeMessage(12345678n);
    assert.equal(up.toString('latin1'), 'SetGuestInfo  7 12345678\0');
    assert.equal(up.length, 25);
    assert.equal(setGuestInfoString(5, '').toString('latin1'), 'SetGuestInfo  5 \0');
  });

  it('binary values: header then body, no NUL', () => {
    const m = setGuestInfoBinary(10, Buffer.from([1, 2, 0]));
    assert.equal(m.toString('hex'), Buffer.from('SetGuestInfo  10 ', 'latin1').toString('hex') + '010200');
  });

  it('parses a raw SetGuestInfo request without trimming its body', () => {
    const raw = setGuestInfoBinary(10, Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(parseSetGuestInfo(raw), { type: 10, body: Buffer.from([0, 0, 0, 0]) });
    assert.equal(parseSetGuestInfo(Buffer.from('SetGuestInfo 1 x')), undefined);
  });

  it('broadcastIP: "info-set guestinfo.ip <ip>\\0", empty when there is no address', () => {
    assert.equal(broadcastIpMessage('192.0.2.2').toString('latin1'), 'info-set guestinfo.ip 192.0.2.2\0');
    assert.equal(broadcastIpMessage('').toString('latin1'), 'info-set guestinfo.ip \0');
  });

  it('VMX log lines: "log <text>\\0" within a 4096-byte buffer', () => {
    assert.equal(vmxLogMessage('hi').toString('latin1'), 'log hi\0');
    assert.equal(vmxLogMessage('x'.repeat(5000)).length, 4096);
    assert.equal(
      lateGatherLogMessage(75, 30).toString('latin1'),
      'log *** WARNING: GuestInfo collection interval longer than expected; actual=75 sec, expected=30 sec. ***\n\0',
    );
  });
});
