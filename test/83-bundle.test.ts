/**
 * The bundled entry points (scripts/bundle.js, bin/entry.js): what bin/
 * runs after setup, never a stale one, with its V8 code cache; one file on
 * disk apart from the addon; the same behaviour as the plain modules.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../src/sim/harness';
import { userWorkerPath } from '../src/services/guestops/runner';

const CLI_DIR = path.join(REPO_ROOT, 'dist', 'src', 'cli');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const entry = require(path.join(REPO_ROOT, 'bin', 'entry.js')) as {
  entryModule(name: string, cliDir?: string, env?: NodeJS.ProcessEnv): string;
  loadEntry(name: string, cliDir?: string, env?: NodeJS.ProcessEnv): { main?: () => unknown };
  lastLoad: { how: string };
};

/** How bin/ would load an entry, in a fresh process. */
function howLoaded(name: string, env: NodeJS.ProcessEnv = {}): string {
  const script = `const e=require(${JSON.stringify(path.join(REPO_ROOT, 'bin', 'entry.js'))});` +
    `const m=e.loadEntry(${JSON.stringify(name)});process.stdout.write(e.lastLoad.how+' '+typeof m.main);`;
  return execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...env } });
}

describe('83 bundled entry points', () => {
  for (const name of ['vmtoolsd', 'toolboxCmd']) {
    it(`${name}: setup made a current bundle, and bin/ picks it`, () => {
      const bundled = path.join(CLI_DIR, `${name}.bundle.js`);
      assert.ok(fs.existsSync(bundled), `${bundled} (scripts/bundle.js)`);
      assert.equal(entry.entryModule(name), bundled);
      assert.equal(entry.entryModule(name, CLI_DIR, { VMTOOLSD_BUNDLE: '0' }), path.join(CLI_DIR, `${name}.js`));
    });
  }

  for (const name of ['vmtoolsd', 'toolboxCmd']) {
    it(`${name}: bin/ compiles the bundle with its V8 code cache, and V8 accepts it`, () => {
      assert.equal(howLoaded(name), 'bundle+cache function');
      assert.equal(howLoaded(name, { VMTOOLSD_BUNDLE: '0' }), 'plain function');
    });
  }

  it('a code cache older than its bundle is not used; one V8 refuses only costs the compile', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle83-'));
    try {
      fs.writeFileSync(path.join(dir, 'y.js'), '');
      const bundled = path.join(dir, 'y.bundle.js');
      const cache = path.join(dir, 'y.bundle.v8cache');
      fs.writeFileSync(bundled, 'module.exports = { main: () => 42, file: __filename };');
      fs.writeFileSync(cache, Buffer.alloc(64, 7));
      const later = new Date(Date.now() + 60_000);
      fs.utimesSync(bundled, later, later);
      const a = entry.loadEntry('y', dir, {}) as { main: () => number; file: string };
      assert.equal(entry.lastLoad.how, 'bundle');
      assert.equal(a.main(), 42);
      // Same module, now with a "current" cache of garbage: V8 rejects it and compiles.
      delete require.cache[bundled];
      fs.utimesSync(cache, new Date(Date.now() + 120_000), new Date(Date.now() + 120_000));
      const b = entry.loadEntry('y', dir, {}) as { main: () => number; file: string };
      assert.equal(entry.lastLoad.how, 'bundle+rejected-cache');
      assert.equal(b.main(), 42);
      assert.equal(b.file, bundled);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bundle older than tsc\'s output, or none, is not run', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle83-'));
    try {
      const plain = path.join(dir, 'x.js');
      const bundled = path.join(dir, 'x.bundle.js');
      fs.writeFileSync(plain, '');
      assert.equal(entry.entryModule('x', dir, {}), plain, 'no bundle');
      fs.writeFileSync(bundled, '');
      fs.utimesSync(plain, new Date(), new Date(Date.now() + 60_000));
      assert.equal(entry.entryModule('x', dir, {}), plain, 'stale bundle');
      fs.utimesSync(bundled, new Date(), new Date(Date.now() + 120_000));
      assert.equal(entry.entryModule('x', dir, {}), bundled, 'current bundle');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starting the daemon bundle with a plain command line reads one file of ours and no package', () => {
    // Packages are inside the bundle; yargs loads only for help, version and
    // unusual command lines (src/cli/quickArgs.ts).
    const script = `const m=require(${JSON.stringify(path.join(CLI_DIR, 'vmtoolsd.bundle.js'))});` +
      "m.parseMainArgs(['-n','vmsvc','-c','/etc/vmware-tools/tools.conf']).then(()=>" +
      'process.stdout.write(JSON.stringify(Object.keys(require.cache))));';
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as string[];
    const ours = out.filter((f) => !f.endsWith('.node'));
    assert.deepEqual(ours, [path.join(CLI_DIR, 'vmtoolsd.bundle.js')]);
  });

  it('finds the guest-ops worker from the bundle\'s directory', () => {
    assert.equal(userWorkerPath(CLI_DIR), path.join(REPO_ROOT, 'dist', 'src', 'services', 'guestops', 'userWorker.js'));
  });

  for (const [bin, args] of [['vmtoolsd', ['--help']], ['vmtoolsd', ['--version']], ['vmware-toolbox-cmd', ['--help']], ['vmware-toolbox-cmd', ['-v']]] as const) {
    it(`bin/${bin} ${args.join(' ')}: the same output bundled and plain`, () => {
      const run = (env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } =>
        spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', bin), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
      const a = run({});
      const b = run({ VMTOOLSD_BUNDLE: '0' });
      assert.equal(a.status, b.status);
      assert.equal(a.stdout, b.stdout);
      assert.equal(a.stderr, b.stderr);
      assert.ok(a.stdout.length > 0 || a.stderr.length > 0);
    });
  }
});
