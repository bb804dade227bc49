/**
 * One deployment, from the package file to the reboot (customization.md §4):
 * header, private staging directory, extraction, the cloud-init decision,
 * then the package's own command (VMware's Perl engine) or our native
 * cust.cfg engine, the state messages, the markers and the reboot.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../daemon/coreSession';
import type { RpcSender } from '../../rpc/types';
import { ArchiveEntry, ArchiveLimits, readCab, readTarGz, readZip } from './archive';
import {
  CloudInitDecision,
  cloudInitStillRunning,
  decideCloudInit,
  findUserScript,
} from './cloudinit';
import { effectiveTimeoutS, ProcessResult, ProcessRunner, substituteDir, tokenize } from './command';
import { DeployLog } from './deployLog';
import { extractEntries } from './extract';
import { FLAG_SKIP_REBOOT, HEADER_SIZE, PackageHeader, parseHeader } from './header';
import { applyNative, NativeResult } from './nativeEngine';
import { TargetRoot } from './rootfs';
import { Code, State, stateMessage } from './states';

export type EngineChoice = 'auto' | 'command' | 'native';

export interface DeployConfig {
  enableCustomization: boolean;
  processTimeoutS: number | undefined;
  waitCloudInitTimeoutS: number;
  engine: EngineChoice;
  /** tools.conf enable-custom-scripts (undefined = unset), for the native engine (§5.1). */
  enableCustomScripts: boolean | undefined;
  /**
   * §8: false when `[logging] deployPkg.handler` is vmx/file/file+: the lines
   * then go only through the daemon's logging (domain deployPkg), as the
   * reference does. Default true.
   */
  dedicatedLog?: boolean;
}

export interface Interface {
  name: string;
  mac: string;
}

export interface EngineTiming {
  nicInitialMs: number;
  nicRetryMs: number;
  nicQueryMs: number;
  cloudInitPollMs: number;
}

/** §7 */
export const REFERENCE_TIMING: EngineTiming = { nicInitialMs: 5000, nicRetryMs: 5000, nicQueryMs: 1000, cloudInitPollMs: 5000 };

export interface EngineEnv {
  rpc: RpcSender;
  log: Logger;
  config: () => DeployConfig;
  target: TargetRoot;
  /** §4.3: staging bases, as target paths (resolved under the target root). */
  stagingBases: string[];
  /** The dedicated log (§8), a real path. */
  logFile: string;
  /** The log name the state messages carry (§3.3). */
  logName: string;
  /** Where the .vmware-deploy.* markers live (§4.1), a real path. */
  markerDir: string;
  /** cloud-init's program, as a target path (§4.5). */
  cloudInit: string;
  run: ProcessRunner;
  reboot: () => Promise<{ ok: boolean; why?: string }>;
  interfaces: () => Interface[];
  sleep: (ms: number) => Promise<void>;
  timing: EngineTiming;
  limits: ArchiveLimits;
  /** Largest package file accepted (the header's lengths are checked against the real size too). */
  maxPackageBytes: number;
}

/** §4.6: exit codes of the Perl engine. */
export const EXIT_NETWORK = [252, 253, 254];
export const EXIT_SCRIPT_DISABLED = 6;

export type DeployOutcome = 'done' | 'delegated' | 'error';

const MARKERS = { INPROGRESS: '.vmware-deploy.INPROGRESS', Done: '.vmware-deploy.Done', ERRORED: '.vmware-deploy.ERRORED' } as const;
type Marker = keyof typeof MARKERS;

/**
 * Engine choice after the cloud-init decision (docs/differences.md): the
 * package's command as the reference runs it, unless configured otherwise,
 * its program (Perl) is missing, or the target is not this system's root
 * (a command run here would customize the container, not the host).
 */
export function chooseEngine(engine: EngineChoice, programOk: boolean, isHostRoot: boolean, hasCustCfg: boolean): 'command' | 'native' {
  if (engine === 'native') return 'native';
  if (engine === 'command') return 'command';
  return (!programOk || !isHostRoot) && hasCustCfg ? 'native' : 'command';
}

export class DeployFailure extends Error {
  constructor(readonly code: Code, message: string, readonly detail?: string) {
    super(message);
  }
}

export class DeployEngine {
  private marker: Marker | undefined;
  private dlog!: DeployLog;

  constructor(private readonly env: EngineEnv) {}

  /** §3: `deployPkg.update.state <state> [<code> <message>]`, no trailing NUL; returns the reply or undefined if the send failed. */
  sendState(state: State, code?: Code, message?: string): { ok: boolean; reply: string } | undefined {
    try {
      const r = this.env.rpc.send(Buffer.from(stateMessage(state, code, message), 'utf8'));
      return { ok: r.ok, reply: r.reply.toString('utf8') };
    } catch (e) {
      this.env.log.warn(`state update failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  private logMsg(detail?: string): string {
    return detail === undefined ? this.env.logName : `${this.env.logName}@${detail}`;
  }

  /** §4.1: create the new marker (O_EXCL, 0644), then delete the old one. */
  private setMarker(m: Marker | undefined): void {
    try {
      fs.mkdirSync(this.env.markerDir, { recursive: true });
      if (m) {
        fs.closeSync(fs.openSync(path.join(this.env.markerDir, MARKERS[m]), fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW, 0o644));
      }
      if (this.marker && this.marker !== m) fs.rmSync(path.join(this.env.markerDir, MARKERS[this.marker]), { force: true });
    } catch (e) {
      this.env.log.warn(`marker ${m ?? '(none)'}: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.marker = m;
  }

  private clearMarkers(): void {
    for (const f of Object.values(MARKERS)) fs.rmSync(path.join(this.env.markerDir, f), { force: true });
    this.marker = undefined;
  }

  /** Runs a program of the target system: directly when the target is `/`, else under chroot. */
  private runInTarget(argv: string[], timeoutMs: number): Promise<ProcessResult> {
    const full = this.env.target.isHostRoot ? argv : ['/usr/sbin/chroot', this.env.target.root, ...argv];
    return this.env.run(full, { timeoutMs });
  }

  /** The whole engine (DeployPkg_DeployPackageFromFile). Never throws. */
  async deploy(pkgPath: string): Promise<DeployOutcome> {
    this.dlog = new DeployLog(this.env.logFile, this.env.log);
    if (this.env.config().dedicatedLog !== false) this.dlog.open();
    let imcDir: string | undefined;
    try {
      this.clearMarkers();
      this.dlog.info(`Initializing deployment of ${pkgPath}`);
      this.sendState(State.RUNNING, Code.SUCCESS, this.logMsg());
      this.setMarker('INPROGRESS');
      const cfg = this.env.config();
      const { header, payload } = this.readPackage(pkgPath);
      const timeoutMs = effectiveTimeoutS(cfg.processTimeoutS, header.processTimeout) * 1000;
      imcDir = this.makeStaging();
      let written: string[];
      try {
        written = extractEntries(imcDir, this.readArchive(header, payload));
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw new DeployFailure(Code.EVENT_CUSTOMIZE_FAILED, why, `Package rejected: ${why}`);
      }
      this.dlog.info(`Extracted ${written.length} file(s) into ${imcDir}`);
      return await this.afterExtraction(header, imcDir, cfg, timeoutMs);
    } catch (e) {
      const f = e instanceof DeployFailure ? e : new DeployFailure(Code.EVENT_CUSTOMIZE_FAILED, e instanceof Error ? e.message : String(e), 'Deployment failed');
      this.dlog.error(`Deployment failed: ${f.message}`);
      this.sendState(State.RUNNING, f.code, this.logMsg(f.detail));
      this.setMarker('ERRORED');
      return 'error';
    } finally {
      if (imcDir) this.removeStaging(imcDir);
      this.dlog.close();
    }
  }

  private readPackage(pkgPath: string): { header: PackageHeader; payload: Buffer } {
    const fail = (why: string): never => {
      throw new DeployFailure(Code.EVENT_CUSTOMIZE_FAILED, why, `Package rejected: ${why}`);
    };
    let fd: number;
    try {
      fd = fs.openSync(pkgPath, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      return fail(`cannot open the package: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) fail('the package is not a regular file');
      if (st.size > this.env.maxPackageBytes) fail(`package of ${st.size} bytes exceeds the limit of ${this.env.maxPackageBytes}`);
      const head = Buffer.alloc(HEADER_SIZE);
      const n = fs.readSync(fd, head, 0, HEADER_SIZE, 0);
      let header: PackageHeader;
      try {
        header = parseHeader(head.subarray(0, n), st.size);
      } catch (e) {
        return fail(e instanceof Error ? e.message : String(e));
      }
      const payload = Buffer.alloc(header.payloadLength);
      const got = fs.readSync(fd, payload, 0, header.payloadLength, header.payloadOffset);
      if (got !== header.payloadLength) fail('truncated payload');
      this.dlog.info(
        `Package header: version ${header.majorVersion}.${header.minorVersion}, payload ${header.payloadType} ` +
          `(${header.payloadLength} bytes), flags 0x${header.flags.toString(16)}, timeout ${header.processTimeout} s`,
      );
      return { header, payload };
    } finally {
      fs.closeSync(fd);
    }
  }

  private readArchive(header: PackageHeader, payload: Buffer): ArchiveEntry[] {
    const reader = header.payloadType === 'cab' ? readCab : header.payloadType === 'zip' ? readZip : readTarGz;
    return reader(payload, this.env.limits);
  }

  /** §4.3: mkdtemp under the first existing base, mode 0700. */
  private makeStaging(): string {
    for (const base of this.env.stagingBases) {
      const real = this.env.target.resolve(base);
      if (!this.env.target.isDir(base)) continue;
      const dir = fs.mkdtempSync(path.join(real, '.vmware-imgcust-d'));
      fs.chmodSync(dir, 0o700);
      return dir;
    }
    throw new DeployFailure(Code.EVENT_CUSTOMIZE_FAILED, 'no staging directory base exists', 'Deployment failed');
  }

  private removeStaging(dir: string): void {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      this.env.log.warn(`cannot remove ${dir}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private async afterExtraction(header: PackageHeader, imcDir: string, cfg: DeployConfig, timeoutMs: number): Promise<DeployOutcome> {
    const t = this.env.target;
    // §4.5: the cloud-init decision.
    let version: ProcessResult | undefined;
    if (t.isExecutable(this.env.cloudInit)) version = await this.runInTarget([this.env.cloudInit, '-v'], timeoutMs);
    const decision = decideCloudInit({ version, flags: header.flags, imcDir, etcCloud: t.resolve('/etc/cloud') });
    this.dlog.info(`cloud-init decision: ${CloudInitDecision[decision]} (${decision})`);
    if (decision === CloudInitDecision.WRONG_VERSION) {
      throw new DeployFailure(Code.CLOUDINIT_NOT_SUPPORT_RAWDATA, 'cloud-init is older than 21.1 and cannot take raw data', 'Deployment failed');
    }
    if (decision === CloudInitDecision.INTERNAL_ERROR) throw new DeployFailure(Code.EVENT_CUSTOMIZE_FAILED, 'cloud-init decision failed', 'Deployment failed');
    if (decision === CloudInitDecision.OK) {
      this.delegateToCloudInit(imcDir);
      this.setMarker('Done');
      this.dlog.info('Customization delegated to cloud-init');
      return 'delegated';
    }
    // §4.6 traditional path, or our native engine (docs/differences.md).
    const argv = tokenize(substituteDir(header.command, t.inTarget(imcDir)));
    const program = argv[0];
    const programOk = program.startsWith('/') && t.isExecutable(program);
    const hasCustCfg = fs.existsSync(path.join(imcDir, 'cust.cfg'));
    const useNative = chooseEngine(cfg.engine, programOk, t.isHostRoot, hasCustCfg) === 'native';
    if (useNative) {
      this.dlog.info(
        cfg.engine === 'native' ? 'Applying cust.cfg with the native engine (configured)'
          : `${t.isHostRoot ? `${program} is not installed` : `target root ${t.root} is not /`}: applying cust.cfg with the native engine`,
      );
      await this.runNative(imcDir, cfg, timeoutMs);
    } else {
      if (!programOk) {
        const why = `customization program ${program} is not installed${program.endsWith('perl') ? ' (Perl is missing)' : ''}`;
        throw new DeployFailure(Code.EVENT_CUSTOMIZE_FAILED, why, why);
      }
      await this.runCommand(argv, timeoutMs);
    }
    if (fs.existsSync(path.join(imcDir, 'nics.txt'))) await this.enableNics(imcDir);
    this.sendState(State.DONE, Code.SUCCESS, this.logMsg());
    this.setMarker('Done');
    this.dlog.info('Deployment succeeded');
    this.removeStaging(imcDir);
    await this.maybeReboot(header, version !== undefined && version.code === 0, timeoutMs);
    return 'done';
  }

  /** §4.6: run the package command; non-zero exit → the mapped failure. */
  private async runCommand(argv: string[], timeoutMs: number): Promise<void> {
    const isPerl = argv[0] === '/usr/bin/perl';
    this.dlog.info(`Running ${JSON.stringify(argv)} (timeout ${timeoutMs / 1000} s)`);
    if (isPerl) this.dlog.raw('Perl script log start\n');
    const r = await this.runInTarget(argv, timeoutMs);
    this.dlog.raw(r.stdout);
    if (r.stderr !== '') this.dlog.raw(r.stderr);
    if (isPerl) this.dlog.raw('Perl script log end\n');
    let code = r.code;
    if (code === 0 && r.stderr !== '') code = -1; // §4.6: stderr output on success counts as failure
    if (r.timedOut) this.dlog.error(`the customization command exceeded ${timeoutMs / 1000} s and was killed`);
    if (r.spawnError) this.dlog.error(`the customization command could not start: ${r.spawnError}`);
    if (code === 0) return;
    const mapped = EXIT_NETWORK.includes(code) ? Code.EVENT_NETWORK_SETUP_FAILED : code === EXIT_SCRIPT_DISABLED ? Code.CUST_SCRIPT_DISABLED : Code.EVENT_CUSTOMIZE_FAILED;
    throw new DeployFailure(mapped, `customization command failed with ${code}`);
  }

  private async runNative(imcDir: string, cfg: DeployConfig, timeoutMs: number): Promise<NativeResult> {
    const r = await applyNative({
      imcDir,
      target: this.env.target,
      interfaces: this.env.interfaces,
      log: this.dlog,
      enableCustomScripts: cfg.enableCustomScripts,
      runScript: (argv) => this.runInTarget(argv, timeoutMs),
    });
    if (!r.ok) throw new DeployFailure(r.code, r.message, r.detail);
    return r;
  }

  /** §4.7: copy the files cloud-init reads into /var/run/vmware-imc of the target. */
  private delegateToCloudInit(imcDir: string): void {
    const t = this.env.target;
    const dst = '/var/run/vmware-imc';
    try {
      fs.mkdirSync(t.resolve(dst), { recursive: true, mode: 0o755 });
      const copy = (rel: string, mandatory: boolean): void => {
        const src = path.join(imcDir, rel);
        if (!fs.existsSync(src)) {
          if (mandatory) throw new Error(`${rel} missing`);
          return;
        }
        t.write(`${dst}/${path.basename(rel)}`, fs.readFileSync(src, 'latin1').toString(), 0o644);
      };
      for (const f of ['nics.txt', 'metadata', 'userdata']) copy(f, false);
      const script = findUserScript(imcDir);
      if (script) {
        copy('scripts/post-customize-guest.sh', false);
        copy(script, false);
      }
      copy('cust.cfg', true);
    } catch (e) {
      fs.rmSync(t.resolve(dst), { recursive: true, force: true });
      throw new DeployFailure(Code.EVENT_CUSTOMIZE_FAILED, `staging files for cloud-init failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** §4.6 tryToEnableNics. */
  private async enableNics(imcDir: string): Promise<void> {
    let nics: string;
    try {
      const buf = fs.readFileSync(path.join(imcDir, 'nics.txt'));
      const nl = buf.indexOf(0x0a);
      const first = nl < 0 ? buf : buf.subarray(0, nl + 1);
      if (first.length > 1023) throw new Error('nics.txt first line longer than 1023 bytes');
      nics = first.toString('latin1');
    } catch (e) {
      this.dlog.error(`cannot read nics.txt: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const { timing, sleep } = this.env;
    await sleep(timing.nicInitialMs);
    for (let attempt = 0; attempt < 5; attempt++) {
      const r = this.sendState(State.RUNNING, Code.EVENT_ENABLE_NICS, this.logMsg(nics));
      if (!r || !r.ok) {
        await sleep(timing.nicRetryMs);
        continue;
      }
      if (r.reply !== 'queryNicsSupported') {
        this.dlog.info('host does not support the NIC status query; assuming the NICs are connected');
        return;
      }
      for (let q = 0; q < 5; q++) {
        const s = this.sendState(State.RUNNING, Code.EVENT_QUERY_NICS, this.logMsg(nics));
        if (s && s.reply === 'connected') {
          this.dlog.info(`NICs ${nics.trim()} connected`);
          return;
        }
        await sleep(timing.nicQueryMs);
      }
    }
    this.dlog.warn('giving up on enabling the NICs');
  }

  /** §4.8: wait for cloud-init when installed, then reboot through the injected backend. */
  private async maybeReboot(header: PackageHeader, cloudInitInstalled: boolean, timeoutMs: number): Promise<void> {
    if (header.flags & FLAG_SKIP_REBOOT) {
      this.dlog.info('Reboot skipped (package flag)');
      return;
    }
    if (cloudInitInstalled) {
      const limit = this.env.config().waitCloudInitTimeoutS * 1000;
      let waited = 0;
      while (waited < limit) {
        const r = await this.runInTarget([this.env.cloudInit, 'status'], timeoutMs);
        if (!cloudInitStillRunning(r)) break;
        await this.env.sleep(this.env.timing.cloudInitPollMs);
        waited += this.env.timing.cloudInitPollMs;
      }
    }
    this.dlog.info('Rebooting');
    const r = await this.env.reboot();
    if (!r.ok) this.env.log.error(`reboot failed: ${r.why ?? 'unknown reason'}`);
  }
}
