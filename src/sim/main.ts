/**
 * VMX simulator process.
 *
 *   node dist/src/sim/main.js --trap-socket P --control-socket P
 *        [--vsock-fd N[:rpci|:tclo]]... [--vsock-rpci-socket P] [--vsock-tclo-socket P]
 *        [--guestinfo k=v]... [--no-hb] [--refuse-cookie-open] [--vmx-type N]
 *        [--clock-offset-ms N] [--exit-on-stdin-close]
 *        [--auto-reset] [--ping-interval-ms N] [--verbose]
 *
 * Prints `READY <trap> <control>` on stdout once both sockets listen; exits
 * cleanly (sockets unlinked) on SIGTERM/SIGINT, and with
 * --exit-on-stdin-close when its parent goes away.
 *
 * --auto-reset: drive every new guest TCLO channel like a VMX (reset,
 * Capabilities_Register, Set_Option, periodic ping every --ping-interval-ms,
 * default 15000; session.ts). --verbose: one line per event on stderr
 * (narrator.ts).
 */
import * as net from 'node:net';
import { ControlServer } from './control';
import { VmxHost, VmxHostOptions } from './host';
import { attachNarrator } from './narrator';
import { ShimServer } from './shim-server';
import { VsockHost, VsockRole } from './vsock-host';

export interface MainArgs {
  trapSocket: string;
  controlSocket: string;
  vsockFds: Array<{ fd: number; role: VsockRole }>;
  vsockRpciSocket?: string;
  vsockTcloSocket?: string;
  host: VmxHostOptions;
  exitOnStdinClose: boolean;
  verbose: boolean;
}

const HELP = `Usage: node dist/src/sim/main.js --trap-socket PATH --control-socket PATH [options]

The VMX simulator: the host side of the VMware backdoor, RPCI/TCLO and vsock
protocols, for processes run with the trap shim preloaded
(docs/simulator-protocol.md). Prints "READY <trap> <control>" when listening.

Options:
  --trap-socket PATH         where the trap shim connects (VMTOOLSD_SIM_SOCKET)
  --control-socket PATH      JSON-lines control socket (SimClient)
  --vsock-fd N[:rpci|:tclo]  serve an inherited stream fd as a vsock connection
  --vsock-rpci-socket PATH   listen for vsock RPCI stand-in connections
  --vsock-tclo-socket PATH   listen for vsock TCLO stand-in connections
  --guestinfo KEY=VALUE      seed a guest variable (repeatable)
  --no-hb                    never offer high-bandwidth transfers
  --refuse-cookie-open       refuse OPEN with the cookie flag (an old host)
  --vmx-type N               GETVERSION's VMX type (default 2, ESX)
  --clock-offset-ms N        host clock = this machine's clock + N ms
  --auto-reset               drive each new TCLO channel as a VMX does
  --ping-interval-ms N       auto-reset's periodic ping (default 15000; 0 = none)
  --verbose                  one line per event on stderr
  --exit-on-stdin-close      exit when stdin closes (the harness's parent died)
  --help                     this text
`;

function usage(msg: string): never {
  process.stderr.write(`vmx-sim: ${msg}\n`);
  process.exit(2);
}

export function parseArgs(argv: string[]): MainArgs {
  const a: MainArgs = { trapSocket: '', controlSocket: '', vsockFds: [], host: {}, exitOnStdinClose: false, verbose: false };
  let autoReset = false;
  let pingIntervalMs: number | undefined;
  const guestinfo: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--trap-socket':
        a.trapSocket = val();
        break;
      case '--control-socket':
        a.controlSocket = val();
        break;
      case '--vsock-fd': {
        const [fd, role = 'rpci'] = val().split(':');
        if (!/^\d+$/.test(fd) || (role !== 'rpci' && role !== 'tclo')) usage(`bad --vsock-fd ${fd}:${role}`);
        a.vsockFds.push({ fd: Number(fd), role });
        break;
      }
      case '--vsock-rpci-socket':
        a.vsockRpciSocket = val();
        break;
      case '--vsock-tclo-socket':
        a.vsockTcloSocket = val();
        break;
      case '--guestinfo': {
        const kv = val();
        const eq = kv.indexOf('=');
        if (eq <= 0) usage(`bad --guestinfo ${kv} (want key=value)`);
        const key = kv.slice(0, eq);
        // Like a .vmx `guestinfo.<name> = "…"` entry; the prefix may be omitted.
        guestinfo[key.startsWith('guestinfo.') ? key : `guestinfo.${key}`] = kv.slice(eq + 1);
        break;
      }
      case '--no-hb':
        a.host.hb = false;
        break;
      case '--refuse-cookie-open':
        a.host.refuseCookieOpen = true;
        break;
      case '--vmx-type':
        a.host.vmxType = Number(val());
        break;
      case '--clock-offset-ms':
        a.host.clockOffsetUs = Math.round(Number(val()) * 1000);
        break;
      case '--exit-on-stdin-close':
        a.exitOnStdinClose = true;
        break;
      case '--auto-reset':
        autoReset = true;
        break;
      case '--ping-interval-ms': {
        const v = val();
        if (!/^\d+$/.test(v)) usage(`bad --ping-interval-ms ${v}`);
        pingIntervalMs = Number(v);
        break;
      }
      case '--help':
        process.stdout.write(HELP);
        return process.exit(0);
      case '--verbose':
        a.verbose = true;
        break;
      default:
        usage(`unknown argument ${arg}`);
    }
  }
  if (!a.trapSocket || !a.controlSocket) usage('--trap-socket and --control-socket are required');
  a.host.guestinfo = guestinfo;
  a.host.autoReset = { enabled: autoReset, pingIntervalMs };
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const host = new VmxHost(args.host);
  if (args.verbose) {
    // "sim" tells these lines from the agent's own log when both share a terminal (npm start);
    // the UTC time shows the 15 s ping cadence and the 30 s gathers.
    attachNarrator(host.events, (line) => process.stderr.write(`sim ${new Date().toISOString().slice(11, 23)} ${line}\n`));
  }
  const shim = new ShimServer(host);
  const vsock = new VsockHost(host);
  const control = new ControlServer(host, { vsock, shim });

  await shim.listen(args.trapSocket);
  await control.listen(args.controlSocket);
  if (args.vsockRpciSocket) await vsock.listen(args.vsockRpciSocket, { role: 'rpci' });
  if (args.vsockTcloSocket) await vsock.listen(args.vsockTcloSocket, { role: 'tclo' });
  for (const { fd, role } of args.vsockFds) {
    vsock.attach(new net.Socket({ fd, readable: true, writable: true }), { role });
  }

  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    host.shutdown('simulator stopped');
    await Promise.allSettled([shim.close(), control.close(), vsock.close()]);
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  if (args.exitOnStdinClose) {
    process.stdin.on('end', () => void stop(0));
    process.stdin.on('error', () => void stop(0));
    process.stdin.resume();
  }
  process.stdout.write(`READY ${args.trapSocket} ${args.controlSocket}\n`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`vmx-sim: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  });
}
