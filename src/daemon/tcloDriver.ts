/**
 * What the daemon runs to serve host→guest TCLO commands. Two drivers share
 * this shape:
 *
 *  - BackdoorTcloLoop (./tcloLoop.ts): the guest polls the backdoor; each
 *    reply travels with the next poll (channel.md §5.1);
 *  - VsockTcloSession (./vsockTcloSession.ts): the host pushes commands over
 *    vsock, each reply is written right after its dispatch, and a PING goes
 *    out every second after the first reply (§6.4).
 *
 * The daemon picks one at every (re)start: vsock first, the backdoor when
 * the vsock connection cannot be established (§6.5).
 */
export type TcloDriverKind = 'backdoor' | 'vsock';

/** What a driver needs from its owner. */
export interface TcloDriverHooks {
  /** Returns the framed reply ("OK …"/"ERROR …") to one host command. */
  dispatch: (command: Buffer) => Promise<Buffer>;
  /** The channel failed after it was established: the driver has stopped; the owner restarts it (§5.4). */
  onError: (e: unknown) => void;
  /** Each completed exchange (command, reply, dispatch time), for logs and liveness. */
  onCommand?: (command: Buffer, reply: Buffer, ms: number) => void;
  now?: () => number;
}

export interface TcloDriver {
  readonly kind: TcloDriverKind;
  /**
   * Starts serving. Throws (ChannelError) only when the channel cannot be
   * established -- for vsock, the owner's cue to fall back to the backdoor.
   */
  start(): void;
  /** Stops serving and closes the channel; a reply not yet sent is sent first (§5.4). */
  stop(): void;
  /** Stops and closes without sending anything (after a channel error). */
  abort(): void;
  readonly isRunning: boolean;
  /**
   * When the driver last showed it was making progress (ms, the `now`
   * clock): the watchdog's liveness signal. A stuck dispatch stops it from
   * advancing on both transports.
   */
  readonly lastActivityAt: number;
}
