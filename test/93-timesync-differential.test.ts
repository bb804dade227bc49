/**
 * Layer 9: time sync against Debian's open-vm-tools 12.2 `vmtoolsd`, both in
 * the sandbox of test/helpers/sandbox.ts, each against its own simulator
 * whose host clock is offset from this machine's.
 *
 * Neither agent can change this machine's clock: the sandbox drops
 * CAP_SYS_TIME, so Debian's settimeofday/adjtimex fail (EPERM), and ours runs
 * in simulator mode, which forces its simulated clock. What is compared is
 * what the host sees: TCLO replies, and the time backdoor calls each command
 * causes (GETTIMEFULL_WITH_LAG / GETTIMEFULL / GETTIME, STOPCATCHUP). Where
 * Debian's step fails only for lack of CAP_SYS_TIME, the difference is
 * expected and listed with that reason.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startSimulator } from '../src/sim/harness';
import { sleep } from './helpers/native-env';
import { Agent, requireReference, StartedAgent, startAgent } from './helpers/reference-agent';

interface Step {
  /** Host clock offset (ms) set before the command. */
  offsetMs?: number;
  /** Backdoor commands made unimplemented before the command. */
  disable?: number[];
  tclo: string;
}

interface Observed {
  reply: string;
  /** Time backdoor calls caused by the command. */
  calls: Record<string, number>;
}

const TIME_COMMANDS = ['GETTIMEFULL_WITH_LAG', 'GETTIMEFULL', 'GETTIME'];

/** Starts the agent, waits for its TCLO poll, runs the steps; the sandbox and simulator are always torn down. */
async function run(agent: Agent, steps: Step[], work: string): Promise<{ observed: Observed[]; output: string }> {
  const dir = fs.mkdtempSync(path.join(work, `${agent}-`));
  const conf = path.join(dir, 'tools.conf');
  fs.writeFileSync(conf, '[logging]\nlog = true\nvmsvc.level = debug\nvmsvc.handler = std\n');
  const sim = await startSimulator({ trapSocket: path.join(dir, 'trap.sock') });
  let agentRun: StartedAgent | null = null;
  try {
    agentRun = startAgent(agent, { sim, conf, stubsLog: path.join(dir, 'stubs.log') });
    await agentRun.process.sandbox.ready;
    await agentRun.waitForTclo(15000, 50);
    await sim.client.sendTclo('reset', { timeoutMs: 5000 });
    await sleep(300);
    const observed: Observed[] = [];
    for (const s of steps) {
      await sim.client.setClockOffset({ ms: s.offsetMs ?? 0 });
      for (const cmd of [55, 46, 23]) await sim.client.disableCommand(cmd, (s.disable ?? []).includes(cmd));
      await sim.client.resetCounters();
      const reply = (await sim.client.sendTclo(s.tclo, { timeoutMs: 5000 })).toString('latin1');
      await sleep(200);
      const c = await sim.client.getCounters();
      const calls: Record<string, number> = {};
      for (const k of TIME_COMMANDS) if (c.commands[k]) calls[k] = c.commands[k]!;
      if (c.events.stopCatchup) calls.STOPCATCHUP = c.events.stopCatchup;
      observed.push({ reply, calls });
    }
    return { observed, output: agentRun.output() };
  } catch (e) {
    (e as Error).message += `\n--- ${agent} output (tail) ---\n${(agentRun?.output() ?? '').slice(-3000)}`;
    throw e;
  } finally {
    if (agentRun) await agentRun.process.sandbox.stop(3000);
    await sim.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The scenario: one agent process, these commands in order. `expected`
 * pins Debian's replies; `oursDiffers` names the rows where ours must differ
 * and why.
 */
const STEPS: Array<Step & { theirs: string; ours?: string; why?: string }> = [
  { tclo: 'Time_Synchronize', theirs: 'ERROR Unable to tokenize TimeSync RPC data' },
  { tclo: 'Time_Synchronize 0', offsetMs: 50, theirs: 'OK ' },
  { tclo: 'Time_Synchronize 0', offsetMs: -5000, theirs: 'OK ' },
  { tclo: 'Time_Synchronize 0', offsetMs: 50, disable: [55], theirs: 'OK ' },
  { tclo: 'Time_Synchronize 0', offsetMs: 50, disable: [55, 46], theirs: 'OK ' },
  { tclo: 'Time_Synchronize 0', disable: [55, 46, 23], theirs: 'ERROR Unable to sync time' },
  { tclo: 'Set_Option time.synchronize.tools.slewCorrection 1', theirs: 'OK ' },
  { tclo: 'Set_Option synctime 1', offsetMs: 50, theirs: 'OK ' },
  { tclo: 'Set_Option synctime 0', theirs: 'OK ' },
  // Last: from here on ours has stepped its clock and Debian has not.
  {
    tclo: 'Time_Synchronize 0',
    offsetMs: 5000,
    theirs: 'ERROR Unable to sync time',
    ours: 'OK ',
    why: 'the step is needed; Debian\'s settimeofday fails with EPERM (CAP_SYS_TIME dropped in the sandbox), ours steps its simulated clock and sends STOPCATCHUP',
  },
  {
    tclo: 'Time_Synchronize 1',
    offsetMs: -5000,
    theirs: 'ERROR Unable to sync time',
    ours: 'OK ',
    why: 'backward step allowed: same EPERM as above for Debian',
  },
];

describe('time sync differential: Debian open-vm-tools 12.2 vs ours, in the sandbox', function () {
  this.timeout(120000);
  let work: string;
  let theirs: Observed[];
  let ours: Observed[];

  before(function () {
    requireReference();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'timesync-diff-'));
  });
  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("Debian's vmtoolsd: the pinned replies", async () => {
    theirs = (await run('theirs', STEPS, work)).observed;
    assert.deepEqual(theirs.map((o) => o.reply), STEPS.map((s) => s.theirs), JSON.stringify(theirs, null, 1));
  });

  it('ours: the same replies except where Debian lacks CAP_SYS_TIME', async () => {
    ours = (await run('ours', STEPS, work)).observed;
    assert.deepEqual(ours.map((o) => o.reply), STEPS.map((s) => s.ours ?? s.theirs), JSON.stringify(ours, null, 1));
  });

  it('the same time backdoor calls per command (fallback order, sample count), STOPCATCHUP only after a real step', () => {
    assert.ok(theirs && ours, 'both runs completed');
    const rows = STEPS.map((s, i) => ({ step: `${s.tclo} (offset ${s.offsetMs ?? 0} ms${s.disable ? `, no ${s.disable.join('/')}` : ''})`, theirs: theirs[i]!.calls, ours: ours[i]!.calls }));
    process.stdout.write(rows.map((r) => `      | ${r.step}: theirs ${JSON.stringify(r.theirs)} ours ${JSON.stringify(r.ours)}`).join('\n') + '\n');
    for (const [i, r] of rows.entries()) {
      const t = { ...r.theirs };
      const o = { ...r.ours };
      if (STEPS[i]!.ours !== undefined) {
        // Debian failed at settimeofday, before STOPCATCHUP; ours stepped and sent it.
        assert.equal(t.STOPCATCHUP, undefined, r.step);
        assert.equal(o.STOPCATCHUP, 1, r.step);
        delete o.STOPCATCHUP;
      }
      // Each host read costs the same commands; the number of samples (2 reads + 1 per retry) may
      // differ by a retry when a sample straddles more than 2 ms, so compare the per-read pattern.
      const reads = (x: Record<string, number>) => x.GETTIME ?? x.GETTIMEFULL ?? x.GETTIMEFULL_WITH_LAG ?? 0;
      const pattern = (x: Record<string, number>) => TIME_COMMANDS.map((k) => (x[k] ? Math.round(x[k]! / reads(x)) : 0));
      assert.deepEqual(pattern(o), pattern(t), `${r.step}: ${JSON.stringify(r)}`);
      assert.ok(Math.abs(reads(o) - reads(t)) <= 3, `${r.step}: ${JSON.stringify(r)}`);
    }
  });
});
