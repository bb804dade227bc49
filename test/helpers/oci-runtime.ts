/**
 * What the container suites (97, 99) share about running the image with
 * runc on this machine: where the trap shim and the simulator's directory
 * appear inside, and the isolation every runtime config gets.
 */

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

/** Where the trap shim is bound into a container (read-only). */
export const SHIM_IN_CONTAINER = '/run/vmtoolsd-test/vmtoolsd_trap_shim.so';
/** Where the simulator's socket directory is bound into a container. */
export const SIM_DIR_IN_CONTAINER = '/run/vmtoolsd-sim';

/**
 * SAFETY: private namespaces only, never this machine's pid, net, ipc or
 * uts (the image's labels ask for the host's; a test must not get them),
 * and none of the image's cgroup, resource or user-mapping settings, which
 * runc would apply to this machine's cgroups.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function isolateFromThisMachine(cfg: Record<string, any>): void {
  cfg.linux = cfg.linux ?? {};
  cfg.linux.namespaces = ['pid', 'network', 'ipc', 'uts', 'mount'].map((type) => ({ type }));
  delete cfg.linux.cgroupsPath;
  delete cfg.linux.resources;
  delete cfg.linux.uidMappings;
  delete cfg.linux.gidMappings;
}
