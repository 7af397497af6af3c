/**
 * The channel push's reader: pulls of at most `max` frames (as the session
 * makes them after each doorbell) become one push per utterance — also when
 * one utterance is longer than a pull, when the session's state is stored
 * and read back between pulls, and when only the clock closes an utterance.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { channelStep, freshChannel, pullFrom, type ChannelContext, type ChannelPush, type ChannelState } from '../../src/mcp/channel';
import type { Received } from '../../src/conversation/members/rpc';
import type { JsonObject } from '../../src/protocol/frames';
import { RUNS, SEED } from '../fuzz/arbitraries';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const GAP = 2_000;

interface Tok { stream: string; data: string; at: number; end?: boolean }

function frames(toks: Tok[]): JsonObject[] {
  return toks.map((t, i) => ({
    type: 'token', stream_id: `str_${t.stream}`, stream_name: t.stream, owner_account_id: `acc_${t.stream}`,
    ts: new Date(T0 + t.at).toISOString(), data: t.data, seq: i + 1, ...(t.end ? { end: true } : {}),
  }));
}

/** Reads the log the way the conversation answers a pull: frames after `from`, at most `max`. */
function pull(log: JsonObject[], from: number, max: number): Received {
  const page = log.filter((f) => (f.seq as number) > from).slice(0, max);
  const head = log.length;
  return { frames: page, next_since: page.length < max ? head : (page.at(-1)!.seq as number), head_seq: head };
}

const ctx = (max: number, over: Partial<ChannelContext> = {}): ChannelContext => ({ conversation: 'standup', stream_id: 'str_me', stream_name: 'me', gap_ms: GAP, max, ...over });

/** Pulls until the head, each time from where the session would, storing and reloading the state if asked; then lets the clock run out. */
function drain(log: JsonObject[], state: ChannelState, c: ChannelContext, opts: { restart?: boolean; now: number }): { pushes: ChannelPush[]; state: ChannelState } {
  const pushes: ChannelPush[] = [];
  let notified = 0;
  for (let guard = 0; guard < 10_000; guard++) {
    const r = pull(log, pullFrom(notified, state), c.max);
    notified = Math.max(notified, r.next_since);
    const step = channelStep(state, r, c, r.next_since >= r.head_seq ? opts.now : undefined);
    pushes.push(...step.pushes);
    if (opts.restart) state = JSON.parse(JSON.stringify(state)) as ChannelState;
    if (r.next_since >= r.head_seq && state.since >= r.head_seq) break;
    if (r.next_since >= r.head_seq && step.pushes.length === 0 && step.settles_at === undefined) break;
  }
  return { pushes, state };
}

describe('channelStep', () => {
  it('pushes a 1,000-token utterance once, whole, though each pull holds 100 frames', () => {
    const toks: Tok[] = Array.from({ length: 1_000 }, (_, i) => ({ stream: 'alice', data: `t${i} `, at: i * 10, end: i === 999 }));
    const log = frames(toks);
    const { pushes, state } = drain(log, freshChannel('all', 0), ctx(100), { now: T0 + 10 * 999 + 1, restart: true });
    expect(pushes).toEqual([{ content: toks.map((t) => t.data).join(''), meta: { from: 'alice', seq: '1-1000', conversation: 'standup' } }]);
    expect(state.partial).toEqual({});
  });

  it('closes an utterance told in pieces by the gap after its last piece, with no frame to follow', () => {
    // 150 tokens, pulls of 100: the first pull is cut, flushes, and keeps the piece; nothing comes after the second.
    const toks: Tok[] = Array.from({ length: 150 }, (_, i) => ({ stream: 'alice', data: `t${i} `, at: i }));
    const log = frames(toks);
    const state = freshChannel('all', 0);
    const first = channelStep(state, pull(log, 0, 100), ctx(100), undefined);
    expect(first.pushes).toEqual([]);
    expect(state.since).toBe(100);
    const second = channelStep(state, pull(log, pullFrom(100, state), 100), ctx(100), T0 + 200);
    expect(second.pushes).toEqual([]);
    expect(second.settles_at).toBeDefined();
    const early = channelStep(state, pull(log, pullFrom(150, state), 100), ctx(100), T0 + 149 + GAP);
    expect(early.pushes).toEqual([]);
    expect(early.settles_at).toBe(T0 + 149 + GAP + 1);
    const settled = channelStep(state, pull(log, pullFrom(150, state), 100), ctx(100), early.settles_at!);
    expect(settled.pushes).toEqual([{ content: toks.map((t) => t.data).join(''), meta: { from: 'alice', seq: '1-150', conversation: 'standup' } }]);
    // Exactly a pull's worth that reaches the head is held, not cut.
    const exact = freshChannel('all', 0);
    const held = channelStep(exact, pull(frames(toks.slice(0, 100)), 0, 100), ctx(100), T0 + 100);
    expect(exact.partial).toEqual({});
    expect(held.settles_at).toBe(T0 + 99 + GAP + 1);
  });

  it('holds an utterance until the quiet gap has passed by the clock, then pushes it once', () => {
    const log = frames([{ stream: 'alice', data: 'still ', at: 0 }, { stream: 'alice', data: 'talking', at: 100 }]);
    const state = freshChannel('all', 0);
    const early = channelStep(state, pull(log, 0, 100), ctx(100), T0 + 500);
    expect(early.pushes).toEqual([]);
    expect(early.settles_at).toBe(T0 + 100 + GAP + 1);
    const late = channelStep(state, pull(log, pullFrom(2, state), 100), ctx(100), early.settles_at!);
    expect(late.pushes.map((p) => p.content)).toEqual(['still talking']);
    const again = channelStep(state, pull(log, pullFrom(2, state), 100), ctx(100), early.settles_at! + 10_000);
    expect(again.pushes).toEqual([]);
  });

  it('never pushes the listener\'s own stream, and "mentions" keeps only @its-name', () => {
    const log = frames([
      { stream: 'me', data: 'my own @me', at: 0, end: true },
      { stream: 'alice', data: 'hello all', at: 1, end: true },
      { stream: 'alice', data: 'hi @ME!', at: 2, end: true },
    ]);
    const all = channelStep(freshChannel('all', 0), pull(log, 0, 100), ctx(100), T0 + 10);
    expect(all.pushes.map((p) => p.content)).toEqual(['hello all', 'hi @ME!']);
    const some = channelStep(freshChannel('mentions', 0), pull(log, 0, 100), ctx(100), T0 + 10);
    expect(some.pushes.map((p) => p.content)).toEqual(['hi @ME!']);
    const none = channelStep(freshChannel('off', 0), pull(log, 0, 100), ctx(100), T0 + 10);
    expect(none.pushes).toEqual([]);
    const observer = channelStep(freshChannel('mentions', 0), pull(log, 0, 100), ctx(100, { stream_id: null, stream_name: null }), T0 + 10);
    expect(observer.pushes).toEqual([]);
  });

  it('on random logs, pulled in random pages with restarts, each stream\'s pushes are its tokens, each complete utterance once', () => {
    const tok = fc.record({
      stream: fc.constantFrom('alice', 'bob', 'me'),
      data: fc.string({ maxLength: 4 }),
      dt: fc.constantFrom(0, 5, 50, GAP + 1),
      end: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(tok, { maxLength: 120 }), fc.integer({ min: 1, max: 40 }), fc.boolean(), (raw, max, restart) => {
      let at = 0;
      const toks = raw.map((t) => ({ stream: t.stream, data: t.data, at: (at += t.dt), ...(t.end ? { end: true } : {}) }));
      const log = frames(toks);
      const { pushes, state } = drain(log, freshChannel('all', 0), ctx(max), { now: T0 + at + GAP + 1, restart });
      expect(state.partial).toEqual({});
      for (const s of ['alice', 'bob']) {
        const mine = pushes.filter((p) => p.meta.from === s);
        expect(mine.map((p) => p.content).join('')).toBe(toks.filter((t) => t.stream === s).map((t) => t.data).join(''));
        // Seq ranges of one stream never overlap and go forward.
        const ranges = mine.map((p) => p.meta.seq!.split('-').map(Number));
        for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]!).toBeGreaterThan(ranges[i - 1]!.at(-1)!);
      }
      expect(pushes.some((p) => p.meta.from === 'me')).toBe(false);
    }), { numRuns: RUNS, seed: SEED });
  });
});
