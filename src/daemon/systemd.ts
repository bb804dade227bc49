/**
 * systemd service notifications (sd_notify(3)) and the service watchdog.
 *
 * Under a `Type=notify` unit systemd passes $NOTIFY_SOCKET; we send READY=1
 * once started, STATUS= lines, STOPPING=1 on the way out. With
 * `WatchdogSec=` it also passes WATCHDOG_USEC (and WATCHDOG_PID), and kills
 * the service when no WATCHDOG=1 arrives within that time. We ping every
 * WATCHDOG_USEC/2 (sd_watchdog_enabled(3)'s advice), but only while the
 * caller's liveness check passes: the daemon reports whether its TCLO loop
 * made progress recently, so a wedged loop lets systemd restart us even
 * though the event loop still spins. A blocked event loop stops the pings by
 * itself. Outside systemd (no NOTIFY_SOCKET) everything here is a no-op.
 *
 * Datagrams go through the addon (src/native sdNotify): Node has no AF_UNIX
 * datagram sockets, and a process per message (systemd-notify) would be a
 * fork+exec every few seconds.
 */
import { isChannelError, sdNotify } from '../native';

/** What the notifier logs: failures to reach systemd (first one loudly). */
export interface NotifierLogger {
  warn(msg: string): void;
  debug(msg: string): void;
}

export interface SystemdNotifierOptions {
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Our pid, compared with WATCHDOG_PID; default process.pid. */
  pid?: number;
  log?: NotifierLogger;
}

/** setInterval's limit; a longer period would silently become 1 ms. */
const MAX_TIMER_MS = 0x7fffffff;

const quietLogger: NotifierLogger = { warn: () => undefined, debug: () => undefined };

/** Ping period in ms for WATCHDOG_USEC/WATCHDOG_PID, or null when systemd watches no one here. */
export function watchdogPeriodMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || !/^[0-9]+$/.test(usec)) return null;
  const n = Number(usec);
  if (!Number.isSafeInteger(n) || n === 0) return null;
  // sd_watchdog_enabled(3): the variables are for WATCHDOG_PID only, when set.
  const forPid = env.WATCHDOG_PID;
  if (forPid !== undefined && forPid !== '' && forPid !== String(pid)) return null;
  return Math.min(MAX_TIMER_MS, Math.max(1, Math.floor(n / 2000)));
}

/**
 * STATUS= takes one line: a newline would start another assignment (or let
 * a caller's text inject one). Line breaks become a space, NULs go.
 */
export function statusLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/\0/g, '');
}

export class SystemdNotifier {
  /** $NOTIFY_SOCKET, or null when not started by systemd (then every call is a no-op). */
  readonly socketPath: string | null;
  /** WATCHDOG=1 period (WATCHDOG_USEC / 2) in ms, or null when systemd runs no watchdog for us. */
  readonly watchdogPeriodMs: number | null;
  private readonly log: NotifierLogger;
  private watchdog: NodeJS.Timeout | undefined;
  /** The last send failed: log the next failure quietly, a recovery once. */
  private failing = false;

  constructor(opts: SystemdNotifierOptions = {}) {
    const env = opts.env ?? process.env;
    const socketPath = env.NOTIFY_SOCKET;
    this.socketPath = socketPath !== undefined && socketPath !== '' ? socketPath : null;
    this.watchdogPeriodMs = this.socketPath === null ? null : watchdogPeriodMs(env, opts.pid ?? process.pid);
    this.log = opts.log ?? quietLogger;
  }

  /** Started by systemd with a notification socket. */
  get enabled(): boolean {
    return this.socketPath !== null;
  }

  /** READY=1: start-up is complete. */
  ready(): boolean {
    return this.notify('READY=1');
  }

  /** STATUS=<text> (one line: line breaks become spaces), shown by `systemctl status`. */
  status(text: string): boolean {
    return this.notify(`STATUS=${statusLine(String(text))}`);
  }

  /** STOPPING=1: shutting down. The watchdog keeps pinging until stopWatchdog()/close(). */
  stopping(): boolean {
    return this.notify('STOPPING=1');
  }

  /**
   * Sends raw sd_notify assignments ("A=1\nB=2"). True when sent; false
   * outside systemd or when the send failed (logged, never thrown: losing
   * a notification must not take the daemon down).
   */
  notify(message: string): boolean {
    if (this.socketPath === null) return false;
    try {
      sdNotify(this.socketPath, message);
    } catch (e) {
      if (!isChannelError(e, 'IO')) throw e;
      const what = `sd_notify ${JSON.stringify(message.split('\n')[0])} failed: ${e.message}`;
      if (this.failing) this.log.debug(what);
      else this.log.warn(what);
      this.failing = true;
      return false;
    }
    if (this.failing) {
      this.log.debug('sd_notify works again');
      this.failing = false;
    }
    return true;
  }

  /**
   * Pings WATCHDOG=1 now and every watchdogPeriodMs while `isAlive()` says
   * so (a throwing check counts as not alive). Returns false, doing nothing,
   * when systemd runs no watchdog for this process. The timer never keeps
   * the process alive.
   */
  startWatchdog(isAlive: () => boolean): boolean {
    if (typeof isAlive !== 'function') throw new TypeError('isAlive must be a function');
    this.stopWatchdog();
    if (this.watchdogPeriodMs === null) return false;
    const tick = (): void => {
      let alive: boolean;
      try {
        alive = isAlive() === true;
      } catch (e) {
        this.log.debug(`watchdog liveness check threw: ${String(e)}`);
        alive = false;
      }
      if (alive) this.notify('WATCHDOG=1');
    };
    this.watchdog = setInterval(tick, this.watchdogPeriodMs);
    this.watchdog.unref();
    tick();
    return true;
  }

  stopWatchdog(): void {
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  get watchdogRunning(): boolean {
    return this.watchdog !== undefined;
  }

  /** Stops the watchdog timer. */
  close(): void {
    this.stopWatchdog();
  }
}
