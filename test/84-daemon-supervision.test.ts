/**
 * Layer 8: channel supervision with fake transports (channel.md §5.4): a
 * failing channel is restarted at the restart delay, the daemon gives up
 * after the restart limit, and a processed `reset` clears the count.
 */
import assert from 'node:assert/strict';
import { ChannelError } from '../src/native';
import { RpcOut } from '../src/rpc/rpcout';
import { Daemon } from '../src/daemon/daemon';
import { FakeRpci, FakeTclo } from '../src/transport/fake';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCLO transport whose polls (and, when broken, starts) fail. */
class BrokenTclo extends FakeTclo {
  startFails = true;
  starts = 0;

  override start(): void {
    this.starts++;
    if (this.startFails) throw new ChannelError('host gone', 'HOST_REFUSED');
    super.start();
  }

  override poll(reply: Buffer = Buffer.alloc(0)): Buffer | null {
    if (this.startFails) throw new ChannelError('host gone', 'HOST_REFUSED');
    return super.poll(reply);
  }
}

function daemonWith(tclo: FakeTclo, onGiveUp: () => void): Daemon {
  return new Daemon({
    rpc: new RpcOut({ fallback: new FakeRpci() }),
    tclo,
    log: quiet,
    services: { hooks: [], handlers: {} },
    restartDelayMs: 5,
    maxRestarts: 3,
    onGiveUp,
  });
}

describe('daemon channel supervision (fake transports)', () => {
  it('restarts a failing channel at the restart delay and gives up after the limit', async () => {
    const tclo = new BrokenTclo();
    let gaveUp = 0;
    const d = daemonWith(tclo, () => gaveUp++);
    d.start();
    await sleep(200);
    assert.equal(gaveUp, 1);
    assert.equal(tclo.starts, 3, 'three restart attempts (the first failure was a poll), then no more');
    d.stop();
  });

  it('a processed reset clears the restart count', async () => {
    const tclo = new BrokenTclo();
    tclo.startFails = false;
    let gaveUp = 0;
    const d = daemonWith(tclo, () => gaveUp++);
    d.start();
    const until = async (cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 400 && !cond(); i++) await sleep(5);
      assert.ok(cond(), 'condition reached');
    };
    for (let round = 0; round < 3; round++) {
      // Two failed restarts (under the limit of 3), then the host is back and resets.
      const starts = tclo.starts;
      tclo.startFails = true;
      await until(() => tclo.starts >= starts + 2);
      tclo.startFails = false;
      const polls = tclo.polls;
      await until(() => tclo.polls > polls);
      const replies = tclo.replies.length;
      tclo.queue('reset');
      await until(() => tclo.replies.length > replies);
      assert.equal(tclo.replies.at(-1)?.toString(), 'OK ATR toolbox');
      await sleep(10); // the reset hook runs after the reply is framed
    }
    assert.equal(gaveUp, 0, 'six failed restarts in all, never more than two between resets');
    d.stop();
  });
});
