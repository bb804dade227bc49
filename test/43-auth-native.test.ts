/**
 * Native parts of guest-operation authentication (issue 7), against real
 * accounts created for the test: PAM service `vmtoolsd` on a worker thread
 * (native/addon/auth.cc) with account checks, and the vmtoolsd-runas helper
 * (uid, gid, supplementary groups, clean environment, no way back to root).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pamAuthenticate, pamCodeNames } from '../src/native';
import { REPO_ROOT } from './helpers/native-env';
import { makePamConfDir } from './helpers/pamTestConf';
import { createGroup, createUser, removeAll, TestUser, usersAvailable } from './helpers/testUsers';

const RUNAS = path.join(REPO_ROOT, 'build', 'Release', 'vmtoolsd-runas');

describe('43 auth native: PAM and vmtoolsd-runas', function () {
  this.timeout(60_000);
  let confDir: string;
  let good: TestUser;
  let locked: TestUser;
  let expired: TestUser;
  let nologin: TestUser;
  let mustChange: TestUser;
  let grouped: TestUser;
  let group: string;
  const pam = (user: string, pw: string) => pamAuthenticate(user, Buffer.from(pw), { confDir });

  before(function () {
    const why = usersAvailable();
    if (why) this.skip();
    confDir = makePamConfDir();
    good = createUser('g');
    locked = createUser('l', { locked: true });
    expired = createUser('e', { expired: true });
    nologin = createUser('n', { shell: '/usr/sbin/nologin' });
    mustChange = createUser('c');
    group = createGroup('x');
    grouped = createUser('s', { groups: [group] });
  });
  after(() => {
    removeAll();
    if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
  });

  describe('pamAuthenticate', () => {
    it('accepts the right password', async () => {
      const r = await pam(good.name, good.password);
      assert.equal(r.ok, true, r.message);
      assert.equal(r.pamCode, 0);
    });
    it('refuses a wrong password at the authenticate step', async () => {
      const r = await pam(good.name, 'wrong');
      assert.equal(r.ok, false);
      assert.equal(r.stage, 'authenticate');
      assert.equal(pamCodeNames().get(r.pamCode), 'PAM_AUTH_ERR');
    });
    it('refuses an unknown user', async () => {
      const r = await pam(`vmtgo${process.pid}nobody`, 'whatever');
      assert.equal(r.ok, false);
    });
    it('refuses a locked account (usermod -L) even with its password', async () => {
      const r = await pam(locked.name, locked.password);
      assert.equal(r.ok, false);
    });
    it('refuses an expired account (chage -E 1) even with its password', async () => {
      const r = await pam(expired.name, expired.password);
      assert.equal(r.ok, false);
      // pam_unix's checker already refuses an expired account at the authenticate step.
      assert.ok(['PAM_AUTH_ERR', 'PAM_ACCT_EXPIRED'].includes(pamCodeNames().get(r.pamCode) ?? ''), r.message);
    });
    it('refuses an account whose password must be changed (chage -d 0) at the account step', async () => {
      execFileSync('chage', ['-d', '0', mustChange.name]);
      const r = await pam(mustChange.name, mustChange.password);
      assert.equal(r.ok, false);
      assert.equal(r.stage, 'acct_mgmt');
      assert.equal(pamCodeNames().get(r.pamCode), 'PAM_NEW_AUTHTOK_REQD');
    });
    it('refuses an account whose shell is not in /etc/shells (pam_shells)', async () => {
      const r = await pam(nologin.name, nologin.password);
      assert.equal(r.ok, false);
      assert.equal(r.stage, 'acct_mgmt');
    });
    it('does not block the event loop while PAM works', async () => {
      let ticks = 0;
      const t = setInterval(() => ticks++, 5);
      await Promise.all([pam(good.name, 'wrong-1'), pam(good.name, good.password)]);
      clearInterval(t);
      // A wrong password costs pam_unix's ~2 s failure delay; the loop kept turning meanwhile.
      assert.ok(ticks > 10, `only ${ticks} ticks`);
    });
    it('validates its arguments', () => {
      assert.throws(() => pamAuthenticate('', Buffer.from('x')), TypeError);
      assert.throws(() => pamAuthenticate('a\0b', Buffer.from('x')), TypeError);
      assert.throws(() => pamAuthenticate('a', Buffer.from('x\0y')), TypeError);
    });
  });

  describe('vmtoolsd-runas', () => {
    const runas = (args: string[]) => spawnSync(RUNAS, args, { encoding: 'utf8', env: {} });

    it('sets uid, gid and supplementary groups (initgroups)', () => {
      const r = runas(['--user', grouped.name, '--', 'sh', '-c', 'id -u; id -g; id -G; grep -E "^(Uid|Gid|Groups):" /proc/self/status']);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.equal(Number(lines[0]), grouped.uid);
      assert.equal(Number(lines[1]), grouped.gid);
      const gid = Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]);
      assert.deepEqual(lines[2].split(' ').map(Number).sort(), [grouped.gid, gid].sort());
      // Real, effective, saved and fs ids are all the user's.
      assert.match(lines[3], new RegExp(`^Uid:\\s+${grouped.uid}\\s+${grouped.uid}\\s+${grouped.uid}\\s+${grouped.uid}$`));
      assert.match(lines[4], new RegExp(`^Gid:\\s+${grouped.gid}\\s+${grouped.gid}\\s+${grouped.gid}\\s+${grouped.gid}$`));
    });
    it('drops root supplementary groups for a user without any', () => {
      const r = runas(['--user', good.name, '--', 'id', '-G']);
      assert.equal(r.stdout.trim(), String(good.gid));
    });
    it('gives a clean environment and starts in the home directory', () => {
      const r = spawnSync(RUNAS, ['--user', good.name, '--', 'sh', '-c', 'env | sort; pwd'], {
        encoding: 'utf8',
        env: { SECRET: 'x', LD_PRELOAD: '' },
      });
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.pop(), good.home);
      const env = lines.filter((l) => !l.startsWith('PWD=') && !l.startsWith('SHLVL=') && !l.startsWith('_='));
      assert.deepEqual(env, [
        `HOME=${good.home}`, `LOGNAME=${good.name}`, 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'SHELL=/bin/sh', `USER=${good.name}`,
      ]);
    });
    it('with --no-default-env the environment is exactly the --env entries', () => {
      const r = runas(['--user', good.name, '--no-default-env', '--env', 'A=1', '--env', 'B=two words', '--', '/usr/bin/env']);
      assert.deepEqual(r.stdout.trim().split('\n'), ['A=1', 'B=two words']);
    });
    it('cannot regain root: setuid(0) in the child fails', () => {
      const r = runas(['--user', good.name, '--', 'python3', '-c', 'import os\ntry:\n os.setuid(0); print("ROOT")\nexcept PermissionError: print("denied")']);
      assert.equal(r.stdout.trim(), 'denied');
    });
    it('refuses to run when not started as root', () => {
      const r = runas(['--user', good.name, '--', RUNAS, '--user', 'root', '--', 'id']);
      assert.equal(r.status, 127);
      assert.match(r.stderr, /notroot/);
    });
    it('reports failures on the status fd: unknown user, bad cwd, exec', () => {
      const viaFd = (args: string[]) =>
        spawnSync('bash', ['-c', `"${RUNAS}" --status-fd 3 "$@" 3>&1 >/dev/null`, 'x', ...args], { encoding: 'utf8' }).stdout.trim();
      assert.equal(viaFd(['--user', 'vmtgo-no-such-user', '--', 'true']), 'user 2');
      assert.match(viaFd(['--user', good.name, '--cwd', '/nonexistent-dir', '--', 'true']), /^cwd 2$/);
      assert.match(viaFd(['--user', good.name, '--', '/nonexistent-prog']), /^exec 2$/);
      assert.match(viaFd(['--user', good.name, '--', '/etc/shadow']), /^exec 13$/);
      assert.equal(viaFd(['--user', good.name, '--', 'true']), '');
    });
    it('closes inherited descriptors', () => {
      const r = spawnSync('bash', ['-c', `exec 7</etc/hostname; "${RUNAS}" --user ${good.name} -- ls /proc/self/fd`], { encoding: 'utf8' });
      assert.deepEqual(r.stdout.trim().split('\n').sort(), ['0', '1', '2', '3']); // 3 = ls's own directory handle
    });
  });
});
