/**
 * MCP members speak and listen in utterances (decisions/0090, 0095):
 *
 * - `say`: `ams_send` sends a whole utterance. When the sender's stream left
 *   one open (its last token has no `end` and came within the quiet gap), an
 *   empty `end: true` token is logged first, so the log itself says where the
 *   open one ended — unless that open token is the sender's own `end: false`
 *   piece, which this send continues.
 * - `MessageReader`: one `ams_recv {format: "messages"}` call. It reads the
 *   frames the member hears after its cursor (each frame once, however often
 *   the call wakes), cuts them with `readUtterances`, and says whether to
 *   return now or when to look again.
 */
import type { LoggedFrame } from '../../protocol/frames';
import { utteranceGapOf, type StreamRecord } from '../../protocol/records';
import { readUtterances, type UtteranceCarry } from '../../protocol/utterances';
import type { Conversation } from '../conversation';
import type { EmitInput, EmitOutcome } from '../join';
import { readHeard } from './long-poll';
import type { McpConnection } from './connection';
import type { ReceivedMessages, Truncation } from './rpc';

/** Logs one `ams_send` token; `continuing` is the seq of the sender's own open piece, if any. */
export function say(conv: Conversation, stream: StreamRecord, input: EmitInput, continuing: number | undefined, now: number): EmitOutcome {
  const open = conv.openUtterance(stream.stream_id);
  const closeFirst = open !== undefined && open.seq !== continuing && now - open.ts <= utteranceGapOf(conv.record!)
    // A repeated idempotency key logs nothing, so it ends nothing either.
    && (input.id === undefined || !conv.hasClientId(stream.stream_id, input.id));
  if (!closeFirst) return conv.emit(stream, input);
  // All or nothing: rate, ref and both tokens are checked before either is logged.
  const out = conv.emitBatch(stream, [{ data: '', end: true }, input]);
  return Array.isArray(out) ? out[1]! : out;
}

export type Step = { done: ReceivedMessages & { carry: UtteranceCarry } } | { wakeAt?: number };

export class MessageReader {
  private readonly frames: LoggedFrame[] = [];
  private lastRead: number;
  private truncated: Truncation | undefined;
  /** Per stream, the ts (ms) of its last token read: a later one past the gap closes an utterance. */
  private readonly lastTs = new Map<string, number>();
  /** Something arrived that may close an utterance: cut again (otherwise a token only extends one). */
  private changed = true;
  private settlesAt: number | undefined;
  private readonly gapMs: number;

  /** Reads after `since` with what the member was already told beyond it (`carry`), at most `cap` frames. */
  constructor(private readonly conv: Conversation, private readonly conn: McpConnection, private readonly since: number,
    private readonly carry: UtteranceCarry, private readonly cap: number) {
    this.lastRead = since;
    this.gapMs = utteranceGapOf(conv.record!);
  }

  /**
   * Reads what arrived and cuts. Done when there is an entry (a finished
   * utterance or an event), a truncation, or — `final` (the wait ran out),
   * the frame cap reached, the head not reached — open utterances flushed as
   * they stand. Otherwise `wakeAt`: when the earliest open one settles by the gap.
   */
  step(now: number, final: boolean): Step {
    let head = this.conv.head.seq;
    if (this.frames.length < this.cap) {
      const got = readHeard(this.conv, this.conn, this.lastRead, this.cap - this.frames.length);
      head = got.head_seq;
      if (got.truncated && !this.truncated) {
        this.truncated = got.truncated;
        this.changed = true;
      }
      for (const f of got.frames as unknown as LoggedFrame[]) this.add(f);
      this.lastRead = Math.max(this.lastRead, got.next_since);
    }
    const atHead = this.lastRead >= head;
    const flush = final || !atHead || this.frames.length >= this.cap;
    if (!this.changed && !flush && (this.settlesAt === undefined || now < this.settlesAt)) return { wakeAt: this.settlesAt };
    this.changed = false;
    const r = readUtterances(this.frames, {
      since: this.since, gapMs: this.gapMs, readThrough: this.lastRead, carry: this.carry, flush,
      // The clock closes a quiet utterance only when nothing unread could continue it.
      ...(atHead ? { now } : {}),
    });
    this.settlesAt = r.settles_at;
    if (r.entries.length === 0 && !flush && !this.truncated) return { wakeAt: r.settles_at };
    return {
      done: {
        entries: r.entries, next_since: r.next_since, head_seq: head, carry: r.carry,
        ...(r.held > 0 ? { held: r.held } : {}), ...(this.truncated ? { truncated: this.truncated } : {}),
      },
    };
  }

  private add(f: LoggedFrame): void {
    this.frames.push(f);
    if (f.type !== 'token' || f.end === true) {
      this.changed = true;
      return;
    }
    const ts = Date.parse(f.ts);
    const before = this.lastTs.get(f.stream_id);
    // A stream's first token opens an utterance (it needs a settle time); a token past the gap closes one.
    if (before === undefined || ts - before > this.gapMs) this.changed = true;
    this.lastTs.set(f.stream_id, ts);
  }
}
