/**
 * Pages and replays by bytes under fuzzing (issue 14, item 2; decisions/0101):
 * a log of tokens of random size and escaping cost (up to 64 KiB, control
 * characters written six bytes each), paged from random cursors with random
 * limits. Every page holds at most `LIMITS.pageBytes` of frames unless it
 * holds a single one, starts right after its cursor, and continues exactly at
 * `next_since`; a replay from the same cursor delivers the same frames.
 */
import fc from 'fast-check';
import { SELF } from 'cloudflare:test';
import { beforeAll, expect, it } from 'vitest';
import { LIMITS } from '../../src/protocol/limits';
import { SEED } from '../fuzz/arbitraries';
import { createAccount, mint, routeOf, type TestAccount, type TestConversation } from '../fuzz/workerd';
import { connect, isType } from './support';

let owner: TestAccount;
let conv: TestConversation;
let head = 0;
const frameBytes = new Map<number, number>();

beforeAll(async () => {
  owner = await createAccount('fzpg');
  conv = await mint(owner);
  // 48 tokens: a fixed-seed mix of empty, small, 64 KiB plain and 64 KiB of control characters (384 KiB of JSON).
  const sizes = fc.sample(fc.oneof(fc.constant(0), fc.nat({ max: 300 }), { weight: 4, arbitrary: fc.constant(LIMITS.tokenBytes) }, fc.nat({ max: LIMITS.tokenBytes })), { seed: SEED, numRuns: 48 });
  const kinds = fc.sample(fc.constantFrom('\u0001', '\u0001', '\u0001', 'a', '"', 'é'), { seed: SEED + 1, numRuns: 48 });
  const tokens = sizes.map((n, i) => (kinds[i] === 'é' ? 'é'.repeat(Math.floor(n / 2)) : kinds[i].repeat(n)));
  for (let i = 0; i < tokens.length;) {
    let batch: string[] = [];
    let bytes = 0;
    while (i < tokens.length && bytes + tokens[i].length * 6 + 16 < LIMITS.tokensBodyBytes) {
      bytes += tokens[i].length * 6 + 16;
      batch.push(tokens[i++]);
    }
    const res = await SELF.fetch(routeOf(conv.magic_link, '/tokens'), {
      method: 'POST', headers: { authorization: `Bearer ${owner.credential}`, 'content-type': 'application/json' }, body: JSON.stringify(batch),
    });
    expect(res.status).toBe(200);
    batch = [];
  }
  let since = 0;
  for (;;) {
    const page = (await (await SELF.fetch(routeOf(conv.observer_link, '/history', { since: String(since), limit: '1000' }))).json()) as { frames: Array<{ seq: number }>; next_since: number; more: boolean; head_seq: number };
    for (const f of page.frames) frameBytes.set(f.seq, new TextEncoder().encode(JSON.stringify(f)).length);
    head = page.head_seq;
    if (!page.more) break;
    since = page.next_since;
  }
  expect(frameBytes.size).toBe(head);
}, 120_000);

it('pages hold at most 4 MiB of frames (or one frame), start after the cursor and continue exactly at next_since', async () => {
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: 48 }), fc.integer({ min: 1, max: LIMITS.historyPageMax }), async (since, limit) => {
      const start = Math.min(since, head);
      const res = await SELF.fetch(routeOf(conv.observer_link, '/history', { since: String(start), limit: String(limit) }));
      expect(res.status).toBe(200);
      const text = await res.text();
      const page = JSON.parse(text) as { frames: Array<{ seq: number }>; next_since: number; more: boolean };
      const seqs = page.frames.map((f) => f.seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => start + 1 + i));
      expect(seqs.length).toBeLessThanOrEqual(limit);
      const bytes = seqs.reduce((n, s) => n + frameBytes.get(s)!, 0);
      if (seqs.length > 1) expect(bytes).toBeLessThanOrEqual(LIMITS.pageBytes);
      // Not cut short: the next frame would not have fitted (or the limit or the head was reached).
      const next = start + seqs.length + 1;
      if (next <= head && seqs.length < limit) expect(bytes + frameBytes.get(next)! + seqs.length).toBeGreaterThan(LIMITS.pageBytes);
      expect(page.next_since).toBe(seqs.length > 0 ? seqs.at(-1)! : start);
      expect(page.more).toBe(page.next_since < head);
    }),
    { seed: SEED, numRuns: 40 },
  );
}, 120_000);

it('a replay from any cursor sends the same frames as the history, paused (4906) only past 4 MiB', async () => {
  let paused = 0;
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: 48 }), async (since) => {
      const start = Math.min(since, head);
      const s = await connect(conv.observer_link, { params: { since: String(start) } });
      await s.next(isType('joined'));
      const outcome = await Promise.race([s.closed, s.count(isType('token'), head - start, 5_000).then(() => 'live' as const)]);
      const seqs = s.frames.filter(isType('token')).map((f) => (f as { seq: number }).seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => start + 1 + i));
      // A replay to a connection without integrity=chain sends each frame without its `,"chain":"…"` (75 bytes).
      const sent = (q: number) => frameBytes.get(q)! - 75;
      const bytes = seqs.reduce((n, q) => n + sent(q), 0);
      if (outcome === 'live') {
        expect(seqs.length).toBe(head - start);
        s.close();
      } else {
        paused++;
        expect(outcome).toEqual({ code: 4906, reason: 'replay_paused' });
        // Paused only once the budget was spent, never before.
        expect(bytes).toBeGreaterThanOrEqual(LIMITS.pageBytes);
        expect(bytes - sent(seqs.at(-1)!)).toBeLessThan(LIMITS.pageBytes);
      }
    }),
    { seed: SEED, numRuns: 12 },
  );
  expect(paused).toBeGreaterThan(0);
}, 120_000);
