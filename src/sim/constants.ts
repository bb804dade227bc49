/**
 * Protocol constants the VMX simulator serves. Every value is cited from the
 * reference in /work/shared/spec; nothing here is invented by the simulator
 * unless the comment says so.
 */

// channel.md §2.1 (backdoor_def.h)
export const BDOOR_MAGIC = 0x564d5868;
export const BDOOR_PORT = 0x5658;
export const BDOORHB_PORT = 0x5659;
export const BDOORHB_CMD_MESSAGE = 0;

// channel.md §1 step 5: GETVERSION must report protocol version 6 (VERSION_MAGIC).
export const BDOOR_VERSION_MAGIC = 6;

// channel.md §2.6: backdoor command numbers (ECX.lo16).
export const BDOOR_CMD = {
  GETMHZ: 1,
  GETVERSION: 10,
  GETGUIOPTIONS: 13,
  GETHWVERSION: 17,
  GETTIME: 23,
  STOPCATCHUP: 24,
  MESSAGE: 30,
  GETHZ: 45,
  GETTIMEFULL: 46,
  GETTIMEFULL_WITH_LAG: 55,
  NESTING_CONTROL: 63,
  GET_VCPU_INFO: 68,
  GETBUILDNUM: 100,
} as const;

/** Names used as counter keys; unknown numbers are counted as `CMD_<n>`. */
export const BDOOR_CMD_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(BDOOR_CMD).map(([name, num]) => [num, name]),
);

// channel.md §3.1: MESSAGE sub-commands (ECX.hi16).
export const MSG_TYPE = {
  OPEN: 0,
  SENDSIZE: 1,
  SENDPAYLOAD: 2,
  RECVSIZE: 3,
  RECVPAYLOAD: 4,
  RECVSTATUS: 5,
  CLOSE: 6,
} as const;

export const MSG_TYPE_NAMES: readonly string[] = [
  'OPEN', 'SENDSIZE', 'SENDPAYLOAD', 'RECVSIZE', 'RECVPAYLOAD', 'RECVSTATUS', 'CLOSE',
];

// channel.md §3.2: status bits (ECX.hi16 for LB, EBX.hi16 for HB).
export const MSG_STATUS = {
  SUCCESS: 0x0001,
  DORECV: 0x0002,
  CLOSED: 0x0004,
  UNSENT: 0x0008,
  CPT: 0x0010,
  POWEROFF: 0x0020,
  TIMEOUT: 0x0040,
  HB: 0x0080,
} as const;

// channel.md §3.3
export const RPCI_PROTOCOL_NUM = 0x49435052; // "RPCI"
export const TCLO_PROTOCOL_NUM = 0x4f4c4354; // "TCLO"
export const GUESTMSG_FLAG_COOKIE = 0x80000000;
export const GUESTMSG_MAX_CHANNEL = 128;
export const GUESTMSG_MAX_IN_SIZE = 65536;

// channel.md §1 step 5 (vm_vmx_type.h)
export const VMX_TYPE = {
  UNSET: 0,
  EXPRESS: 1,
  ESX: 2,
  GSX: 3,
  WORKSTATION: 4,
  ACE: 5,
} as const;

// channel.md §4.2 (tclodefs.h, issue 209)
export const RPCI_UNKNOWN_COMMAND = '0 Unknown command';
export const RPCI_NO_VALUE = '0 No value found';
export const RPCI_PERMISSION_DENIED = '0 Permission denied'; // UNCONFIRMED host text (§4.2)

// channel.md §6.1 (tclodefs.h): vsock ports, informative for the simulator.
export const GUESTRPC_TCLO_VSOCK_LISTEN_PORT = 975;
export const GUESTRPC_RPCI_VSOCK_LISTEN_PORT = 976;

// channel.md §6.3: GuestRPC packet fields and values.
export const GUESTRPCPKT_FIELD_TYPE = 1;
export const GUESTRPCPKT_FIELD_PAYLOAD = 2;
export const GUESTRPCPKT_FIELD_FAST_CLOSE = 3;
export const GUESTRPCPKT_TYPE_DATA = 1;
export const GUESTRPCPKT_TYPE_PING = 2;

// docs/simulator-protocol.md: shim ⇄ simulator frames.
export const FRAME_MAGIC = 0x4d495356; // "VSIM"
export const FRAME_HEADER = 76;
export const TRAP_KIND_LB = 1;
export const TRAP_KIND_HB_OUT = 2;
export const TRAP_KIND_HB_IN = 3;
export const TRAP_ACTION_HANDLED = 0;
export const TRAP_ACTION_NOT_HANDLED = 1;

// tclodefs.h VMWARE_GUI_SYNC_TIME: the GETGUIOPTIONS bit `vmware-toolbox-cmd timesync status` reads.
export const VMWARE_GUI_SYNC_TIME = 0x400;
