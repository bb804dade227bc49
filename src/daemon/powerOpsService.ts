/**
 * Plugs the powerOps service (src/services/powerops, core-services.md §6)
 * into the daemon: its TCLO handlers, its capabilities (statechange,
 * softpowerop_retry; §6.5, registered in the reference's plugin order after
 * guestInfo), `Set_Option toolScripts.*`, and the halt/reboot backend chosen
 * from tools.conf [powerops] for each operation.
 */
import type { ToolsConfig } from '../config';
import type { RpcSender } from '../rpc/types';
import {
  BackendChoice,
  chooseBackend,
  DEFAULT_SCRIPT_DIRECTORY,
  PowerEnvironment,
  PowerOpsConfig,
  PowerOpsService,
} from '../services/powerops';
import type { Logger } from './coreSession';
import type { DaemonServices } from './daemon';

/** tools.conf → the service's view (typed values: defaults where absent or invalid). */
export function powerOpsConfig(c: ToolsConfig): PowerOpsConfig {
  const p = c.values.powerops;
  return {
    scripts: {
      'poweron-script': p['poweron-script'],
      'poweroff-script': p['poweroff-script'],
      'resume-script': p['resume-script'],
      'suspend-script': p['suspend-script'],
    },
    scriptDirectory: p['script-directory'] ?? DEFAULT_SCRIPT_DIRECTORY,
    scriptTimeoutS: p['script-timeout'],
  };
}

/** The halt/reboot backend tools.conf asks for, under this environment's safety rules. */
export function powerBackendFor(c: ToolsConfig, env: PowerEnvironment): BackendChoice {
  const p = c.values.powerops;
  return chooseBackend({ backend: p.backend, recordFile: p['record-file'], systemctl: p.systemctl, systemBus: p['system-bus'] }, env);
}

export function powerOpsServices(opts: {
  rpc: RpcSender;
  config: () => ToolsConfig;
  log: Logger;
  /** detect().overridden: never a real backend unless vouched for (see chooseBackend). */
  simulator: boolean;
  /** Time sync's hook: called after OS_Resume. */
  onResume?: () => void;
}): { services: DaemonServices; service: PowerOpsService; describeBackend: () => string } {
  const env: PowerEnvironment = { simulator: opts.simulator };
  const service = new PowerOpsService({
    rpc: opts.rpc,
    log: opts.log,
    config: () => powerOpsConfig(opts.config()),
    backend: () => powerBackendFor(opts.config(), env),
    onResume: opts.onResume,
  });
  return {
    service,
    describeBackend: () => {
      const c = powerBackendFor(opts.config(), env);
      return `${c.backend.name}: ${c.reason}`;
    },
    services: {
      hooks: [
        {
          name: 'powerOps',
          capabilities: () => service.capabilities(),
          setOption: (name, value) => service.setOption(name, value),
        },
      ],
      handlers: service.tcloHandlers(),
    },
  };
}
