/**
 * GuestInfoSources backed by this Linux machine: /proc, /sys, /etc, Node's
 * os module and fs.statfs. Read-only; nothing here writes or changes state
 * (the one exception, spawnDetached, is only called for `vmsupport.start`).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

import { GuestInfoSources, InterfaceAddress, StatfsInfo, UnameInfo } from './sources';

/** Largest prefix of /proc/self/smaps we read to find KernelPageSize. */
const SMAPS_PROBE_BYTES = 8192;
const DEFAULT_PAGE_SIZE = 4096;

function readPrefix(path: string, max: number): string | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(path, 'r');
    const buf = Buffer.alloc(max);
    const n = fs.readSync(fd, buf, 0, max, null);
    return buf.subarray(0, n).toString('latin1');
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export class LinuxGuestInfoSources implements GuestInfoSources {
  private cachedPageSize: number | undefined;

  readFile(path: string): string | undefined {
    try {
      return fs.readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  }

  realpath(path: string): string | undefined {
    try {
      return fs.realpathSync(path);
    } catch {
      return undefined;
    }
  }

  listDir(path: string): string[] | undefined {
    try {
      return fs.readdirSync(path);
    } catch {
      return undefined;
    }
  }

  exists(path: string): boolean {
    return fs.existsSync(path);
  }

  isDirectory(path: string): boolean {
    try {
      return fs.statSync(path).isDirectory();
    } catch {
      return false;
    }
  }

  statfs(path: string): StatfsInfo | undefined {
    try {
      const s = fs.statfsSync(path, { bigint: true });
      return { bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail };
    } catch {
      return undefined;
    }
  }

  networkInterfaces(): Record<string, InterfaceAddress[]> {
    const out: Record<string, InterfaceAddress[]> = {};
    for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
      if (!addrs) continue;
      out[name] = addrs.map((a) => ({
        address: a.address,
        netmask: a.netmask,
        family: a.family,
        internal: a.internal,
      }));
    }
    return out;
  }

  hostname(): string | undefined {
    try {
      return os.hostname();
    } catch {
      return undefined;
    }
  }

  uname(): UnameInfo {
    return { sysname: os.type(), release: os.release(), machine: os.machine() };
  }

  /** No Node API exposes sysconf(_SC_PAGESIZE); the kernel prints it per mapping in smaps. */
  pageSize(): number {
    if (this.cachedPageSize === undefined) {
      const text = readPrefix('/proc/self/smaps', SMAPS_PROBE_BYTES);
      const m = text !== undefined ? /^KernelPageSize:\s+(\d+) kB/m.exec(text) : null;
      this.cachedPageSize = m?.[1] !== undefined ? Number(m[1]) * 1024 : DEFAULT_PAGE_SIZE;
    }
    return this.cachedPageSize;
  }

  isRoot(): boolean {
    return typeof process.geteuid === 'function' && process.geteuid() === 0;
  }

  spawnDetached(command: string, args: readonly string[]): Promise<boolean> {
    return new Promise((resolve) => {
      try {
        const child = spawn(command, [...args], { detached: true, stdio: 'ignore' });
        child.once('spawn', () => {
          child.unref();
          resolve(true);
        });
        child.once('error', () => resolve(false));
      } catch {
        resolve(false);
      }
    });
  }
}
