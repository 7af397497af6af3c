/**
 * `ams_recv`'s side of a membership: what it may read (`readHeard`: the
 * frames after a cursor that this membership hears, by the same rule as the
 * wire, `Membership.hears`) and how it waits for more (`LongPolls`: a waiting
 * call is woken only by a frame its own membership hears, or by that
 * membership's end — never by frames meant for others).
 */
import type { JsonObject } from '../../protocol/frames';
import { Membership } from '../audience';
import type { Conversation } from '../conversation';
import type { McpConnection } from './connection';
import type { Outcome, Received, Truncation } from './rpc';
import { planResume } from '../resume';
import { utf8Length } from '../wire';
import { LIMITS } from '../../protocol/limits';
import { passes, passesJson } from '../../protocol/subscription';

/** Log rows read per page, and at most per call, while looking for audible frames. */
const PAGE = 256;
const SCAN_CAP = 4_096;

export class LongPolls {
  private readonly waiting = new Map<McpConnection, Set<() => void>>();
  private count = 0;

  /** Calls waiting now. */
  get size(): number {
    return this.count;
  }

  /** Resolves after `ms`, or sooner when `conn` hears a frame or ends. */
  wait(conn: McpConnection, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiting.get(conn);
      if (!set) this.waiting.set(conn, set = new Set());
      const waiters = set;
      this.count++;
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.waiting.get(conn) === waiters) this.waiting.delete(conn);
        this.count--;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      waiters.add(done);
    });
  }

  /**
   * Runs one waiting call: `step` at once, then again after each frame `conn`
   * hears or at the `wakeAt` it asked for, and a last time (`final`) at the
   * deadline — until it gives a value, or `gone` (checked after every wait)
   * says the call cannot go on.
   */
  async until<T>(conn: McpConnection, deadline: number, clock: () => number, step: (now: number, final: boolean) => { value: T } | { wakeAt?: number },
    gone: () => Outcome<never> | undefined): Promise<Outcome<T>> {
    for (;;) {
      const now = clock();
      const s = step(now, now >= deadline);
      if ('value' in s) return { ok: true, value: s.value };
      await this.wait(conn, Math.min(deadline, s.wakeAt ?? deadline) - now);
      const why = gone();
      if (why) return why;
    }
  }

  /** Wakes the calls waiting on `conn`. */
  wake(conn: McpConnection): void {
    const set = this.waiting.get(conn);
    if (set) for (const w of [...set]) w();
  }
}

/** Up to `max` frames after `from` that `conn` hears, from its buffer (history off) or the log. */
export function readHeard(conv: Conversation, conn: McpConnection, from: number, max: number): Received {
  const w = conv.window();
  const frames: JsonObject[] = [];
  let truncated: Truncation | undefined;
  let last = from;
  // Read at each call, so a filter changed by ams_join holds from the next read on.
  const filter = conn.member.streams ?? null;
  if (conn.buffer) {
    if (from + 1 < conn.bufferFrom) {
      truncated = { from_seq: from + 1, to_seq: conn.bufferFrom - 1, epoch: w.epoch };
      last = conn.bufferFrom - 1;
    }
    let bytes = 0;
    for (const b of conn.buffer) {
      if (b.seq <= last) continue;
      if (!passes(filter, b.frame.type as string, b.frame.stream_name as string)) {
        last = b.seq;
        continue;
      }
      if (frames.length > 0 && bytes + b.bytes > LIMITS.pageBytes) return { frames, next_since: last, head_seq: w.head, ...(truncated ? { truncated } : {}) };
      bytes += b.bytes;
      frames.push(b.frame);
      last = b.seq;
      if (frames.length >= max) break;
    }
    if (frames.length < max) last = Math.max(last, w.head);
    return { frames, next_since: last, head_seq: w.head, ...(truncated ? { truncated } : {}) };
  }
  const plan = planResume({ since: from, epoch: conn.row.epoch }, w);
  if (plan.kind !== 'replay') return { frames, next_since: w.head, head_seq: w.head };
  if (plan.truncated) {
    truncated = { ...plan.truncated, epoch: w.epoch };
    last = plan.from - 1;
  }
  let start = plan.from;
  let scanned = 0;
  const listener = { accountId: conn.row.account_id, selfSubscribe: conn.row.self_subscribe === 1 };
  let bytes = 0;
  scan: for (;;) {
    let read = 0;
    for (const row of conv.rows(start, PAGE)) {
      read++;
      if (Membership.hears(listener, row.owner) && passesJson(filter, row.frame)) {
        // A page holds at most `pageBytes` of frames (at least one), like every replay (decisions/0101).
        const size = utf8Length(row.frame);
        if (frames.length > 0 && bytes + size > LIMITS.pageBytes) break scan;
        frames.push(JSON.parse(row.frame) as JsonObject);
        bytes += size;
      }
      last = row.seq;
      scanned++;
      if (frames.length >= max) break scan;
    }
    if (read < PAGE || scanned >= SCAN_CAP) break;
    start = last + 1;
  }
  return { frames, next_since: last, head_seq: w.head, ...(truncated ? { truncated } : {}) };
}
