/**
 * The subcommands of vmware-toolbox-cmd, each as open-vm-tools 12.2 has it
 * (toolbox/toolboxcmd-*.c): the same arguments, messages, exit codes and
 * host traffic. `args` starts where the reference's argv[optind] points
 * when the command function runs: at the subcommand for commands that
 * require arguments, at the command word itself for `script` and `help`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { configRemove, configSet, type ConfigEditOutcome } from '../../config/toolbox-config';
import { decodeInteger } from '../../config/keyfile-values';
import { isValidGroupName, isValidKeyName } from '../../config/keyfile';
import { GuestLibError, GuestLibInfo, guestLibErrorText, Stat, StatId, statGet } from './guestlib';
import { getString, loadToolsConf, rawValue, strerror } from './conf';
import { LOGGING_LEVEL_DEFAULT } from './help';
import type { ToolboxHost } from './host';
import type { Output } from './output';

/** sysexits.h */
export const EXIT_SUCCESS = 0;
export const EXIT_FAILURE = 1;
export const EX_USAGE = 64;
export const EX_UNAVAILABLE = 69;
export const EX_OSFILE = 72;
export const EX_TEMPFAIL = 75;
export const EX_NOPERM = 77;

export interface ToolboxContext {
  /** argv[0], as the reference prints it. */
  prog: string;
  out: Output;
  host: ToolboxHost;
  /** GuestApp_GetConfPath(): /etc/vmware-tools. */
  confDir: string;
  /** Which network interfaces there are, for `info update network` (null: not available). */
  nicInfoMessage?: (maxIpv4Routes: number, maxIpv6Routes: number) => Buffer | null;
}

const confFile = (ctx: ToolboxContext): string => path.join(ctx.confDir, 'tools.conf');

export function missing(ctx: ToolboxContext, entity: string): number {
  ctx.out.printErr(`${ctx.prog}: Missing ${entity}\n`);
  return EX_USAGE;
}

export function unknown(ctx: ToolboxContext, entity: string, what: string): number {
  ctx.out.printErr(`${ctx.prog}: Unknown ${entity} '${what}'\n`);
  return EX_USAGE;
}

/** "Error writing config: %s\n" and EX_TEMPFAIL, or success. */
function writeOutcome(ctx: ToolboxContext, outcome: ConfigEditOutcome): number {
  if (outcome.ok) {
    // Only for files open-vm-tools would reject or misread (it would have
    // replaced such a file by one holding just this key; we edited it).
    for (const w of outcome.warnings) ctx.out.error(`${ctx.prog}: warning: ${w}\n`);
    return EXIT_SUCCESS;
  }
  ctx.out.error(`Error writing config: ${strerror(outcome.error.code)}\n`);
  return EX_TEMPFAIL;
}

/**
 * g_key_file_set_string refuses a bad group or key name (g_return_if_fail)
 * and the reference then writes the file back unchanged and succeeds.
 */
function namesValid(section: string, key: string): boolean {
  return isValidGroupName(section) && isValidKeyName(key);
}

async function setKey(ctx: ToolboxContext, section: string, key: string, value: string): Promise<number> {
  if (!namesValid(section, key)) return EXIT_SUCCESS;
  return writeOutcome(ctx, await configSet(confFile(ctx), section, key, value));
}

// ---------------------------------------------------------------------------
// config (toolboxcmd-config.c)

export async function configCommand(ctx: ToolboxContext, args: string[]): Promise<number> {
  if (args.length < 1) return missing(ctx, 'config operation');
  if (args.length < 2) return missing(ctx, 'config section');
  if (args.length < 3) return missing(ctx, 'config key');
  const [op, section, key] = args as [string, string, string];
  if (op === 'set') {
    if (args.length < 4) return missing(ctx, 'config value');
    return setKey(ctx, section, key, args[3]!);
  }
  if (op === 'get') {
    const conf = loadToolsConf(confFile(ctx));
    if (conf.state !== 'ok') {
      ctx.out.print(`[${section}] ${key} UNSET\n`);
      return EX_UNAVAILABLE;
    }
    const value = getString(confFile(ctx), conf, section, key);
    ctx.out.print(value === undefined ? `[${section}] ${key} UNSET\n` : `[${section}] ${key} = ${value}\n`);
    return EXIT_SUCCESS;
  }
  if (op === 'remove') {
    // Idempotent, but a file that is missing or does not load is "unavailable".
    if (loadToolsConf(confFile(ctx)).state !== 'ok') return EX_UNAVAILABLE;
    if (!namesValid(section, key)) return EXIT_SUCCESS;
    return writeOutcome(ctx, await configRemove(confFile(ctx), section, key));
  }
  return unknown(ctx, 'subcommand', op);
}

// ---------------------------------------------------------------------------
// script (toolboxcmd-scripts.c)

/** apm name → [powerops] key and default script (conf.h CONFNAME_* / CONFVAL_*_DEFAULT). */
const SCRIPTS: Record<string, { key: string; def: string }> = {
  suspend: { key: 'suspend-script', def: 'suspend-vm-default' },
  resume: { key: 'resume-script', def: 'resume-vm-default' },
  shutdown: { key: 'poweroff-script', def: 'poweroff-vm-default' },
  power: { key: 'poweron-script', def: 'poweron-vm-default' },
};

function scriptEntry(ctx: ToolboxContext, apm: string, current: boolean): number {
  const s = SCRIPTS[apm]!;
  let entry: string | undefined;
  if (current) {
    const conf = loadToolsConf(confFile(ctx));
    entry = getString(confFile(ctx), conf, 'powerops', s.key);
  }
  entry ??= s.def;
  if (entry.length === 0) {
    ctx.out.error(`No script for operation ${apm}.\n`);
    return EX_TEMPFAIL;
  }
  if (!entry.startsWith('/')) {
    // Cope with old configs that put quotes around script paths.
    const quoted = entry[0] === '"' && entry[entry.length - 1] === '"';
    // "%.*s" with a negative precision (a lone '"') prints the whole rest.
    const body = quoted ? (entry.length >= 2 ? entry.slice(1, -1) : entry.slice(1)) : entry;
    entry = `${ctx.confDir}/${body}`;
  }
  ctx.out.print(`${entry}\n`);
  return EXIT_SUCCESS;
}

export async function scriptCommand(ctx: ToolboxContext, args: string[]): Promise<number> {
  // args[0] is "script" itself.
  if (args.length < 2) return missing(ctx, 'script type');
  const apm = args[1]!;
  if (!Object.prototype.hasOwnProperty.call(SCRIPTS, apm)) return unknown(ctx, 'script type', apm);
  if (args.length < 3) return missing(ctx, 'subcommand');
  const sub = args[2]!;
  const s = SCRIPTS[apm]!;
  switch (sub) {
    case 'default':
      return scriptEntry(ctx, apm, false);
    case 'current':
      return scriptEntry(ctx, apm, true);
    case 'set': {
      if (args.length < 4) return missing(ctx, 'script path');
      const p = args[3]!;
      if (!fileExists(p)) {
        ctx.out.error(`${p} doesn't exist.\n`);
        return EX_OSFILE;
      }
      return setKey(ctx, 'powerops', s.key, p);
    }
    case 'enable':
      return setKey(ctx, 'powerops', s.key, s.def);
    case 'disable':
      return setKey(ctx, 'powerops', s.key, '');
    default:
      return unknown(ctx, 'subcommand', sub);
  }
}

/** File_Exists: stat() succeeds (a dangling link does not exist). */
function fileExists(p: string): boolean {
  try {
    fs.statSync(p);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// logging (toolboxcmd-logging.c)

const LOG_LEVELS = ['error', 'critical', 'warning', 'message', 'info', 'debug'];

export async function loggingCommand(ctx: ToolboxContext, args: string[]): Promise<number> {
  if (args.length < 2) return missing(ctx, 'logging operation');
  if (args.length < 3) return missing(ctx, 'logging servicename');
  const [sub, op, service] = args as [string, string, string];
  if (sub !== 'level') return unknown(ctx, 'subcommand', sub);
  const confName = `${service}.level`;
  if (op === 'set') {
    if (args.length < 4) return missing(ctx, 'logging level');
    const level = args[3]!;
    if (!LOG_LEVELS.includes(level)) return unknown(ctx, 'logging level', level);
    return setKey(ctx, 'logging', confName, level);
  }
  if (op === 'get') {
    const conf = loadToolsConf(confFile(ctx));
    const level = getString(confFile(ctx), conf, 'logging', confName);
    ctx.out.print(`${confName} = ${level ?? LOGGING_LEVEL_DEFAULT}\n`);
    return EXIT_SUCCESS;
  }
  return unknown(ctx, 'subcommand', op);
}

// ---------------------------------------------------------------------------
// timesync (toolboxcmd-time.c)

/** backdoor_def.h BDOOR_CMD_GETGUIOPTIONS; tclodefs.h VMWARE_GUI_SYNC_TIME. */
export const BDOOR_CMD_GETGUIOPTIONS = 13;
export const VMWARE_GUI_SYNC_TIME = 0x400;

function syncTimeOn(ctx: ToolboxContext): boolean {
  return (ctx.host.lowBandwidth(BDOOR_CMD_GETGUIOPTIONS).eax & VMWARE_GUI_SYNC_TIME) !== 0;
}

/** `vmx.set_option synctime <old> <new>` with its NUL (strlen + 1). */
export function setSyncTimeRequest(enable: boolean): Buffer {
  return Buffer.from(`vmx.set_option synctime ${enable ? '0' : '1'} ${enable ? '1' : '0'}\0`, 'latin1');
}

export function timesyncCommand(ctx: ToolboxContext, args: string[]): number {
  const sub = args[0]!;
  if (sub === 'enable' || sub === 'disable') {
    const enable = sub === 'enable';
    const label = enable ? 'Enabled' : 'Disabled';
    // Already in the wanted state: nothing is sent.
    if (syncTimeOn(ctx) === enable) {
      ctx.out.info(`${label}\n`);
      return EXIT_SUCCESS;
    }
    const r = ctx.host.sendRpc(setSyncTimeRequest(enable));
    if (r.ok) {
      ctx.out.info(`${label}\n`);
      return EXIT_SUCCESS;
    }
    ctx.out.error(Buffer.concat([Buffer.from('Error: '), cBytes(r.reply), Buffer.from('\n')]));
    return EXIT_FAILURE;
  }
  if (sub === 'status') {
    if (syncTimeOn(ctx)) {
      ctx.out.info('Enabled\n');
      return EXIT_SUCCESS;
    }
    ctx.out.info('Disabled\n');
    return EX_UNAVAILABLE;
  }
  return unknown(ctx, 'subcommand', sub);
}

/** A reply as a C string: up to the first NUL; VM_SAFE_STR(NULL) is "(NULL)". */
function cBytes(b: Buffer | null): Buffer {
  if (b === null) return Buffer.from('(NULL)');
  const nul = b.indexOf(0);
  return nul < 0 ? b : b.subarray(0, nul);
}

// ---------------------------------------------------------------------------
// stat (toolboxcmd-stat.c)

/** backdoor_def.h */
export const BDOOR_CMD_GETMHZ = 1;
export const BDOOR_CMD_GETTIME = 23;
export const BDOOR_CMD_GETTIMEFULL = 46;
export const BDOOR_MAGIC = 0x564d5868;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => String(n).padStart(2, '0');

/** strftime("%d %b %Y %H:%M:%S", localtime(&sec)) in the C locale. */
export function formatHostTime(d: Date): string {
  return `${pad2(d.getDate())} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

function statHostTime(ctx: ToolboxContext): number {
  let r = ctx.host.lowBandwidth(BDOOR_CMD_GETTIMEFULL);
  let hostSecs: bigint;
  if (r.eax === BDOOR_MAGIC) {
    hostSecs = BigInt.asIntN(64, (BigInt(r.esi) << 32n) | BigInt(r.edx));
  } else {
    // Falling back to the older command: EAX = seconds, or 0xFFFFFFFF on error.
    r = ctx.host.lowBandwidth(BDOOR_CMD_GETTIME);
    hostSecs = r.eax === 0xffffffff ? -1n : BigInt(r.eax);
  }
  const hostUsecs = BigInt(r.ebx);
  if (hostSecs <= 0n) {
    ctx.out.error('Unable to get host time.\n');
    return EX_TEMPFAIL;
  }
  const sec = hostSecs + hostUsecs / 1000000n;
  const d = new Date(Number(sec) * 1000); // local time, from TZ or /etc/localtime like localtime()
  if (Number.isNaN(d.getTime())) {
    ctx.out.error('Unable to format host time.\n');
    return EX_TEMPFAIL;
  }
  ctx.out.print(`${formatHostTime(d)}\n`);
  return EXIT_SUCCESS;
}

function statSpeed(ctx: ToolboxContext): number {
  const speed = ctx.host.lowBandwidth(BDOOR_CMD_GETMHZ).eax | 0; // int32
  if (speed <= 0) {
    ctx.out.error('Unable to get processor speed.\n');
    return EX_TEMPFAIL;
  }
  ctx.out.print(`${speed} MHz\n`);
  return EXIT_SUCCESS;
}

/** OpenHandle + UpdateInfo: the handle, or the exit code after the message. */
function openHandle(ctx: ToolboxContext): GuestLibInfo | number {
  if (!ctx.host.isVirtualWorld()) {
    ctx.out.error(`OpenHandle failed: ${guestLibErrorText(GuestLibError.NOT_RUNNING_IN_VM)}\n`);
    return EX_UNAVAILABLE;
  }
  const u = GuestLibInfo.update(ctx.host);
  if (u.error !== GuestLibError.SUCCESS || !u.info) {
    ctx.out.error(`UpdateInfo failed: ${guestLibErrorText(u.error)}\n`);
    return EX_TEMPFAIL;
  }
  return u.info;
}

function statSessionId(ctx: ToolboxContext): number {
  const h = openHandle(ctx);
  if (typeof h === 'number') return h;
  const r = h.getSessionId();
  if (r.error !== GuestLibError.SUCCESS) {
    ctx.out.error(`Failed to get session ID: ${guestLibErrorText(r.error)}\n`);
    return EX_TEMPFAIL;
  }
  ctx.out.print(`0x${r.value!.toString(16)}\n`);
  return EXIT_SUCCESS;
}

function statUint32(ctx: ToolboxContext, stat: StatId, failure: string, unit: string): number {
  const h = openHandle(ctx);
  if (typeof h === 'number') return h;
  const r = h.getUint32(stat);
  if (r.error !== GuestLibError.SUCCESS) {
    ctx.out.error(`${failure}: ${guestLibErrorText(r.error)}\n`);
    return EX_TEMPFAIL;
  }
  ctx.out.print(`${r.value} ${unit}\n`);
  return EXIT_SUCCESS;
}

function statRaw(ctx: ToolboxContext, encoding: string, stat: string, param: string): number {
  const r = statGet(ctx.host, encoding, `${stat} ${param}`);
  if (r.error !== GuestLibError.SUCCESS) {
    ctx.out.error(`Failed to get stat: ${guestLibErrorText(r.error)}\n`);
    return EX_TEMPFAIL;
  }
  // g_print("%*s", (int)resultSize, result): the C string, right-aligned in resultSize columns.
  const reply = r.reply!;
  const text = cBytes(reply);
  const padding = Math.max(0, reply.length - text.length);
  ctx.out.print(Buffer.concat([Buffer.alloc(padding, 0x20), text]));
  return EXIT_SUCCESS;
}

export function statCommand(ctx: ToolboxContext, args: string[]): number {
  const sub = args[0]!;
  switch (sub) {
    case 'hosttime':
      return statHostTime(ctx);
    case 'sessionid':
      return statSessionId(ctx);
    case 'balloon':
      return statUint32(ctx, Stat.MEM_BALLOONED_MB, 'Failed to get ballooned memory', 'MB');
    case 'swap':
      return statUint32(ctx, Stat.MEM_SWAPPED_MB, 'Failed to get swapped memory', 'MB');
    case 'memlimit':
      return statUint32(ctx, Stat.MEM_LIMIT_MB, 'Failed to get memory limit', 'MB');
    case 'memres':
      return statUint32(ctx, Stat.MEM_RESERVATION_MB, 'Failed to get memory reservation', 'MB');
    case 'cpures':
      return statUint32(ctx, Stat.CPU_RESERVATION_MHZ, 'Failed to get CPU minimum', 'MHz');
    case 'cpulimit':
      return statUint32(ctx, Stat.CPU_LIMIT_MHZ, 'Failed to get CPU limit', 'MHz');
    case 'speed':
      return statSpeed(ctx);
    case 'raw':
      return statRaw(ctx, args[1] ?? '', args[2] ?? '', args[3] ?? '');
    default:
      return unknown(ctx, 'subcommand', sub);
  }
}

// ---------------------------------------------------------------------------
// device (toolboxcmd-devices.c)

export const BDOOR_CMD_GETDEVICELISTELEMENT = 11;
export const BDOOR_CMD_TOGGLEDEVICE = 12;
const MAX_DEVICES = 50;
/** sizeof(RD_Info): char name[32]; uint32 uid; Bool enabled; padded to 40. */
const RD_INFO_SIZE = 40;

interface DeviceInfo {
  name: Buffer;
  enabled: boolean;
}

function deviceInfo(ctx: ToolboxContext, id: number): DeviceInfo | null {
  const b = Buffer.alloc(RD_INFO_SIZE);
  for (let offset = 0; offset < RD_INFO_SIZE - 3; offset += 4) {
    const r = ctx.host.lowBandwidth(BDOOR_CMD_GETDEVICELISTELEMENT, ((id << 16) | offset) >>> 0);
    if (r.eax === 0) return null;
    b.writeUInt32LE(r.ebx >>> 0, offset);
  }
  const nul = b.indexOf(0);
  return { name: nul < 0 ? b : b.subarray(0, nul), enabled: b[36] !== 0 };
}

export function deviceCommand(ctx: ToolboxContext, args: string[]): number {
  const sub = args[0]!;
  const dev = args[1];
  switch (sub) {
    case 'list':
      for (let i = 0; i < MAX_DEVICES; i++) {
        const info = deviceInfo(ctx, i);
        if (info && info.name.length > 0) {
          ctx.out.print(Buffer.concat([info.name, Buffer.from(`: ${info.enabled ? 'Enabled' : 'Disabled'}\n`)]));
        }
      }
      return EXIT_SUCCESS;
    case 'status':
    case 'enable':
    case 'disable': {
      if (dev === undefined) break;
      const want = Buffer.from(dev, 'utf8');
      for (let i = 0; i < MAX_DEVICES; i++) {
        const info = deviceInfo(ctx, i);
        if (!info || !info.name.equals(want)) continue;
        if (sub === 'status') {
          ctx.out.info(info.enabled ? 'Enabled\n' : 'Disabled\n');
          return info.enabled ? EXIT_SUCCESS : EX_UNAVAILABLE;
        }
        const enable = sub === 'enable';
        const r = ctx.host.lowBandwidth(BDOOR_CMD_TOGGLEDEVICE, ((enable ? 0x80000000 : 0) | i) >>> 0);
        if (r.eax === 0) {
          ctx.out.error(
            Buffer.concat([Buffer.from(`Unable to ${enable ? 'connect' : 'disconnect'} device `), info.name, Buffer.from('.\n')]),
          );
          return EX_TEMPFAIL;
        }
        ctx.out.info(enable ? 'Enabled\n' : 'Disabled\n');
        return EXIT_SUCCESS;
      }
      ctx.out.error('Error fetching interface information: device not found.\n');
      return EX_OSFILE;
    }
    default:
      return unknown(ctx, 'subcommand', sub);
  }
  return missing(ctx, 'device name');
}

// ---------------------------------------------------------------------------
// info (toolboxcmd-info.c)

/** NICINFO_MAX_ROUTES */
const MAX_ROUTES = 100;

function routesLimit(ctx: ToolboxContext, key: string): number {
  const conf = loadToolsConf(confFile(ctx), false);
  const raw = conf.state === 'ok' ? rawValue(conf.file, 'guestinfo', key) : undefined;
  if (raw === undefined) return MAX_ROUTES;
  const d = decodeInteger(raw);
  if (!d.ok || d.value < 0 || d.value > MAX_ROUTES) return MAX_ROUTES;
  return d.value;
}

export function infoCommand(ctx: ToolboxContext, args: string[]): number {
  if (args.length < 1) return missing(ctx, 'info operation');
  if (args.length < 2) return missing(ctx, 'info infoclass');
  const [sub, cls] = args as [string, string];
  if (sub !== 'update') return unknown(ctx, 'subcommand', sub);
  if (cls !== 'network') return unknown(ctx, 'info infoclass', cls);
  const message = ctx.nicInfoMessage?.(routesLimit(ctx, 'max-ipv4-routes'), routesLimit(ctx, 'max-ipv6-routes')) ?? null;
  if (message === null) return EXIT_FAILURE;
  return ctx.host.sendRpc(message).ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

// ---------------------------------------------------------------------------
// Commands this agent does not provide

/** disk, gueststore, globalconf: accepted by name, then refused with a clear reason. */
export function unsupportedCommand(ctx: ToolboxContext, command: string): number {
  ctx.out.printErr(`${ctx.prog}: ${command} operations are not supported by vmtoolsd-node\n`);
  return EX_UNAVAILABLE;
}

