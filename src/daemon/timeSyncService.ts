/**
 * Plugs the timeSync service (src/services/timesync) into the daemon, and
 * picks its clock.
 *
 * Safety: in simulator mode (detect().overridden: the VMware check was
 * overridden, e.g. `npm start` on a machine that is not a VM) the clock is
 * ALWAYS the simulated one, so nothing here can change this machine's time.
 * `VMTOOLSD_CLOCK=simulated` chooses it elsewhere too (tests), with
 * `VMTOOLSD_SIM_CLOCK_OFFSET_US` / `VMTOOLSD_SIM_CLOCK_DRIFT_PPM` as its
 * initial error and drift. `VMTOOLSD_TIMESYNC_PROC_ROOT` points the time
 * daemon scan at a fake /proc (tests).
 */
import type { ToolsConfig } from '../config';
import type { RpcSender } from '../rpc/types';
import {
  BackdoorHostTime,
  Clock,
  clockKind,
  findTimeDaemons,
  HostTimeSource,
  Scheduler,
  SimulatedClock,
  SyncResult,
  SystemClock,
  TimeSyncConfig,
  TimeSyncEngine,
  TimeSyncService,
  Timex,
  TimexInput,
} from '../services/timesync';
import type { Logger } from './coreSession';
import type { DaemonServices } from './daemon';

export interface TimeSyncFactoryOptions {
  rpc: RpcSender;
  config: () => ToolsConfig;
  log: Logger;
  /** detect().overridden */
  simulatorMode: boolean;
  env?: NodeJS.ProcessEnv;
  /** Tests: a clock / host source of their own (a simulated clock only). */
  clock?: Clock;
  host?: HostTimeSource;
  onSync?: (why: string, r: SyncResult) => void;
  /** Tests: drive the loop's timer by hand. */
  scheduler?: Scheduler;
}

export interface TimeSyncParts {
  services: DaemonServices;
  service: TimeSyncService;
  clock: Clock;
  /** Power ops' OS_Resume: the one-shot step on resume. */
  resumed: () => void;
  /** Shutdown: stop the loop, tick back to nominal. */
  stop: () => void;
  /** tools.conf [timeSync] changed. */
  reconfigure: () => void;
}

function envNumber(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** Logs every change the daemon makes to the simulated clock, so `npm start` and tests can see it. */
class LoggedClock implements Clock {
  readonly kind: 'simulated' | 'system';
  constructor(private readonly inner: Clock, private readonly log: Logger) {
    this.kind = inner.kind;
  }
  nowUs(): number {
    return this.inner.nowUs();
  }
  stepUs(deltaUs: number): void {
    this.inner.stepUs(deltaUs);
    this.log.info(`simulated clock: step ${Math.round(deltaUs)} us`);
  }
  adjtimex(tx: Partial<TimexInput>): Timex {
    const r = this.inner.adjtimex(tx);
    if (tx.modes) this.log.info(`simulated clock: adjtimex ${JSON.stringify(tx)}`);
    return r;
  }
}

export function timeSyncConfig(c: ToolsConfig): TimeSyncConfig {
  return {
    disableAll: c.value('timeSync', 'disable-all'),
    disablePeriodic: c.value('timeSync', 'disable-periodic'),
    ntpCoexistence: c.value('timeSync', 'ntp-coexistence'),
    timeInfoEnabled: c.value('timeSync', 'timeInfo.enabled'),
  };
}

export function timeSyncServices(opts: TimeSyncFactoryOptions): TimeSyncParts {
  const env = opts.env ?? process.env;
  const kind = clockKind({ simulatorMode: opts.simulatorMode, env: env.VMTOOLSD_CLOCK });
  let clock: Clock;
  if (opts.clock) {
    if (opts.clock.kind !== 'simulated') throw new Error('only a simulated clock may be injected');
    clock = opts.clock;
  } else if (kind === 'simulated') {
    clock = new LoggedClock(
      new SimulatedClock({ offsetUs: envNumber(env.VMTOOLSD_SIM_CLOCK_OFFSET_US), driftPpm: envNumber(env.VMTOOLSD_SIM_CLOCK_DRIFT_PPM) }),
      opts.log,
    );
    opts.log.info(
      `time sync uses a simulated clock (${opts.simulatorMode ? 'simulator mode' : 'VMTOOLSD_CLOCK=simulated'}): this machine's clock is never changed`,
    );
  } else {
    clock = new SystemClock();
  }
  const procRoot = env.VMTOOLSD_TIMESYNC_PROC_ROOT || '/proc';
  const engine = new TimeSyncEngine({ clock, host: opts.host ?? new BackdoorHostTime(), log: opts.log });
  const service = new TimeSyncService({
    engine,
    config: () => timeSyncConfig(opts.config()),
    log: opts.log,
    timeDaemons: () => findTimeDaemons(procRoot),
    rpc: opts.rpc,
    onSync: opts.onSync,
    scheduler: opts.scheduler,
  });
  let subscribed = false;
  return {
    service,
    clock,
    resumed: () => void service.resumed(),
    stop: () => {
      service.stop();
      if (subscribed) service.timeInfoSubscription(false);
    },
    reconfigure: () => service.configChanged(),
    services: {
      hooks: [
        {
          name: 'timeSync',
          setOption: (name, value) => void service.setOption(name, value),
          onReset: () => {
            // §7.6: timeInfo.subscribe once, at start-up, when enabled.
            if (!subscribed) {
              subscribed = true;
              service.timeInfoSubscription(true);
            }
          },
        },
      ],
      handlers: service.tcloHandlers(),
    },
  };
}
