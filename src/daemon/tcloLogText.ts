/**
 * How a TCLO command appears in the debug log. Guest-operation requests carry
 * credentials (guest-ops.md §3), so only their name and size are shown; the
 * rest is cut at 80 characters.
 */
export function redactTcloForLog(cmd: Buffer): string {
  const s = cmd.toString('latin1');
  if (s.startsWith('Vix_')) return `${s.split(/[ \0]/, 1)[0]} <${cmd.length} bytes, not logged: may carry credentials>`;
  return s.slice(0, 80);
}
