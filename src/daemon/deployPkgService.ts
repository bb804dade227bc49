/**
 * Guest customization (customization.md): the `deployPkg.begin` and
 * `deployPkg.deploy` TCLO commands, the deployment worker, and the file
 * cloud-init looks for before it trusts the tools (§1).
 *
 * The engine lives in src/services/deploypkg; this module builds its
 * environment (paths, config, reboot) and plugs it into the daemon.
 *
 * Safety under the VMX simulator (detect().overridden): unless `[deployPkg]
 * target-root` is configured, the target root, the staging bases, the log
 * and the markers all live in a scratch directory, and the native engine is
 * used (a package command never runs on this machine), so `npm start`
 * cannot rewrite this machine's /etc.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RpcSender, TcloHandler, TcloResult } from '../rpc/types';
import type { ArchiveLimits } from '../services/deploypkg/archive';
import type { ProcessRunner } from '../services/deploypkg/command';
import { DEFAULT_DEPLOY_LOG } from '../services/deploypkg/deployLog';
import type { DeployConfig, DeployOutcome, EngineTiming, Interface } from '../services/deploypkg/engine';
import { TargetRoot } from '../services/deploypkg/rootfs';
import { Code, State, stateMessage } from '../services/deploypkg/states';
import type { Logger } from './coreSession';
import type { DaemonServices } from './daemon';
import { lazyModule } from './lazyModules';

// The engine (archive readers, zlib, the native cust.cfg engine) loads at the first deployment.
const engineModule = lazyModule(() => require('../services/deploypkg/engine') as typeof import('../services/deploypkg/engine'));
const archiveModule = lazyModule(() => require('../services/deploypkg/archive') as typeof import('../services/deploypkg/archive'));
const commandModule = lazyModule(() => require('../services/deploypkg/command') as typeof import('../services/deploypkg/command'));

/** §2.1: where deployPkg.begin creates the directory the host copies the package into. */
export const BEGIN_BASES = ['/var/run/vmware-imc', '/var/run', '/run'];
/** §4.3: the engine's staging bases (target paths). */
export const STAGING_BASES = ['/var/run/vmware-imc', '/var/run', '/run', '/tmp'];
/** §2 replies. */
export const ERR_TEMP_DIR = 'failed to get temp dir';
export const ERR_PACKAGE = 'failed to get package file';
/** §2.2 messages. */
export const MSG_DISABLED = 'Customization is disabled by guest admin';
/** §1: cloud-init's is_cust_plugin_available() looks for this file name under these trees. */
export const PLUGIN_FILE = 'libdeployPkgPlugin.so';
export const PLUGIN_SEARCH_DIRS = [
  '/usr/lib/vmware-tools', '/usr/lib64/vmware-tools', '/usr/lib/open-vm-tools', '/usr/lib64/open-vm-tools',
  '/usr/lib/x86_64-linux-gnu/open-vm-tools', '/usr/lib/aarch64-linux-gnu/open-vm-tools', '/usr/lib/i386-linux-gnu/open-vm-tools',
];
/** Where we leave it when none exists (a tree no distribution package owns). */
export const PLUGIN_MARKER = '/usr/lib/vmware-tools/plugins/vmsvc/libdeployPkgPlugin.so';
/** Package file size cap (real packages are well under a megabyte). */
export const MAX_PACKAGE_BYTES = 64 * 1024 * 1024;

export interface DeployPkgPaths {
  /** The system being customized. */
  targetRoot: string;
  /** Real paths: deployPkg.begin's bases. */
  beginBases: string[];
  /** Target paths: the engine's staging bases. */
  stagingBases: string[];
  /** Real path of the dedicated log. */
  logFile: string;
  /** The log name the state messages carry (§3.3). */
  logName: string;
  /** Real directory of the .vmware-deploy.* markers. */
  markerDir: string;
  /** cloud-init's program, as a target path. */
  cloudInit: string;
}

/** The paths for a daemon: the reference's under `/`, re-rooted for a container, a scratch tree under the simulator. */
export function defaultPaths(opts: { targetRoot?: string; simulator: boolean; scratch?: string }): DeployPkgPaths {
  if (opts.targetRoot === undefined && opts.simulator) {
    const scratch = opts.scratch ?? path.join(os.tmpdir(), 'vmtoolsd-node-sim', 'deployPkg');
    const root = path.join(scratch, 'root');
    for (const d of [path.join(root, 'run'), path.join(root, 'etc'), path.join(scratch, 'run'), path.join(scratch, 'log')]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    return {
      targetRoot: root, beginBases: [path.join(scratch, 'run')], stagingBases: STAGING_BASES,
      logFile: path.join(scratch, 'log', 'toolsDeployPkg.log'), logName: DEFAULT_DEPLOY_LOG, markerDir: path.join(scratch, 'log'),
      cloudInit: '/usr/bin/cloud-init',
    };
  }
  const root = opts.targetRoot ?? '/';
  // Re-rooted, deployPkg.begin's directory is made in the target too (resolved there: /host/var/run -> /host/run).
  const t = new TargetRoot(root);
  return {
    targetRoot: root, beginBases: BEGIN_BASES.map((b) => t.resolve(b)), stagingBases: STAGING_BASES,
    logFile: path.join(root, DEFAULT_DEPLOY_LOG), logName: DEFAULT_DEPLOY_LOG, markerDir: path.join(root, '/var/log'),
    cloudInit: '/usr/bin/cloud-init',
  };
}

/** Kernel interfaces and their MACs (/sys/class/net). */
export function sysInterfaces(sysNet = '/sys/class/net'): Interface[] {
  const out: Interface[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(sysNet);
  } catch {
    return out;
  }
  for (const name of names) {
    try {
      out.push({ name, mac: fs.readFileSync(path.join(sysNet, name, 'address'), 'utf8').trim().toLowerCase() });
    } catch {
      /* skip */
    }
  }
  return out;
}

export interface DeployPkgServiceOptions {
  rpc: RpcSender;
  log: Logger;
  config: () => DeployConfig;
  paths: DeployPkgPaths;
  /** The reboot after a successful traditional/native customization (§4.8); the power-ops backend. */
  reboot: () => Promise<{ ok: boolean; why?: string }>;
  run?: ProcessRunner;
  interfaces?: () => Interface[];
  sleep?: (ms: number) => Promise<void>;
  timing?: EngineTiming;
  limits?: ArchiveLimits;
  maxPackageBytes?: number;
}

export class DeployPkgService {
  private busy = false;
  /** Directories deployPkg.begin handed out: the only places a package is deleted from (§9.3). */
  private readonly handedOut = new Set<string>();
  /** The last deployment, for tests and the demo. */
  lastRun: Promise<DeployOutcome | 'disabled'> | undefined;

  constructor(private readonly opts: DeployPkgServiceOptions) {}

  private send(text: string): void {
    try {
      this.opts.rpc.send(Buffer.from(text, 'utf8'));
    } catch (e) {
      this.opts.log.warn(`${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** §2.1 */
  begin(): TcloResult {
    let base = this.opts.paths.beginBases.find((b) => {
      try {
        return fs.statSync(b).isDirectory();
      } catch {
        return false;
      }
    });
    try {
      if (!base) base = fs.mkdtempSync(path.join(os.tmpdir(), 'vmware-root-'));
      for (let i = 0; i < 10; i++) {
        const dir = path.join(base, crypto.randomBytes(4).toString('hex'));
        try {
          fs.mkdirSync(dir, 0o777);
          this.handedOut.add(path.resolve(dir));
          this.opts.log.info(`deployPkg.begin: ${dir}/`);
          return { ok: true, result: `${dir}/` };
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      }
    } catch (e) {
      this.opts.log.error(`deployPkg.begin: ${e instanceof Error ? e.message : String(e)}`);
    }
    return { ok: false, result: ERR_TEMP_DIR };
  }

  /** §2.2 */
  deploy(args: Buffer): TcloResult {
    this.send(stateMessage(State.DEPLOYING));
    const pkg = args.toString('utf8').replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
    if (pkg === '' || !fs.existsSync(pkg)) {
      this.send(stateMessage(State.DEPLOYING, Code.DEPLOY_FAILED, `Package file ${pkg} not found`));
      return { ok: false, result: ERR_PACKAGE };
    }
    if (this.busy) {
      // The reference has no lock (§2.2); two engines sharing the markers and the log would corrupt both.
      this.send(stateMessage(State.DEPLOYING, Code.DEPLOY_FAILED, 'another deployment is in progress'));
      return { ok: false, result: ERR_PACKAGE };
    }
    this.busy = true;
    this.lastRun = new Promise<DeployOutcome | 'disabled'>((resolve) => setImmediate(() => resolve(this.worker(pkg)))).finally(() => {
      this.busy = false;
    });
    return { ok: true, result: '' };
  }

  private async worker(pkg: string): Promise<DeployOutcome | 'disabled'> {
    let outcome: DeployOutcome | 'disabled';
    try {
      const cfg = this.opts.config();
      if (!cfg.enableCustomization) {
        this.send(stateMessage(State.DEPLOYING, Code.CUST_DISABLED, MSG_DISABLED));
        outcome = 'disabled';
      } else {
        const p = this.opts.paths;
        const engine = new (engineModule().DeployEngine)({
          rpc: this.opts.rpc, log: this.opts.log, config: this.opts.config, target: new TargetRoot(p.targetRoot),
          stagingBases: p.stagingBases, logFile: p.logFile, logName: p.logName, markerDir: p.markerDir, cloudInit: p.cloudInit,
          run: this.opts.run ?? commandModule().runProcess, reboot: this.opts.reboot, interfaces: this.opts.interfaces ?? (() => sysInterfaces()),
          sleep: this.opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))), timing: this.opts.timing ?? engineModule().REFERENCE_TIMING,
          limits: this.opts.limits ?? archiveModule().DEFAULT_LIMITS, maxPackageBytes: this.opts.maxPackageBytes ?? MAX_PACKAGE_BYTES,
        });
        outcome = await engine.deploy(pkg);
      }
    } catch (e) {
      this.opts.log.error(`${e instanceof Error ? e.message : String(e)}`);
      outcome = 'error';
    }
    this.removePackage(pkg);
    return outcome;
  }

  /**
   * §2.2 / §9.3: unlink the package (never following a symlink), then its
   * directory if empty; only inside a directory deployPkg.begin created
   * (the reference unlinks any path the host names, e.g. a mistyped
   * /etc/shadow).
   */
  private removePackage(pkg: string): void {
    const dir = path.dirname(path.resolve(pkg));
    if (!this.handedOut.has(dir)) {
      this.opts.log.warn(`not removing ${pkg}: it is not in a directory deployPkg.begin created`);
      return;
    }
    try {
      fs.unlinkSync(pkg);
      fs.rmdirSync(dir);
      this.handedOut.delete(dir);
    } catch {
      /* not empty, or already gone */
    }
  }

  /** §1: leave the file cloud-init checks for, unless one of its trees already has one. */
  ensurePluginMarker(): string | undefined {
    const t = new TargetRoot(this.opts.paths.targetRoot);
    const found = (dir: string, depth: number): boolean => {
      if (depth > 6) return false;
      let ents: fs.Dirent[];
      try {
        ents = fs.readdirSync(t.resolve(dir), { withFileTypes: true });
      } catch {
        return false;
      }
      return ents.some((e) => (e.name === PLUGIN_FILE && !e.isDirectory()) || (e.isDirectory() && found(`${dir}/${e.name}`, depth + 1)));
    };
    if (PLUGIN_SEARCH_DIRS.some((d) => found(d, 0))) return undefined;
    try {
      return t.write(PLUGIN_MARKER, '# vmtoolsd-node: guest customization (deployPkg) is built into vmtoolsd.\n# cloud-init only checks that this file exists.\n', 0o644);
    } catch (e) {
      this.opts.log.warn(`cannot create ${PLUGIN_MARKER}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  tcloHandlers(): Record<string, TcloHandler> {
    return {
      'deployPkg.begin': () => this.begin(),
      'deployPkg.deploy': (args) => this.deploy(args),
    };
  }
}

/** DaemonServices for the daemon; `enabled` = §1's load conditions (ESX host). */
export function deployPkgServices(opts: DeployPkgServiceOptions & { enabled: boolean }): { services: DaemonServices; service: DeployPkgService } {
  const service = new DeployPkgService(opts);
  return { service, services: { hooks: [{ name: 'deployPkg' }], handlers: opts.enabled ? service.tcloHandlers() : {} } };
}

/**
 * The daemon's wiring: tools.conf values, §1's load condition (an ESX
 * host), the simulator-safe paths, and the reboot. The reboot is a
 * placeholder that reports failure until the power-ops backends (issue 4)
 * are connected here.
 */
export function deployPkgFromConfig(o: {
  rpc: RpcSender;
  cfg: () => { value(section: 'deployPkg', key: string): unknown; get?(section: string, key: string): string | undefined };
  detect: { vmxType: number; overridden: boolean };
  log: Logger;
  reboot?: () => Promise<{ ok: boolean; why?: string }>;
  /** Default process.env; read: TARGET_ROOT_ENV. */
  env?: NodeJS.ProcessEnv;
}): { services: DaemonServices; service: DeployPkgService } {
  const v = <T>(key: string): T => o.cfg().value('deployPkg', key) as T;
  const simulator = o.detect.overridden;
  const fromEnv = targetRootFromEnv(o.env ?? process.env, simulator);
  if (fromEnv.ignored) o.log.warn(fromEnv.ignored);
  const configuredRoot = v<string | undefined>('target-root') ?? fromEnv.root;
  const paths = defaultPaths({ targetRoot: configuredRoot, simulator });
  if (simulator && configuredRoot === undefined) o.log.info(`VMX simulator: customizing the scratch root ${paths.targetRoot}, not /`);
  const built = deployPkgServices({
    enabled: o.detect.vmxType === VMX_TYPE_ESX,
    rpc: o.rpc,
    log: o.log,
    paths,
    config: () => ({
      enableCustomization: v<boolean>('enable-customization'),
      processTimeoutS: v<number | undefined>('process-timeout'),
      waitCloudInitTimeoutS: v<number>('wait-cloudinit-timeout'),
      // Under the simulator with the scratch root, the package's command never runs on this machine.
      engine: simulator && configuredRoot === undefined ? 'native' : v<'auto' | 'command' | 'native'>('engine'),
      enableCustomScripts: v<boolean | undefined>('enable-custom-scripts'),
      // §8: these handlers replace the dedicated file with the ordinary tools logging.
      dedicatedLog: !['vmx', 'file', 'file+'].includes((o.cfg().get?.('logging', 'deployPkg.handler') ?? '').trim()),
    }),
    reboot:
      o.reboot ??
      (async () => {
        o.log.warn('the customization asks for a reboot, but no power backend is connected yet; not rebooting');
        return { ok: false, why: 'no power backend connected' };
      }),
  });
  // Never under the simulator with the real root: that would write into this machine's /usr/lib.
  const rootIsReal = paths.targetRoot === '/' || path.resolve(paths.targetRoot) === '/';
  if (v<boolean>('enable-customization') && built.services.handlers['deployPkg.begin'] && !(simulator && rootIsReal)) {
    const made = built.service.ensurePluginMarker();
    if (made) o.log.info(`created ${made} for cloud-init's plugin check`);
  }
  return built;
}

/**
 * The default of `[deployPkg] target-root` when tools.conf leaves it unset.
 * The container image sets it to /host (container/build-image.sh), where the
 * run line binds the host's root, so customization writes the host's files
 * without the user editing tools.conf. Must be absolute. Under the VMX
 * simulator a value naming the real / is ignored: the real root is never a
 * default there (the scratch root is used instead).
 */
export const TARGET_ROOT_ENV = 'VMTOOLSD_DEPLOYPKG_TARGET_ROOT';

export function targetRootFromEnv(env: NodeJS.ProcessEnv, simulator: boolean): { root?: string; ignored?: string } {
  const raw = (env[TARGET_ROOT_ENV] ?? '').trim();
  if (raw === '') return {};
  if (!path.isAbsolute(raw)) return { ignored: `${TARGET_ROOT_ENV}=${raw} ignored: not an absolute path` };
  if (simulator && path.resolve(raw) === '/') return { ignored: `${TARGET_ROOT_ENV}=${raw} ignored under the VMX simulator: the real / is never a default target` };
  return { root: path.resolve(raw) };
}

/** §1: the plugin loads only on ESX ("scalable server"), vm_vmx_type.h VMX_TYPE_SCALABLE_SERVER. */
export const VMX_TYPE_ESX = 2;
