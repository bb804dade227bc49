/**
 * Memory/performance stats, type 8 (core-services.md §8.7): the 112-byte
 * legacy header, self-describing records, minimal integer sizes, rates
 * between samples as float-or-double, namespace on the first record only.
 */
import { strict as assert } from 'node:assert';

import { MemoryGuestInfoSources } from '../src/services/guestinfo/memorySources';
import {
  MemStatsCollector,
  StatId,
  decodeStatsBody,
  decodeUintDatum,
  encodeRate,
  encodeStat,
  legacyHeader,
} from '../src/services/guestinfo/memStats';

const MEMINFO = (free: number): string =>
  [
    'MemTotal:       16384000 kB',
    `MemFree:         ${free} kB`,
    'MemAvailable:   12000000 kB',
    'Buffers:          100000 kB',
    'Cached:          2000000 kB',
    'SwapCached:            0 kB',
    'Active(file):    1500000 kB',
    'Inactive(file):   500000 kB',
    'SwapFree:              0 kB',
    'SReclaimable:      50000 kB',
    'HugePages_Total:       0',
    'Hugepagesize:       2048 kB',
    '',
  ].join('\n');

const ZONEINFO = [
  'Node 0, zone      DMA',
  '  pages free     3971',
  '        low      10',
  '        present  1000',
  'Node 0, zone   Normal',
  '        low      20',
  '        present  4095000',
  '',
].join('\n');

function guest(): MemoryGuestInfoSources {
  return new MemoryGuestInfoSources({
    pageSize: 4096,
    files: {
      '/proc/meminfo': MEMINFO(8000000),
      '/proc/vmstat': 'nr_free_pages 2000000\npgpgin 1000\npgpgout 2000\n',
      '/proc/stat': 'cpu  1 2 3 4\nctxt 50000\nprocs_running 3\n',
      '/proc/zoneinfo': ZONEINFO,
      '/proc/uptime': '100.00 50.00\n',
      '/proc/diskstats': '   8       0 sda 10 0 0 0 20 0 0 0 2 0 500 0 0 0 0\n   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n',
      '/sys/block/sda/size': '1\n',
    },
  });
}

describe('60 guestinfo stats records', () => {
  it('encodes the first record with the namespace, minimal integers and a LE value', () => {
    const rec = encodeStat(true, StatId.HUGE_PAGE_SIZE, 0x0803, 9, Buffer.from([0x00, 0x08]));
    assert.equal(
      rec.toString('hex'),
      'ae000000' + // ID|TYPE|UNIT|NAMESPACE|VALUE
        '0a00' + Buffer.from('_tools/v1\0', 'latin1').toString('hex') +
        '0100' + '0b' + // id 11
        '0100' + '09' + // Uint64
        '0200' + '0308' + // KiB = 0x0803
        '0200' + '0008', // 2048
    );
  });

  it('leaves the VALUE datum out for unreadable stats and sends 0 as a zero-length value', () => {
    assert.equal(encodeStat(false, 62, 2, 9, undefined).toString('hex'), '2c000000' + '01003e' + '010009' + '010002');
    assert.equal(encodeStat(false, 9, 0x0803, 9, Buffer.alloc(0)).toString('hex'), 'ac000000' + '010009' + '010009' + '02000308' + '0000');
  });

  it('sends rates as float when exact, double otherwise, nothing when zero', () => {
    assert.equal(encodeRate(20).toString('hex'), '0000a041');
    assert.equal(encodeRate(0.05).toString('hex'), '9a9999999999a93f');
    assert.equal(encodeRate(0).length, 0);
  });

  it('builds the 112-byte legacy header with the validity flags', () => {
    const h = legacyHeader(16384000n, 0n);
    assert.equal(h.length, 112);
    assert.equal(h.readUInt32LE(0), 5);
    assert.equal(h.readUInt32LE(4), 0x401);
    assert.equal(h.readBigUInt64LE(8), 16384000n);
    assert.equal(h.readBigUInt64LE(88), 0n);
    assert.equal(legacyHeader(undefined, undefined).readUInt32LE(4), 0);
  });
});

describe('60 guestinfo stats sampling', () => {
  it('reports 20 stats; the first sample has no rates and no disk queue', () => {
    const body = new MemStatsCollector(guest()).sample();
    const d = decodeStatsBody(body);
    assert.equal(d.version, 5);
    assert.equal(d.flags, 0x401);
    assert.equal(d.memTotal, 16384000n); // zoneinfo present pages × 4 KiB
    assert.deepEqual(d.stats.map((s) => s.id), [11, 6, 4, 3, 9, 12, 7, 8, 2, 10, 5, 13, 25, 34, 26, 27, 60, 61, 62, 63]);
    assert.equal(d.stats[0]?.namespace, '_tools/v1');
    assert.ok(d.stats.slice(1).every((s) => s.namespace === undefined));
    const value = (id: number): bigint | undefined => {
      const v = d.stats.find((s) => s.id === id)?.value;
      return v === undefined ? undefined : decodeUintDatum(v);
    };
    assert.equal(value(StatId.MEM_FREE), 8000000n);
    assert.equal(value(StatId.PHYSICAL_PAGE_SIZE), 4096n);
    assert.equal(value(StatId.SWAP_SPACE_REMAINING), 0n);
    assert.equal(value(StatId.CPU_RUN_QUEUE), 2n); // 3 minus ourselves
    // needed = phys − (available − 5 % reservation)
    assert.equal(value(StatId.MEM_NEEDED_RESERVATION), 819200n);
    assert.equal(value(StatId.MEM_NEEDED), 16384000n - (12000000n - 819200n));
    for (const id of [StatId.PAGE_IN_RATE, StatId.PAGE_OUT_RATE, StatId.CONTEXT_SWAP_RATE, StatId.DISK_REQUEST_QUEUE, StatId.DISK_REQUEST_QUEUE_AVG]) {
      assert.equal(d.stats.find((s) => s.id === id)?.value, undefined, `stat ${id} must be absent`);
    }
  });

  it('computes rates against the previous sample', () => {
    const src = guest();
    const c = new MemStatsCollector(src);
    c.sample();
    src.setFile('/proc/uptime', '120.00 60.00\n');
    src.setFile('/proc/vmstat', 'pgpgin 1400\npgpgout 2000\n');
    src.setFile('/proc/stat', 'ctxt 50001\nprocs_running 1\n');
    src.setFile('/proc/diskstats', '   8       0 sda 11 0 0 0 20 0 0 0 4 0 700 0 0 0 0\n');
    const d = decodeStatsBody(c.sample());
    const raw = (id: number): string | undefined => d.stats.find((s) => s.id === id)?.value?.toString('hex');
    assert.equal(raw(StatId.PAGE_IN_RATE), '0000a041'); // 400 pages / 20 s = 20.0f
    assert.equal(raw(StatId.PAGE_OUT_RATE), ''); // 0 → present, zero-length
    assert.equal(raw(StatId.CONTEXT_SWAP_RATE), '9a9999999999a93f'); // 1 / 20 s = 0.05 (double)
    assert.equal(raw(StatId.DISK_REQUEST_QUEUE), '04');
    // Like every rate, the queue average needs a previous value too: it appears from the third sample.
    assert.equal(raw(StatId.DISK_REQUEST_QUEUE_AVG), undefined);
    assert.equal(raw(StatId.CPU_RUN_QUEUE), ''); // 1 − 1 = 0

    src.setFile('/proc/uptime', '140.00 70.00\n');
    src.setFile('/proc/diskstats', '   8       0 sda 12 0 0 0 20 0 0 0 1 0 900 0 0 0 0\n');
    const d3 = decodeStatsBody(c.sample());
    const raw3 = (id: number): string | undefined => d3.stats.find((s) => s.id === id)?.value?.toString('hex');
    assert.equal(raw3(StatId.DISK_REQUEST_QUEUE_AVG), '0000803f'); // (200 ms / 10) / 20 s = 1.0f
    assert.equal(raw3(StatId.DISK_REQUEST_QUEUE), '01');
  });

  it('handles a 32-bit counter wrap and falls back to MemTotal without zoneinfo', () => {
    const src = guest();
    src.setFile('/proc/vmstat', 'pgpgin 4294967290\npgpgout 0\n');
    src.deleteFile('/proc/zoneinfo');
    const c = new MemStatsCollector(src);
    const first = decodeStatsBody(c.sample());
    assert.equal(first.memTotal, 16384000n);
    src.setFile('/proc/uptime', '110.00 60.00\n');
    src.setFile('/proc/vmstat', 'pgpgin 4\npgpgout 0\n');
    const d = decodeStatsBody(c.sample());
    assert.equal(d.stats.find((s) => s.id === StatId.PAGE_IN_RATE)?.value?.readFloatLE(0), 1); // 10 pages / 10 s
  });

  it('derives MemAvailable for kernels without it', () => {
    const src = guest();
    src.setFile('/proc/meminfo', MEMINFO(8000000).replace(/MemAvailable:.*\n/, ''));
    const d = decodeStatsBody(new MemStatsCollector(src).sample());
    const v = d.stats.find((s) => s.id === StatId.MEM_AVAILABLE)?.value;
    assert.ok(v);
    // low = 30 pages = 120 KiB; free − low + (file − min(file/2, low)) + (slab − min(slab/2, low))
    const expected = 8000000n - 120n + (2000000n - 120n) + (50000n - 120n);
    assert.equal(decodeUintDatum(v), expected);
  });
});
