/**
 * The simulator's internal event bus: what happened on the simulated host,
 * for observers that are not part of the protocol (the auto-reset session
 * driver, the --verbose narrator, tests). Emission is synchronous, so an
 * observer sees events in wire order and may queue a TCLO command before the
 * guest's next RECVSIZE, as a VMX would.
 *
 * A throwing listener is isolated: events are emitted on the trap path, and a
 * bug in an observer must not turn into a wrong backdoor answer.
 */
import type { GuestInfoUpdate } from './guestinfo-view';
import type { RpcLogEntry } from './rpclog';
import type { TcloEndpoint } from './tclo';

export interface SessionEvent {
  /** "backdoor:3" / "vsock:1". */
  endpoint: string;
  state: 'started' | 'running' | 'failed' | 'closed';
  detail?: string;
}

export interface SimEventMap {
  /** A guest TCLO channel appeared: first send on a backdoor TCLO channel, or a vsock TCLO connection. */
  'tclo.open': TcloEndpoint;
  /** A guest TCLO channel went away (guest CLOSE, host close/reset, socket end). */
  'tclo.close': { endpoint: TcloEndpoint; reason: string };
  /** A TCLO command was handed to the guest (entry.reply still null). */
  'tclo.command': RpcLogEntry;
  /** The guest answered a TCLO command (entry.request null for an unsolicited send). */
  'tclo.reply': RpcLogEntry;
  /** One complete RPCI request and the host's reply. */
  rpci: RpcLogEntry;
  /** Something the guest reported with SetGuestInfo / SetGuestDiskInfo (core-services.md §8). */
  guestinfo: GuestInfoUpdate;
  /** Progress of an auto-reset session (session.ts). */
  session: SessionEvent;
}

export type SimEventName = keyof SimEventMap;
type Listener<K extends SimEventName> = (e: SimEventMap[K]) => void;

export class SimEvents {
  private readonly listeners: { [K in SimEventName]?: Array<Listener<K>> } = {};
  /** Listener exceptions swallowed so far (see the file comment). */
  listenerErrors = 0;

  /** Subscribes; returns the unsubscribe function. */
  on<K extends SimEventName>(name: K, fn: Listener<K>): () => void {
    const list = (this.listeners[name] ??= []) as Array<Listener<K>>;
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  emit<K extends SimEventName>(name: K, e: SimEventMap[K]): void {
    const list = this.listeners[name] as Array<Listener<K>> | undefined;
    if (!list || list.length === 0) return;
    for (const fn of [...list]) {
      try {
        fn(e);
      } catch {
        this.listenerErrors++;
      }
    }
  }
}

/** "backdoor:3" — how events and session lines name an endpoint. */
export function endpointLabel(ep: Pick<TcloEndpoint, 'transport' | 'id'>): string {
  return `${ep.transport}:${ep.id}`;
}
