/**
 * The guestInfo service (core-services.md §8): gathers guest facts, sends
 * only what changed, reports memory stats, answers `broadcastIP` and owns
 * the `vmsupport.start` TCLO command. Timers belong to the daemon: it calls
 * `reportAll()` right after a `reset` (instead of waiting 30 s, §8.1), then
 * `tick()` every `pollIntervalMs()` and `statsTick()` every `statsIntervalMs()`.
 */
import { RpcReply, RpcSender, TcloHandler, TcloResult } from '../../rpc/types';
import { GuestInfoCache, NicSendMethod, NicSendMethodValue } from './cache';
import { GuestInfoConfig, defaultGuestInfoConfig } from './config';
import {
  DEFAULT_BUILD_NUMBER,
  INFO_IPADDRESS_V2_MAX_IPS,
  InfoType,
  InfoTypeValue,
  NICINFO_MAX_NICS,
  RPC_VMSUPPORT_START,
  TOOLSOPTION_BROADCASTIP,
  VMSUPPORT_START_ERROR,
} from './constants';
import { DiskEntry, diskInfoEqual, diskInfoJsonMessage, diskInfoLegacyMessage, gatherDiskInfo } from './diskInfo';
import { Logger, silentLogger } from './logger';
import { MemStatsCollector } from './memStats';
import {
  broadcastIpMessage,
  lateGatherLogMessage,
  setGuestInfoBinary,
  setGuestInfoString,
  vmxLogMessage,
} from './messages';
import { gatherNicInfo } from './nicGatherer';
import { NicInfoV3 } from './nicInfoTypes';
import { encodeGuestNicProtoV3, encodeNicInfoV3, truncateIpsPerNic } from './nicInfoXdr';
import { detailedDataBody, gatherOsIdentity } from './osInfo';
import { findPrimaryIp } from './primaryIp';
import { GuestInfoSources } from './sources';
import { gatherUptime } from './uptime';

export interface GuestInfoServiceOptions {
  rpc: RpcSender;
  sources: GuestInfoSources;
  config?: GuestInfoConfig;
  log?: Logger;
  /** Type 4 value; defaults to the reference tree's "build-25218885" (core-services.md §8.2). */
  buildNumber?: string;
  /** Millisecond clock for the "gather ran late" check; defaults to Date.now. */
  now?: () => number;
}

/** lib/user/util.c Util_Throttle: the first 100, then every 100th, 10 000th, 1 000 000th. */
export function utilThrottle(count: number): boolean {
  return (
    count < 100 ||
    (count < 10000 && count % 100 === 0) ||
    (count < 1000000 && count % 10000 === 0) ||
    count % 1000000 === 0
  );
}

/** The reply carries no text ("1 " alone): what string-valued SetGuestInfo success means (§8.2). */
function replyIsEmpty(r: RpcReply): boolean {
  return r.reply.every((b) => b === 0);
}

export class GuestInfoService {
  private readonly rpc: RpcSender;
  private readonly sources: GuestInfoSources;
  private readonly log: Logger;
  private readonly buildNumber: string;
  private readonly now: () => number;
  private config: GuestInfoConfig;
  private readonly cache = new GuestInfoCache();
  private readonly stats: MemStatsCollector;
  /** Set by a reset: the next update of any kind clears the cache first (§8.9). */
  private clearCacheOnNextUpdate = false;
  /** Cleared when the host rejects type 11; re-armed by a reset (§8.5). */
  private sendDetailedOsData = true;
  private lastGatherMs: number | undefined;
  /** primary-nics / low-priority-nics changed: resend NIC info even if it compares equal. */
  private nicOrderChanged = false;
  private nicLimitLogCount = 0;

  constructor(opts: GuestInfoServiceOptions) {
    this.rpc = opts.rpc;
    this.sources = opts.sources;
    this.log = opts.log ?? silentLogger;
    this.config = opts.config ?? defaultGuestInfoConfig();
    this.buildNumber = opts.buildNumber ?? DEFAULT_BUILD_NUMBER;
    this.now = opts.now ?? Date.now;
    this.stats = new MemStatsCollector(this.sources);
  }

  // ---- timers the daemon runs ------------------------------------------------

  /** Gather period in ms; 0 = disabled (`poll-interval`, core-services.md §8.1). */
  pollIntervalMs(): number {
    return this.config.pollIntervalSec * 1000;
  }

  /** Stats period in ms; 0 = disabled (`stats-interval`, or `disable-perf-mon=true`). */
  statsIntervalMs(): number {
    return this.config.disablePerfMon ? 0 : this.config.statsIntervalSec * 1000;
  }

  /** Applies a reloaded config; a change of NIC ordering forces the next NIC report. */
  updateConfig(config: GuestInfoConfig): void {
    const same = (a: readonly string[], b: readonly string[]): boolean =>
      a.length === b.length && a.every((x, i) => x === b[i]);
    if (!same(config.primaryNics, this.config.primaryNics) || !same(config.lowPriorityNics, this.config.lowPriorityNics)) {
      this.nicOrderChanged = true;
    }
    this.config = config;
  }

  // ---- entry points ------------------------------------------------------------

  /** The core's "reset" signal: drop all caches at the next update, retry type 11 (§2.3, §8.9). */
  onReset(): void {
    this.clearCacheOnNextUpdate = true;
    this.lastGatherMs = undefined;
    this.sendDetailedOsData = true;
  }

  /**
   * The first full report, meant to run right after `reset`: everything is
   * resent (the cache is cleared), then a first stats sample goes out.
   */
  reportAll(): void {
    this.cache.clear();
    this.clearCacheOnNextUpdate = false;
    this.sendDetailedOsData = true;
    this.lastGatherMs = this.now();
    this.gather();
    if (this.statsIntervalMs() > 0) this.statsTick();
  }

  /** One periodic gather (GuestInfoGather). */
  tick(): void {
    this.checkIfRunningLate();
    this.gather();
  }

  /** One stats sample (GuestInfo_StatProviderPoll). Returns whether it was delivered. */
  statsTick(): boolean {
    let body: Buffer;
    try {
      body = this.stats.sample();
    } catch (e) {
      this.log.error(`guestinfo: stats collection failed: ${String(e)}`);
      return false;
    }
    this.beforeUpdate();
    const r = this.send(setGuestInfoBinary(InfoType.MEMORY, body));
    if (!r?.ok) this.log.warn('guestinfo: failed to send memory stats');
    return r?.ok === true;
  }

  /**
   * Capabilities_Register: guestInfo sends the uptime (if it changed), which
   * hosts use to tell a soft reboot from a running guest (core-services.md §3;
   * users-and-packaging.md §1.1, talos-vmtoolsd#21).
   */
  onCapabilitiesRegister(): void {
    this.sendUptime();
  }

  /** Set_Option dispatch for the options guestInfo consumes; true = handled. */
  handleSetOption(option: string, value: string): boolean {
    if (option === TOOLSOPTION_BROADCASTIP) return this.handleBroadcastIP(value);
    return false;
  }

  /**
   * `Set_Option broadcastIP <value>` (core-services.md §4, §8.4): "1" sends
   * `info-set guestinfo.ip <primary IP>\0` (empty value when none); "0" does nothing.
   */
  handleBroadcastIP(value: string): boolean {
    if (value === '0') return true;
    if (value !== '1') return false;
    let ip = '';
    try {
      ip = findPrimaryIp(this.sources, this.config);
    } catch (e) {
      this.log.error(`guestinfo: primary IP lookup failed: ${String(e)}`);
    }
    const r = this.send(broadcastIpMessage(ip));
    return r?.ok === true;
  }

  /** The TCLO command guestInfo owns (core-services.md §8.8). */
  tcloHandlers(): Record<string, TcloHandler> {
    return {
      [RPC_VMSUPPORT_START]: async (): Promise<TcloResult> => {
        this.log.info('guestinfo: starting vm-support script - vm-support');
        const started = await this.sources.spawnDetached('vm-support', ['-u', '-x']);
        if (!started) {
          this.log.warn(`guestinfo: ${VMSUPPORT_START_ERROR}`);
          return { ok: false, result: VMSUPPORT_START_ERROR };
        }
        return { ok: true, result: '' };
      },
    };
  }

  // ---- the gather ---------------------------------------------------------------

  /** core-services.md §8.1: a gather ≥ 2× late logs a warning to the VMX. */
  private checkIfRunningLate(): void {
    const now = this.now();
    const interval = this.pollIntervalMs();
    if (this.lastGatherMs !== undefined && interval > 0) {
      const deltaSec = Math.floor((now - this.lastGatherMs) / 1000);
      if (deltaSec * 1000 >= 2 * interval) {
        this.send(lateGatherLogMessage(deltaSec, Math.floor(interval / 1000)));
        this.log.warn(
          `guestinfo: collection interval longer than expected; actual=${deltaSec} sec, expected=${interval / 1000} sec`,
        );
      }
    }
    this.lastGatherMs = now;
  }

  /** Gather order of core-services.md §8.2: build, OS, disks, DNS name, NICs, uptime. */
  private gather(): void {
    this.step('build number', () => {
      if (!this.sendString(InfoType.BUILD_NUMBER, this.buildNumber)) {
        this.log.warn('guestinfo: failed to update the VMX with tools version');
      }
    });
    this.step('OS identity', () => this.sendOsIdentity());
    if (!this.config.disableQueryDiskInfo) this.step('disk info', () => this.sendDiskInfo());
    this.step('host name', () => {
      const name = this.sources.hostname();
      if (name === undefined) this.log.warn('guestinfo: failed to get host name');
      else if (!this.sendString(InfoType.DNS_NAME, name)) this.log.warn('guestinfo: failed to update INFO_DNS_NAME');
    });
    this.step('NIC info', () => this.sendNicInfo());
    this.step('uptime', () => this.sendUptime());
  }

  /** Runs one gather step; an unexpected error is logged and the gather goes on. */
  private step(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error(`guestinfo: ${what} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    }
  }

  /** §8.5: type 11 first; if unavailable or rejected, types 5 and 6 until the next reset. */
  private sendOsIdentity(): void {
    const id = gatherOsIdentity(this.sources);
    const shortOverride = this.config.osShortNameOverride;
    const longOverride = this.config.osLongNameOverride;
    const shortName = shortOverride ?? id.shortName;
    // [guestosinfo] long-name only counts together with short-name; missing → empty.
    const fullName = shortOverride !== undefined ? longOverride ?? '' : id.fullName;

    let sendNames = !this.sendDetailedOsData;
    if (this.sendDetailedOsData) {
      const body = detailedDataBody(shortName, fullName, id.detailed);
      if (!this.sendDetailed(body)) {
        this.log.info('guestinfo: detailed OS data not accepted; sending OS names instead');
        this.sendDetailedOsData = false;
        sendNames = true;
      }
    }
    if (sendNames) {
      if (!this.sendString(InfoType.OS_NAME_FULL, fullName)) this.log.warn('guestinfo: failed to update INFO_OS_NAME_FULL');
      if (!this.sendString(InfoType.OS_NAME, shortName)) this.log.warn('guestinfo: failed to update INFO_OS_NAME');
    }
  }

  private sendDiskInfo(): void {
    const disks = gatherDiskInfo(this.sources, {
      includeReserved: this.config.diskInfoIncludeReserved,
      reportDevices: this.config.diskInfoReportDevice,
    });
    if (disks === undefined) {
      this.log.warn('guestinfo: failed to get disk info');
      return;
    }
    if (!this.sendDisks(disks)) this.log.warn('guestinfo: failed to update disk information');
  }

  private sendNicInfo(): void {
    const { nicInfo, maxNicsReached } = gatherNicInfo(this.sources, {
      excludeNics: this.config.excludeNics,
      primaryNics: this.config.primaryNics,
      lowPriorityNics: this.config.lowPriorityNics,
      maxIpv4Routes: this.config.maxIpv4Routes,
      maxIpv6Routes: this.config.maxIpv6Routes,
    });
    if (maxNicsReached && utilThrottle(++this.nicLimitLogCount)) {
      // guestInfoServer.c VMTools_VmxLogThrottled: tell vmware.log too (open-vm-tools#128).
      const text = `GuestInfoGather: NIC limit (${NICINFO_MAX_NICS}) reached.`;
      this.send(vmxLogMessage(text));
      this.log.info(`guestinfo: ${text}`);
    }
    if (!this.sendNics(nicInfo)) this.log.warn('guestinfo: failed to update INFO_IPADDRESS');
  }

  private sendUptime(): void {
    const uptime = gatherUptime(this.sources);
    if (uptime === undefined) {
      this.log.warn('guestinfo: unable to parse /proc/uptime');
      return;
    }
    this.sendString(InfoType.UPTIME, uptime.toString());
  }

  // ---- cached senders (GuestInfoUpdateVMX) -------------------------------------------

  private beforeUpdate(): void {
    if (this.clearCacheOnNextUpdate) {
      this.clearCacheOnNextUpdate = false;
      this.cache.clear();
    }
  }

  /** One RPC; a transport error counts as a failed send. */
  private send(request: Buffer): RpcReply | undefined {
    try {
      return this.rpc.send(request);
    } catch (e) {
      this.log.warn(`guestinfo: RPC failed: ${String(e)}`);
      return undefined;
    }
  }

  /** Types 1, 4, 5, 6, 7: send when different from the cache; success = "1 " with no text. */
  private sendString(type: InfoTypeValue, value: string): boolean {
    this.beforeUpdate();
    if (this.cache.strings.get(type) === value) return true;
    const r = this.send(setGuestInfoString(type, value));
    if (!r || !r.ok || !replyIsEmpty(r)) {
      this.log.warn(`guestinfo: failed to update key/value pair for type ${type}`);
      return false;
    }
    if (type === InfoType.OS_NAME) this.log.info(`guestinfo: updated guest OS name to ${value}`);
    if (type === InfoType.OS_NAME_FULL) this.log.info(`guestinfo: updated guest OS full name to ${value}`);
    this.cache.strings.set(type, value);
    return true;
  }

  /** Type 11; success = RPC accepted (the reply text is not inspected, as in the reference). */
  private sendDetailed(body: Buffer): boolean {
    this.beforeUpdate();
    if (this.cache.detailedData?.equals(body)) return true;
    const r = this.send(setGuestInfoBinary(InfoType.OS_DETAILED, body));
    if (!r?.ok) return false;
    this.cache.detailedData = body;
    return true;
  }

  /** JSON disk info, falling back to type 3 for the rest of the session (§8.6). */
  private sendDisks(disks: DiskEntry[]): boolean {
    this.beforeUpdate();
    if (this.cache.diskInfo !== undefined && diskInfoEqual(this.cache.diskInfo, disks)) return true;
    let ok = false;
    if (this.cache.diskInfoUseJson) {
      const r = this.send(diskInfoJsonMessage(disks));
      ok = r !== undefined && r.ok && replyIsEmpty(r);
      if (!ok) {
        this.cache.diskInfoUseJson = false;
        this.log.debug('guestinfo: using V0 (unversioned) disk info format');
      }
    }
    if (!ok) {
      const r = this.send(diskInfoLegacyMessage(disks));
      ok = r !== undefined && r.ok && replyIsEmpty(r);
    }
    if (ok) this.cache.diskInfo = disks;
    return ok;
  }

  /**
   * NIC info (§8.3): type 10, else V3 cut to 64 IPs per NIC as type 9; the
   * working form is kept until a reset. V2/V1 bodies, the reference's last
   * resorts for very old hosts, are not implemented.
   */
  private sendNics(info: NicInfoV3): boolean {
    this.beforeUpdate();
    let encoded: Buffer;
    try {
      encoded = encodeNicInfoV3(info);
    } catch (e) {
      this.log.error(`guestinfo: error serializing NIC info: ${String(e)}`);
      return false;
    }
    if (!this.nicOrderChanged && this.cache.nicInfo?.equals(encoded)) {
      this.log.debug('guestinfo: NIC info not changed');
      return true;
    }
    const attempts: Array<{ method: NicSendMethodValue; type: number; body: () => Buffer }> = [
      { method: NicSendMethod.V3_AS_TYPE_10, type: InfoType.IPADDRESS_V3, body: () => encodeGuestNicProtoV3(info) },
      {
        method: NicSendMethod.V3_AS_TYPE_9,
        type: InfoType.IPADDRESS_V2,
        body: () => encodeGuestNicProtoV3(truncateIpsPerNic(info, INFO_IPADDRESS_V2_MAX_IPS)),
      },
    ];
    for (const a of attempts) {
      if (a.method < this.cache.nicMethod) continue;
      const r = this.send(setGuestInfoBinary(a.type, a.body()));
      if (r?.ok) {
        this.cache.nicMethod = a.method;
        this.cache.nicInfo = encoded;
        this.nicOrderChanged = false;
        return true;
      }
    }
    this.cache.nicMethod = NicSendMethod.V3_AS_TYPE_10;
    return false;
  }
}
