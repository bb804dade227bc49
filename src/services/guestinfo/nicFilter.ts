/**
 * Interface-name filtering for exclude-nics / primary-nics /
 * low-priority-nics (core-services.md §8.3, conf.h). Patterns are GLib
 * "pattern specs": `*` matches any run of characters, `?` exactly one; there
 * are no character classes and no escapes — `[` is an ordinary character.
 */

/** Whole-string match of one GLib-style pattern. */
export function globMatch(pattern: string, name: string): boolean {
  // Iterative wildcard match with backtracking to the last '*'.
  const p = Array.from(pattern);
  const s = Array.from(name);
  let pi = 0;
  let si = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === s[si])) {
      pi++;
      si++;
    } else if (pi < p.length && p[pi] === '*') {
      starP = pi++;
      starS = si;
    } else if (starP >= 0) {
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/**
 * Splits a comma-separated config value into patterns, dropping empty items
 * as open-vm-tools does. Items are also trimmed: GLib would keep
 * " veth*" with its space, which can never match a real interface, and
 * "docker*, veth*" is what people write.
 */
export function parsePatternList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function matchesAny(patterns: readonly string[], name: string): boolean {
  return patterns.some((p) => globMatch(p, name));
}

/** NicInfoPriority of nicInfo.h: lower sorts first. */
export const NicPriority = {
  PRIMARY: 0,
  NORMAL: 1,
  LOW: 2,
} as const;
export type NicPriorityValue = (typeof NicPriority)[keyof typeof NicPriority];

export interface NicFilterConfig {
  excludeNics: readonly string[];
  primaryNics: readonly string[];
  lowPriorityNics: readonly string[];
}

/** primary-nics wins over low-priority-nics when a name matches both (nicInfo.c GuestInfo_IfaceGetPriority). */
export function nicPriority(cfg: NicFilterConfig, name: string): NicPriorityValue {
  if (matchesAny(cfg.primaryNics, name)) return NicPriority.PRIMARY;
  if (matchesAny(cfg.lowPriorityNics, name)) return NicPriority.LOW;
  return NicPriority.NORMAL;
}

export function isNicExcluded(cfg: NicFilterConfig, name: string): boolean {
  return matchesAny(cfg.excludeNics, name);
}
