/**
 * VIX constants for guest operations. Every number cites
 * /work/shared/spec/guest-ops.md (from open-vm-tools' vixCommands.h, vix.h,
 * vixOpenSource.h).
 */

/** §1: the TCLO command every guest operation arrives in. */
export const VIX_RELAYED_COMMAND = 'Vix_1_Relayed_Command';

/** §3.1 request header. */
export const VIX_COMMAND_MAGIC_WORD = 0xd00d0001;
export const VIX_COMMAND_MESSAGE_VERSION = 5;
/** sizeof(VixMsgHeader): the common part every message has (§3.2 "available bytes ≥ 23"). */
export const VIX_COMMON_HEADER_SIZE = 23;
/** sizeof(VixCommandRequestHeader) (§3.1). */
export const VIX_REQUEST_HEADER_SIZE = 51;
/** §3.2: VIX_COMMAND_MAX_SIZE. */
export const VIX_COMMAND_MAX_SIZE = 16 * 1024 * 1024;
/** §3.1 requestFlags 0x010: VIX_REQUESTMSG_INCLUDES_AUTH_DATA_V1, 44 more bytes after the credential. */
export const VIX_REQUESTMSG_INCLUDES_AUTH_DATA_V1 = 0x010;
export const VIX_AUTH_DATA_V1_SIZE = 44;
/** §2.2: commonFlags 0x80 VIX_COMMAND_GUEST_RETURNS_BINARY. */
export const VIX_COMMAND_GUEST_RETURNS_BINARY = 0x80;

/** §2.2: result payloads must fit in 65 483 bytes (64 KiB minus the reference's 53-byte prefix reserve). */
export const VIX_MAX_RESULT_SIZE = 65483;

/** §4.1 userCredentialType. */
export const VIX_USER_CREDENTIAL = {
  NONE: 0,
  NAME_PASSWORD: 1,
  ANONYMOUS: 2,
  ROOT: 3,
  NAME_PASSWORD_OBFUSCATED: 4,
  CONSOLE_USER: 5,
  HOST_CONFIG_SECRET: 6,
  HOST_CONFIG_HASHED_SECRET: 7,
  NAMED_INTERACTIVE_USER: 8,
  TICKETED_SESSION: 9,
  SSPI: 10,
  SAML_BEARER_TOKEN: 11,
  SAML_BEARER_TOKEN_HOST_VERIFIED: 12,
} as const;

/** §10 error codes (the low 16 bits of the 64-bit VIX error). */
export const VixError = {
  OK: 0,
  FAIL: 1,
  OUT_OF_MEMORY: 2,
  INVALID_ARG: 3,
  FILE_NOT_FOUND: 4,
  OBJECT_IS_BUSY: 5,
  NOT_SUPPORTED: 6,
  FILE_ERROR: 7,
  DISK_FULL: 8,
  FILE_ALREADY_EXISTS: 12,
  FILE_ACCESS_ERROR: 13,
  FILE_TOO_BIG: 21,
  FILE_NAME_INVALID: 22,
  INVALID_UTF8_STRING: 27,
  OP_NOT_SUPPORTED_ON_GUEST: 3003,
  PROGRAM_NOT_STARTED: 3004,
  GUEST_USER_PERMISSIONS: 3015,
  UNRECOGNIZED_COMMAND_IN_GUEST: 3025,
  INVALID_LOGIN_CREDENTIALS: 3050,
  INVALID_MESSAGE_HEADER: 10000,
  INVALID_MESSAGE_BODY: 10001,
  NOT_A_FILE: 20001,
  NOT_A_DIRECTORY: 20002,
  NO_SUCH_PROCESS: 20003,
  FILE_NAME_TOO_LONG: 20004,
  OPERATION_DISABLED: 20005,
  DIRECTORY_NOT_EMPTY: 20006,
} as const;

/** §6 opcodes we know. */
export const VixOp = {
  WAIT_FOR_TOOLS: 38,
  CAPTURE_SCREEN: 58,
  GET_TOOLS_STATE: 62,
  HGFS_SEND_PACKET: 84,
  KILL_PROCESS: 85,
  LIST_FILES: 177,
  CREATE_DIRECTORY_EX: 178,
  MOVE_GUEST_FILE_EX: 179,
  MOVE_GUEST_DIRECTORY: 180,
  CREATE_TEMPORARY_FILE_EX: 181,
  CREATE_TEMPORARY_DIRECTORY: 182,
  SET_GUEST_FILE_ATTRIBUTES: 183,
  START_PROGRAM: 185,
  LIST_PROCESSES_EX: 186,
  READ_ENV_VARIABLES: 187,
  INITIATE_FILE_TRANSFER_FROM_GUEST: 188,
  INITIATE_FILE_TRANSFER_TO_GUEST: 189,
  ACQUIRE_CREDENTIALS: 190,
  RELEASE_CREDENTIALS: 191,
  VALIDATE_CREDENTIALS: 192,
  TERMINATE_PROCESS: 193,
  DELETE_GUEST_FILE_EX: 194,
  DELETE_GUEST_DIRECTORY_EX: 195,
} as const;

/** §5 rule 2: the tools.conf `<ApiName>.disabled` switch of each opcode. */
export const API_NAME_OF_OP: Readonly<Record<number, string>> = {
  [VixOp.START_PROGRAM]: 'StartProgramInGuest',
  [VixOp.LIST_PROCESSES_EX]: 'ListProcessesInGuest',
  [VixOp.TERMINATE_PROCESS]: 'TerminateProcessInGuest',
  [VixOp.KILL_PROCESS]: 'TerminateProcessInGuest',
  [VixOp.READ_ENV_VARIABLES]: 'ReadEnvironmentVariableInGuest',
  [VixOp.CREATE_DIRECTORY_EX]: 'MakeDirectoryInGuest',
  [VixOp.DELETE_GUEST_FILE_EX]: 'DeleteFileInGuest',
  [VixOp.DELETE_GUEST_DIRECTORY_EX]: 'DeleteDirectoryInGuest',
  [VixOp.MOVE_GUEST_DIRECTORY]: 'MoveDirectoryInGuest',
  [VixOp.MOVE_GUEST_FILE_EX]: 'MoveFileInGuest',
  [VixOp.CREATE_TEMPORARY_FILE_EX]: 'CreateTemporaryFileInGuest',
  [VixOp.CREATE_TEMPORARY_DIRECTORY]: 'CreateTemporaryDirectoryInGuest',
  [VixOp.LIST_FILES]: 'ListFilesInGuest',
  [VixOp.SET_GUEST_FILE_ATTRIBUTES]: 'ChangeFileAttributesInGuest',
  [VixOp.INITIATE_FILE_TRANSFER_FROM_GUEST]: 'InitiateFileTransferFromGuest',
  [VixOp.INITIATE_FILE_TRANSFER_TO_GUEST]: 'InitiateFileTransferToGuest',
  [VixOp.VALIDATE_CREDENTIALS]: 'ValidateCredentialsInGuest',
  [VixOp.ACQUIRE_CREDENTIALS]: 'AcquireCredentialsInGuest',
  [VixOp.RELEASE_CREDENTIALS]: 'ReleaseCredentialsInGuest',
};

/**
 * §5 rule 4: legacy opcodes whose 3050 is rewritten to 3015
 * (VixToolsRewriteError). vSphere-era opcodes keep 3050.
 */
export const REWRITE_3050_OPS: ReadonlySet<number> = new Set([
  4, 8, 10, 18, 19, 22, 38, 46, 58, 62, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 84, 85, 87, 88, 89, 94, 116, 169,
]);

/** §7.1 property ids and types of GetToolsState. */
export const VixProperty = {
  GUEST_TOOLS_VERSION: 4500,
  GUEST_TOOLS_API_OPTIONS: 4501,
  GUEST_OS_FAMILY: 4502,
  GUEST_OS_VERSION: 4503,
  GUEST_OS_PACKAGE_LIST: 4504,
  GUEST_NAME: 4505,
  GUEST_TOOLS_PRODUCT_NAM: 4511,
  GUEST_TOOLS_WORD_SIZE: 4519,
  GUEST_OS_VERSION_SHORT: 4520,
  VM_GUEST_TEMP_DIR: 203,
  /** 4540…4568: one `…_ENABLED` bool per API, in this order (vixOpenSource.h). */
  FIRST_API_ENABLED: 4540,
  REMOVE_ALIAS_BY_CERT_ENABLED: 4568,
} as const;
export const VixPropertyType = { INTEGER: 1, STRING: 2, BOOL: 3, INT64: 5, BLOB: 6 } as const;

/** §7.1: the API of each `…_ENABLED` property id 4540 + i. */
export const API_ENABLED_PROPERTY_NAMES: readonly string[] = [
  'StartProgramInGuest', 'ListProcessesInGuest', 'TerminateProcessInGuest', 'ReadEnvironmentVariableInGuest',
  'ValidateCredentialsInGuest', 'AcquireCredentialsInGuest', 'ReleaseCredentialsInGuest', 'MakeDirectoryInGuest',
  'DeleteFileInGuest', 'DeleteDirectoryInGuest', 'MoveDirectoryInGuest', 'MoveFileInGuest',
  'CreateTemporaryFileInGuest', 'CreateTemporaryDirectoryInGuest', 'ListFilesInGuest', 'ChangeFileAttributesInGuest',
  'InitiateFileTransferFromGuest', 'InitiateFileTransferToGuest', 'AddGuestAlias', 'RemoveGuestAlias',
  'ListGuestAliases', 'ListGuestMappedAliases', 'CreateRegistryKeyInGuest', 'ListRegistryKeysInGuest',
  'DeleteRegistryKeyInGuest', 'SetRegistryValueInGuest', 'ListRegistryValuesInGuest', 'DeleteRegistryValueInGuest',
  'RemoveGuestAliasByCert',
];

/** §10: errno → VIX error (Vix_TranslateErrno). */
export function vixErrorOfErrno(code: string | undefined): number {
  switch (code) {
    case 'EPERM': case 'EACCES': return VixError.FILE_ACCESS_ERROR;
    case 'EAGAIN': case 'EBUSY': return VixError.OBJECT_IS_BUSY;
    case 'EEXIST': return VixError.FILE_ALREADY_EXISTS;
    case 'EFBIG': return VixError.FILE_TOO_BIG;
    case 'ENOTEMPTY': return VixError.DIRECTORY_NOT_EMPTY;
    case 'ENOTDIR': return VixError.NOT_A_DIRECTORY;
    case 'ETIMEDOUT': case 'ENOBUFS': case 'EIO': case 'EMFILE': case 'ENFILE': case 'EMLINK': case 'EROFS':
      return VixError.FILE_ERROR;
    case 'ENODEV': case 'ENOENT': return VixError.FILE_NOT_FOUND;
    case 'ENOSPC': return VixError.DISK_FULL;
    case 'EISDIR': return VixError.NOT_A_FILE;
    case 'ESRCH': return VixError.NO_SUCH_PROCESS;
    case 'ENAMETOOLONG': return VixError.FILE_NAME_TOO_LONG;
    case 'EMSGSIZE': case 'EINVAL': return VixError.INVALID_ARG;
    case 'ELOOP': case 'ENOMEM': return VixError.OUT_OF_MEMORY;
    default: return VixError.FAIL;
  }
}
