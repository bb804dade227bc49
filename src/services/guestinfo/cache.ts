/**
 * What was last sent successfully, per kind of guest info, so a gather only
 * sends what changed (core-services.md §8.9). A failed send leaves the entry
 * alone, so the value is retried at the next gather. The fallback choices
 * (NIC message form, JSON vs legacy disk info) live here too because the
 * reference resets them together with the values.
 */
import { InfoTypeValue } from './constants';
import { DiskEntry } from './diskInfo';

/** Which NIC message form last worked (core-services.md §8.3 fallback chain). */
export const NicSendMethod = {
  /** Type 10 with the full V3 body. */
  V3_AS_TYPE_10: 0,
  /** Type 9 with the V3 body cut to 64 IPs per NIC. */
  V3_AS_TYPE_9: 1,
} as const;
export type NicSendMethodValue = (typeof NicSendMethod)[keyof typeof NicSendMethod];

export class GuestInfoCache {
  /** String-valued types (1, 4, 5, 6, 7) → last value sent. */
  readonly strings = new Map<InfoTypeValue, string>();
  /** Type 11 body last sent. */
  detailedData: Buffer | undefined;
  /** XDR of the NicInfoV3 last sent (compared byte for byte, so order changes count). */
  nicInfo: Buffer | undefined;
  nicMethod: NicSendMethodValue = NicSendMethod.V3_AS_TYPE_10;
  diskInfo: DiskEntry[] | undefined;
  diskInfoUseJson = true;

  clear(): void {
    this.strings.clear();
    this.detailedData = undefined;
    this.nicInfo = undefined;
    this.nicMethod = NicSendMethod.V3_AS_TYPE_10;
    this.diskInfo = undefined;
    this.diskInfoUseJson = true;
  }
}
