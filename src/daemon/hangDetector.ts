/**
 * The tools hang detector (core-services.md §5.3, reference-figures.md §7;
 * open-vm-tools services/vmtoolsd/toolsHangDetector.c).
 *
 * A main-loop timer checks in every second; a separate thread samples every
 * second and, after 5 samples without a check-in, tells the host
 * `update.tools.health hung` (or `guest_slow` when those 5 samples took more
 * than 7.5 s, i.e. the whole guest was starved), then `normal` once the main
 * loop checks in again. Each update goes on a fresh one-shot backdoor
 * channel; after a refusal none is sent until the next `reset` (onReset()).
 *
 * Why a native thread (native/system/hangdetect.c) and not a worker_thread:
 * the sampler has to run, and make a backdoor RPC, while this thread is
 * completely blocked, so it cannot live on the event loop; both a worker and
 * a pthread can. A worker is a whole V8 isolate: measured here at 10-12 MB
 * of extra RSS (with the addon loaded and tight resourceLimits), for a loop
 * that decrements a counter once a second. A pthread costs its stack, is
 * what the reference does, and its logic is a line-by-line port of
 * toolsHangDetector.c (~60 lines of C). The addon is context-aware either
 * way (Napi::Addon), so a worker remains possible should the policy grow.
 *
 * Here, on the JS thread: the check-in timer, the option handling, logging
 * of the transitions the thread reports (delivered once the loop runs
 * again), and the public state.
 */
import {
  HANG_DETECTOR_INTERVAL_MS,
  HangDetectorEvent,
  HangDetectorThread,
  ToolsHealth,
  startHangDetectorThread,
} from '../native';

export type { HangDetectorEvent, ToolsHealth };

export interface HangDetectorLogger {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

export interface HangDetectorOptions {
  /** `[vmsvc] toolsHangDetectorDisabled` (§5.3): start() then does nothing. */
  disabled?: boolean;
  log: HangDetectorLogger;
  /** Called on this thread after each transition, with what became of its health update. */
  onTransition?: (ev: HangDetectorEvent) => void;
  /** Check-in and sampling period; default 1000 ms (§5.3). Shorter only to make tests quick. */
  intervalMs?: number;
  /** Tests only: the detector thread oversleeps every sample by this much, as in a starved guest. */
  starveForTestingMs?: number;
}

export class HangDetector {
  private readonly disabled: boolean;
  private readonly log: HangDetectorLogger;
  private readonly onTransition: ((ev: HangDetectorEvent) => void) | undefined;
  private readonly intervalMs: number;
  private readonly starveForTestingMs: number;
  private thread: HangDetectorThread | undefined;
  private checkinTimer: NodeJS.Timeout | undefined;

  constructor(opts: HangDetectorOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('options are required');
    if (opts.disabled !== undefined && typeof opts.disabled !== 'boolean') throw new TypeError('disabled must be a boolean');
    if (opts.onTransition !== undefined && typeof opts.onTransition !== 'function') throw new TypeError('onTransition must be a function');
    this.disabled = opts.disabled ?? false;
    this.log = opts.log;
    this.onTransition = opts.onTransition;
    this.intervalMs = opts.intervalMs ?? HANG_DETECTOR_INTERVAL_MS;
    this.starveForTestingMs = opts.starveForTestingMs ?? 0;
  }

  /**
   * Starts the check-in timer and the detector thread. False when disabled
   * (as ToolsCoreHangDetector_Start); true when running (also if it already
   * was). Neither the timer nor the thread keeps the process alive.
   */
  start(): boolean {
    if (this.disabled) {
      this.log.info('tools hang detector is disabled');
      return false;
    }
    if (this.thread !== undefined) return true;
    const thread = startHangDetectorThread((ev) => this.report(ev), {
      intervalMs: this.intervalMs,
      starveForTestingMs: this.starveForTestingMs,
    });
    this.thread = thread;
    // DetectorCheckin: a main-loop timer. If the loop is stuck, so is this.
    this.checkinTimer = setInterval(() => thread.checkin(), this.intervalMs);
    this.checkinTimer.unref();
    return true;
  }

  /** Stops the timer and the thread (waits for a health update in flight). */
  stop(): void {
    if (this.checkinTimer !== undefined) clearInterval(this.checkinTimer);
    this.checkinTimer = undefined;
    this.thread?.stop();
    this.thread = undefined;
  }

  /**
   * The `reset` handler's part (ToolsCoreHangDetector_RpcReset): send
   * health updates again after the host refused one, in case the VM now
   * runs on a host that knows the command.
   */
  onReset(): void {
    this.thread?.rearm();
  }

  /** As the detector thread last decided; 'normal' when not running. */
  get state(): ToolsHealth {
    return this.thread?.state() ?? 'normal';
  }

  get running(): boolean {
    return this.thread !== undefined;
  }

  /** Logs a transition the thread reported (the texts of toolsHangDetector.c). */
  private report(ev: HangDetectorEvent): void {
    switch (ev.state) {
      case 'hung':
      case 'guest_slow':
        this.log.info(`tools hang detector time sequence ${ev.intervalsMs.map((ms) => `${(ms / 1000).toFixed(2)}s`).join(', ')}.`);
        if (ev.state === 'guest_slow') {
          this.log.info(`tools service was slow for the last ${(ev.elapsedMs / 1000).toFixed(2)} seconds.`);
        } else {
          this.log.info('tools service hung.');
        }
        break;
      case 'normal':
        this.log.info('tools service recovered from a hang.');
        break;
    }
    switch (ev.outcome) {
      case 'sent':
        break;
      case 'rejected':
        this.log.warn(`Failed to send RPCI message: ${ev.request} (${ev.detail || 'refused'}); no more health updates until the next reset.`);
        break;
      case 'open-failed':
        this.log.warn(`Failed to start a RPCI channel to send tools health event: ${ev.detail}`);
        break;
      case 'suppressed':
        this.log.debug(`not sending ${ev.request}: the host refused an earlier health update`);
        break;
    }
    if (this.onTransition !== undefined) {
      try {
        this.onTransition(ev);
      } catch (e) {
        this.log.warn(`hang detector onTransition listener threw: ${String(e)}`);
      }
    }
  }
}
