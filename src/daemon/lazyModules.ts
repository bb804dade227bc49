/**
 * Code that most guests never run (customization engines, guest operations'
 * request machinery) is loaded on first use, not at start: it would add
 * ~90 ms before the first TCLO reply and ~2 MiB of idle heap (bench/results/
 * daemon.md). Every lazy module registers here so that a quiesce can load
 * them all *before* it freezes: while filesystems are frozen the daemon loads
 * no code (quiesce.md §4.4; src/services/vmbackup).
 */
import { rawArgsHandler } from '../rpc/tclo';
import type { TcloHandler } from '../rpc/types';

const loaders: Array<() => unknown> = [];

/** A getter that loads the module on its first call and returns the same instance after. */
export function lazyModule<T>(load: () => T): () => T {
  let loaded: { m: T } | undefined;
  const get = (): T => {
    if (loaded === undefined) loaded = { m: load() };
    return loaded.m;
  };
  loaders.push(get);
  return get;
}

/** Loads every lazy module registered so far (before a freeze). */
export function loadAllLazyModules(): void {
  for (const get of loaders) get();
}

/**
 * TCLO handlers whose service is built on the first command (or before a
 * freeze). `raw` names the commands whose handlers take their arguments byte
 * for byte (src/rpc/tclo.ts rawArgsHandler): the dispatcher looks for that
 * mark on the handler it holds, which is this stub.
 */
export function lazyHandlers(
  names: string[],
  build: () => Record<string, TcloHandler>,
  opts: { raw?: string[] } = {},
): Record<string, TcloHandler> {
  const get = lazyModule(build);
  const out: Record<string, TcloHandler> = {};
  for (const name of names) {
    const stub: TcloHandler = (args) => {
      const real = get()[name];
      return real ? real(args) : { ok: false, result: 'Unknown Command' };
    };
    out[name] = opts.raw?.includes(name) ? rawArgsHandler(stub) : stub;
  }
  return out;
}
