/**
 * Layer 9: the systemd units and the files generated from them.
 *
 * `systemd-analyze verify` checks every unit in a throw-away root (--root):
 * systemd's own units are copied in, the native unit comes from
 * scripts/install.sh run with that root as --destdir (so its ExecStart
 * exists for real), the container units get stub podman/docker/runc
 * executables. verify runs its own manager in test mode: it never talks to
 * this machine's systemd, and nothing is written outside the temp root.
 * Beyond syntax, the settings the packaging issue asks for are checked one
 * by one (verify cannot tell `docker stop -t NAME` is malformed).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../src/sim/harness';

const UNITS = path.join(REPO_ROOT, 'units');
const CONTAINER = path.join(REPO_ROOT, 'container');
const SYSTEM_UNITS = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => fs.existsSync(d));

/**
 * The one set of binds every privileged run line has (RUN label, both units,
 * Atomic, Kubernetes; container/README.md documents each): the list,
 * plus what guest operations need from the host (groups for initgroups,
 * shells for pam_shells, the homes) and the host's os-release for guest info.
 */
const REQUIRED_BINDS = ['/run/systemd:/run/systemd', '/:/host', '/etc/passwd:/etc/passwd:ro', '/etc/shadow:/etc/shadow:ro',
  '/etc/group:/etc/group:ro', '/etc/shells:/etc/shells:ro', '/home:/home',
  '/var/log:/var/log', '/tmp:/tmp', '/etc/vmware-tools:/etc/vmware-tools', '/etc/os-release:/etc/os-release:ro'];
/** Of those, what LinuxKit has no source for (no systemd; os-release is not in its base). */
const NOT_ON_LINUXKIT = ['/run/systemd:/run/systemd', '/etc/os-release:/etc/os-release:ro'];

/** `-v SRC:DST[:opts]` words of a run line. */
function runLineBinds(line: string): string[] {
  return [...line.matchAll(/-v (\S+)/g)].map((m) => m[1]);
}

/** The RUN label's binds as container/build-image.sh writes them. */
function runLabelBinds(): string[] {
  const script = fs.readFileSync(path.join(CONTAINER, 'build-image.sh'), 'utf8');
  const m = /^binds="([^"]*)"$/m.exec(script);
  assert.ok(m, 'build-image.sh has a binds="..." line');
  return runLineBinds(m[1]);
}
const REQUIRED_FLAGS = ['--privileged', '--net=host', '--pid=host', '--ipc=host', '--uts=host', '-e SYSTEMD_IGNORE_CHROOT=1'];

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['LD_PRELOAD', 'VMTOOLSD_SIM_SOCKET', 'VMTOOLSD_SIM_CPUID_PATCH']) delete env[k];
  return env;
}

/** Unit file → { "Section.Key": [values…] } with continuation lines joined. */
function parseUnit(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) { section = sec[1]; continue; }
    const i = line.indexOf('=');
    const key = `${section}.${line.slice(0, i).trim()}`;
    out.set(key, [...(out.get(key) ?? []), line.slice(i + 1).trim().replace(/\s+/g, ' ')]);
  }
  return out;
}

function one(u: Map<string, string[]>, key: string): string {
  const v = u.get(key);
  assert.ok(v && v.length > 0, `${key} missing`);
  return v[v.length - 1];
}

/** Absolute executables a unit runs (Exec*= lines, after systemd's prefixes). */
function executables(u: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [k, vs] of u) {
    if (!/^Service\.Exec/.test(k)) continue;
    for (const v of vs) {
      const cmd = v.replace(/^[-@:+!]+/, '').split(' ')[0];
      if (cmd.startsWith('/')) out.push(cmd);
    }
  }
  return out;
}

function seconds(v: string): number {
  const m = /^(\d+)\s*(s|sec|min|m)?$/.exec(v);
  assert.ok(m, `time span ${v}`);
  return Number(m[1]) * (m[2] === 'min' || m[2] === 'm' ? 60 : 1);
}

describe('systemd units (systemd-analyze verify in a private root)', function () {
  let root = '';
  const haveAnalyze = spawnSync('systemd-analyze', ['--version'], { env: cleanEnv() }).status === 0;

  before(function () {
    if (!haveAnalyze || !SYSTEM_UNITS) this.skip();
    this.timeout(60_000);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-units-'));
    fs.mkdirSync(path.join(root, 'usr', 'lib', 'systemd'), { recursive: true });
    spawnSync('cp', ['-a', SYSTEM_UNITS, path.join(root, 'usr', 'lib', 'systemd', 'system')]);
    fs.symlinkSync('usr/lib', path.join(root, 'lib'));
    fs.mkdirSync(path.join(root, 'etc', 'systemd', 'system'), { recursive: true });
  });
  after(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  /** Puts stub executables for what the unit runs, and runs verify on it; returns its output. */
  function verify(name: string, text: string): string {
    const unit = parseUnit(text);
    for (const exe of executables(unit)) {
      const p = path.join(root, exe);
      if (!fs.existsSync(p)) {
        fs.mkdirSync(path.dirname(p), { recursive: true });
        fs.writeFileSync(p, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
      }
    }
    const dest = path.join(root, 'etc', 'systemd', 'system', name);
    fs.writeFileSync(dest, text);
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, dest], { encoding: 'utf8', env: cleanEnv(), timeout: 60_000 });
    const out = `${r.stdout}${r.stderr}`.split('\n')
      // Noise about this machine (a container without a readable PID 1 environment), not about the unit.
      .filter((l) => l !== '' && !/Failed to read \$container of PID 1|PR_SET_MM_ARG_START/.test(l)).join('\n');
    assert.equal(r.status, 0, `verify ${name}:\n${out}`);
    return out;
  }

  it('verify in this root does catch a broken unit (control)', function () {
    this.timeout(60_000);
    const dest = path.join(root, 'etc', 'systemd', 'system', 'broken-control.service');
    fs.writeFileSync(dest, '[Service]\nType=bogus\nExecStart=/usr/bin/no-such-binary\n');
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, dest], { encoding: 'utf8', env: cleanEnv(), timeout: 60_000 });
    fs.rmSync(dest);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Failed to parse service type/);
    assert.match(r.stderr, /no-such-binary is not executable/);
  });

  it('vmtoolsd.service, as scripts/install.sh installs it (--destdir), passes verify with no warning', function () {
    this.timeout(120_000);
    const r = spawnSync('bash', [path.join(REPO_ROOT, 'scripts', 'install.sh'), '--destdir', root], { encoding: 'utf8', env: cleanEnv() });
    assert.equal(r.status, 0, r.stderr);
    for (const b of ['vmtoolsd', 'vmware-rpctool', 'vmware-toolbox-cmd']) {
      assert.ok(fs.existsSync(path.join(root, 'usr', 'local', 'bin', b)), `${b} installed into the destdir`);
    }
    const installed = path.join(root, 'etc', 'systemd', 'system', 'vmtoolsd.service');
    const text = fs.readFileSync(installed, 'utf8');
    assert.match(text, /^ExecStart=\/usr\/local\/bin\/vmtoolsd$/m);
    assert.equal(verify('vmtoolsd.service', text), '');
  });

  it('install.sh --prefix rewrites ExecStart', function () {
    this.timeout(120_000);
    const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-prefix-'));
    try {
      const r = spawnSync('bash', [path.join(REPO_ROOT, 'scripts', 'install.sh'), '--destdir', dest, '--prefix', '/opt/vmtoolsd'], { encoding: 'utf8', env: cleanEnv() });
      assert.equal(r.status, 0, r.stderr);
      const text = fs.readFileSync(path.join(dest, 'etc', 'systemd', 'system', 'vmtoolsd.service'), 'utf8');
      assert.match(text, /^ExecStart=\/opt\/vmtoolsd\/bin\/vmtoolsd$/m);
      assert.ok(fs.existsSync(path.join(dest, 'opt', 'vmtoolsd', 'lib', 'vmtoolsd-node', 'build', 'Release', 'vmtools_native.node')));
      assert.ok(!fs.existsSync(path.join(dest, 'opt', 'vmtoolsd', 'lib', 'vmtoolsd-node', 'node_modules', 'mocha')), 'no dev dependencies');
      // The helpers the daemon spawns, where it looks for them (upwards from dist/ to build/Release).
      for (const h of ['vmtoolsd-runas', 'vmtoolsd-freeze-holder']) {
        const p = path.join(dest, 'opt', 'vmtoolsd', 'lib', 'vmtoolsd-node', 'build', 'Release', h);
        assert.ok(fs.existsSync(p), `${h} installed`);
        assert.ok((fs.statSync(p).mode & 0o111) !== 0, `${h} executable`);
      }
      assert.ok(fs.existsSync(path.join(dest, 'etc', 'pam.d', 'vmtoolsd')), 'PAM service vmtoolsd installed');
    } finally {
      fs.rmSync(dest, { recursive: true, force: true });
    }
  });

  it('vmtoolsd.service has the settings of a native guest agent', function () {
    const u = parseUnit(fs.readFileSync(path.join(UNITS, 'vmtoolsd.service'), 'utf8'));
    assert.equal(one(u, 'Service.Type'), 'notify');
    assert.ok(seconds(one(u, 'Service.WatchdogSec')) >= 10, 'WatchdogSec leaves room for a 5 s TCLO back-off');
    assert.equal(one(u, 'Unit.ConditionVirtualization'), 'vmware');
    assert.equal(one(u, 'Unit.DefaultDependencies'), 'no');
    assert.ok(u.get('Unit.Before')!.join(' ').split(' ').includes('cloud-init-local.service'));
    assert.ok(u.get('Unit.Conflicts')!.join(' ').split(' ').includes('shutdown.target'), 'stopped at shutdown without default dependencies');
    assert.ok(seconds(one(u, 'Service.TimeoutStopSec')) <= 10);
    assert.equal(one(u, 'Service.Restart'), 'on-failure');
    assert.equal(one(u, 'Install.WantedBy'), 'multi-user.target');
  });

  for (const file of ['vmtoolsd-podman.service', 'vmtoolsd-docker.service']) {
    it(`${file} passes verify with no warning`, function () {
      this.timeout(60_000);
      const text = fs.readFileSync(path.join(UNITS, file), 'utf8');
      if (file.includes('docker')) {
        // The host provides docker.service; a stand-in makes Requires= resolvable here.
        fs.writeFileSync(path.join(root, 'etc', 'systemd', 'system', 'docker.service'), '[Service]\nExecStart=/usr/bin/docker\n');
      }
      assert.equal(verify(file, text), '');
    });

    it(`${file}: the full privileged run line, cleanup before start, a well-formed stop`, function () {
      const u = parseUnit(fs.readFileSync(path.join(UNITS, file), 'utf8'));
      const engine = file.includes('podman') ? 'podman' : 'docker';
      const start = one(u, 'Service.ExecStart');
      for (const want of [...REQUIRED_FLAGS, ...REQUIRED_BINDS.map((b) => `-v ${b}`)]) {
        assert.ok(start.includes(want), `${file} ExecStart lacks ${want}`);
      }
      const pre = u.get('Service.ExecStartPre') ?? [];
      assert.ok(pre.some((c) => new RegExp(`^-/usr/bin/${engine} rm (--force|-f)`).test(c)), `${file}: ExecStartPre removes a leftover container, failures ignored`);
      const stop = one(u, 'Service.ExecStop');
      const m = engine === 'docker'
        ? /^\/usr\/bin\/docker stop -t (\d+) (\S+)$/.exec(stop)
        : /^\/usr\/bin\/podman stop (?:--ignore )?--time (\d+) (\S+)$/.exec(stop);
      assert.ok(m, `${file}: ExecStop "${stop}" is "${engine} stop <timeout seconds> <name>"`);
      assert.ok(Number(m[1]) < seconds(one(u, 'Service.TimeoutStopSec')), 'the engine kills before systemd does');
      assert.equal(one(u, 'Unit.ConditionVirtualization'), 'vmware');
      assert.equal(one(u, 'Service.Restart'), 'on-failure');
    });
  }

  it('the Atomic service.template, with atomic\'s variables filled in, passes verify', function () {
    this.timeout(60_000);
    const manifest = JSON.parse(fs.readFileSync(path.join(CONTAINER, 'atomic', 'manifest.json'), 'utf8'));
    const values: Record<string, string> = {
      ...manifest.defaultValues,
      NAME: 'vmtoolsd',
      DESTDIR: '/var/lib/containers/atomic/vmtoolsd.0',
      EXEC_START: "/bin/runc --systemd-cgroup run 'vmtoolsd'",
      EXEC_STOP: "/bin/runc --systemd-cgroup kill 'vmtoolsd'",
    };
    const fill = (t: string): string => t.replace(/\$([A-Z_]+)/g, (_, k: string) => {
      assert.ok(k in values, `template variable $${k} has no value`);
      return values[k];
    });
    const text = fill(fs.readFileSync(path.join(CONTAINER, 'atomic', 'service.template'), 'utf8'));
    fs.mkdirSync(path.join(root, values.DESTDIR), { recursive: true });
    assert.equal(verify('vmtoolsd-atomic.service', text), '');
    // config.json.template becomes valid JSON with the manifest's defaults.
    const cfg = JSON.parse(fill(fs.readFileSync(path.join(CONTAINER, 'atomic', 'config.json.template'), 'utf8')));
    assert.deepEqual(cfg.linux.namespaces, [{ type: 'mount' }], 'host pid, net, ipc and uts');
    const binds = (cfg.mounts as Array<{ source: string; destination: string; options?: string[] }>)
      .map((m) => `${m.source}:${m.destination}${m.options?.includes('ro') ? ':ro' : ''}`);
    for (const want of REQUIRED_BINDS) {
      const [src, dst] = want.split(':');
      assert.ok(binds.some((b) => b.startsWith(`${src}:${dst}`) && (!want.endsWith(':ro') || b.endsWith(':ro'))), `config.json.template lacks ${want}: ${binds.join(' ')}`);
    }
    assert.ok(cfg.process.env.includes('SYSTEMD_IGNORE_CHROOT=1'));
    assert.match(fill(fs.readFileSync(path.join(CONTAINER, 'atomic', 'tmpfiles.template'), 'utf8')), /^d \/etc\/vmware-tools /m);
  });

  it('the INSTALL label\'s install-host.sh writes a podman unit that passes verify', function () {
    this.timeout(60_000);
    const host = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-host-'));
    fs.mkdirSync(path.join(host, 'etc'));
    try {
      // install-host.sh reads the units from the image; point it at the repository's.
      const script = fs.readFileSync(path.join(CONTAINER, 'install-host.sh'), 'utf8').replace('src=/usr/lib/vmtoolsd-node/container', `src=${UNITS}`);
      const r = spawnSync('sh', ['-c', script, 'install-host.sh', 'install'], {
        encoding: 'utf8', env: { ...cleanEnv(), HOST: host, IMAGE: 'registry.example.com/vmtoolsd-node:1.2', NAME: 'vmtools' },
      });
      assert.equal(r.status, 0, r.stderr);
      const text = fs.readFileSync(path.join(host, 'etc', 'systemd', 'system', 'vmtoolsd-podman.service'), 'utf8');
      assert.match(text, /^Environment=VMTOOLSD_IMAGE=registry\.example\.com\/vmtoolsd-node:1\.2$/m);
      assert.match(text, /^Environment=VMTOOLSD_NAME=vmtools$/m);
      assert.ok(fs.statSync(path.join(host, 'etc', 'vmware-tools')).isDirectory());
      assert.equal(verify('vmtoolsd-podman.service', text), '');
    } finally {
      fs.rmSync(host, { recursive: true, force: true });
    }
  });

  it('the RUN label and both units have the same binds, the required ones', function () {
    const label = runLabelBinds();
    for (const b of REQUIRED_BINDS) {
      assert.ok(label.some((l) => l === b || l.startsWith(`${b}:`)), `RUN label (build-image.sh) lacks -v ${b}: ${label.join(' ')}`);
    }
    for (const file of ['vmtoolsd-podman.service', 'vmtoolsd-docker.service']) {
      const start = one(parseUnit(fs.readFileSync(path.join(UNITS, file), 'utf8')), 'Service.ExecStart');
      assert.deepEqual(runLineBinds(start).sort(), [...label].sort(), `${file} binds = the RUN label's`);
    }
  });

  it('every bind of the run line is documented in container/README.md with the feature that needs it', function () {
    const readme = fs.readFileSync(path.join(CONTAINER, 'README.md'), 'utf8');
    // The documented set is the run line's: no bind without a row, no row for a bind the line lacks.
    const rows = readme.split('\n').filter((l) => /^\| `-v [^`]+` \|/.test(l)).map((l) => /^\| `-v ([^`]+)`/.exec(l)![1]);
    const label = runLabelBinds();
    for (const r of rows) assert.ok(label.some((l) => l === r || l.startsWith(`${r}:`)), `README row -v ${r} is not on the run line`);
    for (const l of label) assert.ok(rows.some((r) => l === r || l.startsWith(`${r}:`)), `run line bind -v ${l} has no README row`);
    assert.doesNotMatch(readme, /binds the image needs/, 'one bind table, not two');
    for (const b of REQUIRED_BINDS) {
      const row = readme.split('\n').find((l) => l.startsWith('|') && l.includes(`\`-v ${b}\``));
      assert.ok(row, `container/README.md has no table row for -v ${b}`);
      assert.ok(row.split('|').filter((c) => c.trim() !== '').length >= 2, `row for ${b} names a feature`);
    }
  });

  it('the Kubernetes DaemonSet: host network and PID, privileged, memory from the benchmark', function () {
    const y = fs.readFileSync(path.join(CONTAINER, 'kubernetes', 'vmtoolsd-daemonset.yaml'), 'utf8');
    assert.match(y, /^\s+hostNetwork: true$/m);
    assert.match(y, /^\s+hostPID: true$/m);
    assert.match(y, /^\s+privileged: true$/m);
    const bench = fs.readFileSync(path.join(REPO_ROOT, 'bench', 'results', 'daemon.md'), 'utf8');
    const rss = Number(/idle RSS \/ anon RSS \(MiB\) \| ([\d.]+) \//.exec(bench)?.[1]);
    assert.ok(rss > 0, 'idle RSS in bench/results/daemon.md');
    const req = Number(/requests:[\s\S]*?memory: (\d+)Mi/.exec(y)?.[1]);
    const lim = Number(/limits:[\s\S]*?memory: (\d+)Mi/.exec(y)?.[1]);
    assert.ok(req >= rss && req <= 2 * rss, `request ${req}Mi vs measured idle RSS ${rss} MiB`);
    assert.ok(lim >= req && lim <= 4 * rss, `limit ${lim}Mi`);
    for (const b of REQUIRED_BINDS) {
      const dst = b.split(':')[1];
      assert.match(y, new RegExp(`mountPath: ${dst.replace(/\//g, '\\/')}[ ,}]`), `DaemonSet mounts ${dst}`);
    }
  });

  it('the LinuxKit entry: host PID, power by init signal, no guest-info-breaking namespace', function () {
    const y = fs.readFileSync(path.join(CONTAINER, 'linuxkit', 'vmtoolsd.yml'), 'utf8');
    assert.match(y, /^\s+pid: host$/m);
    assert.doesNotMatch(y, /^\s+net: /m, 'LinuxKit\'s default (host) network keeps the NICs visible');
    assert.match(y, /backend = init-signal/);
    assert.match(y, /CAP_SYS_BOOT/);
    const label = JSON.parse(fs.readFileSync(path.join(CONTAINER, 'linuxkit', 'org.mobyproject.config.json'), 'utf8'));
    assert.equal(label.pid, 'host');
    // The run line's binds whose source exists on LinuxKit, in the entry and in the image's label alike.
    const ymlBinds = [...y.matchAll(/^\s+- (\/\S*:\/\S*)/gm)].map((m) => m[1]);
    for (const b of REQUIRED_BINDS.filter((x) => !NOT_ON_LINUXKIT.includes(x))) {
      const [src, dst] = b.split(':');
      for (const [where, list] of [['vmtoolsd.yml', ymlBinds], ['org.mobyproject.config.json', label.binds as string[]]] as const) {
        assert.ok(list.some((l) => l.startsWith(`${src}:${dst}`) && (!b.endsWith(':ro') || l.endsWith(':ro'))), `${where} lacks ${b}: ${list.join(' ')}`);
      }
    }
    assert.deepEqual([...ymlBinds].sort(), [...(label.binds as string[])].sort(), 'the yml entry and the label bind the same');
  });
});
