/**
 * Fixed locations and timings of the configuration, as open-vm-tools has
 * them (lib/include/conf.h, libvmtools/vmtoolsConfig.c, vmbackup/syncManifest.c).
 */
import * as path from 'node:path';

/** GuestApp_GetConfPath() on Linux. */
export const DEFAULT_TOOLS_CONF_DIR = '/etc/vmware-tools';
/** VMToolsGetToolsConfFile(). */
export const DEFAULT_TOOLS_CONF_PATH = path.join(DEFAULT_TOOLS_CONF_DIR, 'tools.conf');
/** CONF_POLL_TIME: how often the daemon re-checks tools.conf (seconds × 1000). */
export const CONF_POLL_TIME_MS = 5000;
/** syncManifestName: written into the configuration directory. */
export const QUIESCE_MANIFEST_NAME = 'quiesce_manifest.xml';

/** Where the quiesce manifest goes: `[vmbackup] manifestPath`, else next to tools.conf. */
export function quiesceManifestPath(configPath: string, manifestPath: string | undefined): string {
  return manifestPath ?? path.join(path.dirname(configPath), QUIESCE_MANIFEST_NAME);
}
