/**
 * Where a resuming subscriber starts. A cursor is (since, epoch): the last seq
 * it saw, in the log identified by epoch. The window is what the log still holds.
 */

export interface LogWindow {
  epoch: string;
  head: number;
  /** Lowest seq still retained; head + 1 when nothing is. */
  firstRetained: number;
}

export interface Cursor {
  since?: number;
  epoch?: string;
}

export type ResumePlan =
  | { kind: 'live' }
  | { kind: 'replay'; from: number; truncated?: { from_seq: number; to_seq: number } }
  | { kind: 'invalid' };

/**
 * - no `since`: live frames only;
 * - another epoch: the cursor names another log — everything this log no longer holds is reported lost;
 * - `since` beyond the head of this epoch: invalid;
 * - `since` older than the window: the exact lost range, then the window;
 * - otherwise: every frame after `since`.
 */
export function planResume(cursor: Cursor, w: LogWindow): ResumePlan {
  if (cursor.since === undefined) return { kind: 'live' };
  if (cursor.epoch !== undefined && cursor.epoch !== w.epoch) {
    return { kind: 'replay', from: w.firstRetained, truncated: { from_seq: 1, to_seq: w.firstRetained - 1 } };
  }
  if (cursor.since > w.head) return { kind: 'invalid' };
  if (cursor.since + 1 < w.firstRetained) {
    return { kind: 'replay', from: w.firstRetained, truncated: { from_seq: cursor.since + 1, to_seq: w.firstRetained - 1 } };
  }
  return { kind: 'replay', from: cursor.since + 1 };
}
