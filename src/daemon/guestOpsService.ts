/**
 * Plugs guest operations (src/services/guestops) into the daemon: the
 * `Vix_1_Relayed_Command` handler, PAM through the addon, the runas helper.
 *
 * No capability is registered: the reference advertises
 * CAP_HOST_VERIFIED_SAML_TOKEN (index 37) only because it can take SAML
 * tokens through VGAuth; we cannot, and guest-ops.md §12.4 says not to
 * advertise it then (docs/differences.md). Guest operations work without it.
 *
 * Fails safe: without the helper executable no operation can run as a user,
 * so every authenticated operation answers FAIL (and the log says why)
 * instead of running anything as root.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { execFileSync } from 'node:child_process';
import { pamAuthenticate, pamCodeNames } from '../native';
import {
  Authenticator,
  findRunasHelper,
  GuestOpsConfig,
  GuestOpsService,
  HelperRunner,
  ThrottlePolicy,
  UserLookup,
  UserRunner,
  VixError,
} from '../services/guestops';
import { gatherOsIdentity, LinuxGuestInfoSources } from '../services/guestinfo';
import type { Logger } from './coreSession';
import type { DaemonServices } from './daemon';
import { PRODUCT_NAME, TOOLS_VERSION_STRING, BUILD_NUMBER } from './version';

/** getpwnam through /etc/passwd (the host's, bound into the container; getent when NSS has more). */
export const passwdLookup: UserLookup = (user) => {
  const parse = (line: string): ReturnType<UserLookup> => {
    const f = line.split(':');
    if (f.length < 7 || f[0] !== user) return undefined;
    return { uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] };
  };
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const r = parse(line);
      if (r) return r;
    }
  } catch {
    /* fall through to getent */
  }
  try {
    return parse(execFileSync('getent', ['passwd', '--', user], { encoding: 'utf8', timeout: 5000, env: {} }).trim());
  } catch {
    return undefined;
  }
};

/** A runner that refuses everything (no helper found): fail safe. */
const refusingRunner: UserRunner = {
  runWorker: async () => ({ error: VixError.FAIL }),
  startProgram: async () => ({ ok: false, stage: 'helper' }),
};

export function guestOpsServices(opts: {
  config: () => GuestOpsConfig;
  log: Logger;
  /** Tests: PAM config directory (pam_start_confdir), no PAM failure delay, throttle policy. */
  pamConfDir?: string;
  pamNoFailDelay?: boolean;
  throttle?: Partial<ThrottlePolicy>;
  frozen?: () => boolean;
}): { services: DaemonServices; service: GuestOpsService } {
  const helper = findRunasHelper();
  let runner: UserRunner = refusingRunner;
  if (helper === undefined) opts.log.warn('vmtoolsd-runas not found: guest operations will be refused');
  else {
    try {
      runner = new HelperRunner(helper);
    } catch (e) {
      opts.log.warn(`guest operations disabled: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  let codeNames: Map<number, string> | undefined;
  try {
    codeNames = pamCodeNames();
  } catch {
    codeNames = undefined;
  }
  const auth = new Authenticator({
    pam: (user, password) => pamAuthenticate(user, password, { confDir: opts.pamConfDir, noFailDelay: opts.pamNoFailDelay }),
    lookup: passwdLookup,
    log: opts.log,
    pamCodeNames: codeNames,
    throttle: opts.throttle,
  });
  let osIdentity: { shortName: string; fullName: string } | undefined;
  const service = new GuestOpsService({
    auth,
    runner,
    config: opts.config,
    log: opts.log,
    frozen: opts.frozen,
    toolsState: () => {
      if (osIdentity === undefined) {
        try {
          osIdentity = gatherOsIdentity(new LinuxGuestInfoSources());
        } catch {
          osIdentity = { shortName: 'other-linux', fullName: os.type() };
        }
      }
      return {
        osFullName: osIdentity.fullName,
        osShortName: osIdentity.shortName,
        productName: PRODUCT_NAME,
        toolsVersion: `${TOOLS_VERSION_STRING} build-${BUILD_NUMBER}`,
        hostName: os.hostname(),
        tempDir: os.tmpdir(),
        wordSize: process.arch.endsWith('64') ? 64 : 32,
      };
    },
  });
  return {
    service,
    services: { hooks: [{ name: 'guestOps' }], handlers: service.tcloHandlers() },
  };
}
