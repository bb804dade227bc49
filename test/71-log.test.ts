/**
 * Logging: line formats, journal detection, per-domain levels from
 * tools.conf (and their live reload), the bounded asynchronous file output
 * with hold/release, and the guarantee that a stuck output never blocks the
 * event loop.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';

import { ConfigWatcher, configFromBytes, type ToolsConfig } from '../src/config';
import {
  FileSink,
  LineQueue,
  createLogger,
  expandLogFilePath,
  followConfig,
  formatJournalLine,
  formatPlainLine,
  isJournalStream,
  oneLine,
  parseJournalStream,
  rankOfGLibLevel,
  resolveLogSettings,
  settingsForDomain,
  type CreateLoggerOptions,
  type RootLogger,
} from '../src/log';

const REPO = path.resolve(__dirname, '..', '..');
const LOG_MODULE = path.join(REPO, 'dist/src/log');
const CONFIG_MODULE = path.join(REPO, 'dist/src/config');
const IS_ROOT = process.getuid?.() === 0;

class MemoryStream extends Writable {
  readonly chunks: string[] = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk.toString());
    cb();
  }
  get text(): string {
    return this.chunks.join('');
  }
}

function conf(text: string): ToolsConfig {
  return configFromBytes('/test/tools.conf', Buffer.from(text), undefined, undefined).config;
}

const FIXED_TIME = new Date('2024-05-01T12:00:00.000Z');

function memoryLogger(text: string, extra: Partial<CreateLoggerOptions> = {}): { log: RootLogger; out: MemoryStream; err: MemoryStream } {
  const out = new MemoryStream();
  const err = new MemoryStream();
  const log = createLogger({ config: conf(text), stdout: out, stderr: err, env: {}, now: () => FIXED_TIME, ...extra });
  return { log, out, err };
}

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-node-log-'));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('71 log: line format', () => {
  const rec = (level: 'error' | 'warn' | 'info' | 'debug', message = 'hello') => ({ level, domain: 'guestinfo', message, time: FIXED_TIME });

  it('prefixes journal lines with the sd-daemon syslog priority and no timestamp', () => {
    assert.equal(formatJournalLine(rec('error')), '<3>[guestinfo] hello\n');
    assert.equal(formatJournalLine(rec('warn')), '<4>[guestinfo] hello\n');
    assert.equal(formatJournalLine(rec('info')), '<6>[guestinfo] hello\n');
    assert.equal(formatJournalLine(rec('debug')), '<7>[guestinfo] hello\n');
  });

  it('gives plain lines a timestamp and level like open-vm-tools', () => {
    assert.equal(formatPlainLine(rec('warn')), '[2024-05-01T12:00:00.000Z] [ warning] [guestinfo] hello\n');
    assert.equal(formatPlainLine(rec('info')), '[2024-05-01T12:00:00.000Z] [    info] [guestinfo] hello\n');
  });

  it('keeps one event on one line', () => {
    assert.equal(oneLine('a\nb\r\nc\rd\te\x1b'), 'a\\nb\\nc\\nd\te\\x1b');
    const long = oneLine('x'.repeat(20000));
    assert.ok(long.length < 17000 && long.endsWith('[3616 more characters]'));
    assert.equal(formatJournalLine(rec('info', 'two\nlines')).split('\n').length, 2); // text + final ''
  });
});

describe('71 log: journal detection', () => {
  it('parses JOURNAL_STREAM', () => {
    assert.deepEqual(parseJournalStream('2049:123456'), { dev: 2049n, ino: 123456n });
    for (const bad of [undefined, '', 'x:1', '1', '1:2:3']) assert.equal(parseJournalStream(bad), undefined);
    assert.equal(isJournalStream(1, {}), false);
  });

  const runChild = (match: boolean): string => {
    const dir = tmpdir();
    try {
      const outFile = path.join(dir, 'stdout');
      const fd = fs.openSync(outFile, 'w');
      const st = fs.fstatSync(fd, { bigint: true });
      const script = `const l=require(${JSON.stringify(LOG_MODULE)}).createLogger();` +
        "l.info('hello journal');l.warn('careful');l.flush().then(()=>process.exit(0));";
      const env = { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino + (match ? 0n : 1n)}` };
      const r = spawnSync(process.execPath, ['-e', script], { stdio: ['ignore', fd, 'pipe'], env, encoding: 'utf8' });
      fs.closeSync(fd);
      assert.equal(r.status, 0, r.stderr);
      return fs.readFileSync(outFile, 'utf8');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };

  it('uses <N> prefixes when stdout is the stream JOURNAL_STREAM names', () => {
    assert.equal(runChild(true), '<6>[vmsvc] hello journal\n');
  });

  it('uses timestamps when JOURNAL_STREAM names another stream', () => {
    assert.match(runChild(false), /^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] \[ {4}info\] \[vmsvc\] hello journal\n$/);
  });
});

describe('71 log: levels and domains', () => {
  it('maps tools.conf levels onto ours', () => {
    assert.equal(rankOfGLibLevel('none'), -1);
    assert.equal(rankOfGLibLevel('critical'), 0);
    assert.equal(rankOfGLibLevel('warning'), 1);
    assert.equal(rankOfGLibLevel('message'), 2);
    assert.equal(rankOfGLibLevel('debug'), 3);
  });

  it('resolves per-domain settings like vmtoolsLog.c', () => {
    const s = resolveLogSettings(conf(
      '[logging]\nvmsvc.level=warning\nvmsvc.handler=file\nvmsvc.data="/var/log/svc-${USER}.log"\nvmsvc.maxLogSize=1\n' +
      'guestinfo.level=debug\nvmbackup.level=info\nvmbackup.handler=std\ntimeSync.handler=std\nbad.level=loud\n',
    ), 'vmsvc');
    assert.equal(s.defaults.level, 'warning');
    assert.equal(s.defaults.handler, 'file');
    assert.deepEqual(s.defaults.file, { template: '/var/log/svc-${USER}.log', append: false, maxSizeBytes: 1024 * 1024, maxOldFiles: 10 });
    const gi = settingsForDomain(s, 'guestinfo');
    assert.equal(gi.level, 'debug');
    assert.equal(gi.handler, 'file', 'inherits the service handler');
    assert.equal(gi.file, s.defaults.file, 'and the same file');
    assert.equal(settingsForDomain(s, 'vmbackup').handler, 'std');
    assert.equal(settingsForDomain(s, 'timeSync'), s.defaults, 'a handler without a level does not configure a domain');
    assert.equal(settingsForDomain(s, 'bad'), s.defaults, 'an invalid level leaves the domain unconfigured');
  });

  it('logs to std by default, errors only with log=false, and lets the command line win', () => {
    const d = resolveLogSettings(conf(''), 'vmsvc');
    assert.equal(d.defaults.handler, 'std');
    assert.equal(d.defaults.level, 'message');
    assert.equal(resolveLogSettings(conf('[logging]\nlog=false\nvmsvc.level=debug\n'), 'vmsvc').defaults.rank, 0);
    const o = resolveLogSettings(conf('[logging]\nvmsvc.level=warning\nguestinfo.level=error\n'), 'vmsvc', { guestinfo: 'debug', vmbackup: 'none' });
    assert.equal(o.defaults.level, 'warning');
    assert.equal(settingsForDomain(o, 'guestinfo').level, 'debug');
    assert.equal(settingsForDomain(o, 'vmbackup').level, 'none');
    assert.equal(resolveLogSettings(conf('[logging]\nvmsvc.level=warning\n'), 'vmsvc', 'debug').defaults.level, 'debug');
  });

  it('routes by level to stdout/stderr and filters per domain', () => {
    const { log, out, err } = memoryLogger('[logging]\nguestinfo.level=warning\n');
    log.debug('not shown (message level)');
    log.info('service info %d', 42);
    log.warn('service warning');
    const gi = log.child('guestinfo');
    gi.info('hidden');
    gi.error('gi error');
    assert.equal(gi.isEnabled('info'), false);
    assert.equal(log.isEnabled('info'), true);
    assert.equal(out.text, '[2024-05-01T12:00:00.000Z] [    info] [vmsvc] service info 42\n');
    assert.equal(err.text,
      '[2024-05-01T12:00:00.000Z] [ warning] [vmsvc] service warning\n' +
      '[2024-05-01T12:00:00.000Z] [   error] [guestinfo] gi error\n');
  });

  it('forces the journal format with stdio-format=journal and sends vmx lines to the host', () => {
    const host: string[] = [];
    const { log, out } = memoryLogger('[logging]\nstdio-format=journal\nvmbackup.level=info\nvmbackup.handler=vmx\n', { hostSink: (l) => host.push(l) });
    log.child('vmbackup').info('frozen');
    assert.deepEqual(host, ['[    info] [vmbackup] frozen']);
    assert.equal(out.text, '<6>[vmbackup] frozen\n', 'stdio-copy is on by default');
  });

  it('changes levels when tools.conf changes (live reload)', async () => {
    const dir = tmpdir();
    try {
      const file = path.join(dir, 'tools.conf');
      fs.writeFileSync(file, '[logging]\nguestinfo.level=warning\n');
      const watcher = new ConfigWatcher({ path: file, intervalMs: 60_000 });
      const out = new MemoryStream();
      const log = createLogger({ config: await watcher.start(), stdout: out, stderr: new MemoryStream(), env: {} });
      const detach = followConfig(log, watcher);
      const gi = log.child('guestinfo');
      gi.debug('before');
      fs.writeFileSync(file, '[logging]\nguestinfo.level=debug\n');
      await watcher.reload();
      gi.debug('after');
      fs.writeFileSync(file, '[logging]\nguestinfo.level=debug\n[guestinfo]\npoll-interval=bad\n');
      await watcher.reload();
      detach();
      watcher.stop();
      assert.doesNotMatch(out.text, /before/);
      assert.match(out.text, /\[guestinfo\] after/);
      await log.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('71 log: files', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpdir();
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('expands ${USER}, ${PID}, ${IDX} and names rotated files like open-vm-tools', () => {
    const user = os.userInfo().username;
    assert.equal(expandLogFilePath('/var/log/vmsvc-${USER}.log', 0), `/var/log/vmsvc-${user}.log`);
    assert.equal(expandLogFilePath('/var/log/vmsvc.log', 2), '/var/log/vmsvc.2.log');
    assert.equal(expandLogFilePath('/var/log.d/vmsvc', 1), '/var/log.d/vmsvc.1');
    assert.equal(expandLogFilePath('/x/a-${IDX}.log', 3), '/x/a-3.log');
    assert.equal(expandLogFilePath('/x/p${PID}.log', 0, 77), '/x/p77.log');
  });

  it('bounds the queue, dropping and counting the oldest lines', () => {
    const q = new LineQueue(3, 1000);
    for (const l of ['a\n', 'b\n', 'c\n', 'd\n', 'e\n']) q.push(l);
    assert.deepEqual(q.take(1000), ['c\n', 'd\n', 'e\n']);
    assert.equal(q.takeDropped(), 2);
    const bytes = new LineQueue(100, 5);
    bytes.push('aaa');
    bytes.push('bbb');
    assert.equal(bytes.length, 1);
    bytes.push('toolong');
    assert.equal(bytes.dropped, 2);
  });

  it('writes a log file (mode 0600), rotates it and keeps maxOldLogFiles', async () => {
    const template = path.join(dir, 'vmsvc.log');
    const sink = new FileSink({ pathTemplate: template, append: true, maxSizeBytes: 100, maxOldFiles: 2, maxLines: 100, maxBytes: 1 << 20 });
    for (let i = 0; i < 12; i++) sink.write(`line ${String(i).padStart(2, '0')} ${'x'.repeat(30)}\n`);
    assert.ok(await sink.flush());
    // Each batch (one line at a time after the first) pushes the size past 100 bytes.
    for (let i = 0; i < 6; i++) {
      sink.write(`more ${i} ${'y'.repeat(60)}\n`);
      assert.ok(await sink.flush());
    }
    await sink.close();
    const files = fs.readdirSync(dir).sort();
    assert.deepEqual(files, ['vmsvc.1.log', 'vmsvc.2.log', 'vmsvc.log']);
    assert.equal(fs.statSync(path.join(dir, 'vmsvc.log')).mode & 0o777, 0o600);
    assert.match(fs.readFileSync(path.join(dir, 'vmsvc.1.log'), 'utf8'), /more 5/);
  });

  it('backs up and truncates with "file", appends with "file+"', async () => {
    const p = path.join(dir, 'x.log');
    fs.writeFileSync(p, 'old\n');
    const f = new FileSink({ pathTemplate: p, append: false, maxSizeBytes: 0, maxOldFiles: 1, maxLines: 10, maxBytes: 1000 });
    f.write('new\n');
    await f.close();
    assert.equal(fs.readFileSync(p, 'utf8'), 'new\n');
    assert.equal(fs.readFileSync(path.join(dir, 'x.1.log'), 'utf8'), 'old\n');
    const g = new FileSink({ pathTemplate: p, append: true, maxSizeBytes: 0, maxOldFiles: 1, maxLines: 10, maxBytes: 1000 });
    g.write('more\n');
    await g.close();
    assert.equal(fs.readFileSync(p, 'utf8'), 'new\nmore\n');
  });

  it('holds file writes, drops beyond maxCacheEntries and reports the count after release', async () => {
    const file = path.join(dir, 'vmsvc.log');
    const { log, err } = memoryLogger(`[logging]\nvmsvc.handler=file+\nvmsvc.data=${file}\nmaxCacheEntries=10\nstdio-copy=false\n`);
    log.info('before hold');
    assert.ok(await log.flush());
    await log.hold();
    for (let i = 1; i <= 25; i++) log.info(`held ${i}`);
    await sleep(100);
    assert.doesNotMatch(fs.readFileSync(file, 'utf8'), /held/, 'nothing written while held');
    assert.equal(log.stats().files[0]!.queuedLines, 10);
    log.release();
    assert.ok(await log.flush());
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => l.replace(/^\[[^\]]*\] /, ''));
    assert.deepEqual(lines, [
      '[    info] [vmsvc] before hold',
      ...Array.from({ length: 10 }, (_, i) => `[    info] [vmsvc] held ${i + 16}`),
      '[ warning] [vmsvc] 15 log lines dropped (while log file I/O was held)',
    ]);
    assert.match(err.text, /15 log lines dropped/, 'also reported where someone sees it');
    await log.close();
  });

  it('never blocks when the log directory cannot be written, and reports it once', async () => {
    fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
    const file = path.join(dir, 'not-a-dir', 'vmsvc.log'); // ENOTDIR, even for root
    const { log, err } = memoryLogger(`[logging]\nvmsvc.handler=file+\nvmsvc.data=${file}\nmaxCacheEntries=100\nstdio-copy=false\n`);
    const started = process.hrtime.bigint();
    for (let i = 0; i < 20000; i++) log.info(`line ${i} ${'z'.repeat(100)}`);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.ok(ms < 3000, `logging took ${ms} ms`);
    await sleep(100);
    const st = log.stats().files[0]!;
    assert.equal(st.failing, true);
    assert.ok(st.queuedLines <= 256, `queue bounded (${st.queuedLines})`);
    assert.ok(st.pendingDrops > 19000);
    const reports = err.text.split('\n').filter((l) => /cannot write log file/.test(l));
    assert.equal(reports.length, 1, err.text);
    assert.match(reports[0]!, /ENOTDIR.*retried every 30 s/);
    await log.close();
  });

  it('does not block or crash for an unprivileged user with a read-only log directory', () => {
    const logs = path.join(dir, 'logs');
    fs.mkdirSync(logs);
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(logs, 0o555);
    const script = `const {configFromBytes}=require(${JSON.stringify(CONFIG_MODULE)});` +
      `const cfg=configFromBytes('t',Buffer.from('[logging]\\nvmsvc.handler=file\\nvmsvc.data=${logs}/vmsvc.log\\n')).config;` +
      `const l=require(${JSON.stringify(LOG_MODULE)}).createLogger({config:cfg});` +
      "let ticks=0;setInterval(()=>ticks++,10).unref();const t0=Date.now();for(let i=0;i<5000;i++)l.info('x'+i);" +
      "setTimeout(()=>{process.stdout.write(JSON.stringify({ms:Date.now()-t0,ticks,files:l.stats().files}));},300);";
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000, ...(IS_ROOT ? { uid: 65534, gid: 65534 } : {}) });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.slice(r.stdout.indexOf('{"ms"'))) as { ms: number; ticks: number; files: Array<{ failing: boolean }> };
    assert.equal(out.files[0]!.failing, true);
    assert.ok(out.ticks >= 10, `event loop kept running (${out.ticks} ticks)`);
    assert.match(r.stderr, /cannot write log file .*EACCES/);
    assert.equal(fs.readdirSync(logs).length, 0);
  });

  it('lets the process exit while a log file keeps failing (unref\'d retry timer)', () => {
    fs.writeFileSync(path.join(dir, 'f'), '');
    const script = `const {configFromBytes}=require(${JSON.stringify(CONFIG_MODULE)});` +
      `const cfg=configFromBytes('t',Buffer.from('[logging]\\nvmsvc.handler=file\\nvmsvc.data=${dir}/f/x.log\\nstdio-copy=false\\n')).config;` +
      `const l=require(${JSON.stringify(LOG_MODULE)}).createLogger({config:cfg});l.info('x');`;
    const started = Date.now();
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0);
    assert.ok(Date.now() - started < 8000);
  });
});

describe('71 log: stdout that nobody reads', () => {
  it('drops and counts instead of blocking, then reports once the reader catches up', async () => {
    const script = `const {configFromBytes}=require(${JSON.stringify(CONFIG_MODULE)});` +
      "const cfg=configFromBytes('t',Buffer.from('[logging]\\nstdio-max-pending-bytes=65536\\n')).config;" +
      `const l=require(${JSON.stringify(LOG_MODULE)}).createLogger({config:cfg});` +
      'let ticks=0;const iv=setInterval(()=>ticks++,10);let worst=0;const pad="p".repeat(1000);' +
      'const t0=Date.now();for(let i=0;i<5000;i++){const s=process.hrtime.bigint();l.info("line "+i+" "+pad);' +
      'const d=Number(process.hrtime.bigint()-s)/1e6;if(d>worst)worst=d;}' +
      'setTimeout(()=>{process.send({worst,total:Date.now()-t0,ticks,stats:l.stats().stdout});' +
      'const w=setInterval(()=>{if(l.stats().stdout.pendingDrops===0){clearInterval(w);clearInterval(iv);' +
      'process.stdout.write("done\\n",()=>process.disconnect());}},50);},500);';
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let errText = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (errText += d));
    child.stdout!.pause(); // nobody reads: the socket buffer fills up
    const report = await new Promise<{ worst: number; total: number; ticks: number; stats: { pendingBytes: number; pendingDrops: number } }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as never));
      child.once('error', reject);
    });
    assert.ok(report.stats.pendingDrops > 1000, `lines were dropped (${report.stats.pendingDrops})`);
    assert.ok(report.stats.pendingBytes <= 65536 + 2048, `pending bytes bounded (${report.stats.pendingBytes})`);
    assert.ok(report.worst < 500, `no log call blocked (worst ${report.worst} ms)`);
    assert.ok(report.ticks >= 10, `event loop kept running (${report.ticks} ticks)`);
    let text = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => (text += d));
    child.stdout!.resume();
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    assert.ok(text.includes('[vmsvc] line 0 p'), 'the first lines got through');
    assert.ok(text.endsWith('done\n'));
    // The report is a warning, so it goes to stderr.
    assert.match(errText, /^\[[^\]]+\] \[ warning\] \[vmsvc\] \d+ log lines dropped \(fd 1 was not being read\)\n$/);
    const written = text.split('\n').filter((l) => l.includes('[vmsvc] line ')).length;
    const dropped = Number(/(\d+) log lines dropped/.exec(errText)![1]);
    assert.equal(written + dropped, 5000, 'every line is either written or counted');
  });
});
