/**
 * What was said lately, for someone arriving: the last N completed messages a
 * member hears, cut by the same utterance rule as `ams_recv` (§4.4) from the
 * end of the kept log. Read-only: no cursor moves. Shared by `ams_join`'s
 * recap, the link's markdown and JSON answers, and `/transcript?last=N`.
 *
 * Bounded twice: it scans at most `RECAP_SCAN_FRAMES` of the newest frames
 * (a message that began before them is told from where they start), and it
 * keeps the newest messages whose text fits in `bytes`.
 */
import type { LoggedFrame } from '../protocol/frames';
import { utteranceGapOf } from '../protocol/records';
import { passesJson } from '../protocol/subscription';
import { readUtterances, type MessageEntry } from '../protocol/utterances';
import { Membership, type Member } from './audience';
import type { Conversation } from './conversation';
import { utf8Length } from './wire';

/** The newest frames a recap looks through. */
export const RECAP_SCAN_FRAMES = 1_000;

export interface Recap {
  messages: MessageEntry[];
  /** Why there is less than asked for, when the log says why (history off). */
  note?: string;
}

export const HISTORY_OFF_NOTE = 'This conversation keeps no history, so there is nothing to recap; you hear what is said from now on.';

/** The last `n` completed messages `listener` hears, newest last, within `bytes` of text (the newest always fits). */
export function recapFor(conv: Conversation, listener: Pick<Member, 'accountId' | 'selfSubscribe' | 'streams'>, n: number, bytes: number, now: number): Recap {
  const r = conv.record!;
  if (r.history.max_frames === 0) return { messages: [], note: HISTORY_OFF_NOTE };
  if (n <= 0) return { messages: [] };
  const head = conv.head.seq;
  const from = Math.max(conv.window(now).firstRetained, head - RECAP_SCAN_FRAMES + 1);
  const frames: LoggedFrame[] = [];
  for (const row of conv.rows(from, RECAP_SCAN_FRAMES)) {
    if (Membership.hears(listener, row.owner) && passesJson(listener.streams ?? null, row.frame)) frames.push(JSON.parse(row.frame) as LoggedFrame);
  }
  const read = readUtterances(frames, { since: from - 1, gapMs: utteranceGapOf(r), readThrough: head, now });
  const complete = read.entries.filter((e): e is MessageEntry => e.kind === 'message' && e.complete && e.text !== '');
  const out: MessageEntry[] = [];
  let used = 0;
  for (let i = complete.length - 1; i >= 0 && out.length < n; i--) {
    const size = utf8Length(complete[i]!.text);
    if (out.length > 0 && used + size > bytes) break;
    out.unshift(complete[i]!);
    used += size;
  }
  return { messages: out };
}
