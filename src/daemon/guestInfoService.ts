/**
 * Plugs the guestInfo service (src/services/guestinfo) into the daemon.
 *
 * One change from the reference (core-services.md §8.1, reference-figures.md
 * §10): the first full report goes out right after `reset`, not 30 s after
 * start, because Packer, `govc vm.ip` and `linuxkit run vcenter -waitForIP`
 * wait for the IP. After that the reference's intervals apply.
 *
 * That report goes out just after the `reset` reply, not before it: on the
 * backdoor the reply travels with the next poll, and a gather (~40 ms of
 * /proc and /sys reads, more on a busy guest) in the reset hook would hold
 * the host's handshake back by as much. The poll's 0-delay timer is set
 * before the reset hook runs (tcloLoop.ts), so a 0-delay timer set in the
 * hook fires after it.
 */
import {
  buildGuestInfoConfig,
  GuestInfoConfig,
  GuestInfoService,
  GuestInfoSources,
} from '../services/guestinfo';
import type { RpcSender } from '../rpc/types';
import type { Logger } from './coreSession';
import { BUILD_NUMBER } from './version';
import type { DaemonServices } from './daemon';

export type ConfigGetter = (section: string, key: string) => string | undefined;

export function guestInfoServices(opts: {
  rpc: RpcSender;
  sources: GuestInfoSources;
  config: ConfigGetter;
  log: Logger;
}): { services: DaemonServices; service: GuestInfoService; reconfigure: () => void } {
  const build = (): GuestInfoConfig => buildGuestInfoConfig(opts.config, opts.log);
  const service = new GuestInfoService({
    rpc: opts.rpc,
    sources: opts.sources,
    config: build(),
    log: opts.log,
    // Type 4 names the build that is really running (src/daemon/version.ts).
    buildNumber: `build-${BUILD_NUMBER}`,
  });
  return {
    service,
    reconfigure: () => service.updateConfig(build()),
    services: {
      hooks: [
        {
          name: 'guestInfo',
          onCapabilitiesRegister: () => service.onCapabilitiesRegister(),
          setOption: (name, value) => void service.handleSetOption(name, value),
          onReset: () => {
            service.onReset();
            setTimeout(() => {
              try {
                service.reportAll();
              } catch (e) {
                opts.log.warn(`guest info report after reset failed: ${e instanceof Error ? e.message : String(e)}`);
              }
            }, 0);
          },
        },
      ],
      handlers: service.tcloHandlers(),
      timers: [
        { name: 'guestinfo gather', intervalMs: () => service.pollIntervalMs(), run: () => service.tick() },
        { name: 'guestinfo stats', intervalMs: () => service.statsIntervalMs(), run: () => void service.statsTick() },
      ],
    },
  };
}

/** Concatenates the contributions of several services, in load order. */
export function combineServices(...all: DaemonServices[]): DaemonServices {
  return {
    hooks: all.flatMap((s) => s.hooks),
    handlers: Object.assign({}, ...all.map((s) => s.handlers)),
    timers: all.flatMap((s) => s.timers ?? []),
  };
}
