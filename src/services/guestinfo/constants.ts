/**
 * Protocol constants of the guestInfo service, each cited from the reference
 * in /work/shared/spec (core-services.md §8, reference-figures.md §6–7).
 */

/** core-services.md §8.2: every SetGuestInfo message has TWO spaces after the command. */
export const GUEST_INFO_COMMAND = 'SetGuestInfo';
/** core-services.md §8.6: JSON disk info command (one space, trailing NUL). */
export const GUEST_DISK_INFO_COMMAND = 'SetGuestDiskInfo';

/** core-services.md §8.2 table (GuestInfoType enum of guestInfo.h). */
export const InfoType = {
  DNS_NAME: 1,
  IPADDRESS: 2,
  DISK_FREE_SPACE: 3,
  BUILD_NUMBER: 4,
  OS_NAME_FULL: 5,
  OS_NAME: 6,
  UPTIME: 7,
  MEMORY: 8,
  IPADDRESS_V2: 9,
  IPADDRESS_V3: 10,
  OS_DETAILED: 11,
} as const;
export type InfoTypeValue = (typeof InfoType)[keyof typeof InfoType];

// core-services.md §8.3 / reference-figures.md §6 (nicinfo.x limits).
export const NIC_INFO_V2 = 2;
export const NIC_INFO_V3 = 3;
export const NICINFO_MAX_NICS = 16;
/** IPs per NIC for type 10 (nicinfo.x NICINFO_MAX_IPS). */
export const NICINFO_MAX_IPS = 2048;
/** IPs per NIC when the V3 body is re-sent as type 9 (reference-figures.md §6). */
export const INFO_IPADDRESS_V2_MAX_IPS = 64;
export const NICINFO_MAX_ROUTES = 100;
/** "string macAddress<18>" — 17 characters used. */
export const NICINFO_MAC_LEN = 18;
export const INET_ADDRESS_MAX_LEN = 255;
export const DNSINFO_MAX_ADDRLEN = 255;
export const DNSINFO_MAX_SERVERS = 16;
export const DNSINFO_MAX_SUFFIXES = 10;
export const DHCP_MAX_CONFIG_SIZE = 16384;

/** core-services.md §8.3: InetAddressType. */
export const InetAddressType = {
  UNKNOWN: 0,
  IPV4: 1,
  IPV6: 2,
  IPV4Z: 3,
  IPV6Z: 4,
  DNS: 16,
} as const;

/** core-services.md §8.3: IpAddressOrigin (RFC 4293). */
export const IpAddressOrigin = {
  OTHER: 1,
  MANUAL: 2,
  DHCP: 4,
  LINKLAYER: 5,
  RANDOM: 6,
} as const;

/** core-services.md §8.3: IpAddressStatus (RFC 4293). */
export const IpAddressStatus = {
  PREFERRED: 1,
  DEPRECATED: 2,
  INVALID: 3,
  INACCESSIBLE: 4,
  UNKNOWN: 5,
  TENTATIVE: 6,
  DUPLICATE: 7,
  OPTIMISTIC: 8,
} as const;

/**
 * core-services.md §8.3: InetCidrRouteType. open-vm-tools' Linux gatherer never
 * assigns this field, so its calloc'ed value 0 goes on the wire (nicInfoPosix.c
 * RecordRoutingInfoIPv4/IPv6); ROUTE_TYPE_UNSET reproduces that.
 */
export const InetCidrRouteType = {
  UNSET: 0,
  OTHER: 1,
  REJECT: 2,
  LOCAL: 3,
  REMOTE: 4,
} as const;

// core-services.md §8.5 / reference-figures.md §6: OS identity (type 11).
export const HOSTINFO_STRUCT_HEADER_VERSION = 1;
export const MAX_OS_NAME_LEN = 128;
export const MAX_OS_FULLNAME_LEN = 512;
/** Offsets of HostinfoDetailedDataHeader on x86-64 (core-services.md §8.5 table). */
export const DETAILED_HEADER_SHORTNAME_OFFSET = 4;
export const DETAILED_HEADER_FULLNAME_OFFSET = 133;
export const DETAILED_HEADER_SIZE = 648;
/** reference-figures.md §6: each detailed field ≤ 1024 bytes, whole string ≤ 10 × 1024. */
export const MAX_DETAILED_FIELD_LEN = 1024;
export const MAX_DETAILED_STRING_LEN = 10 * MAX_DETAILED_FIELD_LEN;

// core-services.md §8.6 / reference-figures.md §6: disk info.
export const DISK_INFO_VERSION_1 = 1;
/** Partition (mount point) name buffer incl. NUL; names are truncated to 99 bytes. */
export const PARTITION_NAME_SIZE = 100;
/** Legacy type 3 body: one count byte (≤255), then packed 116-byte entries. */
export const MAX_LEGACY_PARTITIONS = 255;
export const LEGACY_PARTITION_ENTRY_SIZE = 116;
/** Device names such as "scsi0:1" live in a 15-byte buffer (guestInfo.h DISK_DEVICE_NAME_SIZE). */
export const DISK_DEVICE_NAME_SIZE = 15;

// core-services.md §8.1 / reference-figures.md §7: timers.
export const DEFAULT_POLL_INTERVAL_SEC = 30;
export const DEFAULT_STATS_INTERVAL_SEC = 20;

/**
 * core-services.md §8.2 type 4: BUILD_NUMBER of the reference tree, sent
 * verbatim (§2.1 gives build 25218885 for tools 13.1.0).
 */
export const DEFAULT_BUILD_NUMBER = 'build-25218885';

/** core-services.md §4: the Set_Option consumed by guestInfo. */
export const TOOLSOPTION_BROADCASTIP = 'broadcastIP';
/** core-services.md §8.8: the one TCLO command guestInfo owns. */
export const RPC_VMSUPPORT_START = 'vmsupport.start';
export const VMSUPPORT_START_ERROR = 'Error starting vm-support script';
