/**
 * Everything the gatherers learn about the guest comes through this
 * interface, so tests (and the simulator) can feed fixtures instead of this
 * machine's state. All methods are read-only queries except
 * `spawnDetached`, which only the `vmsupport.start` TCLO command uses.
 */

/** One address as os.networkInterfaces() reports it (the subset we use). */
export interface InterfaceAddress {
  address: string;
  netmask: string;
  family: 'IPv4' | 'IPv6';
  /** Loopback ("internal" in Node's terms). */
  internal: boolean;
}

export interface StatfsInfo {
  /** f_bsize: block size used for all counts below (wiperPosix.c uses f_bsize). */
  bsize: bigint;
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
}

export interface UnameInfo {
  /** uname -s, e.g. "Linux". */
  sysname: string;
  /** uname -r, e.g. "6.1.0-18-amd64". */
  release: string;
  /** uname -m, e.g. "x86_64", "aarch64". */
  machine: string;
}

export interface GuestInfoSources {
  /** Whole text file, or undefined if it cannot be read. */
  readFile(path: string): string | undefined;
  /** Canonical path with symlinks resolved, or undefined. */
  realpath(path: string): string | undefined;
  /** Directory entries (names only), or undefined if not a readable directory. */
  listDir(path: string): string[] | undefined;
  exists(path: string): boolean;
  isDirectory(path: string): boolean;
  statfs(path: string): StatfsInfo | undefined;
  /**
   * Addresses per interface name, in getifaddrs order, like
   * os.networkInterfaces(). Note libuv only lists interfaces that are UP
   * *and* RUNNING, so addresses of an UP interface without carrier are missing.
   */
  networkInterfaces(): Record<string, InterfaceAddress[]>;
  /** gethostname(); undefined on failure. */
  hostname(): string | undefined;
  uname(): UnameInfo;
  /** sysconf(_SC_PAGESIZE) in bytes. */
  pageSize(): number;
  /** geteuid() === 0 (decides whether "free" may include reserved blocks, wiperPosix.c). */
  isRoot(): boolean;
  /**
   * Starts a detached process found on PATH with stdio discarded; resolves
   * true once it has started, false if it could not be started.
   */
  spawnDetached(command: string, args: readonly string[]): Promise<boolean>;
}
