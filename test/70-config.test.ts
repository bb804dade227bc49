/**
 * tools.conf: GLib-exact parsing (checked against the real libglib when it
 * is installed), typed values and warnings, loading, the line-preserving
 * atomic editor behind `vmware-toolbox-cmd config`, and live reload.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  ConfigWatcher,
  ToolsConfig,
  configFromBytes,
  configGet,
  configRemove,
  configSet,
  decodeBoolean,
  decodeCommaList,
  decodeInteger,
  decodeString,
  encodeString,
  environmentChanges,
  generatedBlockOf,
  loadToolsConfig,
  loadToolsConfigSync,
  parseKeyFile,
  reloadOnSighup,
  removeKeyInText,
  renderKeyTables,
  setKeyInText,
  type ConfigChangeEvent,
  type ConfigWarning,
  type KeyFileParseResult,
} from '../src/config';

const REPO = path.resolve(__dirname, '..', '..');
const IS_ROOT = process.getuid?.() === 0;

function parse(text: string, semicolonComments = true): KeyFileParseResult {
  return parseKeyFile(text, { languages: ['C'], semicolonComments });
}

function groupsOf(text: string): Record<string, Record<string, string>> {
  const r = parse(text);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  const out: Record<string, Record<string, string>> = {};
  for (const [g, keys] of r.file.groups) out[g] = Object.fromEntries(keys);
  return out;
}

function configOf(text: string, file = '/etc/vmware-tools/tools.conf'): { config: ToolsConfig; warnings: ConfigWarning[] } {
  const o = configFromBytes(file, Buffer.from(text), undefined, undefined, { languages: ['C'] });
  return { config: o.config, warnings: o.warnings };
}

/** Waits until `cond()` holds (polling), or fails after `ms`. */
async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-node-conf-'));
}

describe('70 config: GLib key-file syntax', () => {
  it('reads sections, keys and values with GLib whitespace rules', () => {
    const g = groupsOf('  [logging]\n  vmsvc.level   =   debug\nlog=true\t\n[guestinfo]\npoll-interval=60\nkey with spaces = v\n');
    assert.deepEqual(g, {
      logging: { 'vmsvc.level': 'debug', log: 'true\t' }, // trailing blanks stay in the raw value
      guestinfo: { 'poll-interval': '60', 'key with spaces': 'v' },
    });
  });

  it('has #-comments and blank lines, but no inline comments', () => {
    const g = groupsOf('# top\n\n[a]\n   # indented comment\n \t \nx = 1 # not a comment\n');
    assert.deepEqual(g, { a: { x: '1 # not a comment' } });
  });

  it('accepts ;-lines as comments with a notice (GLib would not)', () => {
    const r = parse('[a]\n; a comment\nx=1\n');
    assert.ok(r.ok);
    assert.equal(r.notices.length, 1);
    assert.match(r.notices[0]!.message, /reject the whole file/);
    // With GLib's exact behaviour the same file is rejected…
    const strict = parse('[a]\n; a comment\nx=1\n', false);
    assert.equal(strict.ok, false);
    // …and a ;-line with '=' is a key named ";x".
    const key = parse('[a]\n;x=1\n', false);
    assert.ok(key.ok);
    assert.equal(key.file.groups.get('a')?.get(';x'), '1');
  });

  it('is case-sensitive for sections and keys', () => {
    const g = groupsOf('[Logging]\nLog=false\n[logging]\nlog=true\n');
    assert.deepEqual(g, { Logging: { Log: 'false' }, logging: { log: 'true' } });
  });

  it('takes group names verbatim and allows only blanks after the ]', () => {
    assert.deepEqual(groupsOf('[ spaced ]\nk=v\n[x]  \t\nk=w\n'), { ' spaced ': { k: 'v' }, x: { k: 'w' } });
    for (const bad of ['[]\n', '[a[b]\n', '[a]x\n', '[a\n', '[a]b]\n']) {
      const r = parse(bad);
      assert.equal(r.ok, false, bad);
      assert.equal(!r.ok && r.error.code, 'parse', bad);
    }
  });

  it('lets the last duplicate key win and merges repeated sections', () => {
    const g = groupsOf('[a]\nx=1\ny=1\n[b]\nz=1\n[a]\nx=2\n');
    assert.deepEqual(g, { a: { x: '2', y: '1' }, b: { z: '1' } });
  });

  it('handles CRLF and an unterminated last line like GLib', () => {
    assert.deepEqual(groupsOf('[a]\r\nx = 1\r\ny=2'), { a: { x: '1', y: '2' } });
    // GLib removes '\r' only before '\n': an unterminated last line keeps it.
    assert.deepEqual(groupsOf('[a]\nx=1\r'), { a: { x: '1\r' } });
  });

  it('rejects a file with an invalid line, naming the line', () => {
    const r = parse('[a]\nx=1\nthis is not ini\n');
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.error.line === 3 && r.error.code === 'parse');
    assert.equal(parse('[a]\n=value\n').ok, false);
    assert.equal(parse('[a]\nk[x=1\n').ok, false); // invalid key name
  });

  it('reports a key before any section as group-not-found', () => {
    const r = parse('x=1\n[a]\ny=2\n');
    assert.ok(!r.ok && r.error.code === 'group-not-found' && r.error.line === 1);
  });

  it('names a UTF-8 byte-order mark as the cause of a rejected first line', () => {
    const r = parse('\uFEFF[a]\nx=1\n');
    assert.ok(!r.ok && /byte-order mark/.test(r.error.message));
  });

  it('checks Encoding in the first group only', () => {
    assert.equal(parse('[a]\nEncoding=UTF-8\n').ok, true);
    const r = parse('[a]\nEncoding=ISO-8859-1\n');
    assert.ok(!r.ok && r.error.code === 'unknown-encoding');
    assert.equal(parse('[a]\n[b]\nEncoding=ISO-8859-1\n').ok, true);
  });

  it('keeps only interesting translations', () => {
    const text = '[a]\nk=base\nk[de]=german\nk[C]=c\nk[]=empty-locale\n';
    assert.deepEqual(groupsOf(text), { a: { k: 'base', 'k[C]': 'c', 'k[]': 'empty-locale' } });
    const all = parseKeyFile(text, { keepTranslations: true });
    assert.ok(all.ok && all.file.groups.get('a')?.get('k[de]') === 'german');
  });
});

describe('70 config: value decoding', () => {
  it('accepts exactly true/false/1/0 as booleans', () => {
    for (const [raw, v] of [['true', true], ['1', true], ['false', false], ['0', false], ['true \t', true]] as const) {
      assert.deepEqual(decodeBoolean(raw), { ok: true, value: v }, raw);
    }
    for (const raw of ['True', 'TRUE', 'yes', 'on', '', 'true x', '\\strue']) assert.equal(decodeBoolean(raw).ok, false, raw);
  });

  it('reads integers like strtol with GLib checks', () => {
    const good: Array<[string, number]> = [['30', 30], ['+30', 30], ['-1', -1], ['30 s', 30], ['007', 7], ['2147483647', 2147483647]];
    for (const [raw, v] of good) assert.deepEqual(decodeInteger(raw), { ok: true, value: v }, raw);
    for (const raw of ['', '30s', '0x10', 'abc', '2147483648', '-2147483649', '1.5', ' ']) assert.equal(decodeInteger(raw).ok, false, raw);
  });

  it('decodes string escapes and rejects unknown ones', () => {
    assert.deepEqual(decodeString('a\\sb\\n\\t\\r\\\\c'), { ok: true, value: 'a b\n\t\r\\c' });
    assert.equal(decodeString('bad\\q').ok, false);
    assert.equal(decodeString('trailing\\').ok, false);
    assert.equal(decodeString('semi\\;').ok, false);
  });

  it('splits comma lists without trimming and drops empty items', () => {
    assert.deepEqual(decodeCommaList('a*,b?, c,,'), { ok: true, value: ['a*', 'b?', ' c'] });
    assert.deepEqual(decodeCommaList(''), { ok: true, value: [] });
  });

  it('escapes what it writes so it reads back identically', () => {
    for (const v of ['plain', '  lead', '\tx', 'a\nb', 'back\\slash', 'trail ', 'x = y # z', '']) {
      const r = parse(`[s]\nk=${encodeString(v)}\n`);
      assert.ok(r.ok);
      assert.deepEqual(decodeString(r.file.groups.get('s')!.get('k')!), { ok: true, value: v }, JSON.stringify(v));
    }
  });
});

/** Real GLib as the oracle, through ctypes (libglib2.0-0 is one of the project's Debian packages). */
const GLIB_ORACLE = String.raw`
import ctypes, json, sys
from ctypes import c_void_p, c_char_p, c_size_t, c_int, POINTER, Structure, byref, c_uint32
g = ctypes.CDLL('libglib-2.0.so.0')
class GError(Structure): _fields_ = [('domain', c_uint32), ('code', c_int), ('message', c_char_p)]
PE = POINTER(POINTER(GError))
g.g_key_file_new.restype = c_void_p
g.g_key_file_load_from_data.argtypes = [c_void_p, c_char_p, c_size_t, c_int, PE]
g.g_key_file_get_groups.argtypes = [c_void_p, POINTER(c_size_t)]
g.g_key_file_get_groups.restype = POINTER(c_char_p)
g.g_key_file_get_keys.argtypes = [c_void_p, c_char_p, POINTER(c_size_t), PE]
g.g_key_file_get_keys.restype = POINTER(c_char_p)
for fn, rt in (('g_key_file_get_value', c_char_p), ('g_key_file_get_string', c_char_p), ('g_key_file_get_boolean', c_int), ('g_key_file_get_integer', c_int)):
    f = getattr(g, fn); f.argtypes = [c_void_p, c_char_p, c_char_p, PE]; f.restype = rt
def call(fn, kf, grp, key):
    err = POINTER(GError)()
    v = fn(kf, grp, key, byref(err))
    return None if err else v
out = []
for text in json.load(sys.stdin):
    data = text.encode('utf-8')
    kf = g.g_key_file_new()
    err = POINTER(GError)()
    res = {'ok': bool(g.g_key_file_load_from_data(kf, data, len(data), 0, byref(err)))}
    if not res['ok']:
        res['code'] = err.contents.code
    else:
        groups = {}
        n = c_size_t()
        gl = g.g_key_file_get_groups(kf, byref(n))
        for i in range(n.value):
            kn = c_size_t()
            kl = g.g_key_file_get_keys(kf, gl[i], byref(kn), None)
            keys = {}
            for j in range(kn.value):
                k = kl[j]
                if k.decode() in keys: continue
                s = call(g.g_key_file_get_string, kf, gl[i], k)
                b = call(g.g_key_file_get_boolean, kf, gl[i], k)
                keys[k.decode()] = {'raw': call(g.g_key_file_get_value, kf, gl[i], k).decode(),
                    'string': None if s is None else s.decode(), 'bool': None if b is None else bool(b),
                    'int': call(g.g_key_file_get_integer, kf, gl[i], k)}
            groups[gl[i].decode()] = keys
        res['groups'] = groups
    out.append(res)
json.dump(out, sys.stdout)
`;

interface OracleResult {
  ok: boolean;
  code?: number;
  groups?: Record<string, Record<string, { raw: string; string: string | null; bool: boolean | null; int: number | null }>>;
}

const DIFFERENTIAL_CORPUS = [
  '[logging]\nvmsvc.level = debug\nlog = true\n',
  '[a]\nx = 1 \ny=true\nz=30 s\nw=  \tlead\n',
  '[a]\r\nx=1\r\ny=2',
  '[a]\nx=1\r',
  '# c\n\n[a]\n  # c2\n\t\nk = v # not comment\n',
  '[ a ]\n[b]  \t\nk=1\n',
  '[a]\nx=1\n[b]\ny=2\n[a]\nx=3\nz=4\n',
  'x=1\n[a]\n',
  '[a]\nnot a pair\n',
  '[]\n',
  '[a[b]\n',
  '[a]x\n',
  '[a]\n=v\n',
  '[a]\nk[de]=1\nk[C]=2\nk[]=3\nk[x\n',
  '[a]\nk[x=1\n',
  '[a]\nEncoding=latin1\n',
  '[a]\nEncoding=utf-8\n',
  '\uFEFF[a]\nx=1\n',
  '[a]\nb1=True\nb2=1\nb3=0 \nb4=yes\nb5=false\n',
  '[a]\ni1=+5\ni2=-0\ni3=2147483648\ni4=0x1f\ni5=12abc\ni6= 42\n',
  '[a]\ns1=\\slead\ns2=a\\nb\ns3=bad\\q\ns4=end\\\n',
  '[a]\nk\u00e9y=v\u00e4l\n[gr\u00fcppe]\nx=1\n',
  '[a]\ninner key = 1\n',
  '[a]\nkey\t=\tvalue\t\n',
  '',
  '\n\n',
  '[a]',
  '[a]\n;comment\n',
  '[a]\n;k=v\n',
  '[a]\n k = v\n',
];

describe('70 config: differential against GLib', function () {
  let oracle: OracleResult[] | undefined;

  before(function () {
    const r = spawnSync('python3', ['-c', GLIB_ORACLE], {
      input: JSON.stringify(DIFFERENTIAL_CORPUS),
      env: { ...process.env, LANG: 'C', LC_ALL: '', LANGUAGE: '', LC_MESSAGES: '' },
      encoding: 'utf8',
      timeout: 20000,
    });
    if (r.status !== 0) {
      // No python3 or no libglib-2.0.so.0: nothing to compare with.
      this.skip();
    }
    oracle = JSON.parse(r.stdout) as OracleResult[];
  });

  it('accepts, rejects and reads every corpus file exactly as g_key_file does', () => {
    const codes: Record<string, number> = { 'unknown-encoding': 0, parse: 1, 'group-not-found': 4 };
    DIFFERENTIAL_CORPUS.forEach((text, i) => {
      const want = oracle![i]!;
      const ours = parseKeyFile(text, { languages: ['C'], semicolonComments: false });
      const label = `case ${i}: ${JSON.stringify(text)}`;
      assert.equal(ours.ok, want.ok, label);
      if (!ours.ok) {
        assert.equal(codes[ours.error.code], want.code, label);
        return;
      }
      const got: OracleResult['groups'] = {};
      for (const [g, keys] of ours.file.groups) {
        got[g] = {};
        for (const [k, raw] of keys) {
          const s = decodeString(raw);
          const b = decodeBoolean(raw);
          const n = decodeInteger(raw);
          got[g]![k] = { raw, string: s.ok ? s.value : null, bool: b.ok ? b.value : null, int: n.ok ? n.value : null };
        }
      }
      assert.deepEqual(got, want.groups, label);
    });
  });
});

describe('70 config: ToolsConfig', () => {
  it('gives every default for an empty configuration', () => {
    const c = ToolsConfig.defaults();
    assert.equal(c.values.guestinfo['poll-interval'], 30);
    assert.equal(c.values.guestinfo['stats-interval'], 20);
    assert.deepEqual(c.values.guestinfo['exclude-nics'], ['docker*', 'veth*', 'virbr*', 'antrea-*', 'cali*']);
    assert.equal(c.values.guestinfo['primary-nics'], undefined);
    assert.equal(c.values.vmtools['disable-tools-version'], true);
    assert.equal(c.values.vmbackup.timeout, undefined);
    assert.equal(c.values.vmbackup.enableNullDriver, undefined);
    assert.equal(c.values.powerops['poweroff-script'], 'poweroff-vm-default');
    assert.equal(c.values.powerops.backend, 'auto');
    assert.equal(c.values.deployPkg['wait-cloudinit-timeout'], 30);
    assert.equal(c.values.logging.maxCacheEntries, 4096);
    assert.equal(c.quiesceManifestPath(), '/etc/vmware-tools/quiesce_manifest.xml');
    assert.equal(c.warnings.length, 0);
    // Typed access (compile-time check as much as a run-time one).
    const period: number = c.value('guestinfo', 'poll-interval');
    const timeout: number | undefined = c.value('vmbackup', 'timeout');
    assert.equal(period + (timeout ?? 900), 930);
  });

  it('falls back to the default with a warning naming file, section, key, value and default', () => {
    const { config, warnings } = configOf('[guestinfo]\npoll-interval = soon\nmax-ipv4-routes=500\n[vmsvc]\ntoolsHangDetectorDisabled=yes\n', '/tmp/t/tools.conf');
    assert.equal(config.values.guestinfo['poll-interval'], 30);
    assert.equal(config.values.guestinfo['max-ipv4-routes'], 100);
    assert.equal(config.values.vmsvc.toolsHangDetectorDisabled, false);
    assert.equal(warnings.length, 3);
    const w = warnings.find((x) => x.key === 'poll-interval')!;
    assert.equal(w.file, '/tmp/t/tools.conf');
    assert.equal(w.section, 'guestinfo');
    assert.equal(w.value, 'soon');
    assert.equal(w.fallback, '30 s');
    assert.match(w.message, /\/tmp\/t\/tools\.conf: \[guestinfo\] poll-interval = "soon" is invalid .*using the default 30 s/);
    assert.match(warnings.find((x) => x.key === 'max-ipv4-routes')!.message, /500 is outside 0–100/);
  });

  it('distinguishes unset from explicit values for optional keys', () => {
    const zero = configOf('[vmbackup]\ntimeout=0\nenableNullDriver=false\n[guestinfo]\nexclude-nics=\n').config;
    assert.equal(zero.values.vmbackup.timeout, 0); // explicit 0 disables the abort timer
    assert.equal(zero.values.vmbackup.enableNullDriver, false);
    assert.deepEqual(zero.values.guestinfo['exclude-nics'], []);
    const bad = configOf('[vmbackup]\ntimeout=-5\n');
    assert.equal(bad.config.values.vmbackup.timeout, undefined); // → 900 s effective
    assert.match(bad.warnings[0]!.message, /using the default \(unset: 900 s\)/);
  });

  it('validates choices, paths and extension keys', () => {
    const { config, warnings } = configOf('[powerops]\nbackend = systemd\n[timeSync]\nntp-coexistence=sometimes\n[vmbackup]\nmanifestPath=relative.xml\n');
    assert.equal(config.values.powerops.backend, 'systemd');
    assert.equal(config.values.timeSync['ntp-coexistence'], 'auto');
    assert.equal(config.values.vmbackup.manifestPath, undefined);
    assert.equal(warnings.length, 2);
    const ok = configOf('[vmbackup]\nmanifestPath=/var/lib/vmware-tools/quiesce_manifest.xml\n', '/etc/vmware-tools/tools.conf').config;
    assert.equal(ok.quiesceManifestPath(), '/var/lib/vmware-tools/quiesce_manifest.xml');
  });

  it('validates pattern keys and points out case mistakes', () => {
    const { config, warnings } = configOf(
      '[logging]\nvmsvc.level=loud\nguestinfo.level=debug\n[guestoperations]\nStartProgramInGuest.disabled=true\nStartProgram.disabled=true\n' +
      '[timesync]\ndisable-all=true\n[guestinfo]\nPoll-Interval=5\n',
    );
    const messages = warnings.map((w) => `${w.severity}: ${w.message}`);
    assert.ok(messages.some((m) => /^warning: .*\[logging\] vmsvc\.level = "loud" is invalid/.test(m)), messages.join('\n'));
    assert.ok(messages.some((m) => /^notice: .*"StartProgram" is not a known name/.test(m)));
    assert.ok(messages.some((m) => /^notice: .*section \[timesync\].*did you mean \[timeSync\]/.test(m)));
    assert.ok(messages.some((m) => /^notice: .*Poll-Interval.*did you mean poll-interval/.test(m)));
    assert.equal(config.values.timeSync['disable-all'], false);
    assert.equal(config.guestOpDisabled('StartProgramInGuest'), true);
    assert.equal(config.guestOpDisabled('ListFilesInGuest'), false);
    assert.equal(configOf('[guestoperations]\ndisabled=1\n').config.guestOpDisabled('ListFilesInGuest'), true);
  });

  it('never throws on hostile names', () => {
    const { config } = configOf('[__proto__]\nconstructor=1\n[logging]\n__proto__.level=debug\nhasOwnProperty=1\n[guestoperations]\ntoString.disabled=true\n');
    assert.equal(config.get('__proto__', 'constructor'), '1');
    assert.equal(config.values.logging.log, true);
    assert.equal(config.guestOpDisabled('toString'), true);
  });

  it('gives raw and string access to any key', () => {
    const { config } = configOf('[appinfo]\npoll-interval = 3600\n[x]\ns = \\sa\\tb \n');
    assert.equal(config.get('appinfo', 'poll-interval'), '3600');
    assert.equal(config.get('x', 's'), '\\sa\\tb ');
    assert.equal(config.getString('x', 's'), ' a\tb ');
    assert.equal(config.get('x', 'missing'), undefined);
    assert.deepEqual(config.sections(), ['appinfo', 'x']);
    assert.deepEqual(configOf('[guestinfo]\nnot-a-key=1\n').config.unknownKeys(), [{ section: 'guestinfo', key: 'not-a-key' }]);
  });

  it('derives environment changes in the reference order', () => {
    const { config } = configOf('[unsetenvironment]\nFOO=\nvmsvc.BAR=\nvmusr.BAZ=\n[setenvironment]\nTMPDIR=/tmp/x  \nvmsvc.LANG=C\nvms.NOPE=1\n');
    assert.deepEqual(environmentChanges(config, 'vmsvc'), [
      { op: 'unset', name: 'FOO' },
      { op: 'set', name: 'TMPDIR', value: '/tmp/x' },
      { op: 'unset', name: 'BAR' },
      { op: 'set', name: 'LANG', value: 'C' },
    ]);
  });
});

describe('70 config: loading files', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpdir();
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uses all defaults, silently, when the file is missing or empty', async () => {
    const missing = await loadToolsConfig(path.join(dir, 'tools.conf'));
    assert.equal(missing.state, 'missing');
    assert.equal(missing.warnings.length, 0);
    assert.equal(missing.config.values.guestinfo['poll-interval'], 30);
    fs.writeFileSync(path.join(dir, 'tools.conf'), '');
    const empty = await loadToolsConfig(path.join(dir, 'tools.conf'));
    assert.equal(empty.state, 'loaded');
    assert.equal(empty.warnings.length, 0);
  });

  it('keeps the previous configuration when the file cannot be read', async () => {
    const file = path.join(dir, 'tools.conf');
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=60\n');
    const first = await loadToolsConfig(file);
    assert.equal(first.config.values.guestinfo['poll-interval'], 60);
    fs.rmSync(file);
    fs.mkdirSync(file); // a directory where the file should be
    const second = await loadToolsConfig(file, first.config);
    assert.equal(second.state, 'kept-previous');
    assert.equal(second.config, first.config);
    assert.match(second.warnings[0]!.message, /cannot be read \(not a regular file\); the previous configuration stays in force/);
    const notDir = await loadToolsConfig(path.join(dir, 'tools.conf', 'x', 'tools.conf'));
    assert.equal(notDir.state, 'missing'); // ENOENT below a directory
    fs.writeFileSync(path.join(dir, 'plain'), '');
    const enotdir = loadToolsConfigSync(path.join(dir, 'plain', 'tools.conf'));
    assert.equal(enotdir.state, 'kept-previous');
    assert.equal(enotdir.config.values.guestinfo['poll-interval'], 30);
  });

  it('refuses to read a file without permission (as an unprivileged user)', function () {
    const file = path.join(dir, 'tools.conf');
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=60\n');
    fs.chmodSync(file, 0o000);
    fs.chmodSync(dir, 0o755);
    const script = `const c=require(${JSON.stringify(path.join(REPO, 'dist/src/config'))});` +
      `const o=c.loadToolsConfigSync(${JSON.stringify(file)});process.stdout.write(JSON.stringify({state:o.state,w:o.warnings.map(w=>w.message),p:o.config.values.guestinfo['poll-interval']}));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', ...(IS_ROOT ? { uid: 65534, gid: 65534 } : {}) });
    if (r.status !== 0) this.skip();
    const out = JSON.parse(r.stdout) as { state: string; w: string[]; p: number };
    assert.equal(out.state, 'kept-previous');
    assert.equal(out.p, 30);
    assert.match(out.w[0]!, /cannot be read .*EACCES/);
  });

  it('ignores a file with a syntax error, or one starting with a key, as the reference does', async () => {
    const file = path.join(dir, 'tools.conf');
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=60\n');
    const good = await loadToolsConfig(file);
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=90\nbroken line\n');
    const bad = await loadToolsConfig(file, good.config);
    assert.equal(bad.config.values.guestinfo['poll-interval'], 60);
    assert.match(bad.warnings[0]!.message, /line 3: Key file contains line “broken line”.*previous configuration stays in force/);
    fs.writeFileSync(file, 'poll-interval=90\n[guestinfo]\n');
    const orphan = await loadToolsConfig(file, good.config);
    assert.equal(orphan.config.values.guestinfo['poll-interval'], 30);
    assert.match(orphan.warnings[0]!.message, /before the first \[section\]/);
  });
});

describe('70 config: editing (vmware-toolbox-cmd config)', () => {
  const SAMPLE = [
    '# tools.conf — keep this comment',
    '[logging]',
    '# vmsvc.level = debug',
    'vmsvc.handler = file',
    '    vmsvc.maxOldLogFiles = 3',
    '',
    '# trailing comment of logging',
    '[guestinfo]',
    '#poll-interval=30',
    '',
  ].join('\n');

  const set = (text: string, s: string, k: string, v: string): string => {
    const r = setKeyInText(Buffer.from(text, 'utf8'), s, k, v);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    return r.data.toString('utf8');
  };

  it('changes a value in place, keeping spacing and every other line', () => {
    const out = set(SAMPLE, 'logging', 'vmsvc.maxOldLogFiles', '5');
    assert.equal(out, SAMPLE.replace('    vmsvc.maxOldLogFiles = 3', '    vmsvc.maxOldLogFiles = 5'));
  });

  it('adds a key after the last key of its section, before trailing comments', () => {
    const out = set(SAMPLE, 'logging', 'vmsvc.level', 'debug');
    assert.equal(out, SAMPLE.replace('    vmsvc.maxOldLogFiles = 3\n', '    vmsvc.maxOldLogFiles = 3\nvmsvc.level=debug\n'));
    const intoEmpty = set(SAMPLE, 'guestinfo', 'poll-interval', '60');
    assert.equal(intoEmpty, SAMPLE.replace('[guestinfo]\n', '[guestinfo]\npoll-interval=60\n'));
  });

  it('appends a new section, and edits the effective duplicate', () => {
    const out = set('[a]\nx=1', 'vmbackup', 'timeout', '600');
    assert.equal(out, '[a]\nx=1\n\n[vmbackup]\ntimeout=600\n');
    const dup = set('[a]\nx=1\n[b]\n[a]\nx=2\n', 'a', 'x', '3');
    assert.equal(dup, '[a]\nx=1\n[b]\n[a]\nx=3\n');
  });

  it('keeps CRLF line endings and bytes that are not UTF-8', () => {
    const crlf = set('[a]\r\nx = 1\r\n', 'a', 'y', '2');
    assert.equal(crlf, '[a]\r\nx = 1\r\ny=2\r\n');
    const latin1 = Buffer.concat([Buffer.from('[a]\n# caf'), Buffer.from([0xe9]), Buffer.from('\nx=1\n')]);
    const r = setKeyInText(latin1, 'a', 'x', '2');
    assert.ok(r.ok);
    assert.deepEqual(r.data, Buffer.concat([Buffer.from('[a]\n# caf'), Buffer.from([0xe9]), Buffer.from('\nx=2\n')]));
  });

  it('escapes values so that the parser reads back what was set', () => {
    const out = set('[a]\n', 'a', 'arg', '  two\nlines\\');
    assert.equal(out, '[a]\narg=\\s\\stwo\\nlines\\\\\n');
    const r = parse(out);
    assert.ok(r.ok);
    assert.deepEqual(decodeString(r.file.groups.get('a')!.get('arg')!), { ok: true, value: '  two\nlines\\' });
  });

  it('removes every occurrence of a key and nothing else', () => {
    const r = removeKeyInText(Buffer.from('[a]\nx=1\n# keep\n[b]\nx=9\n[a]\nx=2\n'), 'a', 'x');
    assert.ok(r.ok && r.changed);
    assert.equal(r.data.toString(), '[a]\n# keep\n[b]\nx=9\n[a]\n');
    const none = removeKeyInText(Buffer.from('[a]\n'), 'a', 'x');
    assert.ok(none.ok && !none.changed);
  });

  it('rejects names GLib would reject', () => {
    for (const [s, k] of [['', 'k'], ['a]', 'k'], ['a', ''], ['a', ' k'], ['a', 'k='], ['a', 'k[']]) {
      const r = setKeyInText(Buffer.from('[a]\n'), s!, k!, 'v');
      assert.equal(r.ok, false, `${s} ${k}`);
    }
  });

  describe('on disk', () => {
    let dir: string;
    beforeEach(() => {
      dir = tmpdir();
    });
    afterEach(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('replaces the file atomically, keeping comments, mode and symlinks', async () => {
      const real = path.join(dir, 'real.conf');
      fs.writeFileSync(real, SAMPLE);
      fs.chmodSync(real, 0o640);
      const link = path.join(dir, 'tools.conf');
      fs.symlinkSync('real.conf', link);
      const inodeBefore = fs.statSync(real).ino;
      const r = await configSet(link, 'guestinfo', 'poll-interval', '60');
      assert.ok(r.ok && r.changed, JSON.stringify(r));
      assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the symlink stays a symlink');
      assert.notEqual(fs.statSync(real).ino, inodeBefore, 'a new file was renamed into place');
      assert.equal(fs.statSync(real).mode & 0o777, 0o640);
      assert.equal(fs.readFileSync(real, 'utf8'), SAMPLE.replace('[guestinfo]\n', '[guestinfo]\npoll-interval=60\n'));
      assert.deepEqual(fs.readdirSync(dir).sort(), ['real.conf', 'tools.conf'], 'no temporary file left behind');
      const again = await configSet(link, 'guestinfo', 'poll-interval', '60');
      assert.ok(again.ok && !again.changed);
      const get = await configGet(link, 'guestinfo', 'poll-interval');
      assert.ok(get.ok);
      assert.deepEqual(get.entries, [{ key: 'poll-interval', value: '60' }]);
      const rm = await configRemove(link, 'guestinfo', 'poll-interval');
      assert.ok(rm.ok && rm.changed);
      assert.equal(fs.readFileSync(real, 'utf8'), SAMPLE);
    });

    it('creates a missing file on set and leaves it missing on remove', async () => {
      const file = path.join(dir, 'tools.conf');
      const rm = await configRemove(file, 'a', 'b');
      assert.ok(rm.ok && !rm.changed);
      assert.equal(fs.existsSync(file), false);
      const set1 = await configSet(file, 'guestoperations', 'disabled', 'true');
      assert.ok(set1.ok && set1.changed);
      assert.equal(fs.readFileSync(file, 'utf8'), '[guestoperations]\ndisabled=true\n');
    });

    it('edits a file with syntax errors in place and warns', async () => {
      const file = path.join(dir, 'tools.conf');
      fs.writeFileSync(file, '[a]\nbroken\n');
      const r = await configSet(file, 'a', 'x', '1');
      assert.ok(r.ok && r.changed);
      assert.match(r.warnings.join('\n'), /line 3: .*broken.*ignores this file/);
      assert.equal(fs.readFileSync(file, 'utf8'), '[a]\nx=1\nbroken\n');
    });

    it('reports a read-only file system clearly instead of crashing', function () {
      // A private mount namespace with the directory bind-mounted read-only:
      // the EROFS an immutable /etc (Flatcar) gives.
      const file = path.join(dir, 'tools.conf');
      fs.writeFileSync(file, SAMPLE);
      const script = `require(${JSON.stringify(path.join(REPO, 'dist/src/config'))}).configSet(${JSON.stringify(file)},'guestinfo','poll-interval','60')` +
        '.then((r)=>process.stdout.write(JSON.stringify(r)))';
      const r = spawnSync('unshare', ['-m', 'sh', '-c',
        `mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$1" -e "$2"`, dir, process.execPath, script], { encoding: 'utf8' });
      if (r.status !== 0 || r.stdout === '') this.skip(); // needs root and mount namespaces
      const out = JSON.parse(r.stdout) as { ok: boolean; error?: { code: string; message: string; exitCode: number } };
      assert.equal(out.ok, false);
      assert.equal(out.error!.code, 'EROFS');
      assert.equal(out.error!.exitCode, 75);
      assert.match(out.error!.message, /read-only file system \(EROFS\).*Flatcar/);
      assert.equal(fs.readFileSync(file, 'utf8'), SAMPLE);
    });

    it('reports an unwritable directory clearly (as an unprivileged user)', function () {
      const sub = path.join(dir, 'ro');
      fs.mkdirSync(sub, { mode: 0o755 });
      fs.chmodSync(dir, 0o755);
      const file = path.join(sub, 'tools.conf');
      fs.writeFileSync(file, SAMPLE);
      fs.chmodSync(file, 0o666);
      fs.chmodSync(sub, 0o555);
      const script = `require(${JSON.stringify(path.join(REPO, 'dist/src/config'))}).configSet(${JSON.stringify(file)},'a','b','c')` +
        '.then((r)=>process.stdout.write(JSON.stringify(r)))';
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', ...(IS_ROOT ? { uid: 65534, gid: 65534 } : {}) });
      if (r.status !== 0) this.skip();
      const out = JSON.parse(r.stdout) as { ok: boolean; error?: { code: string; message: string } };
      assert.equal(out.ok, false);
      assert.equal(out.error!.code, 'EACCES');
      assert.match(out.error!.message, /permission denied/);
      assert.equal(fs.readFileSync(file, 'utf8'), SAMPLE);
    });
  });
});

describe('70 config: live reload', () => {
  let dir: string;
  let file: string;
  let watcher: ConfigWatcher;
  beforeEach(() => {
    dir = tmpdir();
    file = path.join(dir, 'tools.conf');
  });
  afterEach(() => {
    watcher?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const collect = (w: ConfigWatcher): { changes: ConfigChangeEvent[]; warnings: ConfigWarning[] } => {
    const out = { changes: [] as ConfigChangeEvent[], warnings: [] as ConfigWarning[] };
    w.on('change', (e) => out.changes.push(e));
    w.on('warning', (x) => out.warnings.push(x));
    return out;
  };

  it('emits exactly the changed (section, key) pairs, and nothing for cosmetic edits', async () => {
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=30\n[logging]\nvmsvc.level=message\n');
    watcher = new ConfigWatcher({ path: file, intervalMs: 60_000 });
    const seen = collect(watcher);
    await watcher.start();
    assert.equal(seen.changes.length, 1, 'the first load is a change from the defaults');
    seen.changes.length = 0;

    assert.equal(await watcher.check(), undefined, 'unchanged file: no event');
    fs.writeFileSync(file, '# a new comment\n[guestinfo]\npoll-interval = 30\n\n[logging]\nvmsvc.level=message\n');
    assert.equal(await watcher.check(), undefined, 'comments and spacing are not changes');
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    assert.equal(await watcher.check(), undefined, 'a touch is not a change');

    fs.writeFileSync(file, '[guestinfo]\npoll-interval=60\n[logging]\nvmsvc.level=message\nguestinfo.level=debug\n');
    const e = await watcher.check();
    assert.ok(e);
    assert.deepEqual(e.changes.map((c) => [c.section, c.key, c.previous, c.current]), [
      ['guestinfo', 'poll-interval', '30', '60'],
      ['logging', 'guestinfo.level', undefined, 'debug'],
    ]);
    assert.ok(e.touches('logging') && e.touches('guestinfo', 'poll-interval') && !e.touches('vmbackup'));
    assert.equal(watcher.current.values.guestinfo['poll-interval'], 60);
    assert.equal(seen.changes.length, 1);

    fs.rmSync(file);
    const gone = await watcher.check();
    assert.deepEqual(gone?.changes.map((c) => [c.key, c.current]), [['poll-interval', undefined], ['vmsvc.level', undefined], ['guestinfo.level', undefined]]);
    assert.equal(await watcher.check(), undefined, 'still missing: nothing new');
  });

  it('warns once, not at every poll, about a file it cannot read', async () => {
    fs.mkdirSync(file); // unreadable as a file
    watcher = new ConfigWatcher({ path: file, intervalMs: 60_000 });
    const seen = collect(watcher);
    await watcher.start();
    await watcher.check();
    await watcher.check();
    assert.equal(seen.warnings.length, 1);
    assert.match(seen.warnings[0]!.message, /not a regular file/);
  });

  it('reloads on SIGHUP', async () => {
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=10\n');
    watcher = new ConfigWatcher({ path: file, intervalMs: 60_000 });
    await watcher.start();
    const off = reloadOnSighup(watcher);
    try {
      fs.writeFileSync(file, '[guestinfo]\npoll-interval=20\n');
      const changed = new Promise<ConfigChangeEvent>((resolve) => watcher.once('change', resolve));
      process.kill(process.pid, 'SIGHUP');
      assert.equal((await changed).config.values.guestinfo['poll-interval'], 20);
    } finally {
      off();
    }
  });

  it('keeps the configuration and warns once when the file turns invalid', async () => {
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=45\n');
    watcher = new ConfigWatcher({ path: file, intervalMs: 60_000 });
    const seen = collect(watcher);
    await watcher.start();
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=45\nnonsense\n');
    assert.equal(await watcher.check(), undefined);
    assert.equal(await watcher.check(), undefined);
    assert.equal(seen.warnings.length, 1);
    assert.equal(watcher.current.values.guestinfo['poll-interval'], 45);
  });

  it('polls on its own every interval, can pause, and reload() forces a read', async () => {
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=10\n');
    watcher = new ConfigWatcher({ path: file, intervalMs: 20 });
    const seen = collect(watcher);
    await watcher.start();
    seen.changes.length = 0;
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=11\n');
    await waitFor(() => seen.changes.length === 1);
    watcher.pause();
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=12\n');
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(seen.changes.length, 1, 'paused: no polling');
    const forced = await watcher.reload();
    assert.equal(forced?.changes[0]?.current, '12');
    watcher.resume();
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=13\n');
    await waitFor(() => watcher.current.values.guestinfo['poll-interval'] === 13);
  });

  it('never keeps the process alive (unref\'d timer)', () => {
    fs.writeFileSync(file, '[guestinfo]\npoll-interval=10\n');
    const script = `const {ConfigWatcher}=require(${JSON.stringify(path.join(REPO, 'dist/src/config'))});` +
      `new ConfigWatcher({path:${JSON.stringify(file)},intervalMs:50}).start().then(()=>process.stdout.write('started'));`;
    const started = Date.now();
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(out, 'started');
    assert.ok(Date.now() - started < 8000);
  });
});

describe('70 config: documentation', () => {
  it('docs/configuration.md lists exactly the schema', () => {
    const doc = fs.readFileSync(path.join(REPO, 'docs', 'configuration.md'), 'utf8');
    assert.equal(generatedBlockOf(doc), renderKeyTables().trim(),
      'regenerate: node -e "require(\'./dist/src/config/schema-doc\').updateConfigurationDoc(\'docs/configuration.md\')"');
  });
});
