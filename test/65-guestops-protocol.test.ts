/**
 * Guest operations, protocol layer (guest-ops.md §2–§5, §7 bodies): framing,
 * header and body validation, credential decoding and the dispatcher rules,
 * against a service wired to fakes (no PAM, nothing runs). Every malformed
 * request must get a well-formed error reply and run nothing.
 */
import assert from 'node:assert/strict';
import { deobfuscate, decodeCredential, obfuscate, obfuscateNamePassword } from '../src/services/guestops/credentials';
import { formatVixReply, parseVixRequest, quotedToken, splitRelayedCommand } from '../src/services/guestops/framing';
import { splitArguments, cleanProgramPath } from '../src/services/guestops/requests';
import { parseProperties } from '../src/services/guestops/toolsState';
import { TcloDispatcher } from '../src/rpc/tclo';
import { fakeService, GOOD } from './helpers/guestopsFakes';
import { bodies, buildMessage, nameCredential, OP, parseReply, relayedArgs, relayedCommand } from './helpers/vixClient';

const good = { user: GOOD.user, password: GOOD.password };

describe('65 guestops protocol', () => {
  describe('TCLO framing (§2)', () => {
    it('splits the quoted request name and the binary message after the first NUL', () => {
      const msg = Buffer.from([1, 2, 0, 3]);
      const r = splitRelayedCommand(relayedArgs(msg, 'abc'));
      assert.equal(r.requestName, 'abc');
      assert.deepEqual(r.message, msg);
      assert.deepEqual(splitRelayedCommand(Buffer.from(' "x"')).message, Buffer.alloc(0));
    });
    it('keeps escapes in quoted tokens as both characters (§2.3)', () => {
      assert.equal(quotedToken(' "a\\"b" rest'), 'a\\"b');
      assert.equal(quotedToken('no quotes'), '');
    });
    it('formats text and binary replies', () => {
      assert.deepEqual(formatVixReply(0, 0, '4711'), Buffer.from('0 0 4711\0', 'latin1'));
      assert.deepEqual(formatVixReply(3050, 0, ''), Buffer.from('3050 0 \0', 'latin1'));
      assert.deepEqual(formatVixReply(0, 0, Buffer.from([0, 1]), true), Buffer.from('0 0 #\0\x01', 'latin1'));
    });
    it('the dispatcher hands the handler its arguments with trailing NULs intact', async () => {
      const { service } = fakeService();
      const d = new TcloDispatcher();
      d.registerAll(service.tcloHandlers());
      const msg = buildMessage({ opCode: OP.VALIDATE_CREDENTIALS, creds: good });
      const reply = await d.dispatch(relayedCommand(msg));
      assert.equal(reply.toString('latin1'), 'OK 0 0 \0');
    });
  });

  describe('header validation (§3.2)', () => {
    const valid = buildMessage({ opCode: OP.DELETE_FILE, body: bodies.deleteFile('/tmp/x'), creds: good });
    const mutate = (off: number, f: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(valid);
      f(b);
      return b;
    };
    const cases: Array<[string, Buffer]> = [
      ['magic', mutate(0, (b) => b.writeUInt32LE(0xd00d0002, 0))],
      ['version 4', mutate(4, (b) => b.writeUInt16LE(4, 4))],
      ['total +1', mutate(6, (b) => b.writeUInt32LE(b.readUInt32LE(6) + 1, 6))],
      ['total -1', mutate(6, (b) => b.writeUInt32LE(b.readUInt32LE(6) - 1, 6))],
      ['total 2^32-1', mutate(6, (b) => b.writeUInt32LE(0xffffffff, 6))],
      ['headerLength 50', mutate(10, (b) => b.writeUInt32LE(50, 10))],
      ['headerLength 52', mutate(10, (b) => b.writeUInt32LE(52, 10))],
      ['headerLength 0', mutate(10, (b) => b.writeUInt32LE(0, 10))],
      ['bodyLength +1', mutate(14, (b) => b.writeUInt32LE(b.readUInt32LE(14) + 1, 14))],
      ['bodyLength -1', mutate(14, (b) => b.writeUInt32LE(b.readUInt32LE(14) - 1, 14))],
      ['bodyLength huge', mutate(14, (b) => b.writeUInt32LE(0xfffffff0, 14))],
      ['credentialLength +1', mutate(18, (b) => b.writeUInt32LE(b.readUInt32LE(18) + 1, 18))],
      ['credentialLength -1', mutate(18, (b) => b.writeUInt32LE(b.readUInt32LE(18) - 1, 18))],
      ['auth-data flag without its 44 bytes', mutate(27, (b) => b.writeUInt32LE(0x10, 27))],
    ];
    for (const [name, msg] of cases) {
      it(`${name} → 10000, nothing runs`, async () => {
        const { service, runner, pamCalls } = fakeService();
        const r = parseReply(await service.handleRelayed(relayedArgs(msg)));
        assert.equal(r.error, 10000);
        assert.equal(r.result, '');
        assert.equal(runner.calls.length + pamCalls.length, 0);
      });
    }
    it('consistent lengths that claim more than 16 MiB → 10000', () => {
      const b = Buffer.from(valid);
      const body = 17 * 1024 * 1024;
      b.writeUInt32LE(body, 14);
      b.writeUInt32LE(51 + body + b.readUInt32LE(18), 6);
      assert.deepEqual(parseVixRequest(b), { ok: false, error: 10000, opCode: OP.DELETE_FILE, binaryReply: false });
    });
    it('a request truncated at every byte gets 10000 and runs nothing', async () => {
      const { service, runner, pamCalls } = fakeService();
      for (let n = 0; n < valid.length; n++) {
        const r = parseReply(await service.handleRelayed(relayedArgs(valid.subarray(0, n))));
        assert.equal(r.error, 10000, `cut at ${n}`);
      }
      assert.equal(runner.calls.length + pamCalls.length, 0);
    });
    it('trailing NUL padding is tolerated, other trailing bytes are not', () => {
      assert.equal(parseVixRequest(Buffer.concat([valid, Buffer.from([0, 0])])).ok, true);
      assert.equal(parseVixRequest(Buffer.concat([valid, Buffer.from([1])])).ok, false);
    });
    it('the binary-reply flag is honoured even on header errors', async () => {
      const { service } = fakeService();
      const b = buildMessage({ opCode: OP.HGFS, commonFlags: 0x81 });
      b.writeUInt32LE(0, 0);
      assert.equal((await service.handleRelayed(relayedArgs(b))).toString('latin1'), '10000 0 #');
    });
  });

  describe('body validation (§3.3, §7)', () => {
    const send = async (opCode: number, body: Buffer) => {
      const f = fakeService();
      const r = parseReply(await f.service.handleRelayed(relayedArgs(buildMessage({ opCode, body, creds: good }))));
      return { ...r, ran: f.runner.calls.length, pam: f.pamCalls.length };
    };
    it('every path length off by one → 10001, before credentials are looked at', async () => {
      for (const [op, body, lenOff] of [
        [OP.DELETE_FILE, bodies.deleteFile('/tmp/abc'), 4],
        [OP.DELETE_DIRECTORY, bodies.deleteDir('/tmp/abc'), 4],
        [OP.CREATE_DIRECTORY_EX, bodies.mkdir('/tmp/abc'), 4],
        [OP.LIST_FILES, bodies.listFiles('/tmp/abc'), 4],
        [OP.TRANSFER_FROM, bodies.transferFrom('/tmp/abc'), 4],
        [OP.TRANSFER_TO, bodies.transferTo('/tmp/abc'), 4],
        [OP.SET_ATTRIBUTES, bodies.setattr('/tmp/abc', { options: 0x40, perm: 0o600 }), 34],
        [OP.MOVE_FILE, bodies.move('/tmp/a', '/tmp/b'), 4],
        [OP.MOVE_FILE, bodies.move('/tmp/a', '/tmp/b'), 8],
        [OP.MOVE_DIRECTORY, bodies.move('/tmp/a', '/tmp/b'), 4],
        [OP.START_PROGRAM, bodies.startProgram('/bin/true', 'x'), 1],
        [OP.START_PROGRAM, bodies.startProgram('/bin/true', 'x'), 5],
        [OP.START_PROGRAM, bodies.startProgram('/bin/true', 'x', '/tmp'), 9],
      ] as Array<[number, Buffer, number]>) {
        for (const delta of [1, -1]) {
          const b = Buffer.from(body);
          b.writeUInt32LE(b.readUInt32LE(lenOff) + delta, lenOff);
          const r = await send(op, b);
          assert.equal(r.error, 10001, `op ${op} len@${51 + lenOff} ${delta}: ${r.error}`);
          assert.equal(r.ran + r.pam, 0);
        }
      }
    });
    it('a body shorter than the opcode struct → 10000', async () => {
      for (const op of [OP.DELETE_FILE, OP.LIST_FILES, OP.START_PROGRAM, OP.LIST_PROCESSES_EX, OP.TERMINATE_PROCESS, OP.SET_ATTRIBUTES]) {
        assert.equal((await send(op, Buffer.alloc(3))).error, 10000, `op ${op}`);
      }
    });
    it('non-UTF-8 path → 27', async () => {
      const b = bodies.deleteFile('/tmp/ab');
      b[b.length - 2] = 0xff;
      assert.equal((await send(OP.DELETE_FILE, b)).error, 27);
    });
    it('an empty path → 3 (INVALID_ARG)', async () => {
      assert.equal((await send(OP.DELETE_FILE, bodies.deleteFile(''))).error, 3);
      assert.equal((await send(OP.CREATE_DIRECTORY_EX, bodies.mkdir(''))).error, 3);
    });
    it('ListProcessesEx: a pid count that does not fit → 10001', async () => {
      const b = bodies.listProcesses([1n, 2n]);
      b.writeUInt32LE(3, 8);
      assert.equal((await send(OP.LIST_PROCESSES_EX, b)).error, 10001);
      b.writeUInt32LE(0x20000000, 8);
      assert.equal((await send(OP.LIST_PROCESSES_EX, b)).error, 10001);
    });
    it('StartProgram: env entry without "=" → 3, env array leftovers → 10001', async () => {
      assert.equal((await send(OP.START_PROGRAM, bodies.startProgram('/bin/true', undefined, undefined, ['NOEQ']))).error, 3);
      const b = bodies.startProgram('/bin/true', undefined, undefined, ['A=1']);
      b.writeUInt32LE(b.readUInt32LE(17) + 1, 17);
      assert.equal((await send(OP.START_PROGRAM, Buffer.concat([b, Buffer.from([65])]))).error, 10001);
    });
    it('CreateTemporary*: sizes must add up exactly → 10001', async () => {
      const b = Buffer.concat([bodies.mktemp('p', 's', '/tmp'), Buffer.from([0])]);
      assert.equal((await send(OP.CREATE_TEMP_FILE, b)).error, 10001);
    });
    it('SetFileAttributes READONLY/HIDDEN bits → 3', async () => {
      assert.equal((await send(OP.SET_ATTRIBUTES, bodies.setattr('/tmp/x', { options: 0x04 }))).error, 3);
    });
  });

  describe('credentials (§4)', () => {
    it('obfuscation round-trips and honours the escapes', () => {
      const raw = Buffer.from('user\0pass\0');
      assert.deepEqual(deobfuscate(obfuscate(raw)), raw);
      assert.deepEqual(deobfuscate(raw.toString('base64').replace(/=/g, '=')), raw);
      assert.equal(deobfuscate('\\9'), null);
      assert.equal(deobfuscate('abc'), null); // not a multiple of 4
      assert.equal(deobfuscate('ab=c'), null);
      assert.equal(deobfuscate('\\4'), null); // " " is not base64
    });
    it('unsupported credential types → 6; named interactive user → 1', async () => {
      for (const type of [0, 2, 3, 5, 6, 7, 10, 11, 12, 13, 0xffffffff]) {
        const f = fakeService();
        const msg = buildMessage({ opCode: OP.VALIDATE_CREDENTIALS, creds: { type, raw: nameCredential(GOOD.user, GOOD.password) } });
        assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(msg))).error, 6, `type ${type}`);
        assert.equal(f.pamCalls.length, 0);
      }
      const f = fakeService();
      const msg = buildMessage({ opCode: OP.VALIDATE_CREDENTIALS, creds: { type: 8, raw: Buffer.alloc(0) } });
      assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(msg))).error, 1);
    });
    it('ticket credentials (type 9): malformed → 10001, well-formed → 6 (as the reference)', async () => {
      const send = async (raw: Buffer) =>
        parseReply(await fakeService().service.handleRelayed(relayedArgs(buildMessage({ opCode: OP.VALIDATE_CREDENTIALS, creds: { type: 9, raw } })))).error;
      assert.equal(await send(Buffer.from('\x06\0\0\0ticket\0', 'latin1')), 6);
      assert.equal(await send(Buffer.from('\x07\0\0\0ticket\0', 'latin1')), 10001);
      assert.equal(await send(Buffer.from('\x06\0\0\0ticket', 'latin1')), 10001);
      assert.equal(await send(Buffer.alloc(2)), 10001);
    });
    it('types 1 and 4 both carry the obfuscated name/password', async () => {
      for (const type of [1, 4]) {
        const f = fakeService();
        const msg = buildMessage({ opCode: OP.VALIDATE_CREDENTIALS, creds: { ...good, type } });
        assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(msg))).error, 0);
      }
    });
    it('bad, empty, unknown and malformed credentials → 3050; the empty password never reaches PAM', async () => {
      const cases: Array<[string, Buffer, boolean]> = [
        ['wrong password', nameCredential(GOOD.user, 'nope'), true],
        ['unknown user', nameCredential('mallory', GOOD.password), true],
        ['empty password', nameCredential(GOOD.user, ''), false],
        ['empty user', nameCredential('', GOOD.password), false],
        ['no NUL in credential', nameCredential(GOOD.user, GOOD.password).subarray(0, -1), false],
        ['too short', Buffer.alloc(5), false],
        ['garbage', Buffer.concat([Buffer.alloc(8), Buffer.from('!!!!\0')]), false],
        ['only one NUL', Buffer.concat([Buffer.alloc(8), Buffer.from(obfuscate(Buffer.from('alice\0pw')) + '\0')]), false],
        ['non-UTF-8 name', Buffer.concat([Buffer.alloc(8), Buffer.from(obfuscate(Buffer.from([0xff, 0, 0x41, 0])) + '\0')]), false],
      ];
      for (const [name, raw, reachesPam] of cases) {
        const f = fakeService();
        const msg = buildMessage({ opCode: OP.DELETE_FILE, body: bodies.deleteFile('/tmp/x'), creds: { type: 4, raw } });
        const r = parseReply(await f.service.handleRelayed(relayedArgs(msg)));
        assert.equal(r.error, 3050, name);
        assert.equal(f.pamCalls.length, reachesPam ? 1 : 0, name);
        assert.equal(f.runner.calls.length, 0, name);
      }
    });
    it('decodeCredential never reads past credentialLength', () => {
      const c = nameCredential('a', 'b');
      for (let n = 0; n < c.length; n++) assert.equal(decodeCredential(4, c.subarray(0, n)).ok, false, `cut ${n}`);
      assert.equal(decodeCredential(4, c).ok, true);
    });
    it('legacy opcodes rewrite 3050 to 3015; vSphere opcodes keep 3050 (§5 rule 4)', async () => {
      const f = fakeService();
      const bad = { user: GOOD.user, password: 'x' };
      const kill85 = buildMessage({ opCode: OP.KILL_PROCESS, body: bodies.kill(99n), creds: bad });
      const kill193 = buildMessage({ opCode: OP.TERMINATE_PROCESS, body: bodies.kill(99n), creds: bad });
      assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(kill85))).error, 3015);
      assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(kill193))).error, 3050);
    });
    it('throttles repeated failures for one user without asking PAM', async () => {
      let now = 1_000_000;
      const f = fakeService({ throttle: { freeFailures: 3, initialDelayMs: 2000 } });
      (f.auth as unknown as { now: () => number }).now = () => now;
      const bad = buildMessage({ opCode: OP.VALIDATE_CREDENTIALS, creds: { user: GOOD.user, password: 'bad' } });
      const ok = buildMessage({ opCode: OP.VALIDATE_CREDENTIALS, creds: good });
      for (let i = 0; i < 3; i++) await f.service.handleRelayed(relayedArgs(bad));
      assert.equal(f.pamCalls.length, 3);
      // Now throttled: even the right password is refused without PAM.
      assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(ok))).error, 3050);
      assert.equal(f.pamCalls.length, 3);
      now += 2001;
      assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(ok))).error, 0);
      assert.equal(f.pamCalls.length, 4);
      // Another user is never affected.
      assert.equal(f.auth.throttledFor('bob'), 0);
    });
  });

  describe('dispatcher rules (§5)', () => {
    it('GetToolsState needs no credentials and returns a property list', async () => {
      const f = fakeService();
      const r = parseReply(await f.service.handleRelayed(relayedArgs(buildMessage({ opCode: OP.GET_TOOLS_STATE }))));
      assert.equal(r.error, 0);
      const props = parseProperties(Buffer.from(r.result, 'base64'));
      const byId = new Map(props.map((p) => [p.id, p]));
      assert.equal(byId.get(4502)!.value.readInt32LE(0), 1);
      assert.equal(byId.get(4505)!.value.toString('utf8'), 'guest\0');
      for (let id = 4540; id <= 4568; id++) assert.ok(byId.has(id), `property ${id}`);
      assert.equal(byId.get(4540)!.value[0], 0); // StartProgram not disabled
      assert.equal(byId.get(4558)!.value[0], 1); // alias APIs disabled: no VGAuth
    });
    it('WaitForTools and CaptureScreen are no-ops without credentials', async () => {
      const f = fakeService();
      for (const op of [OP.WAIT_FOR_TOOLS, OP.CAPTURE_SCREEN]) {
        assert.equal((await f.service.handleRelayed(relayedArgs(buildMessage({ opCode: op })))).toString('latin1'), '0 0 \0');
      }
      assert.equal(f.runner.calls.length + f.pamCalls.length, 0);
    });
    it('[guestoperations] disabled refuses everything but GetToolsState with 20005', async () => {
      const f = fakeService({ config: { disabled: true } });
      for (const op of [OP.VALIDATE_CREDENTIALS, OP.START_PROGRAM, OP.LIST_FILES, 999]) {
        assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(buildMessage({ opCode: op, creds: good })))).error, 20005);
      }
      assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(buildMessage({ opCode: OP.GET_TOOLS_STATE })))).error, 0);
    });
    it('<ApiName>.disabled refuses that API only', async () => {
      const f = fakeService({ config: { apiDisabled: (a) => a === 'StartProgramInGuest' } });
      const start = buildMessage({ opCode: OP.START_PROGRAM, body: bodies.startProgram('/bin/true'), creds: good });
      assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(start))).error, 20005);
      const del = buildMessage({ opCode: OP.DELETE_FILE, body: bodies.deleteFile('/tmp/x'), creds: good });
      assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(del))).error, 0);
    });
    it('a quiesce freeze answers 5 to everything', async () => {
      const f = fakeService({ frozen: true });
      assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(buildMessage({ opCode: OP.GET_TOOLS_STATE })))).error, 5);
    });
    it('unknown opcodes → 3025, registry opcodes → 3003, Acquire/Release → 6', async () => {
      const f = fakeService();
      const err = async (op: number) => parseReply(await f.service.handleRelayed(relayedArgs(buildMessage({ opCode: op, creds: good })))).error;
      assert.equal(await err(999), 3025);
      assert.equal(await err(197), 3025);
      assert.equal(await err(201), 3003);
      assert.equal(await err(190), 6);
      assert.equal(await err(191), 6);
    });
    it('KillProcess refuses the daemon itself, pid 1 and pid 0 without running anything', async () => {
      const f = fakeService();
      for (const [pid, want] of [[777n, 3015], [1n, 3015], [0n, 20003], [2n ** 63n, 20003]] as Array<[bigint, number]>) {
        const m = buildMessage({ opCode: OP.TERMINATE_PROCESS, body: bodies.kill(pid), creds: good });
        assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(m))).error, want, `pid ${pid}`);
      }
      assert.equal(f.runner.calls.length, 0);
    });
    it('HGFS packets are authenticated first; a packet without the v4 header → 10001', async () => {
      const f = fakeService();
      const body = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([1, 2, 3, 4])]);
      const bad = buildMessage({ opCode: OP.HGFS, body, creds: { user: GOOD.user, password: 'x' }, commonFlags: 0x81 });
      assert.equal((await f.service.handleRelayed(relayedArgs(bad))).toString('latin1'), '3015 0 #');
      const ok = buildMessage({ opCode: OP.HGFS, body, creds: good, commonFlags: 0x81 });
      assert.equal((await f.service.handleRelayed(relayedArgs(ok))).toString('latin1'), '10001 0 #');
    });
    it('StartProgram splits arguments without a shell', async () => {
      const f = fakeService();
      const m = buildMessage({ opCode: OP.START_PROGRAM, body: bodies.startProgram(' "/bin/echo"', `a "b c" 'd $e' f\\ g`), creds: good });
      assert.equal(parseReply(await f.service.handleRelayed(relayedArgs(m))).result, '4242');
      const req = f.runner.calls[0].request as { file: string; args: string[] };
      assert.deepEqual([req.file, req.args], ['/bin/echo', ['a', 'b c', 'd $e', 'f g']]);
    });
  });

  describe('helpers', () => {
    it('splitArguments', () => {
      assert.deepEqual(splitArguments(''), []);
      assert.deepEqual(splitArguments('  -c   "echo $HOME > /tmp/x"  '), ['-c', 'echo $HOME > /tmp/x']);
      assert.deepEqual(splitArguments(`"a\\"b" 'c\\d'`), ['a"b', 'c\\d']);
      assert.deepEqual(splitArguments(`""`), ['']);
      assert.equal(splitArguments(`"open`), null);
      assert.equal(splitArguments(`'open`), null);
    });
    it('cleanProgramPath', () => {
      assert.equal(cleanProgramPath('  "/bin/ls"'), '/bin/ls');
      assert.equal(cleanProgramPath('/bin/ls'), '/bin/ls');
    });
    it('obfuscateNamePassword is plain base64 of name NUL password NUL', () => {
      assert.equal(obfuscateNamePassword('a', 'b'), Buffer.from('a\0b\0').toString('base64'));
    });
  });
});
