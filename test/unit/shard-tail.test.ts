/**
 * An audience shard's tail (ShardLog): rows apply strictly in order, and the
 * tail it keeps for resuming listeners is bounded by rows and by bytes, so a
 * shard's memory does not follow the size of the tokens it relays.
 */
import { describe, expect, it } from 'vitest';
import { ShardLog } from '../../src/conversation/shards/log';
import type { LogRow } from '../../src/conversation/store';
import { LIMITS } from '../../src/protocol/limits';

const history = { max_frames: 100_000, max_age_s: 86_400 };
const snapshot = { conversation_id: 'conv_x', epoch: 'e1', links_bind_epoch: true, history, generation: 1, seq: 0, chain: '', peers: [] };
const row = (seq: number, bytes: number, ts = 0): LogRow => ({
  seq, ts, owner: 'acct_a', chain: `c${seq}`,
  frame: JSON.stringify({ type: 'token', stream_id: 'str_a', seq, data: 'x'.repeat(bytes) }),
});

describe('ShardLog tail', () => {
  it('applies only the next seq, never twice, never past a gap', () => {
    const log = new ShardLog(snapshot);
    expect(log.apply(row(2, 1))).toBe(false);
    expect(log.apply(row(1, 1))).toBe(true);
    expect(log.apply(row(1, 1))).toBe(false);
    expect(log.fed).toBe(1);
  });

  it('keeps at most shardTailBytes of large frames, the newest, contiguous up to fed', () => {
    const log = new ShardLog(snapshot);
    const size = 300 * 1024;
    const n = Math.ceil((3 * LIMITS.shardTailBytes) / size);
    for (let seq = 1; seq <= n; seq++) expect(log.apply(row(seq, size))).toBe(true);
    const kept = [...log.tailAfter(0)];
    const bytes = kept.reduce((sum, r) => sum + r.frame.length, 0);
    expect(bytes).toBeLessThanOrEqual(LIMITS.shardTailBytes);
    expect(bytes).toBeGreaterThan(LIMITS.shardTailBytes - 2 * size);
    expect(kept.at(-1)!.seq).toBe(n);
    expect(kept.map((r) => r.seq)).toEqual(Array.from({ length: kept.length }, (_, i) => n - kept.length + 1 + i));
    expect(log.covers(kept[0].seq)).toBe(true);
    expect(log.covers(kept[0].seq - 1)).toBe(false);
  });

  it('keeps at most shardTailFrames small frames', () => {
    const log = new ShardLog(snapshot);
    const n = 3 * LIMITS.shardTailFrames + 17;
    for (let seq = 1; seq <= n; seq++) log.apply(row(seq, 4));
    const kept = [...log.tailAfter(0)];
    expect(kept).toHaveLength(LIMITS.shardTailFrames);
    expect(kept[0].seq).toBe(n - LIMITS.shardTailFrames + 1);
    expect([...log.tailAfter(n - 3)].map((r) => r.seq)).toEqual([n - 2, n - 1, n]);
  });

  it('knows the history window as the log does: by frames, by age, and none without history', () => {
    const byFrames = new ShardLog({ ...snapshot, history: { max_frames: 10, max_age_s: 86_400 } });
    for (let seq = 1; seq <= 30; seq++) byFrames.apply(row(seq, 1, 1_000));
    expect(byFrames.firstRetained(2_000)).toBe(21);
    const byAge = new ShardLog({ ...snapshot, history: { max_frames: 1_000, max_age_s: 10 } });
    for (let seq = 1; seq <= 30; seq++) byAge.apply(row(seq, 1, seq * 1_000));
    expect(byAge.firstRetained(35_000)).toBe(25);
    const none = new ShardLog({ ...snapshot, history: { max_frames: 0, max_age_s: 0 } });
    for (let seq = 1; seq <= 5; seq++) none.apply(row(seq, 1));
    expect(none.firstRetained(0)).toBe(6);
  });
});
