/**
 * `--verbose`: one short human-readable line per simulator event, for a
 * newcomer watching `npm start` (the RPC log over the control socket stays
 * the exact record). Arrows point the way the message travels:
 *
 *   host → reset                                   TCLO command to the guest
 *   guest ← OK ATR toolbox                         the guest's answer to it
 *   guest → info-set guestinfo.vmtools.versionString 13.1.0
 *   guest → tools.capability.foo 1  ⇒ 0 Unknown command   (reply shown unless plain "1 ")
 *   guest IP 10.0.0.5                              what the host derived (guest-info decoding)
 *
 * Idle TCLO polls are not events, so an idle guest prints nothing.
 */
import { GUEST_DISK_INFO_COMMAND, GUEST_INFO_COMMAND, InfoType } from '../services/guestinfo/constants';
import { parseSetGuestInfo } from '../services/guestinfo/messages';
import { SimEvents, endpointLabel } from './events';
import type { GuestInfoUpdate } from './guestinfo-view';

const DISK_PREFIX = Buffer.from(`${GUEST_DISK_INFO_COMMAND} `, 'latin1');

/** Longest rendering of one message before it is cut with "…". */
export const MAX_TEXT = 120;

const BINARY_TYPES: ReadonlySet<number> = new Set([
  InfoType.IPADDRESS,
  InfoType.DISK_FREE_SPACE,
  InfoType.MEMORY,
  InfoType.IPADDRESS_V2,
  InfoType.IPADDRESS_V3,
  InfoType.OS_DETAILED,
]);

function cut(s: string, max = MAX_TEXT): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Trailing NULs dropped (vmtoolsd appends one, channel.md §4.1); control bytes escaped to stay on one line. */
function text(b: Buffer): string {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return b
    .subarray(0, end)
    .toString('utf8')
    .replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** One message as a line: binary guest-info bodies as their size, everything else as text. */
export function describeMessage(b: Buffer | null): string {
  if (b === null) return '(none)';
  const sgi = b.length > GUEST_INFO_COMMAND.length && b[0] === 0x53 /* S */ ? parseSetGuestInfo(b) : undefined;
  if (sgi && BINARY_TYPES.has(sgi.type)) return `${GUEST_INFO_COMMAND}  ${sgi.type} <${sgi.body.length}-byte body>`;
  // The disk JSON spans lines and is mostly base64; the decoded "guest disks" line says what it means.
  if (b.subarray(0, DISK_PREFIX.length).equals(DISK_PREFIX)) return `${GUEST_DISK_INFO_COMMAND} <${b.length - DISK_PREFIX.length}-byte JSON>`;
  return cut(text(b));
}

/** A line for a guest-info update worth telling, or null (periodic values that merely changed). */
export function describeGuestInfo(u: GuestInfoUpdate): string | null {
  if (u.kind === 'ip') return `guest IP ${u.ip ?? 'none'}`;
  if (u.kind === 'error') {
    const what = u.error.type === null ? u.error.command : `${u.error.command} type ${u.error.type}`;
    return cut(`guest info not decoded (${what}): ${u.error.reason}`);
  }
  if (!u.changed) return null;
  const i = u.info;
  switch (i.field) {
    case 'hostName':
      return `guest hostname ${i.value}`;
    case 'osName':
      return `guest OS ${i.value}`;
    case 'osFullName':
      return cut(`guest OS full name ${i.value}`);
    case 'osDetailed':
      return cut(`guest OS ${i.value.shortName} (${i.value.fields.prettyName ?? i.value.fullName})`);
    case 'toolsBuild':
      return `guest tools ${i.value}`;
    case 'nicInfo': {
      const nics = i.value.nics.map((n) => `${n.mac} ${n.ips.map((ip) => `${ip.address}/${ip.prefixLength}`).join(' ') || '-'}`);
      return cut(`guest NICs ${nics.length === 0 ? 'none' : nics.join(', ')}`);
    }
    case 'disks':
      return cut(`guest disks ${i.value.map((d) => d.mountPoint).join(' ') || 'none'}`);
    case 'uptime':
    case 'stats':
      return null; // sent every 30 s / 20 s (§8.1): the request line already shows them
  }
}

/** Writes one line per event to `write` until the returned function is called. */
export function attachNarrator(events: SimEvents, write: (line: string) => void): () => void {
  const offs = [
    events.on('tclo.open', (ep) => write(`guest TCLO channel ${endpointLabel(ep)} open${ep.pid !== null ? ` (pid ${ep.pid})` : ''}`)),
    events.on('tclo.close', ({ endpoint, reason }) => write(`guest TCLO channel ${endpointLabel(endpoint)} gone (${reason})`)),
    events.on('tclo.command', (e) => write(`host → ${describeMessage(e.request)}`)),
    events.on('tclo.reply', (e) => write(`guest ← ${describeMessage(e.reply)}${e.request === null ? ' (unsolicited)' : ''}`)),
    events.on('rpci', (e) => {
      const reply = e.reply && !(e.reply.length === 2 && e.reply.toString('latin1') === '1 ') ? `  ⇒ ${describeMessage(e.reply)}` : '';
      write(`guest → ${describeMessage(e.request)}${reply}`);
    }),
    events.on('guestinfo', (u) => {
      const line = describeGuestInfo(u);
      if (line !== null) write(line);
    }),
    events.on('session', (s) => {
      if (s.state === 'failed') write(cut(`host session ${s.endpoint} failed: ${s.detail ?? ''}`));
    }),
  ];
  return () => {
    for (const off of offs) off();
  };
}
