/**
 * A shard's share of the listener budget (ShardCapacity) against a stand-in
 * conversation that grants from a fixed budget with a delay: concurrent
 * admissions take exactly the budget, ask one request at a time, and what
 * they give back is never more than they were granted.
 */
import { describe, expect, it } from 'vitest';
import { ShardCapacity, type CapacitySource } from '../../src/conversation/shards/capacity';

function budgeted(total: number) {
  const state = { left: total, calls: 0, inFlight: 0, maxInFlight: 0, released: 0 };
  const source: CapacitySource = {
    async grant(need, want) {
      state.calls++;
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      await new Promise((r) => setTimeout(r, 5));
      state.inFlight--;
      const granted = Math.min(state.left, Math.max(need, Math.min(want, state.left)));
      state.left -= granted;
      return granted;
    },
    async release(n) {
      state.released += n;
      state.left += n;
    },
  };
  return { state, source };
}

describe('ShardCapacity', () => {
  it('a burst of admissions takes exactly the budget, in few requests, one at a time', async () => {
    const { state, source } = budgeted(37);
    let listeners = 0;
    const cap = new ShardCapacity(() => listeners, () => source);
    const held = await Promise.all(Array.from({ length: 60 }, () => cap.hold()));
    expect(held.filter(Boolean)).toHaveLength(37);
    expect(state.maxInFlight).toBe(1);
    expect(state.calls).toBeLessThanOrEqual(4);
    // Held places become listeners.
    for (let i = 0; i < 37; i++) {
      cap.unhold();
      listeners++;
    }
    expect(cap.taken).toBe(37);
    expect(cap.reclaim()).toBe(0);
  });

  it('gives back what listeners free, keeping one block while any listen and nothing once empty', async () => {
    const { state, source } = budgeted(10_000);
    let listeners = 0;
    const cap = new ShardCapacity(() => listeners, () => source);
    await Promise.all(Array.from({ length: 300 }, async () => {
      if (await cap.hold()) {
        cap.unhold();
        listeners++;
      }
    }));
    expect(listeners).toBe(300);
    const granted = 10_000 - state.left;
    listeners = 50;
    cap.releaseSoon();
    await new Promise((r) => setTimeout(r, 10));
    expect(10_000 - state.left).toBe(150);
    expect(state.released).toBe(granted - 150);
    listeners = 0;
    cap.releaseSoon();
    await new Promise((r) => setTimeout(r, 10));
    expect(state.left).toBe(10_000);
  });
});
