/**
 * [unsetenvironment] / [setenvironment]: environment changes applied once at
 * start-up (VMToolsInitEnv, libvmtools/vmtoolsMisc.c). Keys are `VAR` (every
 * service) or `<service>.VAR` (only that service); order is: global unsets,
 * global sets, then the service's unsets and sets. Set values are read as
 * strings with trailing blanks removed. A service prefix must match exactly
 * (the reference compares only a prefix, so `vms.PATH` would hit "vmsvc").
 */
import { chomp } from './keyfile-values';
import type { ToolsConfig } from './tools-config';

export interface EnvironmentChange {
  op: 'unset' | 'set';
  name: string;
  /** For 'set'. */
  value?: string;
}

function pick(key: string, service: string, global: boolean): string | undefined {
  const dot = key.indexOf('.');
  if (global) return dot < 0 ? key : undefined;
  if (dot < 0 || key.slice(0, dot) !== service) return undefined;
  return key.slice(dot + 1);
}

/** The environment changes tools.conf asks for, in the order to apply them. */
export function environmentChanges(config: ToolsConfig, service: string): EnvironmentChange[] {
  const out: EnvironmentChange[] = [];
  for (const global of [true, false]) {
    for (const key of config.keys('unsetenvironment')) {
      const name = pick(key, service, global);
      if (name) out.push({ op: 'unset', name });
    }
    for (const key of config.keys('setenvironment')) {
      const name = pick(key, service, global);
      if (!name) continue;
      const value = config.getString('setenvironment', key);
      if (value !== undefined) out.push({ op: 'set', name, value: chomp(value) });
    }
  }
  return out;
}

/** Applies changes to `env` (process.env by default). */
export function applyEnvironmentChanges(changes: readonly EnvironmentChange[], env: NodeJS.ProcessEnv = process.env): void {
  for (const c of changes) {
    if (c.op === 'unset') delete env[c.name];
    else env[c.name] = c.value ?? '';
  }
}
