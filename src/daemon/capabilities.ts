/**
 * Capability records as services return them to `Capabilities_Register`, and
 * their wire format (core-services.md §3 step 2 table).
 */
import { withNul } from '../rpc/rpcout';

export type Capability =
  /** `tools.capability.<name> <value>\0` (value 0 when unsetting). */
  | { kind: 'old'; name: string; value: number }
  /** `tools.capability.<name> ` — trailing space, no NUL; only sent when setting. */
  | { kind: 'noval'; name: string }
  /** Accumulated into one `tools.capability.features <idx>=<val> …\0`. */
  | { kind: 'new'; index: number; value: number };

/** The RPCs ToolsCore_SetCapabilities sends for `caps`, in order. */
export function capabilityRequests(caps: Capability[], set: boolean): Buffer[] {
  const out: Buffer[] = [];
  const features: string[] = [];
  for (const c of caps) {
    if (c.kind === 'old') out.push(withNul(`tools.capability.${c.name} ${set ? c.value : 0}`));
    else if (c.kind === 'noval') {
      if (set) out.push(Buffer.from(`tools.capability.${c.name} `, 'latin1'));
    } else features.push(`${c.index}=${set ? c.value : 0}`);
  }
  if (features.length > 0) out.push(withNul(`tools.capability.features ${features.join(' ')}`));
  return out;
}
