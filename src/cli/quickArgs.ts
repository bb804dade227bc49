/**
 * The start-up fast path for command lines made only of known string
 * options (`vmtoolsd -n vmsvc -c /etc/vmware-tools/tools.conf`, what units
 * and scripts run). yargs builds the help text, the version, and every
 * error, but loading it costs about 25 ms of a ~150 ms start (its help
 * layout and locale modules), so the daemon loads it only for anything
 * this parser does not fully understand.
 *
 * The contract: `quickParse` returns values only where yargs would return
 * the same ones; otherwise `undefined`, and the caller asks yargs. It never
 * reports an error itself. Test 88 checks it against yargs.
 */

export interface QuickOption {
  /** Long name, without dashes ("log-level"). */
  name: string;
  /** One-letter alias ("n"), if any. */
  alias?: string;
  default?: string;
  /** Allowed values; anything else goes to yargs for its error message. */
  choices?: readonly string[];
}

/** Option values by long name; absent options have their default, or none. */
export type QuickArgs = Record<string, string | undefined>;

export function quickParse(argv: readonly string[], options: readonly QuickOption[]): QuickArgs | undefined {
  const byFlag = new Map<string, QuickOption>();
  for (const o of options) {
    byFlag.set(`--${o.name}`, o);
    if (o.alias) byFlag.set(`-${o.alias}`, o);
  }
  const seen = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const o = byFlag.get(flag);
    // Unknown flags, positionals, "--", help and version: yargs' business.
    if (!o) return undefined;
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else value = argv[++i];
    // A missing value, or one that looks like a flag (yargs reads those
    // differently, e.g. negative numbers or "-c -x"), or a repeat (yargs
    // makes an array): all yargs'.
    if (value === undefined || value === '' || value.startsWith('-')) return undefined;
    if (seen.has(o.name)) return undefined;
    if (o.choices && !o.choices.includes(value)) return undefined;
    seen.set(o.name, value);
  }
  const out: QuickArgs = {};
  for (const o of options) out[o.name] = seen.get(o.name) ?? o.default;
  return out;
}
