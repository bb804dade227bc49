/**
 * GetToolsState (guest-ops.md §7.1): a serialised VIX property list,
 * base64-encoded. Computed without impersonation, needs no credentials.
 */
import { API_ENABLED_PROPERTY_NAMES, VixProperty, VixPropertyType } from './constants';

export interface ToolsStateInfo {
  osFullName: string;
  osShortName: string;
  productName: string;
  toolsVersion: string;
  hostName: string;
  tempDir: string;
  wordSize: number;
}

type Prop = { id: number; type: number; value: Buffer };

function str(id: number, s: string): Prop {
  return { id, type: VixPropertyType.STRING, value: Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]) };
}
function int(id: number, n: number): Prop {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return { id, type: VixPropertyType.INTEGER, value: b };
}
function bool(id: number, v: boolean): Prop {
  return { id, type: VixPropertyType.BOOL, value: Buffer.from([v ? 1 : 0]) };
}

/** id i32, type i32, length i32, value (§7.1 table). */
export function serializeProperties(props: Prop[]): Buffer {
  return Buffer.concat(
    props.flatMap((p) => {
      const h = Buffer.alloc(12);
      h.writeInt32LE(p.id, 0);
      h.writeInt32LE(p.type, 4);
      h.writeInt32LE(p.value.length, 8);
      return [h, p.value];
    }),
  );
}

/** Parses a property list (for tests and the differential). */
export function parseProperties(b: Buffer): Array<{ id: number; type: number; value: Buffer }> {
  const out: Array<{ id: number; type: number; value: Buffer }> = [];
  let p = 0;
  while (p + 12 <= b.length) {
    const id = b.readInt32LE(p);
    const type = b.readInt32LE(p + 4);
    const len = b.readInt32LE(p + 8);
    if (len < 0 || p + 12 + len > b.length) throw new Error('property past the end');
    out.push({ id, type, value: b.subarray(p + 12, p + 12 + len) });
    p += 12 + len;
  }
  if (p !== b.length) throw new Error('trailing bytes in property list');
  return out;
}

/**
 * `isDisabled(api)` is the tools.conf check; like the reference we store
 * "is disabled" in the `…_ENABLED` properties (§7.1: the client only looks
 * for their presence). Alias APIs are reported disabled: no VGAuth (§12.4).
 */
export function toolsStateResult(info: ToolsStateInfo, isDisabled: (api: string) => boolean): string {
  const props: Prop[] = [
    str(VixProperty.GUEST_OS_VERSION, info.osFullName),
    str(VixProperty.GUEST_OS_VERSION_SHORT, info.osShortName),
    str(VixProperty.GUEST_TOOLS_PRODUCT_NAM, info.productName),
    str(VixProperty.GUEST_TOOLS_VERSION, info.toolsVersion),
    str(VixProperty.GUEST_NAME, info.hostName),
    int(VixProperty.GUEST_TOOLS_API_OPTIONS, 1),
    int(VixProperty.GUEST_OS_FAMILY, 1),
    str(VixProperty.GUEST_OS_PACKAGE_LIST, ''),
    str(VixProperty.VM_GUEST_TEMP_DIR, info.tempDir),
    int(VixProperty.GUEST_TOOLS_WORD_SIZE, info.wordSize),
  ];
  API_ENABLED_PROPERTY_NAMES.forEach((api, i) => {
    const alias = /Alias/.test(api);
    props.push(bool(VixProperty.FIRST_API_ENABLED + i, alias ? true : isDisabled(api)));
  });
  return serializeProperties(props).toString('base64');
}
