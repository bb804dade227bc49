/**
 * What the simulated VMX knows about the guest from its guest-info messages
 * (core-services.md §8): the latest accepted value of each kind, when it
 * arrived, and the messages it could not decode. The vSphere-facing values a
 * test cares about — guest.ipAddress, guest.net, the OS names — are derived
 * here, so `SimClient.getGuestView()` / `waitForIp()` answer what `govc`
 * would see.
 *
 * Fed by VmxHost.handleRpci with the raw request and the reply the host gave.
 */
import {
  DecodeFailure,
  DecodedGuestInfo,
  GuestDisk,
  GuestNic,
  GuestNicInfo,
  GuestOsDetailed,
  GuestStats,
  decodeGuestInfoRequest,
  guestInfoCommand,
} from './guestinfo-decode';
import { vsphereIpAddress } from './guest-ip';

export interface Timed<T> {
  value: T;
  /** When the host accepted it (ms since the epoch, host clock). */
  time: number;
  /** The SetGuestInfo type it came in; null for SetGuestDiskInfo. */
  type: number | null;
}

export interface GuestInfoDecodeError extends DecodeFailure {
  time: number;
  /** Length of the whole request, bytes. */
  length: number;
}

export interface GuestView {
  /** vSphere guest.ipAddress (§8.4, rule in guest-ip.ts); null until a NIC report has one. */
  ipAddress: string | null;
  /** When ipAddress last changed; null if it never had a value. */
  ipAddressTime: number | null;
  /** Type 1. */
  hostName: Timed<string> | null;
  /** guest.net: the NICs of the latest NIC report (empty before one). */
  nics: GuestNic[];
  /** Type 10 (or 9): NICs, routes and resolver configuration. */
  nicInfo: Timed<GuestNicInfo> | null;
  /** Type 6, or the short name inside type 11 — whichever came last (§8.5). */
  osName: Timed<string> | null;
  /** Type 5, or the full name inside type 11. */
  osFullName: Timed<string> | null;
  /** Type 11. */
  osDetailed: Timed<GuestOsDetailed> | null;
  /** Type 4, e.g. "build-25218885". */
  toolsBuild: Timed<string> | null;
  /** Type 7. */
  uptime: Timed<{ hundredths: number; seconds: number }> | null;
  /** SetGuestDiskInfo JSON (type null) or legacy type 3. */
  disks: Timed<GuestDisk[]> | null;
  /** Type 8. */
  stats: Timed<GuestStats> | null;
  /** The guestinfo.ip variable (written on `Set_Option broadcastIP 1`, §4); null when unset. */
  broadcastIp: string | null;
  /** Messages the host took ("1 ") but could not decode, oldest first (bounded). */
  errors: GuestInfoDecodeError[];
  /** Guest-info messages accepted and decoded. */
  received: number;
}

export type GuestInfoUpdate =
  | { kind: 'value'; info: DecodedGuestInfo; time: number; /** Differs from the previous value of that kind. */ changed: boolean }
  | { kind: 'ip'; ip: string | null; time: number }
  | { kind: 'error'; error: GuestInfoDecodeError };

export interface GuestInfoViewOptions {
  now?: () => number;
  /** MAC → name of the VM's virtual NIC ("ethernet0"), used for GuestNic.name. */
  vnics?: Record<string, string>;
  /** Decode errors kept (default 50). */
  maxErrors?: number;
}

interface IpWaiter {
  resolve: (ip: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

type Field = Exclude<keyof GuestView, 'ipAddress' | 'ipAddressTime' | 'nics' | 'broadcastIp' | 'errors' | 'received'>;

export class GuestInfoView {
  private readonly now: () => number;
  private readonly maxErrors: number;
  private vnics = new Map<string, string>();
  private values: { [K in Field]: GuestView[K] } = GuestInfoView.emptyValues();
  private ip: string | null = null;
  private ipTime: number | null = null;
  private errors: GuestInfoDecodeError[] = [];
  private received = 0;
  private readonly waiters = new Set<IpWaiter>();

  constructor(opts: GuestInfoViewOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.maxErrors = opts.maxErrors ?? 50;
    if (opts.vnics) this.setVnics(opts.vnics);
  }

  private static emptyValues(): { [K in Field]: GuestView[K] } {
    return {
      hostName: null,
      nicInfo: null,
      osName: null,
      osFullName: null,
      osDetailed: null,
      toolsBuild: null,
      uptime: null,
      disks: null,
      stats: null,
    };
  }

  /** Whether a request is a guest-info message (cheap prefix test for the RPCI path). */
  static wants(raw: Buffer): boolean {
    return guestInfoCommand(raw) !== null;
  }

  /**
   * Takes one RPCI exchange. Only messages the host accepted count: the
   * guest treats anything but "1 " as a failed send and keeps its cache
   * (§8.2, §8.9), so a rejected value is not the VMX's either.
   */
  observe(raw: Buffer, reply: Buffer): GuestInfoUpdate[] {
    const res = decodeGuestInfoRequest(raw);
    if (!res || reply[0] !== 0x31 /* "1" */) return [];
    const time = this.now();
    if (!res.ok) {
      const error: GuestInfoDecodeError = { ...res.error, time, length: raw.length };
      this.errors.push(error);
      if (this.errors.length > this.maxErrors) this.errors.splice(0, this.errors.length - this.maxErrors);
      return [{ kind: 'error', error }];
    }
    this.received++;
    return this.apply(res.info, time);
  }

  private apply(info: DecodedGuestInfo, time: number): GuestInfoUpdate[] {
    const v = this.values;
    const changed = JSON.stringify(v[info.field]?.value) !== JSON.stringify(info.value);
    const updates: GuestInfoUpdate[] = [{ kind: 'value', info, time, changed }];
    const t = <T>(value: T): Timed<T> => ({ value, time, type: info.type });
    switch (info.field) {
      case 'hostName':
        v.hostName = t(info.value);
        break;
      case 'toolsBuild':
        v.toolsBuild = t(info.value);
        break;
      case 'osName':
        v.osName = t(info.value);
        break;
      case 'osFullName':
        v.osFullName = t(info.value);
        break;
      case 'osDetailed':
        // §8.5: type 11 carries both names; it replaces types 5/6 when the host takes it.
        v.osDetailed = t(info.value);
        v.osName = t(info.value.shortName);
        v.osFullName = t(info.value.fullName);
        break;
      case 'uptime':
        v.uptime = t(info.value);
        break;
      case 'stats':
        v.stats = t(info.value);
        break;
      case 'disks':
        v.disks = t(info.value);
        break;
      case 'nicInfo': {
        this.nameNics(info.value.nics);
        v.nicInfo = t(info.value);
        const ip = vsphereIpAddress(info.value.nics);
        if (ip !== this.ip) {
          this.ip = ip;
          this.ipTime = time;
          updates.push({ kind: 'ip', ip, time });
          if (ip !== null) this.settleWaiters(ip);
        }
        break;
      }
    }
    return updates;
  }

  private nameNics(nics: GuestNic[]): void {
    for (const n of nics) n.name = this.vnics.get(n.mac.toLowerCase()) ?? null;
  }

  /** MAC → virtual NIC name; re-applied to the current report. */
  setVnics(map: Record<string, string>): void {
    this.vnics = new Map(Object.entries(map).map(([mac, name]) => [mac.toLowerCase(), name]));
    if (this.values.nicInfo) this.nameNics(this.values.nicInfo.value.nics);
  }

  get ipAddress(): string | null {
    return this.ip;
  }

  /** A copy of everything known; `broadcastIp` comes from the host's guest variables. */
  snapshot(broadcastIp: string | null = null): GuestView {
    const v = this.values;
    return structuredClone({
      ipAddress: this.ip,
      ipAddressTime: this.ipTime,
      hostName: v.hostName,
      nics: v.nicInfo ? v.nicInfo.value.nics : [],
      nicInfo: v.nicInfo,
      osName: v.osName,
      osFullName: v.osFullName,
      osDetailed: v.osDetailed,
      toolsBuild: v.toolsBuild,
      uptime: v.uptime,
      disks: v.disks,
      stats: v.stats,
      broadcastIp,
      errors: this.errors,
      received: this.received,
    });
  }

  /**
   * Resolves with guest.ipAddress as soon as there is one — what `govc vm.ip`
   * waits for (§8.4). Rejects after timeoutMs (0 or less: wait forever).
   */
  waitForIp(timeoutMs = 0): Promise<string> {
    if (this.ip !== null) return Promise.resolve(this.ip);
    return new Promise<string>((resolve, reject) => {
      const w: IpWaiter = { resolve, reject, timer: null };
      if (timeoutMs > 0) {
        w.timer = setTimeout(() => {
          this.waiters.delete(w);
          reject(new Error(`no guest IP within ${timeoutMs} ms (NIC reports: ${this.values.nicInfo ? 'yes, without a usable address' : 'none'})`));
        }, timeoutMs);
      }
      this.waiters.add(w);
    });
  }

  private settleWaiters(ip: string): void {
    for (const w of this.waiters) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(ip);
    }
    this.waiters.clear();
  }

  /** Rejects pending waitForIp calls (simulator shutdown). */
  failWaiters(reason: string): void {
    for (const w of this.waiters) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(new Error(reason));
    }
    this.waiters.clear();
  }

  /** Forgets everything (a fresh VM); pending waitForIp calls keep waiting. */
  clear(): void {
    this.values = GuestInfoView.emptyValues();
    this.ip = null;
    this.ipTime = null;
    this.errors = [];
    this.received = 0;
  }
}
