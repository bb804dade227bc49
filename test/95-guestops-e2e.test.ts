/**
 * Guest operations end to end: bin/vmtoolsd (the real daemon) under the trap
 * shim, the simulator as VMX sending `Vix_1_Relayed_Command` over TCLO,
 * real PAM (a private confdir with our pam/vmtoolsd, honoured only under the
 * simulator) and the runas helper, against a throw-away account.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SimHandle } from '../src/sim/harness';
import { describeUnderShim, REPO_ROOT, sleep, startSim } from './helpers/native-env';
import { makePamConfDir } from './helpers/pamTestConf';
import { createUser, removeAll, TestUser, usersAvailable } from './helpers/testUsers';
import { bodies, buildMessage, Creds, hgfs, OP, parseReply, relayedCommand, VixReply } from './helpers/vixClient';
import { obfuscateNamePassword } from '../src/services/guestops/credentials';

const VMTOOLSD = path.join(REPO_ROOT, 'bin', 'vmtoolsd');

describeUnderShim(__filename, 'guest operations through bin/vmtoolsd and the simulator', function () {
  this.timeout(60_000);
  let sim: SimHandle;
  let child: ChildProcess;
  let output = '';
  let conf: string;
  let confDir: string;
  let u: TestUser;
  let creds: Creds;

  const vix = async (opCode: number, body?: Buffer, c: Creds | undefined = creds, raw?: Buffer): Promise<VixReply> => {
    const reply = await sim.client.sendTclo(relayedCommand(raw ?? buildMessage({ opCode, body, creds: c })), { timeoutMs: 20_000 });
    assert.equal(reply.subarray(0, 3).toString('latin1'), 'OK ', `TCLO reply ${JSON.stringify(reply.toString('latin1'))}`);
    return parseReply(reply.subarray(3));
  };
  async function waitFor(re: RegExp, ms = 10000): Promise<void> {
    const end = Date.now() + ms;
    while (!re.test(output)) {
      if (Date.now() > end) throw new Error(`no ${re} in:\n${output}`);
      await sleep(50);
    }
  }

  before(async function () {
    if (usersAvailable()) this.skip();
    confDir = makePamConfDir();
    u = createUser('e');
    creds = { user: u.name, password: u.password };
    sim = await startSim();
    conf = path.join(sim.dir, 'tools.conf');
    fs.writeFileSync(conf, '[logging]\nvmsvc.level = debug\n');
    child = spawn(process.execPath, [VMTOOLSD, '-c', conf], {
      env: { ...process.env, ...sim.env({ preload: true }), VMTOOLSD_TEST_PAM_CONFDIR: confDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 10000 })).toString(), 'OK ATR toolbox');
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await sim?.stop();
    removeAll();
    if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
  });

  it('GetToolsState without credentials', async () => {
    const r = await vix(OP.GET_TOOLS_STATE, undefined, undefined);
    assert.equal(r.error, 0);
    assert.ok(Buffer.from(r.result, 'base64').length > 100);
  });

  it('ValidateCredentials: good 0, wrong 3050, empty 3050, unknown user 3050, SAML 6', async () => {
    assert.equal((await vix(OP.VALIDATE_CREDENTIALS)).error, 0);
    assert.equal((await vix(OP.VALIDATE_CREDENTIALS, undefined, { ...creds, password: 'wrong' })).error, 3050);
    assert.equal((await vix(OP.VALIDATE_CREDENTIALS, undefined, { ...creds, password: '' })).error, 3050);
    assert.equal((await vix(OP.VALIDATE_CREDENTIALS, undefined, { user: `vmtgo${process.pid}zz`, password: 'x' })).error, 3050);
    assert.equal((await vix(OP.VALIDATE_CREDENTIALS, undefined, { ...creds, type: 11 })).error, 6);
  });

  it('CreateDirectoryEx, ListFiles, DeleteDirectory as the user', async () => {
    const d = path.join(u.home, 'e2e');
    assert.equal((await vix(OP.CREATE_DIRECTORY_EX, bodies.mkdir(d))).error, 0);
    assert.equal(fs.statSync(d).uid, u.uid);
    const l = await vix(OP.LIST_FILES, bodies.listFiles(u.home, { pattern: '^e2e$' }));
    assert.match(l.result, new RegExp(`^0 <rem>0</rem><fxi><Name>e2e</Name><ft>1</ft>.*<uid>${u.uid}</uid>`));
    assert.equal((await vix(OP.DELETE_DIRECTORY, bodies.deleteDir(d))).error, 0);
    assert.equal(fs.existsSync(d), false);
  });

  it('StartProgram runs as the user', async () => {
    const out = path.join(u.home, 'uid');
    const r = await vix(OP.START_PROGRAM, bodies.startProgram('/bin/sh', `-c "id -u > ${out}"`));
    assert.equal(r.error, 0);
    assert.ok(Number(r.result) > 1);
    const end = Date.now() + 5000;
    while (!fs.existsSync(out) && Date.now() < end) await sleep(50);
    await sleep(100);
    assert.equal(fs.readFileSync(out, 'utf8').trim(), String(u.uid));
  });

  it('moves a file both ways through HGFS packets (opcode 84, binary replies over TCLO)', async () => {
    const hg = async (packet: Buffer) => {
      const reply = await sim.client.sendTclo(relayedCommand(buildMessage({ opCode: OP.HGFS, body: hgfs.body(packet), creds, commonFlags: 0x81 })), { timeoutMs: 20_000 });
      const r = parseReply(reply.subarray(3));
      assert.equal(r.error, 0);
      const raw = Buffer.from(r.result, 'latin1');
      assert.equal(raw.readUInt32LE(24), 0, `HGFS status of op ${raw.readInt32LE(20)}`);
      return raw.subarray(44);
    };
    const sid = (await hg(hgfs.createSession())).readBigUInt64LE(0);
    const dest = path.join(u.home, 'via-hgfs.bin');
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 13 + 1) & 0xff)); // includes NULs
    const wh = (await hg(hgfs.openV3(sid, dest, 1, 4))).readUInt32LE(0);
    await hg(hgfs.writeV3(sid, wh, 0n, data.subarray(0, 60_000)));
    await hg(hgfs.writeV3(sid, wh, 60_000n, data.subarray(60_000)));
    await hg(hgfs.close(sid, wh));
    assert.ok(fs.readFileSync(dest).equals(data));
    assert.equal(fs.statSync(dest).uid, u.uid);
    const rh = (await hg(hgfs.openV3(sid, dest, 0, 0))).readUInt32LE(0);
    const parts: Buffer[] = [];
    for (let off = 0; off < data.length; ) {
      const p = await hg(hgfs.readV3(sid, rh, BigInt(off), 0xf800));
      const n = p.readUInt32LE(0);
      assert.ok(n > 0);
      parts.push(p.subarray(12, 12 + n));
      off += n;
    }
    await hg(hgfs.close(sid, rh));
    await hg(hgfs.destroySession(sid));
    assert.ok(Buffer.concat(parts).equals(data));
  });

  it('malformed requests get error replies, and the daemon keeps going', async () => {
    const good = buildMessage({ opCode: OP.DELETE_FILE, body: bodies.deleteFile('/tmp/x'), creds });
    for (const cut of [0, 10, 23, 50, 51, good.length - 1]) {
      assert.equal((await vix(0, undefined, undefined, good.subarray(0, cut))).error, 10000, `cut ${cut}`);
    }
    assert.equal((await vix(999, undefined, creds)).error, 3025);
    assert.equal((await sim.client.sendTclo('ping')).toString(), 'OK ');
  });

  it('[guestoperations] disabled = true refuses with 20005 (live reload)', async () => {
    fs.writeFileSync(conf, '[logging]\nvmsvc.level = debug\n[guestoperations]\ndisabled = true\n');
    child.kill('SIGHUP');
    await waitFor(/configuration changed: .*\[guestoperations\] disabled/);
    assert.equal((await vix(OP.VALIDATE_CREDENTIALS)).error, 20005);
    assert.equal((await vix(OP.GET_TOOLS_STATE, undefined, undefined)).error, 0);
    fs.writeFileSync(conf, '[logging]\nvmsvc.level = debug\n[guestoperations]\nStartProgramInGuest.disabled = true\n');
    child.kill('SIGHUP');
    await waitFor(/configuration changed: .*StartProgramInGuest\.disabled/);
    assert.equal((await vix(OP.START_PROGRAM, bodies.startProgram('/bin/true'))).error, 20005);
    assert.equal((await vix(OP.VALIDATE_CREDENTIALS)).error, 0);
  });

  it('never logs a password, not even obfuscated, at debug level', () => {
    assert.ok(output.includes('Vix_1_Relayed_Command'), 'the debug log shows the commands');
    assert.ok(!output.includes(u.password), 'password in the log');
    assert.ok(!output.includes(obfuscateNamePassword(u.name, u.password)), 'obfuscated credential in the log');
    assert.ok(!output.includes('wrong'), 'wrong password in the log');
  });
});
