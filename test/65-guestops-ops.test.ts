/**
 * Guest operations end to end inside the process (guest-ops.md §7): the real
 * service with PAM (a private confdir with our pam/vmtoolsd) and the real
 * vmtoolsd-runas helper, against throw-away accounts. Every operation with
 * good credentials; the ids of what it creates and spawns; the same
 * operations with bad credentials change nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { guestOpsServices } from '../src/daemon/guestOpsService';
import { securityCounters } from '../src/services/guestops/auth';
import type { GuestOpsService } from '../src/services/guestops/service';
import { quietLog } from './helpers/guestopsFakes';
import { makePamConfDir } from './helpers/pamTestConf';
import { createGroup, createUser, removeAll, TestUser, usersAvailable } from './helpers/testUsers';
import { bodies, buildMessage, Creds, hgfs, OP, parseReply, relayedArgs, VixReply } from './helpers/vixClient';
import { sleep } from './helpers/native-env';

describe('65 guestops operations (real PAM, real runas helper)', function () {
  this.timeout(60_000);
  let confDir: string;
  let u: TestUser;
  let other: TestUser;
  let group: string;
  let service: GuestOpsService;
  let creds: Creds;
  let bad: Creds;
  const startUnauth = securityCounters.unauthenticatedExecutions;

  const call = async (opCode: number, body?: Buffer, c: Creds | undefined = creds): Promise<VixReply> =>
    parseReply(await service.handleRelayed(relayedArgs(buildMessage({ opCode, body, creds: c }))));
  const ok = async (opCode: number, body?: Buffer): Promise<string> => {
    const r = await call(opCode, body);
    assert.equal(r.error, 0, `op ${opCode}: VIX error ${r.error}`);
    return r.result;
  };

  before(function () {
    if (usersAvailable()) this.skip();
    confDir = makePamConfDir();
    group = createGroup('o');
    u = createUser('u', { groups: [group] });
    other = createUser('v');
    creds = { user: u.name, password: u.password };
    bad = { user: u.name, password: `${u.password}x` };
    service = guestOpsServices({
      config: () => ({ disabled: false, apiDisabled: () => false }),
      log: quietLog,
      pamConfDir: confDir,
      pamNoFailDelay: true,
      throttle: { freeFailures: 1000 },
    }).service;
  });
  after(() => {
    removeAll();
    if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
  });

  it('ValidateCredentials: good → 0, wrong password → 3050', async () => {
    assert.equal((await call(OP.VALIDATE_CREDENTIALS)).error, 0);
    assert.equal((await call(OP.VALIDATE_CREDENTIALS, undefined, bad)).error, 3050);
  });

  it('CreateDirectoryEx creates as the user, mode 0700; exists → 12; not permitted → 13', async () => {
    const d = path.join(u.home, 'made');
    await ok(OP.CREATE_DIRECTORY_EX, bodies.mkdir(d));
    const st = fs.statSync(d);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [u.uid, u.gid, 0o700]);
    assert.equal((await call(OP.CREATE_DIRECTORY_EX, bodies.mkdir(d))).error, 12);
    assert.equal((await call(OP.CREATE_DIRECTORY_EX, bodies.mkdir('/root/vmtgo-should-not-exist'))).error, 13);
    assert.equal(fs.existsSync('/root/vmtgo-should-not-exist'), false);
    await ok(OP.CREATE_DIRECTORY_EX, bodies.mkdir(path.join(u.home, 'p/q/r'), true));
    assert.ok(fs.statSync(path.join(u.home, 'p/q/r')).isDirectory());
  });

  it('ListFiles lists ., .. and entries with their attributes', async () => {
    fs.writeFileSync(path.join(u.home, 'f.txt'), 'hello');
    fs.chownSync(path.join(u.home, 'f.txt'), u.uid, u.gid);
    const r = await ok(OP.LIST_FILES, bodies.listFiles(u.home));
    assert.match(r, /^0 <rem>0<\/rem>/);
    assert.match(r, /<fxi><Name>\.<\/Name><ft>1<\/ft>/);
    assert.match(r, /<fxi><Name>\.\.<\/Name>/);
    assert.match(r, new RegExp(`<fxi><Name>f.txt</Name><ft>0</ft><fs>5</fs><mt>\\d+</mt><at>\\d+</at><uid>${u.uid}</uid><gid>${u.gid}</gid><perm>33188</perm><slt></slt></fxi>`));
    const filtered = await ok(OP.LIST_FILES, bodies.listFiles(u.home, { pattern: '^f\\.' }));
    assert.equal((filtered.match(/<fxi>/g) ?? []).length, 1);
    const paged = await ok(OP.LIST_FILES, bodies.listFiles(u.home, { maxResults: 2 }));
    assert.equal((paged.match(/<fxi>/g) ?? []).length, 2);
    assert.equal((await call(OP.LIST_FILES, bodies.listFiles(u.home, { pattern: '(' }))).error, 3);
    assert.equal((await call(OP.LIST_FILES, bodies.listFiles('/root'))).error, 13);
    assert.equal((await call(OP.LIST_FILES, bodies.listFiles('/nonexistent'))).error, 4);
  });

  it('MoveFile and MoveDirectory follow the reference rules', async () => {
    const a = path.join(u.home, 'f.txt');
    const b = path.join(u.home, 'g.txt');
    await ok(OP.MOVE_FILE, bodies.move(a, b));
    assert.ok(fs.existsSync(b) && !fs.existsSync(a));
    fs.writeFileSync(a, 'x');
    assert.equal((await call(OP.MOVE_FILE, bodies.move(b, a))).error, 12); // overwrite=0
    await ok(OP.MOVE_FILE, bodies.move(b, a, true));
    assert.equal((await call(OP.MOVE_FILE, bodies.move(path.join(u.home, 'made'), b))).error, 20001);
    await ok(OP.MOVE_DIRECTORY, bodies.move(path.join(u.home, 'made'), path.join(u.home, 'moved')));
    assert.equal((await call(OP.MOVE_DIRECTORY, bodies.move(a, path.join(u.home, 'x')))).error, 20002);
    assert.equal((await call(OP.MOVE_FILE, bodies.move('/etc/hostname', path.join(u.home, 'h')))).error, 13);
  });

  it('CreateTemporaryFile/Directory: in the given directory, or a private per-user one', async () => {
    const f = await ok(OP.CREATE_TEMP_FILE, bodies.mktemp('pre', '.suf', u.home));
    assert.match(f, new RegExp(`^${u.home}/prevmware\\d*[13579]\\.suf$`));
    const st = fs.statSync(f);
    assert.deepEqual([st.uid, st.mode & 0o777], [u.uid, 0o600]);
    const d = await ok(OP.CREATE_TEMP_DIR, bodies.mktemp('', '', u.home));
    assert.match(d, /vmware\d*[02468]$/);
    assert.deepEqual([fs.statSync(d).uid, fs.statSync(d).mode & 0o777], [u.uid, 0o700]);
    const t = await ok(OP.CREATE_TEMP_FILE, bodies.mktemp('x', '', ''));
    const parent = fs.statSync(path.dirname(t));
    assert.deepEqual([parent.uid, parent.mode & 0o777], [u.uid, 0o700]);
    fs.rmSync(path.dirname(t), { recursive: true });
    assert.equal((await call(OP.CREATE_TEMP_FILE, bodies.mktemp('x', '', '/root'))).error, 13);
  });

  it('SetFileAttributes: times and mode as the user; giving a file away → 13', async () => {
    const f = path.join(u.home, 'f.txt');
    await ok(OP.SET_ATTRIBUTES, bodies.setattr(f, { options: 0x01 | 0x02 | 0x40, atime: 1000000n, mtime: 2000000n, perm: 0o640 }));
    const st = fs.statSync(f);
    assert.deepEqual([Math.floor(st.atimeMs / 1000), Math.floor(st.mtimeMs / 1000), st.mode & 0o777], [1000000, 2000000, 0o640]);
    assert.equal((await call(OP.SET_ATTRIBUTES, bodies.setattr(f, { options: 0x10, uid: 0 }))).error, 13);
    assert.equal(fs.statSync(f).uid, u.uid);
    assert.equal((await call(OP.SET_ATTRIBUTES, bodies.setattr('/etc/hostname', { options: 0x40, perm: 0o777 }))).error, 13);
  });

  it('InitiateFileTransferFromGuest / ToGuest checks', async () => {
    const f = path.join(u.home, 'f.txt');
    assert.match(await ok(OP.TRANSFER_FROM, bodies.transferFrom(f)), new RegExp(`^<fxi><Name>${f}</Name><ft>0</ft><fs>\\d+</fs><mt>`));
    assert.equal((await call(OP.TRANSFER_FROM, bodies.transferFrom(u.home))).error, 20001);
    assert.equal((await call(OP.TRANSFER_FROM, bodies.transferFrom('/etc/shadow'))).error, 13);
    await ok(OP.TRANSFER_TO, bodies.transferTo(path.join(u.home, 'new.bin')));
    assert.equal((await call(OP.TRANSFER_TO, bodies.transferTo(f))).error, 12);
    await ok(OP.TRANSFER_TO, bodies.transferTo(f, true));
    assert.equal((await call(OP.TRANSFER_TO, bodies.transferTo(u.home, true))).error, 20001);
    assert.equal((await call(OP.TRANSFER_TO, bodies.transferTo('/nonexistent/x'))).error, 22);
    assert.equal((await call(OP.TRANSFER_TO, bodies.transferTo('/etc/vmtgo-x'))).error, 13);
  });

  it('ReadEnvironmentVariables: the user\'s clean environment', async () => {
    assert.equal(await ok(OP.READ_ENV, bodies.readEnv(['HOME', 'USER', 'NOPE'])), `<ev>HOME=${u.home}</ev><ev>USER=${u.name}</ev>`);
    const all = await ok(OP.READ_ENV, bodies.readEnv());
    assert.ok(all.includes(`<ev>LOGNAME=${u.name}</ev>`));
    assert.ok(!all.includes('VMTOOLSD_SIM_SOCKET') && !all.includes('LD_PRELOAD'));
  });

  it('StartProgram runs as the user with uid, gid and groups, and ListProcessesEx reports its exit', async () => {
    const out = path.join(u.home, 'ids');
    const pid = Number(await ok(OP.START_PROGRAM, bodies.startProgram('/bin/sh', `-c "(id -u; id -g; id -G; pwd) > ${out}; sleep 0.3; exit 3"`)));
    assert.ok(pid > 1);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${u.uid}\\s+${u.uid}\\s+${u.uid}\\s+${u.uid}$`, 'm'));
    const deadline = Date.now() + 10_000;
    let listed = '';
    while (Date.now() < deadline) {
      listed = await ok(OP.LIST_PROCESSES_EX, bodies.listProcesses([BigInt(pid)]));
      if (/<eCode>3<\/eCode>/.test(listed)) break;
      await sleep(100);
    }
    assert.match(listed, new RegExp(`^<proc><cmd>sh</cmd><name>%22/bin/sh%22 -c %22\\(id -u; .* %3E ${out}; sleep 0.3; exit 3%22</name><pid>${pid}</pid><user>${u.name}</user><start>\\d+</start><eCode>3</eCode><eTime>[1-9]\\d*</eTime></proc>$`));
    const gid = Number(fs.readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${group}:`))!.split(':')[2]);
    const [uid, pgid, groups, cwd] = fs.readFileSync(out, 'utf8').trim().split('\n');
    assert.deepEqual([Number(uid), Number(pgid), groups.split(' ').map(Number).sort(), cwd], [u.uid, u.gid, [u.gid, gid].sort(), u.home]);
  });

  it('StartProgram: given env is the whole environment; cwd; failures map to VIX errors', async () => {
    const out = path.join(u.home, 'env');
    await ok(OP.START_PROGRAM, bodies.startProgram('/bin/sh', `-c "env > ${out}; pwd >> ${out}"`, '/tmp', ['A=1', 'B=x y']));
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !(fs.existsSync(out) && /^\/tmp$/m.test(fs.readFileSync(out, 'utf8')))) await sleep(50);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n').filter((l) => !/^(PWD|SHLVL|_)=/.test(l));
    assert.deepEqual(lines, ['A=1', 'B=x y', '/tmp']);
    assert.equal((await call(OP.START_PROGRAM, bodies.startProgram('/nonexistent/prog'))).error, 4);
    const noexec = path.join(u.home, 'noexec');
    fs.writeFileSync(noexec, '#!/bin/sh\n', { mode: 0o644 });
    assert.equal((await call(OP.START_PROGRAM, bodies.startProgram(noexec))).error, 3015);
    assert.equal((await call(OP.START_PROGRAM, bodies.startProgram('/bin/true', undefined, '/nonexistent'))).error, 20002);
    assert.equal((await call(OP.START_PROGRAM, bodies.startProgram('/bin/true', '"unterminated'))).error, 3);
  });

  it('ListProcessesEx lists every process', async () => {
    const all = await ok(OP.LIST_PROCESSES_EX, bodies.listProcesses());
    assert.ok(all.includes(`<pid>${process.pid}</pid>`));
    assert.ok((all.match(/<proc>/g) ?? []).length > 3);
  });

  it('TerminateProcess: the user\'s own process yes, another user\'s or root\'s no, the daemon never', async () => {
    const pid = Number(await ok(OP.START_PROGRAM, bodies.startProgram('/bin/sleep', '30')));
    await ok(OP.TERMINATE_PROCESS, bodies.kill(BigInt(pid)));
    assert.equal(fs.existsSync(`/proc/${pid}`) && !/State:\s+Z/.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')), false);
    const rootChild = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      assert.equal((await call(OP.TERMINATE_PROCESS, bodies.kill(BigInt(rootChild.pid!)))).error, 3015);
      assert.equal(rootChild.exitCode, null);
      assert.equal((await call(OP.KILL_PROCESS, bodies.kill(BigInt(rootChild.pid!)))).error, 3015);
    } finally {
      rootChild.kill();
    }
    assert.equal((await call(OP.TERMINATE_PROCESS, bodies.kill(BigInt(process.pid)))).error, 3015);
    assert.equal((await call(OP.TERMINATE_PROCESS, bodies.kill(4194304n + 7n))).error, 20003);
  });

  it('file transfer data path (HGFS in opcode 84): upload and download as the user', async () => {
    const hg = async (packet: Buffer, c: Creds = creds) => {
      const r = parseReply(await service.handleRelayed(relayedArgs(buildMessage({ opCode: OP.HGFS, body: hgfs.body(packet), creds: c, commonFlags: 0x81 }))));
      assert.equal(r.binary, true);
      if (r.error !== 0) return { error: r.error, status: -1, payload: Buffer.alloc(0) };
      const raw = Buffer.from(r.result, 'latin1');
      return { error: 0, status: raw.readUInt32LE(24), payload: raw.subarray(44), session: raw.readBigUInt64LE(36) };
    };
    const s = await hg(hgfs.createSession());
    assert.equal(s.status, 0);
    const sid = s.payload.readBigUInt64LE(0);
    const dest = path.join(u.home, 'uploaded.bin');
    const data = Buffer.from(Array.from({ length: 150_000 }, (_, i) => (i * 7) & 0xff));
    // Upload: open write-only, create+truncate; three WRITE_V3 packets; close.
    const o = await hg(hgfs.openV3(sid, dest, 1, 4));
    assert.equal(o.status, 0);
    const wh = o.payload.readUInt32LE(0);
    for (let off = 0; off < data.length; off += 60_000) {
      const w = await hg(hgfs.writeV3(sid, wh, BigInt(off), data.subarray(off, off + 60_000)));
      assert.equal(w.status, 0);
      assert.equal(w.payload.readUInt32LE(0), Math.min(60_000, data.length - off));
    }
    assert.equal((await hg(hgfs.close(sid, wh))).status, 0);
    const st = fs.statSync(dest);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [u.uid, u.gid, 0o600]);
    assert.ok(fs.readFileSync(dest).equals(data));
    // Attributes and permissions.
    const ga = await hg(hgfs.getattrV2(sid, dest));
    assert.equal(ga.status, 0);
    assert.equal(ga.payload.readBigUInt64LE(8 + 12), BigInt(data.length));
    assert.equal((await hg(hgfs.setattrV2(sid, dest, 0o640))).status, 0);
    assert.equal(fs.statSync(dest).mode & 0o777, 0o640);
    // Download: open read-only, READ_V3 until short.
    const r = await hg(hgfs.openV3(sid, dest, 0, 0));
    const rh = r.payload.readUInt32LE(0);
    const chunks: Buffer[] = [];
    for (let off = 0; ; ) {
      const rd = await hg(hgfs.readV3(sid, rh, BigInt(off), 0xf800));
      assert.equal(rd.status, 0);
      const n = rd.payload.readUInt32LE(0);
      chunks.push(rd.payload.subarray(12, 12 + n));
      off += n;
      if (n === 0) break;
    }
    assert.ok(Buffer.concat(chunks).equals(data));
    // Writing through a read handle, a closed handle, unreadable and symlinked files, other users.
    assert.equal((await hg(hgfs.writeV3(sid, rh, 0n, Buffer.from('x')))).status, 8);
    assert.equal((await hg(hgfs.close(sid, rh))).status, 0);
    assert.equal((await hg(hgfs.readV3(sid, rh, 0n, 10))).status, 2);
    assert.equal((await hg(hgfs.openV3(sid, '/etc/shadow', 0, 0))).status, 8);
    assert.equal((await hg(hgfs.openV3(sid, '/etc/vmtgo-upload', 1, 4))).status, 8);
    assert.equal(fs.existsSync('/etc/vmtgo-upload'), false);
    fs.symlinkSync('/etc/hostname', path.join(u.home, 'hlink'));
    assert.equal((await hg(hgfs.openV3(sid, path.join(u.home, 'hlink'), 0, 0))).status, 8);
    assert.equal((await hg(hgfs.openV3(sid, `${u.home}/../x`, 0, 0))).status, 9);
    assert.equal((await hg(hgfs.getattrV2(sid, dest), { user: other.name, password: other.password })).status, 17);
    assert.equal((await hg(hgfs.readV3(sid, wh, 0n, 10), bad)).error, 3015);
    assert.equal((await hg(hgfs.destroySession(sid))).status, 0);
    assert.equal((await hg(hgfs.getattrV2(sid, dest))).status, 17);
  });

  it('DeleteFile and DeleteDirectory', async () => {
    const f = path.join(u.home, 'f.txt');
    fs.symlinkSync('/etc/hostname', path.join(u.home, 'link'));
    await ok(OP.DELETE_FILE, bodies.deleteFile(path.join(u.home, 'link')));
    assert.ok(fs.existsSync('/etc/hostname'));
    await ok(OP.DELETE_FILE, bodies.deleteFile(f));
    assert.equal(fs.existsSync(f), false);
    assert.equal((await call(OP.DELETE_FILE, bodies.deleteFile(u.home))).error, 20001);
    assert.equal((await call(OP.DELETE_FILE, bodies.deleteFile('/etc/hostname'))).error, 13);
    assert.equal((await call(OP.DELETE_DIRECTORY, bodies.deleteDir(path.join(u.home, 'p')))).error, 20006);
    await ok(OP.DELETE_DIRECTORY, bodies.deleteDir(path.join(u.home, 'p'), true));
    assert.equal(fs.existsSync(path.join(u.home, 'p')), false);
    assert.equal((await call(OP.DELETE_DIRECTORY, bodies.deleteDir(path.join(u.home, 'ids')))).error, 20002);
  });

  it('another user cannot touch this user\'s files', async () => {
    const f = path.join(u.home, 'private');
    fs.writeFileSync(f, 'x');
    fs.chownSync(f, u.uid, u.gid);
    fs.chmodSync(u.home, 0o700);
    const o = { user: other.name, password: other.password };
    assert.equal((await call(OP.DELETE_FILE, bodies.deleteFile(f), o)).error, 13);
    assert.equal((await call(OP.TRANSFER_FROM, bodies.transferFrom(f), o)).error, 13);
    assert.ok(fs.existsSync(f));
  });

  it('bad credentials change nothing, for every operation', async () => {
    const marker = path.join(u.home, 'marker');
    fs.writeFileSync(marker, 'x');
    const before = securityCounters.authenticatedExecutions;
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const reqs: Array<[number, Buffer | undefined]> = [
        [OP.VALIDATE_CREDENTIALS, undefined],
        [OP.CREATE_DIRECTORY_EX, bodies.mkdir(path.join(u.home, 'evil'))],
        [OP.DELETE_FILE, bodies.deleteFile(marker)],
        [OP.DELETE_DIRECTORY, bodies.deleteDir(u.home, true)],
        [OP.MOVE_FILE, bodies.move(marker, path.join(u.home, 'moved'))],
        [OP.MOVE_DIRECTORY, bodies.move(u.home, '/tmp/vmtgo-evil')],
        [OP.CREATE_TEMP_FILE, bodies.mktemp('evil', '', u.home)],
        [OP.CREATE_TEMP_DIR, bodies.mktemp('evil', '', u.home)],
        [OP.SET_ATTRIBUTES, bodies.setattr(marker, { options: 0x40, perm: 0o777 })],
        [OP.START_PROGRAM, bodies.startProgram('/bin/touch', path.join(u.home, 'evil'))],
        [OP.LIST_PROCESSES_EX, bodies.listProcesses()],
        [OP.TERMINATE_PROCESS, bodies.kill(BigInt(sleeper.pid!))],
        [OP.KILL_PROCESS, bodies.kill(BigInt(sleeper.pid!))],
        [OP.READ_ENV, bodies.readEnv()],
        [OP.LIST_FILES, bodies.listFiles(u.home)],
        [OP.TRANSFER_FROM, bodies.transferFrom(marker)],
        [OP.TRANSFER_TO, bodies.transferTo(marker, true)],
      ];
      for (const [op, body] of reqs) {
        for (const c of [bad, { user: u.name, password: '' }, { user: `vmtgo${process.pid}none`, password: 'x' }, { user: 'root', password: 'root' }]) {
          const r = await call(op, body, c);
          assert.ok(r.error === 3050 || r.error === 3015, `op ${op} user ${c.user}: ${r.error}`);
          assert.equal(r.result, op === OP.START_PROGRAM ? '-1' : '');
        }
      }
      assert.equal(securityCounters.authenticatedExecutions, before);
      assert.ok(fs.existsSync(marker) && !fs.existsSync(path.join(u.home, 'evil')));
      assert.equal(fs.statSync(marker).mode & 0o777, 0o644);
      assert.equal(sleeper.exitCode, null);
    } finally {
      sleeper.kill();
    }
  });

  it('security counter: no operation ran without authentication in this suite', () => {
    assert.equal(securityCounters.unauthenticatedExecutions - startUnauth, 0);
  });
});
