/**
 * Fuzzing the two parsers that read host-supplied bytes before anything
 * else: the package header (customization.md §4.2) and cust.cfg (§5).
 * 10^6 inputs each from a fixed seed (reproducible, CI-fast): every input
 * either parses into values that satisfy the invariants the engine relies
 * on, or is refused with the parser's own error type; nothing else may be
 * thrown. DEPLOYPKG_FUZZ_N overrides the count.
 */
import assert from 'node:assert/strict';
import { CustCfgError, parseCustCfg } from '../src/services/deploypkg/custcfg';
import { HEADER_SIZE, PackageFormatError, parseHeader } from '../src/services/deploypkg/header';
import { CUST_STATIC, makePackage } from './helpers/deploypkg';

const N = Number(process.env.DEPLOYPKG_FUZZ_N ?? 1_000_000);

/** xorshift32: fixed seed, no dependency. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

describe('deployPkg: fuzz', function () {
  this.timeout(300000);

  it(`header parser: ${N} mutated headers, no crash, invariants hold`, () => {
    const r = rng(0x5eed0001);
    const base = makePackage({ files: [{ name: 'cust.cfg', data: 'x' }] });
    const size = base.length;
    const head = Buffer.alloc(HEADER_SIZE);
    let accepted = 0;
    for (let i = 0; i < N; i++) {
      base.copy(head, 0, 0, HEADER_SIZE);
      const k = 1 + (r() % 6);
      for (let j = 0; j < k; j++) {
        const pick = r() % 8;
        // Aim most mutations at the fields, some anywhere.
        const pos = pick < 2 ? r() % HEADER_SIZE : pick < 6 ? 16 + (r() % 40) : 56 + (r() % 456);
        head[pos] = r() & 0xff;
      }
      const len = r() % 4 === 0 ? (r() % 2 === 0 ? r() % 1024 : r()) : size;
      const view = r() % 16 === 0 ? head.subarray(0, r() % HEADER_SIZE) : head;
      try {
        const h = parseHeader(view, len);
        accepted++;
        assert.ok(h.payloadOffset >= HEADER_SIZE && h.payloadOffset + h.payloadLength <= h.pkgLength && h.pkgLength <= len);
        assert.ok(!h.command.includes('\0') && h.command.length > 0);
      } catch (e) {
        if (!(e instanceof PackageFormatError)) throw new Error(`input ${i}: ${String(e)} for ${view.toString('hex')} / ${len}`);
      }
    }
    assert.ok(accepted > 0 && accepted < N, `accepted ${accepted}`);
  });

  it(`cust.cfg parser: ${N} generated files, no crash, invariants hold`, () => {
    const r = rng(0x5eed0002);
    const sections = ['NETWORK', 'NIC-CONFIG', 'NIC1', 'NIC2', 'DNS', 'DATETIME', 'PASSWORD', 'CUSTOM-SCRIPT', 'MISC', 'X', ''];
    const keys = ['HOSTNAME', 'DOMAINNAME', 'NICS', 'MACADDR', 'BOOTPROTO', 'IPv4_MODE', 'IPADDR', 'NETMASK', 'GATEWAY', 'IPv6ADDR|1', 'IPv6NETMASK|1',
      'NAMESERVER|1', 'NAMESERVER|2', 'SUFFIX|1', 'TIMEZONE', 'UTC', '-PASS', 'RESET', 'SCRIPT-NAME', 'ONBOOT', 'PRIMARY', ''];
    const values = ['NIC1', 'NIC1,NIC2', '00:50:56:aa:bb:01', 'static', 'dhcp', 'STATIC', 'DISABLED', 'AS_IS', '10.0.0.1', '255.255.255.0', '255.0.255.0',
      'fd00::1', '64', '129', 'example.com', 'a..b', 'Europe/Berlin', '../../etc', 'yes', 'no', 'Vk13YXJlMSE=', 'AA==', '$(reboot)', 'x\ty', '', '=', 'é', '[', ']'];
    const lines = CUST_STATIC.split('\n');
    const pick = <T>(a: T[]): T => a[r() % a.length];
    let accepted = 0;
    for (let i = 0; i < N; i++) {
      let text: string;
      const mode = r() % 4;
      if (mode === 0) {
        // Mutate the real fixture: drop, duplicate or corrupt a few lines.
        const L = lines.slice();
        for (let j = 0; j < 3; j++) {
          const at = r() % L.length;
          const op = r() % 3;
          if (op === 0) L.splice(at, 1);
          else if (op === 1) L.splice(at, 0, L[r() % L.length]);
          else L[at] = `${L[at].slice(0, r() % (L[at].length + 1))}${pick(values)}`;
        }
        text = L.join(r() % 8 === 0 ? '\r\n' : '\n');
      } else if (mode === 3) {
        // Raw bytes from a small alphabet.
        const alpha = '[]=|#; \n\r\tAZaz09.:-,/\u0000é';
        let s = '';
        for (let j = r() % 80; j > 0; j--) s += alpha[r() % alpha.length];
        text = s;
      } else {
        const L: string[] = [];
        for (let j = r() % 14; j > 0; j--) L.push(r() % 4 === 0 ? `[${pick(sections)}]` : `${pick(keys)} = ${pick(values)}`);
        text = L.join('\n');
      }
      try {
        const c = parseCustCfg(text);
        accepted++;
        for (const v of [c.hostname, c.domain, c.timezone, ...c.searchDomains, ...c.nameservers]) {
          if (v !== undefined) assert.ok(!/[\s\0$`;]/.test(v) && !v.split('/').includes('..'), `unsafe value accepted: ${JSON.stringify(v)}`);
        }
        for (const n of c.nics) assert.match(n.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      } catch (e) {
        if (!(e instanceof CustCfgError)) throw new Error(`input ${i}: ${String(e)} for ${JSON.stringify(text)}`);
      }
    }
    assert.ok(accepted > 0 && accepted < N, `accepted ${accepted}`);
  });
});
