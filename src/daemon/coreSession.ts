/**
 * The daemon's own TCLO handlers and start-up/shutdown RPCs
 * (core-services.md §2–4, §10): `reset`, `ping`, `Capabilities_Register`,
 * `Set_Option`, the `guestinfo.vmtools.*` variables, and withdrawing the
 * capabilities at shutdown. Services plug in through ServiceHooks, in the
 * order they are added (the reference runs plugin signal handlers in load
 * order, §1).
 */
import { withNul } from '../rpc/rpcout';
import type { TcloDispatcher } from '../rpc/tclo';
import type { RpcSender, TcloResult } from '../rpc/types';
import { Capability, capabilityRequests } from './capabilities';
import {
  BUILD_NUMBER,
  PRODUCT_NAME,
  TOOLS_TYPE_OVT,
  TOOLS_VERSION_CURRENT,
  TOOLS_VERSION_EXT_STRING,
  TOOLS_VERSION_STRING,
  TOOLS_VERSION_UNMANAGED,
} from './version';

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** What a service module can contribute to the core session. */
export interface ServiceHooks {
  name: string;
  /** Capability records for `Capabilities_Register` (and their withdrawal at shutdown). */
  capabilities?(): Capability[];
  /** Runs when `Capabilities_Register` arrives, before the capabilities are sent (guestInfo sends uptime here). */
  onCapabilitiesRegister?(): void;
  /** `Set_Option <name> <value>`; the return value is ignored, as in the reference since 11.0 (§4). */
  setOption?(name: string, value: string): void;
  /** After each successful `reset` (§2.3 step 3): drop caches, report afresh. */
  onReset?(): void;
}

export interface CoreSessionOptions {
  rpc: RpcSender;
  log: Logger;
  /** TCLO application name: `toolbox` for the system service (channel.md §5.3). */
  appName?: string;
  /** Sent as `tools.capability.guest_conf_directory` (§3 step 3). */
  confDirectory?: string;
  /** `[vmtools] hide-tools-version`: report TOOLS_VERSION_UNMANAGED. */
  hideToolsVersion?: () => boolean;
  /** `[vmtools] disable-tools-version` for the old-host fallback; absent means true for open-vm-tools (§3 step 4). */
  disableToolsVersion?: () => boolean | undefined;
  /** Called when a `reset` was processed with no channel error pending (clears the restart counter, §5.4). */
  onResetProcessed?: () => void;
}

export const SET_OPTION_INVALID = 'Unknown or invalid option';

export class CoreSession {
  private readonly services: ServiceHooks[] = [];
  private capabilitiesRegistered = false;
  private versionLogged = false;
  private readonly appName: string;

  constructor(private readonly opts: CoreSessionOptions) {
    this.appName = opts.appName ?? 'toolbox';
  }

  addService(hooks: ServiceHooks): void {
    this.services.push(hooks);
  }

  registerHandlers(d: TcloDispatcher): void {
    d.register('reset', () => this.reset());
    d.register('ping', () => ({ ok: true, result: '' }));
    d.register('Capabilities_Register', () => this.capabilitiesRegister());
    d.register('Set_Option', (args) => this.setOption(args));
  }

  /** §2.1 step 3: four info-set RPCs, each with a trailing NUL. */
  publishVersion(): void {
    const vars: Array<[string, string]> = [
      ['description', `${PRODUCT_NAME} ${TOOLS_VERSION_STRING}.${BUILD_NUMBER}`],
      ['versionString', TOOLS_VERSION_STRING],
      ['versionNumber', String(TOOLS_VERSION_CURRENT)],
      ['buildNumber', BUILD_NUMBER],
    ];
    for (const [k, v] of vars) this.send(withNul(`info-set guestinfo.vmtools.${k} ${v}`), `publish ${k}`);
  }

  /**
   * `reset` → `OK ATR toolbox` at once; the reset hook runs right after, before
   * the reply travels on the next poll, as the reference's high-priority idle
   * callback does (§2.3).
   */
  private reset(): TcloResult {
    setImmediate(() => this.resetHook());
    return { ok: true, result: `ATR ${this.appName}` };
  }

  private resetHook(): void {
    this.opts.log.info('Channel was reset successfully');
    const r = this.send(withNul(`vmx.capability.unified_loop ${this.appName}`), 'unified loop');
    if (r && !r.ok) this.opts.log.info("VMX doesn't support the Tools unified loop");
    if (!this.versionLogged) {
      this.versionLogged = true;
      this.send(withNul(`log ${this.appName}: Version: ${TOOLS_VERSION_EXT_STRING}.${BUILD_NUMBER}`), 'version log');
    }
    this.opts.onResetProcessed?.();
    for (const s of this.services) this.guard(s.name, 'reset', () => s.onReset?.());
  }

  /** §3: always `OK `. */
  private capabilitiesRegister(): TcloResult {
    for (const s of this.services) this.guard(s.name, 'capabilities', () => s.onCapabilitiesRegister?.());
    for (const req of capabilityRequests(this.collectCapabilities(), true)) this.send(req, 'capability');
    this.send(withNul(`tools.capability.guest_conf_directory ${this.opts.confDirectory ?? '/etc/vmware-tools'}`), 'conf directory');
    const version = this.opts.hideToolsVersion?.() ? TOOLS_VERSION_UNMANAGED : TOOLS_VERSION_CURRENT;
    const typed = this.send(withNul(`tools.set.versiontype ${version} ${TOOLS_TYPE_OVT}`), 'versiontype');
    if (!typed || !typed.ok) {
      // Old host: tools.set.version, unmanaged unless disable-tools-version=false.
      const disable = this.opts.disableToolsVersion?.() ?? true;
      this.send(withNul(`tools.set.version ${disable ? TOOLS_VERSION_UNMANAGED : version}`), 'version');
    }
    this.capabilitiesRegistered = true;
    return { ok: true, result: '' };
  }

  /** §4: option = first token; skip exactly one character; value = the rest. */
  private setOption(args: Buffer): TcloResult {
    const text = args.toString('utf8').replace(/^ /, '');
    const sp = text.indexOf(' ');
    const name = sp < 0 ? text : text.slice(0, sp);
    const value = sp < 0 ? '' : text.slice(sp + 1);
    if (name === '' || value === '') return { ok: false, result: SET_OPTION_INVALID };
    for (const s of this.services) this.guard(s.name, `Set_Option ${name}`, () => s.setOption?.(name, value));
    return { ok: true, result: '' };
  }

  /** §10: withdraw what was registered (no-value capabilities are not withdrawn). */
  shutdown(): void {
    if (!this.capabilitiesRegistered) return;
    for (const req of capabilityRequests(this.collectCapabilities(), false)) this.send(req, 'capability unset');
    this.capabilitiesRegistered = false;
  }

  private collectCapabilities(): Capability[] {
    const caps: Capability[] = [];
    for (const s of this.services) this.guard(s.name, 'capabilities', () => caps.push(...(s.capabilities?.() ?? [])));
    return caps;
  }

  /** Failures of RPCs here are logged and ignored, as in the reference. */
  private send(request: Buffer, what: string): { ok: boolean } | undefined {
    try {
      const r = this.opts.rpc.send(request);
      if (!r.ok) this.opts.log.debug(`${what}: host replied "${r.reply.toString('latin1')}"`);
      return r;
    } catch (e) {
      this.opts.log.warn(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  private guard(service: string, what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.opts.log.error(`${service}: ${what} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
