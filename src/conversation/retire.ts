/**
 * When a registered stream may be retired (decision 0106): nobody holds it,
 * no MCP membership still names it, and it has been quiet — no connection,
 * no emit — for `LIMITS.streamRetireIdleMs`. Activity is kept in memory; after
 * a restart every stream counts as active from the moment the object woke.
 */
import { LIMITS } from '../protocol/limits';
import type { StreamRecord } from '../protocol/records';

export class StreamActivity {
  private readonly last = new Map<string, number>();
  /** Streams an MCP membership row still names (set by the memberships; none by default). */
  pinned: (streamId: string) => boolean = () => false;

  constructor(private readonly wokeAt: number) {}

  /** The stream was held, released or written on at `now`. */
  touch(streamId: string, now: number): void {
    this.last.set(streamId, now);
  }

  forget(streamId: string): void {
    this.last.delete(streamId);
  }

  /** The least recently active of `streams` that may be retired at `now`, if any. */
  pick(streams: StreamRecord[], isHeld: (streamId: string) => boolean, now: number): StreamRecord | undefined {
    let best: StreamRecord | undefined;
    let bestAt = Infinity;
    for (const s of streams) {
      const at = this.last.get(s.stream_id) ?? this.wokeAt;
      if (at > now - LIMITS.streamRetireIdleMs || at >= bestAt || isHeld(s.stream_id) || this.pinned(s.stream_id)) continue;
      best = s;
      bestAt = at;
    }
    return best;
  }
}
