/**
 * Plugs the vmbackup (quiesced snapshot) service (src/services/vmbackup)
 * into the daemon, and decides which file systems it may ever freeze.
 *
 * Safety (helper brief, issue 6): in simulator mode (`detect().overridden`)
 * the candidate set is restricted to the mount points listed in
 * $VMTOOLSD_VMBACKUP_ALLOW (none when unset) that are mount roots on loop
 * devices, and the freeze holder re-checks the latter before freezing
 * anything (--loop-only). $VMTOOLSD_VMBACKUP_MOUNTS replaces the mount
 * table, $VMTOOLSD_VMBACKUP_LEGACY_DIR the directory of the legacy
 * pre-freeze-script/post-thaw-script (tests).
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { ToolsConfig } from '../config';
import { inspectFreezeTarget } from '../native';
import type { RpcSender } from '../rpc/types';
import {
  CAP_VMBACKUP_NVME,
  DEFAULT_SCRIPT_PATHS,
  productVersion,
  selectFreezeTargets,
  VmBackupConfig,
  VmBackupService,
} from '../services/vmbackup';
import type { Logger } from './coreSession';
import type { DaemonServices } from './daemon';
import { TOOLS_VERSION_STRING } from './version';

export interface VmBackupFactoryOptions {
  rpc: RpcSender;
  log: Logger;
  config: () => ToolsConfig;
  /** Directory of tools.conf: default home of the manifest and backupScripts.d. */
  confDirectory: string;
  /** detect().overridden: never freeze anything but allowed loop mounts. */
  simulator: boolean;
  /** §4.4: stop / resume the daemon's own disk I/O. */
  ioFreeze: (frozen: boolean) => Promise<void> | void;
  env?: NodeJS.ProcessEnv;
  /** Tests only. */
  pollPeriodMs?: number;
  holderExecutable?: string;
}

export function readVmBackupConfig(c: ToolsConfig, confDirectory: string): VmBackupConfig {
  return {
    enableSyncDriver: c.value('vmbackup', 'enableSyncDriver'),
    enableNullDriver: c.value('vmbackup', 'enableNullDriver'),
    excludedFileSystems: c.value('vmbackup', 'excludedFileSystems'),
    ignoreFrozenFileSystems: c.value('vmbackup', 'ignoreFrozenFileSystems'),
    execScripts: c.value('vmbackup', 'execScripts'),
    scriptArg: c.value('vmbackup', 'scriptArg'),
    timeout: c.value('vmbackup', 'timeout'),
    forceQuiesce: c.value('vmbackup', 'forceQuiesce'),
    quiesceApps: c.value('vmbackup', 'quiesceApps'),
    quiesceFS: c.value('vmbackup', 'quiesceFS'),
    enableXmlManifest: c.value('vmbackup', 'enableXmlManifest'),
    enableNVMe: c.value('vmbackup', 'enableNVMe'),
    manifestPath: c.value('vmbackup', 'manifestPath') ?? path.join(confDirectory, 'quiesce_manifest.xml'),
    freezeLeaseS: c.value('vmbackup', 'freezeLease'),
    scriptTimeoutS: c.value('vmbackup', 'scriptTimeout'),
  };
}

/** sync(2) for the null driver, without blocking the event loop. */
function runSync(): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('sync', [], { stdio: 'ignore' });
    child.on('error', () => resolve());
    child.on('exit', () => resolve());
  });
}

export function vmbackupServices(o: VmBackupFactoryOptions): { services: DaemonServices; service: VmBackupService } {
  const env = o.env ?? process.env;
  const allowEnv = env.VMTOOLSD_VMBACKUP_ALLOW;
  const allow = allowEnv !== undefined ? allowEnv.split(':').filter((p) => p !== '') : o.simulator ? [] : undefined;
  const mountTable = env.VMTOOLSD_VMBACKUP_MOUNTS || undefined;
  const legacyDir = env.VMTOOLSD_VMBACKUP_LEGACY_DIR;
  const service = new VmBackupService({
    rpc: o.rpc,
    log: o.log,
    config: () => readVmBackupConfig(o.config(), o.confDirectory),
    scripts: {
      legacyFreeze: legacyDir ? path.join(legacyDir, 'pre-freeze-script') : DEFAULT_SCRIPT_PATHS.legacyFreeze,
      legacyThaw: legacyDir ? path.join(legacyDir, 'post-thaw-script') : DEFAULT_SCRIPT_PATHS.legacyThaw,
      dir: path.join(o.confDirectory, 'backupScripts.d'),
    },
    selectTargets: (volumes, excluded) =>
      selectFreezeTargets({ mountTable, allow, loopOnly: o.simulator, inspect: inspectFreezeTarget, excluded, volumes }),
    loopOnly: o.simulator,
    holderExecutable: o.holderExecutable,
    ioFreeze: o.ioFreeze,
    sync: runSync,
    productVersion: productVersion(TOOLS_VERSION_STRING),
    pollPeriodMs: o.pollPeriodMs,
  });
  return {
    service,
    services: {
      hooks: [
        {
          name: 'vmbackup',
          // core-services.md §3: CAP_VMBACKUP_NVME = enableNVMe
          capabilities: () => [{ kind: 'new', index: CAP_VMBACKUP_NVME, value: o.config().value('vmbackup', 'enableNVMe') ? 1 : 0 }],
          onReset: () => service.onReset(),
        },
      ],
      handlers: service.tcloHandlers(),
    },
  };
}
