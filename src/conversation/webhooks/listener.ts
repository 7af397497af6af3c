/**
 * One webhook as the fan-out sees it: a `Connection` that holds the
 * webhook's own stream under the webhook's own identity (its id stands where
 * an account id would), so self-exclusion keeps exactly its own stream from
 * it and it hears everyone else — the registrant's other streams included.
 *
 * What it hears is cut into utterances by the shared reader
 * (protocol/utterances.ts): frames of open utterances are held, and each
 * completed utterance (and each join or leave) is told once to the hub,
 * which decides whether the webhook wants it. An utterance closed by the
 * quiet gap is read when the hub's timer says so (`settle`). Its state is
 * memory only: after a restart it starts at the head (decision 0137).
 */
import type { CloseReason } from '../../protocol/close-codes';
import type { LoggedFrame } from '../../protocol/frames';
import { LIMITS } from '../../protocol/limits';
import { filterOf } from '../../protocol/subscription';
import { readUtterances, type Entry, type UtteranceCarry } from '../../protocol/utterances';
import { Wire, type Member } from '../audience';
import type { Connection } from '../connection';
import type { WebhookRow } from './rpc';

export interface ListenerEvents {
  /** A frame it hears was logged (before any reading). */
  heard(frame: LoggedFrame): void;
  /** An entry is complete (or cut at the held bound); `ts` is its last frame's time. */
  told(listener: WebhookListener, entry: Entry, ts: string): void;
  /** An utterance is held open: read again at `at` (ms) if nothing else closes it. */
  settleBy(at: number): void;
}

/** Rotation closes connections of older link generations; a webhook was admitted by no link and stays. */
const NEVER_REVOKED = Number.MAX_SAFE_INTEGER;

export class WebhookListener implements Connection {
  readonly member: Member;
  readonly receipts = false;
  readonly scope = 'write' as const;
  readonly generation = NEVER_REVOKED;
  private frames: LoggedFrame[] = [];
  private since: number;
  private carry: UtteranceCarry = {};

  constructor(readonly row: WebhookRow, head: number, private readonly gapMs: number, private readonly events: ListenerEvents) {
    this.member = { sink: this, accountId: row.webhook_id, selfSubscribe: false, wire: Wire.Json, streams: filterOf(row.subscribe) };
    this.since = head;
  }

  get accountId(): string {
    return this.row.webhook_id;
  }

  get streamId(): string {
    return this.row.stream_id;
  }

  send(_text: string, frame?: LoggedFrame): void {
    // Only logged frames matter (`joined` and replays carry none: a webhook starts live).
    if (!frame || frame.seq <= this.since) return;
    this.events.heard(frame);
    this.frames.push(frame);
    if (frame.type !== 'token' || frame.end === true) this.read();
    else if (this.frames.length > LIMITS.webhookHeldFrames) this.read(undefined, true);
    else this.events.settleBy(Date.parse(frame.ts) + this.gapMs + 1);
  }

  /** Reads what is held; `now` closes utterances quiet for the gap, `flush` tells the open ones as they stand. */
  read(now?: number, flush = false): void {
    if (this.frames.length === 0) return;
    const r = readUtterances(this.frames, { since: this.since, gapMs: this.gapMs, carry: this.carry, ...(now !== undefined ? { now } : {}), flush });
    const tsOf = new Map(this.frames.map((f) => [f.seq, f.ts]));
    this.since = r.next_since;
    this.carry = r.carry;
    this.frames = this.frames.filter((f) => f.seq > r.next_since);
    for (const e of r.entries) this.events.told(this, e, tsOf.get(e.kind === 'message' ? e.last_seq : e.seq) ?? new Date(now ?? Date.now()).toISOString());
    if (r.settles_at !== undefined) this.events.settleBy(r.settles_at);
  }

  /** The conversation closed it (deletion): its hub forgets it there. */
  close(_reason: CloseReason): void {
    this.frames = [];
  }
}
