/**
 * `vmware-toolbox-cmd`: the command-line companion of the agent, a drop-in
 * for open-vm-tools 12.2's (toolbox/toolbox-cmd.c) with the same arguments,
 * output, exit codes and host traffic:
 *
 *   vmware-toolbox-cmd [-q] config get|set|remove SECTION KEY [VALUE]
 *   vmware-toolbox-cmd [-q] script power|resume|suspend|shutdown default|current|set PATH|enable|disable
 *   vmware-toolbox-cmd [-q] stat hosttime|speed|sessionid|balloon|swap|memlimit|memres|cpures|cpulimit|raw
 *   vmware-toolbox-cmd [-q] timesync status|enable|disable
 *   vmware-toolbox-cmd [-q] logging level get|set SERVICE [LEVEL]
 *   vmware-toolbox-cmd [-q] device list|status|enable|disable [DEV]
 *   vmware-toolbox-cmd [-q] info update network
 *   vmware-toolbox-cmd help [COMMAND] | -h | -v
 *
 * cloud-init depends on `config get deployPkg enable-custom-scripts`.
 * Options are parsed like glibc getopt_long (toolbox/getopt.ts); -q silences
 * the messages the reference prints through ToolsCmd_Print/PrintErr only.
 * tools.conf is /etc/vmware-tools/tools.conf, as in the reference (which has
 * no option to change it). disk, gueststore and globalconf are recognised
 * but not provided.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { DEFAULT_TOOLS_CONF_DIR } from '../config/paths';
import { BUILD_NUMBER, TOOLS_VERSION_EXT_STRING } from '../daemon/version';
import {
  configCommand,
  deviceCommand,
  EX_NOPERM,
  EX_USAGE,
  EXIT_FAILURE,
  EXIT_SUCCESS,
  infoCommand,
  loggingCommand,
  missing,
  scriptCommand,
  statCommand,
  timesyncCommand,
  ToolboxContext,
  unknown,
  unsupportedCommand,
} from './toolbox/commands';
import { startupWarnings } from './toolbox/conf';
import { parseToolboxOptions } from './toolbox/getopt';
import { commandHelp, mainHelp } from './toolbox/help';
import { NativeToolboxHost, ToolboxHost } from './toolbox/host';
import { Output, OutputSink, processSink } from './toolbox/output';

interface CommandEntry {
  run: (ctx: ToolboxContext, args: string[]) => number | Promise<number>;
  requireArguments: boolean;
  requireRoot: boolean;
}

/** toolbox-cmd.c commands[] for a Linux open-vm-tools build, in its order. */
const COMMANDS: ReadonlyMap<string, CommandEntry> = new Map<string, CommandEntry>([
  ['timesync', { run: timesyncCommand, requireArguments: true, requireRoot: false }],
  ['script', { run: scriptCommand, requireArguments: false, requireRoot: true }],
  ['disk', { run: (ctx) => unsupportedCommand(ctx, 'disk'), requireArguments: true, requireRoot: true }],
  ['stat', { run: statCommand, requireArguments: true, requireRoot: false }],
  ['device', { run: deviceCommand, requireArguments: true, requireRoot: false }],
  ['gueststore', { run: (ctx) => unsupportedCommand(ctx, 'gueststore'), requireArguments: true, requireRoot: false }],
  ['globalconf', { run: (ctx) => unsupportedCommand(ctx, 'globalconf'), requireArguments: true, requireRoot: true }],
  ['logging', { run: loggingCommand, requireArguments: true, requireRoot: true }],
  ['info', { run: infoCommand, requireArguments: true, requireRoot: true }],
  ['config', { run: configCommand, requireArguments: true, requireRoot: true }],
  ['help', { run: helpCommand, requireArguments: false, requireRoot: false }],
]);

/** HelpCommand: `help [command]`; args[0] is "help". */
function helpCommand(ctx: ToolboxContext, args: string[]): number {
  if (args.length > 1) {
    const name = args[1]!;
    if (COMMANDS.has(name)) {
      ctx.out.print(commandHelp(ctx.prog, name));
      return EXIT_SUCCESS;
    }
    unknown(ctx, 'subcommand', name);
    ctx.out.print(mainHelp(ctx.prog, args[0]!));
    return EX_USAGE;
  }
  ctx.out.print(mainHelp(ctx.prog, args[0]!));
  return EXIT_SUCCESS;
}

export interface ToolboxMainOptions {
  /** argv[0] as the reference would print it (default: see programName()). */
  prog?: string;
  host?: ToolboxHost;
  sink?: OutputSink;
  env?: NodeJS.ProcessEnv;
  /** Default /etc/vmware-tools. */
  confDir?: string;
  /** geteuid() == 0 (System_IsUserAdmin). */
  isRoot?: () => boolean;
  nicInfoMessage?: ToolboxContext['nicInfoMessage'];
}

/**
 * The name the reference would print for itself: argv[0]. A shell that found
 * us on PATH passed the bare name (the kernel then hands node the full path);
 * otherwise the path we were started by.
 */
export function programName(script: string | undefined = process.argv[1], env: NodeJS.ProcessEnv = process.env): string {
  if (!script) return 'vmware-toolbox-cmd';
  const base = path.basename(script);
  for (const dir of (env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, base);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
    } catch {
      continue;
    }
    // The first executable of that name on PATH: is it us?
    return path.resolve(candidate) === path.resolve(script) ? base : script;
  }
  return script;
}

/** The `info update network` message: SetGuestInfo type 10 with this guest's NICs, as the daemon builds it. */
function nativeNicInfoMessage(maxIpv4Routes: number, maxIpv6Routes: number): Buffer | null {
  // Loaded on demand: the guest-info modules are only needed here.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const gi = require('../services/guestinfo') as typeof import('../services/guestinfo');
  try {
    const { nicInfo } = gi.gatherNicInfo(new gi.LinuxGuestInfoSources(), {
      excludeNics: [],
      primaryNics: [],
      lowPriorityNics: [],
      maxIpv4Routes,
      maxIpv6Routes,
    });
    return gi.setGuestInfoBinary(gi.InfoType.IPADDRESS_V3, gi.encodeGuestNicProtoV3(nicInfo));
  } catch {
    return null;
  }
}

export async function main(argv: string[] = process.argv.slice(2), opts: ToolboxMainOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const prog = opts.prog ?? programName(undefined, env);
  const out = new Output(opts.sink ?? processSink, false, env);
  const host = opts.host ?? new NativeToolboxHost();
  const confDir = opts.confDir ?? DEFAULT_TOOLS_CONF_DIR;

  // The reference loads tools.conf before anything else; what GLib says about it goes to stderr.
  for (const w of startupWarnings(path.join(confDir, 'tools.conf'))) out.warning(w);

  if (!host.isVirtualWorld()) {
    out.printErr(`${prog} must be run inside a virtual machine.\n`);
    return EXIT_FAILURE;
  }

  const parsed = parseToolboxOptions(prog, argv, env);
  if (!parsed.ok) {
    out.rawErr(parsed.message);
    out.printErr(`Try '${prog} -h' for more information.\n`);
    return EXIT_FAILURE;
  }

  const ctx: ToolboxContext = {
    prog,
    out: out.withQuiet(parsed.quiet),
    host,
    confDir,
    nicInfoMessage: opts.nicInfoMessage ?? nativeNicInfoMessage,
  };

  if (parsed.version) {
    out.print(`${TOOLS_VERSION_EXT_STRING} (build-${BUILD_NUMBER})\n`);
    return EXIT_SUCCESS;
  }
  if (parsed.help) {
    out.print(mainHelp(prog, 'help'));
    return EXIT_SUCCESS;
  }

  const args = parsed.args;
  let name: string | undefined;
  let code: number;
  if (args.length === 0) {
    code = missing(ctx, 'command');
  } else {
    const entry = COMMANDS.get(args[0]!);
    if (!entry) {
      code = unknown(ctx, 'command', args[0]!);
    } else {
      name = args[0]!;
      const isRoot = opts.isRoot ?? (() => typeof process.geteuid === 'function' && process.geteuid() === 0);
      if (entry.requireRoot && !isRoot()) {
        out.printErr(`${prog}: You must be root to perform ${name} operations.\n`);
        code = EX_NOPERM;
      } else if (entry.requireArguments && args.length < 2) {
        code = missing(ctx, 'subcommand');
      } else {
        code = await entry.run(ctx, entry.requireArguments ? args.slice(1) : args);
      }
    }
  }
  if (code === EX_USAGE && name !== 'help') {
    out.printErr(`Try '${prog} help${name ? ` ${name}` : ''}' for more information.\n`);
  }
  return code;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`vmware-toolbox-cmd: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(EXIT_FAILURE);
    },
  );
}
