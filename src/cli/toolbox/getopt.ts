/**
 * The option parsing of open-vm-tools' vmware-toolbox-cmd: glibc's
 * getopt_long with the short options "hqv" and the long options --quiet,
 * --help and --version, none taking an argument (toolbox-cmd.c main).
 *
 * What glibc does and this reproduces:
 *  - options may appear anywhere: getopt permutes argv so that the options
 *    come first and the non-options keep their relative order (unless
 *    POSIXLY_CORRECT is set: then the first non-option ends the options);
 *  - "--" ends the options and is dropped; a lone "-" is a non-option;
 *  - short options cluster ("-qv"); long options may be abbreviated to any
 *    unique prefix ("--vers"), and "--name=value" is refused for options that
 *    take no argument;
 *  - the first bad option stops everything with glibc's own message (raw
 *    bytes, no charset conversion), which the caller follows with its hint.
 */

export interface ToolboxOptions {
  ok: true;
  quiet: boolean;
  help: boolean;
  version: boolean;
  /** The non-option arguments, in the order getopt leaves them (argv[optind..]). */
  args: string[];
}

export interface ToolboxOptionError {
  ok: false;
  /** glibc's message, ending in "\n", as bytes. */
  message: Buffer;
}

/** long_options[] in toolbox-cmd.c, in table order (the order glibc lists ambiguous candidates in). */
const LONG_OPTIONS: ReadonlyArray<readonly [string, 'q' | 'h' | 'v']> = [
  ['quiet', 'q'],
  ['help', 'h'],
  ['version', 'v'],
];
const SHORT_OPTIONS = 'hqv';

function err(text: string): ToolboxOptionError {
  return { ok: false, message: Buffer.from(text, 'utf8') };
}

/**
 * Parses argv (without argv[0]) as vmware-toolbox-cmd does. `prog` is the
 * program name glibc prints (argv[0]).
 */
export function parseToolboxOptions(
  prog: string,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ToolboxOptions | ToolboxOptionError {
  const requireOrder = env.POSIXLY_CORRECT !== undefined;
  const flags = { q: false, h: false, v: false };
  const nonOptions: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      nonOptions.push(...argv.slice(i + 1));
      break;
    }
    const isOption = arg.length > 1 && arg[0] === '-';
    if (!isOption) {
      if (requireOrder) {
        nonOptions.push(...argv.slice(i));
        break;
      }
      nonOptions.push(arg);
      continue;
    }

    if (arg.startsWith('--')) {
      const body = arg.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      let found = LONG_OPTIONS.find(([n]) => n === name);
      if (!found) {
        const candidates = LONG_OPTIONS.filter(([n]) => n.startsWith(name));
        if (candidates.length === 0) return err(`${prog}: unrecognized option '--${body}'\n`);
        if (candidates.length > 1) {
          // The three options differ in their value, so any shared prefix is ambiguous.
          const list = candidates.map(([n]) => ` '--${n}'`).join('');
          return err(`${prog}: option '--${body}' is ambiguous; possibilities:${list}\n`);
        }
        found = candidates[0]!;
      }
      if (eq >= 0) return err(`${prog}: option '--${found[0]}' doesn't allow an argument\n`);
      flags[found[1]] = true;
      continue;
    }

    // A cluster of short options. glibc works on bytes: a non-ASCII
    // character is reported by its first byte.
    const bytes = Buffer.from(arg.slice(1), 'utf8');
    for (const b of bytes) {
      const c = String.fromCharCode(b);
      if (b < 0x80 && SHORT_OPTIONS.includes(c)) {
        flags[c as 'h' | 'q' | 'v'] = true;
        continue;
      }
      return {
        ok: false,
        message: Buffer.concat([Buffer.from(`${prog}: invalid option -- '`, 'utf8'), Buffer.from([b]), Buffer.from("'\n")]),
      };
    }
  }

  return { ok: true, quiet: flags.q, help: flags.h, version: flags.v, args: nonOptions };
}
