/**
 * vmbackup protocol constants (quiesce.md; open-vm-tools
 * lib/include/vmware/guestrpc/vmbackup.h, services/plugins/vmbackup/vmBackupInt.h).
 */

/** §2: the only RPCI message type. */
export const EVENT_SET = 'vmbackup.eventSet';

/** §2.1 event names. */
export const EV_RESET = 'reset';
export const EV_KEEP_ALIVE = 'req.keepAlive';
export const EV_SNAPSHOT_COMMIT = 'prov.snapshotCommit';
export const EV_GENERIC_MANIFEST = 'req.genericManifest';
export const EV_ERROR = 'req.error';
export const EV_ABORTED = 'req.aborted';
export const EV_DONE = 'req.done';

/** §2.2 VmBackupStatus. */
export const enum Status {
  SUCCESS = 0,
  INVALID_STATE = 1,
  SCRIPT_ERROR = 2,
  SYNC_ERROR = 3,
  REMOTE_ABORT = 4,
  UNEXPECTED_ERROR = 5,
}

/** §1 TCLO replies. */
export const ERR_IN_PROGRESS = 'Quiesce operation already in progress.';
export const ERR_INIT = 'Error initializing quiesce operation.';
export const ERR_PARAM_VERSION = 'Incompatible quiesce parameter version';
export const ERR_XDR = 'XDR deserialization failed.';
export const ERR_NO_OP = 'Error: no quiesce operation in progress';
export const ERR_DONE_STATE = 'Error: unexpected state for quiesce done message.';
export const ERR_NO_COMPLETE = 'Error: no quiesce complete in progress';

/** §2.3 descriptions. */
export const MSG_SCRIPT_START = 'Error when starting custom quiesce scripts.';
export const MSG_SCRIPT_FAILED = 'Custom quiesce script failed.';
export const MSG_SYNC_ENABLE = 'Error when enabling the sync provider.';
export const MSG_SYNC_NOTIFY = 'Error when notifying the sync provider.';
export const MSG_CANCELED = 'Quiesce canceled.';
export const MSG_NOT_CANCELED = 'Quiesce could not be canceled.';

/** §6.1 timers. */
export const POLL_PERIOD_MS = 1000;
/** VMBACKUP_KEEP_ALIVE_PERIOD / 2 (§2.4). */
export const KEEP_ALIVE_MS = 2500;
/** GUEST_QUIESCE_DEFAULT_TIMEOUT_IN_SEC (§6.1). */
export const DEFAULT_TIMEOUT_S = 900;
/** Larger timeouts are invalid → 900 (§6.1). */
export const MAX_TIMEOUT_S = 2147483;
/** Script kill: SIGTERM, wait ≤5 s, SIGKILL (§3.5, procMgrPosix.c). */
export const SCRIPT_KILL_GRACE_MS = 5000;

/**
 * Ours, beyond the reference (docs/design.md "Quiesced snapshots"): the
 * freeze holder thaws on its own when the daemon has not renewed its lease
 * for this long (a hung event loop), whatever the overall timeout says.
 */
export const DEFAULT_FREEZE_LEASE_S = 10;
/** Ours: a freeze script that runs longer than this fails the phase. */
export const DEFAULT_SCRIPT_TIMEOUT_S = 300;

/** §1.2 parameter limits. */
export const MAX_SCRIPT_ARG = 256;
export const MAX_DISK_UUIDS = 3200;

/** §7 / core-services.md §3: CAP_VMBACKUP_NVME. */
export const CAP_VMBACKUP_NVME = 36;

/** §3 VmBackupMState. */
export const enum MState {
  IDLE = 0,
  SCRIPT_FREEZE = 1,
  SYNC_FREEZE_WAIT = 2,
  SYNC_FREEZE = 3,
  SYNC_THAW = 4,
  SCRIPT_THAW = 5,
  COMPLETE_WAIT = 6,
  SCRIPT_ERROR = 7,
  SYNC_ERROR = 8,
}

export const STATE_NAMES = [
  'IDLE', 'SCRIPT_FREEZE', 'SYNC_FREEZE_WAIT', 'SYNC_FREEZE', 'SYNC_THAW',
  'SCRIPT_THAW', 'COMPLETE_WAIT', 'SCRIPT_ERROR', 'SYNC_ERROR',
] as const;
