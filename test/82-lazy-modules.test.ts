/**
 * Lazy service code (src/daemon/lazyModules.ts): built at the first command,
 * or by loadAllLazyModules() before a quiesce freezes (no code loads while
 * frozen), and the dispatcher still sees raw-argument handlers as raw.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT } from '../src/sim/harness';
import { lazyHandlers, lazyModule, loadAllLazyModules } from '../src/daemon/lazyModules';
import { TcloDispatcher } from '../src/rpc/tclo';

describe('82 lazy service modules', () => {
  it('builds once, at the first command, and delegates to the real handler', async () => {
    let builds = 0;
    const handlers = lazyHandlers(['a.cmd', 'b.cmd'], () => {
      builds++;
      return { 'a.cmd': (args) => ({ ok: true, result: `a:${args.toString()}` }) };
    });
    assert.equal(builds, 0, 'nothing is built before a command');
    const d = new TcloDispatcher();
    d.registerAll(handlers);
    assert.equal((await d.dispatch(Buffer.from('a.cmd x'))).toString(), 'OK a: x');
    assert.equal((await d.dispatch(Buffer.from('a.cmd y'))).toString(), 'OK a: y');
    assert.equal(builds, 1);
    // A name the built service does not serve (e.g. disabled on this host) answers as the reference does.
    assert.equal((await d.dispatch(Buffer.from('b.cmd'))).toString(), 'ERROR Unknown Command');
  });

  it('a raw command keeps its trailing NULs through the stub', async () => {
    let seen: Buffer | undefined;
    const d = new TcloDispatcher();
    d.registerAll(lazyHandlers(['raw.cmd'], () => ({ 'raw.cmd': (args) => ((seen = Buffer.from(args)), { ok: true, result: '' }) }), { raw: ['raw.cmd'] }));
    await d.dispatch(Buffer.from('raw.cmd ab\0\0'));
    assert.deepEqual(seen, Buffer.from(' ab\0\0'));
  });

  it('loadAllLazyModules() loads everything registered (what vmbackup calls before it freezes)', () => {
    let loaded = 0;
    const get = lazyModule(() => ({ n: ++loaded }));
    lazyHandlers(['c.cmd'], () => (loaded++, {}));
    assert.equal(loaded, 0);
    loadAllLazyModules();
    assert.equal(loaded, 2);
    assert.equal(get().n, 1, 'the same instance after');
    loadAllLazyModules();
    assert.equal(loaded, 2, 'never twice');
  });

  it('the daemon starts without the guest-ops and customization engines loaded', () => {
    // A fresh process: this one has every test file's imports in its module cache.
    const out = execFileSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(REPO_ROOT, 'dist/src/cli/vmtoolsd'))}); process.stdout.write(JSON.stringify(Object.keys(require.cache)))`], { encoding: 'utf8' });
    const modules: string[] = JSON.parse(out);
    assert.ok(modules.some((m) => /daemon[\\/]deployPkgService\.js$/.test(m)), 'the light part of deployPkg is loaded');
    const engines = modules.filter((m) => /services[\\/](guestops[\\/]service|deploypkg[\\/](engine|archive|nativeEngine))\.js$/.test(m));
    assert.deepEqual(engines, [], 'loaded on first use only');
  });
});
