/** The async operations the vmbackup state machine polls (quiesce.md §3.1). */
export type OpStatus = 'pending' | 'finished' | 'error' | 'canceled';

export interface AsyncOp {
  /** The debugging label in `'<opName>' operation failed.` (§2.3). */
  readonly name: string;
  query(): OpStatus;
  cancel(): void;
  /** A detail appended to the failure text, if any. */
  detail?: string;
  /** A script failure's own req.error 2 text (§2.3), sent before the code-5 one. */
  scriptError?: string;
}
