/** The quiesce manifest (quiesce.md §5.4, syncManifest.c). */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `(major << 10) + (minor << 5) + base` (vm_tools_version.h). */
export function productVersion(version: string): number {
  const [a, b, c] = version.split('.').map((x) => parseInt(x, 10) || 0);
  return (a << 10) + (b << 5) + c;
}

export function manifestText(version: number, provider = 'fifreeze'): string {
  return `<quiesceManifest>\n   <productVersion>${version}</productVersion>\n   <providerName>${provider}</providerName>\n</quiesceManifest>\n`;
}

/** Unlink, then write (§5.4). Only called after the thaw. */
export function writeManifest(file: string, version: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    fs.unlinkSync(file);
  } catch {
    /* absent is fine */
  }
  fs.writeFileSync(file, manifestText(version), { mode: 0o644 });
}
