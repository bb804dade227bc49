/** deployPkg state and code numbers (customization.md §3.1–3.2, deploypkg.h). */
export enum State {
  IDLE = 0,
  PENDING = 1,
  COPYING = 2,
  DEPLOYING = 3,
  RUNNING = 4,
  DONE = 5,
}

export enum Code {
  SUCCESS = 0,
  NOT_SUPPORT = 1,
  PKG_NOT_FOUND = 2,
  RPC_INVALID = 3,
  COPY_FAILED = 4,
  DEPLOY_FAILED = 5,
  CUST_SCRIPT_DISABLED = 6,
  CUST_DISABLED = 7,
  CLOUDINIT_NOT_SUPPORT_RAWDATA = 8,
  CLOUDINIT_WRONG_META_FORMAT = 9,
  EVENT_CUSTOMIZE_FAILED = 100,
  EVENT_NETWORK_SETUP_FAILED = 101,
  EVENT_SYSPREP_FAILED = 102,
  EVENT_ENABLE_NICS = 103,
  EVENT_QUERY_NICS = 104,
}

/** §3: "deployPkg.update.state" SP <state> [SP <code> SP <message>]. */
export function stateMessage(state: State, code?: Code, message?: string): string {
  return code === undefined ? `deployPkg.update.state ${state}` : `deployPkg.update.state ${state} ${code} ${message ?? ''}`;
}
