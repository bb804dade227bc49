/**
 * Fuzz run of the guest-operation request path (issue 7): 10^6 mutated
 * `Vix_1_Relayed_Command` inputs (fixed seed, so a failure reproduces) go
 * through the whole service — TCLO split, header, body, credentials, the
 * dispatcher — with a PAM that accepts nothing those inputs can carry and a
 * runner that records every call. Every input must get a well-formed reply,
 * an error one unless it happens to be a credential-free opcode (38, 58,
 * 62); nothing may run. VMTOOLSD_FUZZ_ITERATIONS overrides the count.
 */
import assert from 'node:assert/strict';
import { securityCounters } from '../src/services/guestops/auth';
import { fakeService, GOOD } from './helpers/guestopsFakes';
import { bodies, buildMessage, hgfs, nameCredential, OP, parseReply, relayedArgs } from './helpers/vixClient';

const ITERATIONS = Number(process.env.VMTOOLSD_FUZZ_ITERATIONS ?? 1_000_000);
const SEED = 0x5eed0007;

/** mulberry32: small, fast, deterministic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A root hook: runs once after every suite of this mocha process (the whole
// `npm test` run, or just this file). Operations executed without a valid
// authentication, counted by the runners (real and fake), must be 0.
after(() => {
  console.log(
    `      guest operations in this run: ${securityCounters.authenticatedExecutions} executed after authentication, ` +
      `${securityCounters.unauthenticatedExecutions} without (must be 0); PAM calls ${securityCounters.pamCalls}, throttled ${securityCounters.throttled}`,
  );
  assert.equal(securityCounters.unauthenticatedExecutions, 0);
});

describe('95 guestops fuzz', function () {
  this.timeout(600_000);

  it(`${ITERATIONS} mutated requests: no crash, every one answered, nothing runs`, async () => {
    const rand = rng(SEED);
    const int = (n: number) => Math.floor(rand() * n);
    const wrong = { user: GOOD.user, password: 'not-the-password' };
    const creds = [
      { type: 4, raw: nameCredential(wrong.user, wrong.password) },
      { type: 1, raw: nameCredential('mallory', 'x') },
      { type: 4, raw: nameCredential(GOOD.user, '') },
      // Unsupported types with a near-miss password (byte flips cannot delete the "x"): a mutated type 1/4 still fails PAM.
      { type: 11, raw: nameCredential(GOOD.user, `x${GOOD.password}`) },
      { type: 12, raw: nameCredential(GOOD.user, `x${GOOD.password}`) },
      { type: 9, raw: Buffer.from('\x05\0\0\0ticket\0') },
      { type: 8, raw: Buffer.alloc(0) },
      { type: 0, raw: nameCredential(GOOD.user, GOOD.password.slice(1)) },
    ];
    const seedBodies: Array<[number, Buffer]> = [
      [OP.LIST_FILES, bodies.listFiles('/tmp', { pattern: '.*' })],
      [OP.CREATE_DIRECTORY_EX, bodies.mkdir('/tmp/fuzz', true)],
      [OP.MOVE_FILE, bodies.move('/tmp/a', '/tmp/b', true)],
      [OP.MOVE_DIRECTORY, bodies.move('/tmp/a', '/tmp/b')],
      [OP.CREATE_TEMP_FILE, bodies.mktemp('p', 's', '/tmp')],
      [OP.CREATE_TEMP_DIR, bodies.mktemp('p', 's', '')],
      [OP.SET_ATTRIBUTES, bodies.setattr('/tmp/x', { options: 0x43, perm: 0o777 })],
      [OP.START_PROGRAM, bodies.startProgram('/bin/sh', '-c "touch /tmp/pwned"', '/tmp', ['A=1', 'B=2'])],
      [OP.LIST_PROCESSES_EX, bodies.listProcesses([1n, 2n, 3n])],
      [OP.READ_ENV, bodies.readEnv(['HOME', 'PATH'])],
      [OP.TRANSFER_FROM, bodies.transferFrom('/etc/shadow')],
      [OP.TRANSFER_TO, bodies.transferTo('/etc/passwd', true)],
      [OP.TERMINATE_PROCESS, bodies.kill(1234n)],
      [OP.KILL_PROCESS, bodies.kill(1234n)],
      [OP.DELETE_FILE, bodies.deleteFile('/etc/passwd')],
      [OP.DELETE_DIRECTORY, bodies.deleteDir('/', true)],
      [OP.VALIDATE_CREDENTIALS, Buffer.alloc(0)],
      [OP.HGFS, Buffer.concat([Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(8, 1)])],
      [OP.GET_TOOLS_STATE, Buffer.alloc(0)],
    ];
    const seeds = seedBodies.flatMap(([opCode, body]) => creds.map((c) => buildMessage({ opCode, body, creds: c })));
    const interesting = [0, 1, 2, 3, 7, 8, 50, 51, 52, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

    const mutate = (src: Buffer): Buffer => {
      let b = Buffer.from(src);
      const rounds = 1 + int(3);
      for (let r = 0; r < rounds; r++) {
        switch (int(9)) {
          case 0: // flip bytes
            // Mostly past the fixed header part, so more inputs reach the body and credential checks.
            for (let i = 0, n = 1 + int(4); i < n && b.length > 0; i++) {
              const at = rand() < 0.8 && b.length > 23 ? 23 + int(b.length - 23) : int(b.length);
              b[at] ^= 1 << int(8);
            }
            break;
          case 1: // a header length field
          case 2: {
            const off = [6, 10, 14, 18][int(4)];
            if (b.length >= off + 4) {
              const cur = b.readUInt32LE(off);
              const v = rand() < 0.5 ? interesting[int(interesting.length)] : (cur + int(9) - 4) >>> 0;
              b.writeUInt32LE(v >>> 0, off);
            }
            break;
          }
          case 3: {
            // a body length field (any u32-aligned spot in the opcode struct)
            const off = 51 + int(40);
            if (b.length >= off + 4) b.writeUInt32LE(rand() < 0.5 ? interesting[int(interesting.length)] : int(300), off);
            break;
          }
          case 4: // truncate
            b = b.subarray(0, int(b.length + 1));
            break;
          case 5: // append
            b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + int(16) }, () => (rand() < 0.5 ? 0 : int(256))))]);
            break;
          case 6: // opcode / flags / credential type
            if (b.length >= 51) {
              const which = int(3);
              if (which === 0) b.writeUInt32LE(rand() < 0.8 ? int(260) : int(0x100000000), 23);
              else if (which === 1) b.writeUInt32LE(int(256), 27);
              else b.writeUInt32LE(rand() < 0.8 ? int(14) : int(0x100000000), 47);
            }
            break;
          case 7: // commonFlags
            if (b.length >= 23) b[22] = int(256);
            break;
          default: // fully random
            b = Buffer.from(Array.from({ length: int(120) }, () => int(256)));
        }
      }
      return b;
    };

    const f = fakeService({ throttle: { freeFailures: 3 } });
    const unauthBefore = securityCounters.unauthenticatedExecutions;
    const authBefore = securityCounters.authenticatedExecutions;
    const histogram = new Map<number, number>();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) {
      // One in 16: raw TCLO arguments (no quoted name, no NUL, anything).
      const input = i % 16 === 15 ? Buffer.from(Array.from({ length: int(80) }, () => int(256))) : relayedArgs(mutate(seeds[int(seeds.length)]));
      const raw = await f.service.handleRelayed(input);
      let r;
      try {
        r = parseReply(raw);
      } catch (e) {
        assert.fail(`input ${i}: ${(e as Error).message}`);
      }
      histogram.set(r.error, (histogram.get(r.error) ?? 0) + 1);
      if (r.error === 0) {
        const nul = input.indexOf(0);
        const op = nul >= 0 && input.length >= nul + 28 ? input.readUInt32LE(nul + 1 + 23) : -1;
        assert.ok(op === OP.GET_TOOLS_STATE || op === OP.WAIT_FOR_TOOLS || op === OP.CAPTURE_SCREEN, `input ${i}: success for opcode ${op}`);
      } else if (r.result !== '') {
        const nul = input.indexOf(0);
        const op = nul >= 0 && input.length >= nul + 28 ? input.readUInt32LE(nul + 1 + 23) : -1;
        assert.ok(op === OP.START_PROGRAM && r.result === '-1', `input ${i}: result ${JSON.stringify(r.result)} with error ${r.error}`);
      }
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    assert.equal(f.runner.calls.length, 0, 'operations executed');
    assert.equal(f.runner.badAuthExecutions, 0);
    assert.equal(securityCounters.unauthenticatedExecutions - unauthBefore, 0);
    assert.equal(securityCounters.authenticatedExecutions - authBefore, 0);
    const top = [...histogram.entries()].sort((a, b) => b[1] - a[1]).map(([e, n]) => `${e}:${n}`).join(' ');
    console.log(`      fuzz: ${ITERATIONS} inputs in ${secs.toFixed(1)} s (${Math.round(ITERATIONS / secs)}/s), PAM calls ${f.pamCalls.length}; replies by VIX error: ${top}`);
  });

  it('100000 mutated HGFS packets with good credentials: every one answered with a well-formed reply', async () => {
    const rand = rng(SEED + 1);
    const int = (n: number) => Math.floor(rand() * n);
    const f = fakeService();
    const sid = 0x1234n;
    const seeds = [
      hgfs.createSession(), hgfs.destroySession(sid), hgfs.openV3(sid, '/tmp/x', 1, 4), hgfs.readV3(sid, 1, 0n, 100),
      hgfs.writeV3(sid, 1, 0n, Buffer.alloc(50, 7)), hgfs.close(sid, 1), hgfs.getattrV2(sid, '/tmp/x'), hgfs.setattrV2(sid, '/tmp/x', 0o600),
    ];
    const n = Math.max(1, Math.floor(ITERATIONS / 10));
    for (let i = 0; i < n; i++) {
      let p = Buffer.from(seeds[int(seeds.length)]);
      for (let k = 0, m = 1 + int(4); k < m; k++) {
        const c = int(4);
        if (c === 0 && p.length) p[int(p.length)] = int(256);
        else if (c === 1) {
          // packetSize, headerSize, or the payload's first length-ish fields.
          const offs = [8, 12, 44, 52, 56, 108, 168].filter((o) => o + 4 <= p.length);
          if (offs.length) p.writeUInt32LE([0, 1, 43, 44, 45, 0xffffffff, int(200)][int(7)], offs[int(offs.length)]);
        }
        else if (c === 2) p = p.subarray(0, int(p.length + 1));
        else p = Buffer.concat([p, Buffer.alloc(int(20), int(256))]);
      }
      const r = parseReply(await f.service.handleRelayed(relayedArgs(buildMessage({ opCode: OP.HGFS, body: hgfs.body(p), creds: GOOD, commonFlags: 0x81 }))));
      assert.equal(r.binary, true, `input ${i}`);
      if (r.error === 0) {
        const raw = Buffer.from(r.result, 'latin1');
        assert.ok(raw.length >= 44 && raw.readUInt32LE(8) === raw.length && raw.readUInt32LE(28) === 2, `input ${i}: malformed HGFS reply`);
      } else assert.ok([1, 10000, 10001].includes(r.error), `input ${i}: VIX error ${r.error}`);
    }
  });
});
