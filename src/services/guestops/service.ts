/**
 * The guest operations service: answers `Vix_1_Relayed_Command`
 * (guest-ops.md §2) following the reference's dispatcher rules (§5):
 *
 *   header check (10000) → quiesce freeze (5) → tools.conf switches (20005)
 *   → body parse (10001/27/3/…) → credentials (6/1/3050) → PAM →
 *   the work, as the user, through the runas helper → 3050→3015 rewrite for
 *   legacy opcodes.
 *
 * Every request gets exactly one reply, whatever the input; an exception in
 * an operation becomes `1` (FAIL). Nothing runs before authentication except
 * the three credential-free opcodes 38, 58, 62 (§14 duty 1).
 */
import type { Logger } from '../../daemon/coreSession';
import { rawArgsHandler } from '../../rpc/tclo';
import type { TcloResult } from '../../rpc/types';
import { AuthenticatedUser, Authenticator } from './auth';
import { VixBodyError } from './body';
import {
  API_NAME_OF_OP,
  REWRITE_3050_OPS,
  VIX_MAX_RESULT_SIZE,
  VixError,
  VixOp,
  vixErrorOfErrno,
} from './constants';
import { decodeCredential } from './credentials';
import { formatVixReply, parseVixRequest, splitRelayedCommand } from './framing';
import { HgfsServer, parseHgfsHeader } from './hgfs';
import { ProcessEntry, ProcessTable, procProcesses, renderProcess } from './processes';
import { cleanProgramPath, ParsedBody, parseBody, splitArguments } from './requests';
import type { UserRunner } from './runner';
import { toolsStateResult, ToolsStateInfo } from './toolsState';

export interface GuestOpsConfig {
  /** [guestoperations] disabled */
  disabled: boolean;
  /** [guestoperations] <ApiName>.disabled */
  apiDisabled(api: string): boolean;
}

export interface GuestOpsServiceOptions {
  auth: Authenticator;
  runner: UserRunner;
  config: () => GuestOpsConfig;
  log: Logger;
  toolsState: () => ToolsStateInfo;
  /** A quiesce freeze is in progress (quiesce.md §4.4): every opcode → 5. */
  frozen?: () => boolean;
  /** The daemon's own pid (KillProcess refuses it, §7.4). */
  daemonPid?: number;
  now?: () => number;
}

export interface OpOutcome {
  error: number;
  additionalError?: number;
  result?: string | Buffer;
  /** The result sent with a non-zero error (StartProgram's "-1", §7.2). */
  errorResult?: string;
}

/** §7.3 paging cache: 10 minutes, per euid. */
const PROC_CACHE_MS = 10 * 60_000;

const NO_AUTH_OPS = new Set<number>([VixOp.GET_TOOLS_STATE, VixOp.WAIT_FOR_TOOLS, VixOp.CAPTURE_SCREEN]);
/** §6: Windows registry opcodes → 3003 on Linux. */
const REGISTRY_OPS = new Set([201, 202, 203, 204, 205, 206]);

export const guestOpsCounters = {
  requests: 0,
  /** Requests whose credential check failed (any reason). */
  authFailures: 0,
};

export class GuestOpsService {
  readonly processes: ProcessTable;
  readonly hgfs: HgfsServer;
  private readonly procCache = new Map<number, { uid: number; data: Buffer; expires: number }>();
  private nextKey = 1;
  private readonly now: () => number;

  constructor(private readonly opts: GuestOpsServiceOptions) {
    this.now = opts.now ?? Date.now;
    this.processes = new ProcessTable(this.now);
    this.hgfs = new HgfsServer(opts.runner, this.now);
  }

  tcloHandlers(): Record<string, (args: Buffer) => Promise<TcloResult>> {
    // Raw arguments: the VIX request's last byte is a NUL the dispatcher would otherwise trim.
    return { Vix_1_Relayed_Command: rawArgsHandler(async (args) => ({ ok: true, result: await this.handleRelayed(args) })) as (args: Buffer) => Promise<TcloResult> };
  }

  /** The reply text for one `Vix_1_Relayed_Command` (after "OK "). Never throws. */
  async handleRelayed(args: Buffer): Promise<Buffer> {
    guestOpsCounters.requests++;
    const { message } = splitRelayedCommand(args);
    const parsed = parseVixRequest(message);
    if (!parsed.ok) return formatVixReply(parsed.error, 0, '', parsed.binaryReply);
    const req = parsed.request;
    let out: OpOutcome;
    try {
      out = await this.dispatch(req.opCode, req.headerAndBody, req.credentialType, req.credential);
    } catch (e) {
      this.opts.log.warn(`guest operation ${req.opCode} failed: ${e instanceof Error ? e.message : String(e)}`);
      out = { error: VixError.FAIL };
    }
    let error = out.error;
    if (error === VixError.INVALID_LOGIN_CREDENTIALS && REWRITE_3050_OPS.has(req.opCode)) error = VixError.GUEST_USER_PERMISSIONS;
    const result = error === VixError.OK ? out.result ?? '' : out.errorResult ?? '';
    return formatVixReply(error, out.additionalError ?? 0, result, req.binaryReply);
  }

  private async dispatch(opCode: number, buf: Buffer, credType: number, credential: Buffer): Promise<OpOutcome> {
    if (this.opts.frozen?.()) return { error: VixError.OBJECT_IS_BUSY };
    const cfg = this.opts.config();
    if (opCode !== VixOp.GET_TOOLS_STATE) {
      if (cfg.disabled) return { error: VixError.OPERATION_DISABLED };
      const api = API_NAME_OF_OP[opCode];
      if (api !== undefined && cfg.apiDisabled(api)) return { error: VixError.OPERATION_DISABLED };
    }
    if (REGISTRY_OPS.has(opCode)) return { error: VixError.OP_NOT_SUPPORTED_ON_GUEST };
    const out = await this.runOpcode(opCode, buf, credType, credential);
    // §7.2: StartProgram's result is the pid, "-1" whenever its handler fails (as the reference).
    if (opCode === VixOp.START_PROGRAM && out.error !== VixError.OK) out.errorResult = '-1';
    return out;
  }

  /** Body, credentials, PAM, then the work (§5 last paragraph: body errors first). */
  private async runOpcode(opCode: number, buf: Buffer, credType: number, credential: Buffer): Promise<OpOutcome> {
    const cfg = this.opts.config();
    let body: ParsedBody;
    try {
      body = parseBody(opCode, buf);
    } catch (e) {
      if (e instanceof VixBodyError) return { error: e.vixError };
      throw e;
    }
    if (opCode === VixOp.GET_TOOLS_STATE) return { error: 0, result: toolsStateResult(this.opts.toolsState(), (a) => cfg.disabled || cfg.apiDisabled(a)) };
    if (NO_AUTH_OPS.has(opCode)) return { error: 0 };
    // §4.4, §7.16: Acquire/Release are Windows-only; answered before credentials.
    if (opCode === VixOp.ACQUIRE_CREDENTIALS || opCode === VixOp.RELEASE_CREDENTIALS) return { error: VixError.NOT_SUPPORTED };

    const cred = decodeCredential(credType, credential);
    if (!cred.ok) {
      guestOpsCounters.authFailures++;
      this.opts.log.info(`guest operation ${opCode} refused: ${cred.reason}`);
      return { error: cred.error };
    }
    const auth = await this.opts.auth.authenticate(cred.credential);
    if (!auth.ok) {
      guestOpsCounters.authFailures++;
      return { error: auth.error };
    }
    return this.run(auth.user, opCode, body);
  }

  /** The work of one authenticated operation. */
  private async run(user: AuthenticatedUser, opCode: number, body: ParsedBody): Promise<OpOutcome> {
    const worker = (r: Record<string, unknown> & { op: string }): Promise<OpOutcome> => this.opts.runner.runWorker(user, r);
    switch (body.op) {
      case 'none':
        return { error: 0 }; // ValidateCredentials: authenticating was the whole job
      case 'kill': {
        const pid = body.pid;
        // §7.4 / §14 duty 8: never the daemon itself; never 0/-1 (a process group or "all").
        if (pid === BigInt(this.opts.daemonPid ?? process.pid)) return { error: VixError.GUEST_USER_PERMISSIONS };
        if (pid <= 1n || pid > 0x7fffffffn) return { error: pid === 1n ? VixError.GUEST_USER_PERMISSIONS : VixError.NO_SUCH_PROCESS };
        return worker({ op: 'kill', pid: Number(pid) });
      }
      case 'listFiles':
      case 'mkdir':
      case 'move':
      case 'mktemp':
      case 'setattr':
      case 'transferFrom':
      case 'transferTo':
      case 'deleteFile':
      case 'deleteDir':
      case 'env':
        return worker({ ...body });
      case 'start':
        return this.startProgram(user, body);
      case 'listProcs':
        return this.listProcesses(user, body);
      case 'hgfs': {
        // §7.15 / §9: the data of file transfers, authenticated per packet (done above).
        const h = parseHgfsHeader(body.packet);
        if (h === null) return { error: VixError.INVALID_MESSAGE_BODY };
        return { error: 0, result: await this.hgfs.handle(user, h) };
      }
    }
  }

  private async startProgram(user: AuthenticatedUser, b: Extract<ParsedBody, { op: 'start' }>): Promise<OpOutcome> {
    const file = cleanProgramPath(b.program);
    if (file === '') return { error: VixError.INVALID_ARG };
    const args = b.args === undefined ? [] : splitArguments(b.args);
    if (args === null) return { error: VixError.INVALID_ARG };
    const r = await this.opts.runner.startProgram(user, { file, args, cwd: b.cwd, env: b.env });
    if (!r.ok || r.pid === undefined || r.exited === undefined) {
      this.opts.log.info(`StartProgram "${file}" for "${user.user}" failed at ${r.stage ?? '?'} (${r.errno ?? '?'})`);
      if (r.stage === 'exec') {
        if (r.errno === 'EACCES' || r.errno === 'EPERM') return { error: VixError.GUEST_USER_PERMISSIONS };
        if (r.errno === 'ENOENT' || r.errno === 'ENOTDIR') return { error: vixErrorOfErrno(r.errno) };
      }
      if (r.stage === 'cwd') return { error: r.errno === 'EACCES' ? VixError.FILE_ACCESS_ERROR : VixError.NOT_A_DIRECTORY };
      return { error: VixError.PROGRAM_NOT_STARTED };
    }
    const cmdName = file.slice(file.lastIndexOf('/') + 1);
    this.processes.add(
      {
        pid: r.pid,
        cmdName,
        fullCommandLine: b.args !== undefined ? `"${file}" ${b.args}` : `"${file}"`,
        user: user.user,
        startTime: Math.floor(this.now() / 1000),
      },
      r.exited,
    );
    this.opts.log.info(`StartProgram: pid ${r.pid} "${cmdName}" as "${user.user}"`);
    return { error: 0, result: String(r.pid) };
  }

  /** §7.3, including paging of large results. */
  private listProcesses(user: AuthenticatedUser, b: Extract<ParsedBody, { op: 'listProcs' }>): OpOutcome {
    for (const [k, v] of this.procCache) if (v.expires < this.now()) this.procCache.delete(k);
    if (b.key !== 0) {
      const c = this.procCache.get(b.key);
      if (c === undefined || c.uid !== user.uid || b.offset > c.data.length) return { error: VixError.FAIL };
      return { error: 0, result: this.chunk(c.data, b.offset, undefined) };
    }
    const want = b.pids?.map((p) => Number(p));
    const seen = new Set<number>();
    const entries: ProcessEntry[] = [];
    for (const p of this.processes.list()) {
      if (want && !want.includes(p.pid)) continue;
      seen.add(p.pid);
      entries.push({ cmd: p.cmdName, name: p.fullCommandLine, pid: p.pid, user: p.user, start: p.startTime, exitCode: p.exitCode, endTime: p.endTime });
    }
    for (const p of procProcesses()) {
      if (seen.has(p.pid) || (want && !want.includes(p.pid))) continue;
      entries.push(p);
    }
    const data = Buffer.from(entries.map(renderProcess).join(''), 'utf8');
    if (data.length <= VIX_MAX_RESULT_SIZE) return { error: 0, result: data };
    const key = this.nextKey++;
    this.procCache.set(key, { uid: user.uid, data, expires: this.now() + PROC_CACHE_MS });
    return { error: 0, result: this.chunk(data, 0, key) };
  }

  private chunk(data: Buffer, offset: number, key: number | undefined): Buffer {
    const head = (left: number): string =>
      key !== undefined ? `<key>${key}</key><totalSize>${data.length}</totalSize><leftToSend>${left}</leftToSend>` : `<leftToSend>${left}</leftToSend>`;
    const room = VIX_MAX_RESULT_SIZE - Buffer.byteLength(head(data.length)) - 1;
    const end = Math.min(data.length, offset + room);
    return Buffer.concat([Buffer.from(head(data.length - end), 'latin1'), data.subarray(offset, end)]);
  }
}
