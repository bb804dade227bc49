/**
 * `vmtoolsd`: the guest agent's entry point, option-compatible with
 * open-vm-tools' vmtoolsd where it matters to operators and tools:
 *
 *   vmtoolsd [-n vmsvc] [-c tools.conf]     run the system service
 *   vmtoolsd --cmd "<rpc>"                  send one RPC, print the reply (cloud-init)
 *
 * Options the reference has for its plugin loader (-p) are accepted and
 * ignored: services are built in.
 */
import { quickParse, type QuickOption } from './quickArgs';
import { applyEnvironmentChanges, ConfigWatcher, DEFAULT_TOOLS_CONF_PATH, environmentChanges, GLIB_LOG_LEVELS, GLibLogLevel, ToolsConfig } from '../config';
import { createLogger, followConfig, RootLogger } from '../log';
import { detect, DetectResult } from '../native';
import { RpcOut } from '../rpc/rpcout';
import type { RpcReply } from '../rpc/types';
import { LinuxGuestInfoSources } from '../services/guestinfo';
import { BackdoorOneShotRpci, BackdoorRpci, BackdoorTclo } from '../transport/backdoor';
import { VsockRpci } from '../transport/vsock';
import { VsockTclo } from '../transport/vsockTclo';
import { Daemon, type DaemonServices } from '../daemon/daemon';
import { HangDetector } from '../daemon/hangDetector';
import { SystemdNotifier } from '../daemon/systemd';
import { combineServices, guestInfoServices } from '../daemon/guestInfoService';
import { powerBackendFor, powerOpsServices } from '../daemon/powerOpsService';
import { timeSyncServices } from '../daemon/timeSyncService';
import { deployPkgFromConfig } from '../daemon/deployPkgService';
import { vmbackupServices } from '../daemon/vmbackupService';
import { loadAllLazyModules, lazyHandlers } from '../daemon/lazyModules';
import { redactTcloForLog } from '../daemon/tcloLogText';
import * as path from 'node:path';
import { AGENT_VERSION, TOOLS_VERSION_CURRENT, TOOLS_VERSION_STRING } from '../daemon/version';

/** cmdLine.c's message when not on VMware (core-services.md §9). */
const NOT_VMWARE_CMD = 'Unable to send command to VMware hypervisor.';

/**
 * The backdoor TCLO loop polls at least every 100 ms when idle, and a vsock
 * session counts as active while it waits for the host; either is stuck
 * when it has made no progress for 5 s (e.g. a dispatch that never ends).
 */
const WATCHDOG_ACTIVITY_AGE_MS = 5000;


/** vsock only where the CPU really says VMware: never towards another hypervisor's vsock host. */
function vsockAllowed(d: DetectResult): boolean {
  return d.vmware && d.cpuidVendor === 'VMwareVMware' && !d.overridden;
}

/** One-shot RPC as `vmtoolsd --cmd` sends it: vsock (FAST_CLOSE) first, then the backdoor (channel.md §6.5). */
function sendOne(text: string, d: DetectResult): RpcReply {
  const request = Buffer.from(text, 'utf8');
  const out = new RpcOut({
    primary: vsockAllowed(d) ? VsockRpci.hypervisor({ fastClose: true }) : undefined,
    fallback: new BackdoorOneShotRpci(),
  });
  try {
    return out.send(request);
  } finally {
    out.stop();
  }
}

function runCmd(text: string): number {
  const d = detect();
  if (!d.vmware) {
    process.stderr.write(`${NOT_VMWARE_CMD}\n`);
    return 1;
  }
  let r: RpcReply;
  try {
    r = sendOne(text, d);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const body = r.reply.toString('utf8');
  if (r.ok) process.stdout.write(`${body}\n`);
  else process.stderr.write(`${body}\n`);
  return r.ok ? 0 : 1;
}

async function runService(configPath: string, level: GLibLogLevel | undefined): Promise<number> {
  const watcher = new ConfigWatcher({ path: configPath });
  // The first read never throws: a missing or unreadable file means defaults.
  const early: string[] = [];
  watcher.on('warning', (w) => early.push(w.message));
  const config: ToolsConfig = await watcher.start();
  // [setenvironment]/[unsetenvironment] apply to the service and what it runs.
  applyEnvironmentChanges(environmentChanges(config, 'vmsvc'));
  const log: RootLogger = createLogger({ service: 'vmsvc', config, levelOverride: level });
  for (const m of early.splice(0)) log.warn(m);
  watcher.removeAllListeners('warning');
  // Levels, handlers and files follow tools.conf; its warnings are logged.
  followConfig(log, watcher);

  const d = detect();
  if (!d.vmware) {
    // The reference's main loop never starts off VMware, and it exits 0 (core-services.md §2.1).
    log.info(`not running in a VMware virtual machine (CPUID vendor "${d.cpuidVendor}"); exiting`);
    await log.close();
    watcher.stop();
    return 0;
  }
  log.info(
    `vmtoolsd-node ${AGENT_VERSION} (tools ${TOOLS_VERSION_STRING}) starting: backdoor version ${d.backdoorVersion}, ` +
      `VMX type ${d.vmxType}${d.overridden ? ', VMware check overridden (simulator)' : ''}`,
  );

  const rpc = new RpcOut({
    primary: vsockAllowed(d) ? VsockRpci.hypervisor() : undefined,
    fallback: new BackdoorRpci(),
    onSwitch: (to, why) => log.info(`RPCI over ${to.kind} (${why})`),
  });
  // Guest info sends through the daemon's RPC sender, which exists only once
  // the daemon (which needs guest info's hooks) is built: hence the late binding.
  let daemon: Daemon | undefined;
  const gi = guestInfoServices({
    rpc: { send: (r) => daemon!.rpc.send(r) },
    sources: new LinuxGuestInfoSources(),
    config: (section, key) => watcher.current.get(section, key),
    log: log.child('guestinfo'),
  });
  // Typed values: GLib's boolean rules, the reference's defaults for absent or invalid keys.
  const cfg = (): ToolsConfig => watcher.current;
  // Time sync (core-services.md §7); a simulated clock in simulator mode, never this machine's.
  const ts = timeSyncServices({ rpc: { send: (r) => daemon!.rpc.send(r) }, config: cfg, log: log.child('timesync'), simulatorMode: d.overridden });
  // core-services.md §6; after OS_Resume, time sync's one-shot step.
  const power = powerOpsServices({
    rpc: { send: (r) => daemon!.rpc.send(r) },
    config: cfg,
    log: log.child('powerops'),
    simulator: d.overridden,
    onResume: () => ts.resumed(),
  });
  log.info(`power operations: halt/reboot backend ${power.describeBackend()}`);
  // Guest customization (customization.md): reboots through the same halt/reboot backend as OS_Reboot.
  const dp = deployPkgFromConfig({
    rpc: { send: (r) => daemon!.rpc.send(r) },
    cfg,
    detect: d,
    log: log.child('deployPkg'),
    reboot: () => powerBackendFor(cfg(), { simulator: d.overridden }).backend.reboot(),
  });
  // Quiesced snapshots: while frozen, logs stay in memory and tools.conf is not polled (quiesce.md §4.4).
  const vb = vmbackupServices({
    rpc: { send: (r) => daemon!.rpc.send(r) },
    log: log.child('vmbackup'),
    config: cfg,
    confDirectory: path.dirname(path.resolve(configPath)),
    simulator: d.overridden,
    ioFreeze: async (frozen) => {
      if (frozen) {
        // No code loads while frozen: what a command could still need is loaded now.
        loadAllLazyModules();
        watcher.pause();
        await log.hold();
      } else {
        log.release();
        watcher.resume();
      }
    },
  });
  const systemd = new SystemdNotifier({ log });
  // core-services.md §5.3; runs on its own thread, so it reports a stuck event loop.
  // Guest operations (guest-ops.md): tools.conf [guestoperations] is read at every request.
  const gops: DaemonServices = {
    hooks: [{ name: 'guestOps' }],
    // Built at the first request (src/daemon/lazyModules.ts): most guests never see one.
    handlers: lazyHandlers(
      ['Vix_1_Relayed_Command'],
      () =>
        (require('../daemon/guestOpsService') as typeof import('../daemon/guestOpsService')).guestOpsServices({
          config: () => ({ disabled: cfg().value('guestoperations', 'disabled'), apiDisabled: (api) => cfg().guestOpDisabled(api) }),
          log: log.child('vix'),
          // Tests only, and only under the simulator: a private PAM config directory.
          pamConfDir: d.overridden ? process.env.VMTOOLSD_TEST_PAM_CONFDIR : undefined,
        }).services.handlers,
      { raw: ['Vix_1_Relayed_Command'] },
    ),
  };
  const hang = new HangDetector({ disabled: cfg().value('vmsvc', 'toolsHangDetectorDisabled'), log: log.child('hangdetector') });
  daemon = new Daemon({
    rpc,
    tclo: new BackdoorTclo(),
    // TCLO over vsock first where the CPU really is VMware (channel.md §6.5).
    vsockTclo: vsockAllowed(d) ? VsockTclo.hypervisor() : undefined,
    log,
    // Capabilities go out in the reference's plugin order (guestInfo, powerOps, vmbackup); the others register none.
    services: combineServices(gi.services, ts.services, power.services, vb.services, gops, dp.services, { hooks: [{ name: 'hangDetector', onReset: () => hang.onReset() }], handlers: {} }),
    hideToolsVersion: () => cfg().value('vmtools', 'hide-tools-version'),
    disableToolsVersion: () => cfg().value('vmtools', 'disable-tools-version'),
    onFirstExchange: () => {
      log.info('first TCLO exchange with the host');
      systemd.ready();
    },
    onState: (s) => {
      log.debug(`state: ${s}`);
      systemd.status(s);
    },
    onCommand: (cmd, reply, ms) => {
      if (log.isEnabled('debug')) log.debug(`TCLO ${JSON.stringify(redactTcloForLog(cmd))} → ${JSON.stringify(reply.toString('latin1').slice(0, 80))} (${ms} ms)`);
    },
    onGiveUp: () => void shutdown(1),
  });

  watcher.on('change', (ev) => {
    log.info(`configuration changed: ${ev.changes.map((c) => `[${c.section}] ${c.key}`).join(', ')}`);
    if (ev.touches('guestinfo') || ev.touches('guestosinfo')) gi.reconfigure();
    if (ev.touches('timeSync')) ts.reconfigure();
    if (ev.touches('powerops')) log.info(`power operations: halt/reboot backend ${power.describeBackend()}`);
  });

  let stopping = false;
  const shutdown = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down');
    systemd.stopping();
    hang.stop();
    await vb.service.shutdown(); // thaw before anything else (the holder would also thaw when we exit)
    ts.stop();
    daemon?.stop();
    systemd.close();
    watcher.stop();
    await log.flush(1000);
    await log.close();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading the configuration');
    void watcher.reload();
  });

  daemon.start();
  hang.start();
  // WATCHDOG=1 only while this event loop runs (the timer fires) and, when the
  // TCLO driver should be serving, it has made progress within the last 5 s.
  systemd.startWatchdog(() => {
    const tclo = daemon!.driver;
    return !tclo.isRunning || Date.now() - tclo.lastActivityAt < WATCHDOG_ACTIVITY_AGE_MS;
  });
  return new Promise<number>(() => undefined); // runs until a signal
}

/** The options, shared by the fast path and yargs (one table, one truth). */
export const OPTIONS = {
  name: { name: 'name', alias: 'n', default: 'vmsvc', describe: 'Service name; only "vmsvc" (the system service) is provided' },
  config: { name: 'config', alias: 'c', default: DEFAULT_TOOLS_CONF_PATH, describe: 'tools.conf to use (missing is fine: defaults)' },
  cmd: { name: 'cmd', describe: 'Send one RPC to the host, print its reply and exit (0 on success)' },
  logLevel: { name: 'log-level', choices: GLIB_LOG_LEVELS, describe: 'Log level for every domain, overriding tools.conf [logging]' },
  pluginPath: { name: 'plugin-path', alias: 'p', describe: 'Accepted for compatibility; services are built in' },
} as const satisfies Record<string, QuickOption & { describe: string }>;

export interface MainArgs {
  name: string;
  config: string;
  cmd?: string;
  'log-level'?: GLibLogLevel;
}

/** Everything yargs does: help, version, errors, and any command line quickParse leaves to it. */
export async function parseWithYargs(argv: string[]): Promise<MainArgs> {
  const { default: yargs } = await import('yargs');
  const o = OPTIONS;
  return yargs(argv)
    .scriptName('vmtoolsd')
    .usage(
      '$0 [options]\n\n' +
        'The vmtoolsd-node guest agent: tells VMware that tools are running, reports guest ' +
        'information and serves the host\'s requests over the backdoor and vsock channels.',
    )
    .option(o.name.name, { alias: o.name.alias, type: 'string', default: o.name.default, describe: o.name.describe })
    .option(o.config.name, { alias: o.config.alias, type: 'string', default: o.config.default, describe: o.config.describe })
    .option(o.cmd.name, { type: 'string', describe: o.cmd.describe })
    .option(o.logLevel.name, { choices: o.logLevel.choices, describe: o.logLevel.describe })
    .option(o.pluginPath.name, { alias: o.pluginPath.alias, type: 'string', hidden: true, describe: o.pluginPath.describe })
    .example('$0', 'run the system service with /etc/vmware-tools/tools.conf')
    .example('$0 --cmd "info-get guestinfo.ovfEnv"', 'read a guest variable (as cloud-init does)')
    .epilog(
      'Environment: VMTOOLSD_ASSUME_VMWARE=1 skips the CPUID vendor check (for the VMX simulator).\n' +
        `Reports tools version ${TOOLS_VERSION_STRING} (${TOOLS_VERSION_CURRENT}), install type open-vm-tools.`,
    )
    .version(`vmtoolsd-node ${AGENT_VERSION} (VMware Tools ${TOOLS_VERSION_STRING}, version ${TOOLS_VERSION_CURRENT})`)
    .alias('version', 'v')
    .help()
    .alias('help', 'h')
    .wrap(Math.min(100, process.stdout.columns || 100))
    .strict()
    .parseAsync();
}

/**
 * The command line: the start-up fast path when it holds only known options
 * with plain values (src/cli/quickArgs.ts), yargs for everything else.
 */
export async function parseMainArgs(argv: string[]): Promise<MainArgs> {
  const quick = quickParse(argv, Object.values(OPTIONS));
  if (quick) {
    return {
      name: quick.name!,
      config: quick.config!,
      ...(quick.cmd !== undefined ? { cmd: quick.cmd } : {}),
      ...(quick['log-level'] !== undefined ? { 'log-level': quick['log-level'] as GLibLogLevel } : {}),
    };
  }
  return parseWithYargs(argv);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const args = await parseMainArgs(argv);

  if (args.cmd !== undefined) return runCmd(args.cmd);
  if (args.name !== 'vmsvc') {
    process.stderr.write(`vmtoolsd: service "${args.name}" is not provided (only vmsvc)\n`);
    return 64;
  }
  return runService(args.config, args['log-level']);
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`vmtoolsd: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}
