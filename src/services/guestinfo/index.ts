/** Public surface of the guestInfo service (core-services.md §8). */
export * from './constants';
export * from './config';
export * from './logger';
export * from './sources';
export { LinuxGuestInfoSources } from './linuxSources';
export { MemoryGuestInfoSources, MemorySourcesInit } from './memorySources';
export * from './nicInfoTypes';
export {
  encodeNicInfoV3,
  encodeGuestNicProtoV3,
  decodeNicInfoV3,
  decodeGuestNicProto,
  truncateIpsPerNic,
} from './nicInfoXdr';
export { XdrError } from './xdr';
export * from './messages';
export { globMatch, parsePatternList, isNicExcluded, nicPriority, NicPriority } from './nicFilter';
export { gatherNicInfo, gatherNics, gatherRoutes, NicGatherOptions, NicGatherResult } from './nicGatherer';
export { gatherDnsConfig, parseResolvConf } from './resolvConf';
export { findPrimaryIp } from './primaryIp';
export { gatherOsIdentity, detailedDataBody, parseDetailedDataBody, formatDetailedData, OsIdentity } from './osInfo';
export { gatherUptime, parseUptimeHundredths } from './uptime';
export {
  gatherDiskInfo,
  diskInfoJsonMessage,
  diskInfoLegacyMessage,
  parseMountinfo,
  DiskEntry,
  REPORTED_FS_TYPES,
} from './diskInfo';
export { diskDeviceNames } from './diskDevices';
export { MemStatsCollector, decodeStatsBody, decodeUintDatum, DecodedStat } from './memStats';
export { GuestInfoService, GuestInfoServiceOptions } from './service';
