/**
 * An in-memory GuestInfoSources for tests and the simulator: a map of file
 * contents plus symlinks and directories, and plain values for the rest.
 * Directory listings are derived from the paths given.
 */
import * as path from 'node:path';

import { GuestInfoSources, InterfaceAddress, StatfsInfo, UnameInfo } from './sources';

export interface MemorySourcesInit {
  /** Absolute path → contents. */
  files?: Record<string, string>;
  /** Absolute path → target (absolute, or relative to the link's directory). */
  symlinks?: Record<string, string>;
  /** Extra (possibly empty) directories. */
  dirs?: string[];
  statfs?: Record<string, StatfsInfo>;
  interfaces?: Record<string, InterfaceAddress[]>;
  hostname?: string;
  uname?: UnameInfo;
  pageSize?: number;
  isRoot?: boolean;
  /** Commands spawnDetached can "start"; others fail. */
  spawnable?: string[];
}

export class MemoryGuestInfoSources implements GuestInfoSources {
  readonly files = new Map<string, string>();
  readonly symlinks = new Map<string, string>();
  readonly dirs = new Set<string>(['/']);
  readonly statfsData = new Map<string, StatfsInfo>();
  interfaces: Record<string, InterfaceAddress[]>;
  host: string | undefined;
  unameInfo: UnameInfo;
  page: number;
  root: boolean;
  readonly spawnable: Set<string>;
  /** Every spawnDetached call, for assertions. */
  readonly spawned: Array<{ command: string; args: string[] }> = [];

  constructor(init: MemorySourcesInit = {}) {
    for (const [p, c] of Object.entries(init.files ?? {})) this.setFile(p, c);
    for (const [p, t] of Object.entries(init.symlinks ?? {})) this.setSymlink(p, t);
    for (const d of init.dirs ?? []) this.addDir(d);
    for (const [p, s] of Object.entries(init.statfs ?? {})) this.statfsData.set(p, s);
    this.interfaces = init.interfaces ?? {};
    this.host = init.hostname ?? 'localhost';
    this.unameInfo = init.uname ?? { sysname: 'Linux', release: '6.1.0-18-amd64', machine: 'x86_64' };
    this.page = init.pageSize ?? 4096;
    this.root = init.isRoot ?? true;
    this.spawnable = new Set(init.spawnable ?? []);
  }

  /** Declares a directory (and its parents). */
  addDir(dir: string): void {
    let d = path.posix.normalize(dir);
    while (!this.dirs.has(d)) {
      this.dirs.add(d);
      d = path.posix.dirname(d);
    }
  }

  setFile(p: string, contents: string): void {
    const n = path.posix.normalize(p);
    this.files.set(n, contents);
    this.addDir(path.posix.dirname(n));
  }

  deleteFile(p: string): void {
    this.files.delete(path.posix.normalize(p));
  }

  setSymlink(p: string, target: string): void {
    const n = path.posix.normalize(p);
    this.symlinks.set(n, target);
    this.addDir(path.posix.dirname(n));
  }

  /** Resolves symlinks component by component, like realpath(3); undefined if the result does not exist. */
  private resolve(p: string): string | undefined {
    // No lexical normalisation: ".." must apply to the resolved (physical) path, as in realpath(3).
    const parts = p.split('/').filter((s) => s.length > 0 && s !== '.');
    let cur = '/';
    for (let i = 0, hops = 0; i < parts.length; i++) {
      const part = parts[i] ?? '';
      if (part === '..') {
        cur = path.posix.dirname(cur);
        continue;
      }
      const next = path.posix.join(cur, part);
      const target = this.symlinks.get(next);
      if (target !== undefined) {
        if (++hops > 40) return undefined;
        const abs = path.posix.isAbsolute(target) ? target : path.posix.join(cur, target);
        const rest = parts.slice(i + 1);
        parts.splice(0, parts.length, ...abs.split('/').filter((s) => s.length > 0), ...rest);
        cur = '/';
        i = -1;
        continue;
      }
      cur = next;
    }
    return this.files.has(cur) || this.dirs.has(cur) ? cur : undefined;
  }

  readFile(p: string): string | undefined {
    const r = this.resolve(p);
    return r === undefined ? undefined : this.files.get(r);
  }

  realpath(p: string): string | undefined {
    return this.resolve(p);
  }

  listDir(p: string): string[] | undefined {
    const r = this.resolve(p);
    if (r === undefined || !this.dirs.has(r)) return undefined;
    const names = new Set<string>();
    const prefix = r === '/' ? '/' : `${r}/`;
    for (const key of [...this.files.keys(), ...this.symlinks.keys(), ...this.dirs]) {
      if (key.startsWith(prefix) && key.length > prefix.length) {
        const name = key.slice(prefix.length).split('/')[0];
        if (name) names.add(name);
      }
    }
    return [...names].sort();
  }

  exists(p: string): boolean {
    return this.resolve(p) !== undefined;
  }

  isDirectory(p: string): boolean {
    const r = this.resolve(p);
    return r !== undefined && this.dirs.has(r);
  }

  statfs(p: string): StatfsInfo | undefined {
    return this.statfsData.get(path.posix.normalize(p));
  }

  networkInterfaces(): Record<string, InterfaceAddress[]> {
    return this.interfaces;
  }

  hostname(): string | undefined {
    return this.host;
  }

  uname(): UnameInfo {
    return this.unameInfo;
  }

  pageSize(): number {
    return this.page;
  }

  isRoot(): boolean {
    return this.root;
  }

  spawnDetached(command: string, args: readonly string[]): Promise<boolean> {
    this.spawned.push({ command, args: [...args] });
    return Promise.resolve(this.spawnable.has(command));
  }
}
