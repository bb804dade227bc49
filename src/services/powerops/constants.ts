/**
 * Power-operation constants (core-services.md §6; open-vm-tools
 * lib/include/vmware/guestrpc/powerops.h and services/plugins/powerOps).
 */

/** `GuestOsState` ids sent in `tools.os.statechange.status <ok> <id>` (§6.1). */
export const enum GuestOsState {
  None = 0,
  Halt = 1,
  Reboot = 2,
  PowerOn = 3,
  Resume = 4,
  Suspend = 5,
}

/** The `[powerops]` keys naming each operation's script (§6.1). */
export type ScriptKey = 'poweron-script' | 'poweroff-script' | 'resume-script' | 'suspend-script';

export interface StateChangeCommand {
  /** The TCLO command (§6.1). */
  tclo: 'OS_Halt' | 'OS_Reboot' | 'OS_PowerOn' | 'OS_Resume' | 'OS_Suspend';
  id: GuestOsState;
  scriptKey: ScriptKey;
  /** Default script, relative to the script directory (§6.1 table). */
  defaultScript: string;
  /** The operation name statechange.sh derives from its file name and passes to drop-ins (§6.4). */
  op: 'poweron-vm' | 'poweroff-vm' | 'resume-vm' | 'suspend-vm';
}

/** §6.1: the five guest-side power commands, in the reference's table order. */
export const STATE_CHANGE_COMMANDS: readonly StateChangeCommand[] = [
  { tclo: 'OS_Halt', id: GuestOsState.Halt, scriptKey: 'poweroff-script', defaultScript: 'poweroff-vm-default', op: 'poweroff-vm' },
  { tclo: 'OS_Reboot', id: GuestOsState.Reboot, scriptKey: 'poweroff-script', defaultScript: 'poweroff-vm-default', op: 'poweroff-vm' },
  { tclo: 'OS_PowerOn', id: GuestOsState.PowerOn, scriptKey: 'poweron-script', defaultScript: 'poweron-vm-default', op: 'poweron-vm' },
  { tclo: 'OS_Resume', id: GuestOsState.Resume, scriptKey: 'resume-script', defaultScript: 'resume-vm-default', op: 'resume-vm' },
  { tclo: 'OS_Suspend', id: GuestOsState.Suspend, scriptKey: 'suspend-script', defaultScript: 'suspend-vm-default', op: 'suspend-vm' },
];

/** `Set_Option toolScripts.*` (§4 table): which states each option enables or disables. */
export const TOOL_SCRIPT_OPTIONS: Readonly<Record<string, readonly GuestOsState[]>> = {
  'toolScripts.afterPowerOn': [GuestOsState.PowerOn],
  'toolScripts.beforePowerOff': [GuestOsState.Halt, GuestOsState.Reboot],
  'toolScripts.beforeSuspend': [GuestOsState.Suspend],
  'toolScripts.afterResume': [GuestOsState.Resume],
};

/** GuestApp_GetInstallPath() on Linux: relative script names and the default scripts live here (§6.2, §6.4). */
export const DEFAULT_SCRIPT_DIRECTORY = '/etc/vmware-tools';

/** TCLO error replies (§6.2, §11). */
export const STATE_CHANGE_IN_PROGRESS = 'State change already in progress';
export const ERROR_STARTING_SCRIPT = 'Error starting script';

/** §6.5: old-style no-value capabilities. */
export const POWER_CAPABILITIES = ['statechange', 'softpowerop_retry'] as const;

/**
 * Our default for `[powerops] script-timeout` (the reference waits forever,
 * §6.2 "no timeout"): see docs/differences.md. Long enough for a poweroff
 * script that checkpoints a database; short enough that one stuck script
 * cannot refuse every later power operation with "State change already in
 * progress" until the daemon restarts.
 */
export const DEFAULT_SCRIPT_TIMEOUT_S = 300;
/** After SIGTERM to a timed-out script's process group, SIGKILL follows this much later. */
export const SCRIPT_KILL_GRACE_MS = 5000;
