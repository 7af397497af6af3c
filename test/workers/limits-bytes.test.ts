/**
 * Issue 14, items 2 and 3: pages and replays are capped by bytes as well as
 * count (a token of 65,536 × U+0001 is 384 KiB once JSON-escaped), and a
 * reader that stops reading is shed at 8 MiB with a retryable code. Each
 * reader continues from its cursor and ends with every frame exactly once.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { LIMITS } from '../../src/protocol/limits';
import { account, connect, inspect, isType, mint, route, type TestSocket } from './support';
import { openSession } from './mcp-support';
import { readSse } from '../support/shapes';
import type { TestAccount, TestConversation } from '../fuzz/workerd';

const HEAVY = '\u0001'.repeat(LIMITS.tokenBytes);
/** JSON text of one heavy frame: each U+0001 is written as \u0001, six bytes. */
const HEAVY_FRAME_BYTES = LIMITS.tokenBytes * 6;

/** Logs `n` heavy tokens with POST …/tokens (raw NDJSON lines, 15 to a request); returns the head. */
async function heavyTokens(owner: TestAccount, conv: TestConversation, n: number): Promise<void> {
  for (let done = 0; done < n;) {
    const batch = Math.min(15, n - done);
    const res = await SELF.fetch(route(conv.magic_link, 'tokens'), {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.credential}`, 'content-type': 'application/x-ndjson' },
      body: Array(batch).fill(HEAVY).join('\n'),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    done += batch;
  }
}

function expectContiguous(seqs: number[], from: number, to: number): void {
  expect(seqs).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
}

describe('pages and replays are capped by bytes', () => {
  const N = 24;

  it('GET …/history answers at most 4 MiB of frames a page, next_since exact, every frame once across pages', async () => {
    const owner = await account('bytes');
    const conv = await mint(owner);
    await heavyTokens(owner, conv, N);
    const seqs: number[] = [];
    let since = 0;
    let pages = 0;
    for (;;) {
      const res = await SELF.fetch(route(conv.observer_link, 'history', { since: String(since), limit: '1000' }));
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text.length).toBeLessThanOrEqual(LIMITS.pageBytes + 1024);
      const page = JSON.parse(text) as { frames: { seq: number; chain: string }[]; next_since: number; more: boolean; head_seq: number };
      expect(page.frames.length).toBeGreaterThan(0);
      expect(page.frames.every((f) => /^[0-9a-f]{64}$/.test(f.chain))).toBe(true);
      seqs.push(...page.frames.map((f) => f.seq));
      expect(page.next_since).toBe(page.frames.at(-1)!.seq);
      pages++;
      if (!page.more) break;
      since = page.next_since;
    }
    expectContiguous(seqs, 1, N);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil((N * HEAVY_FRAME_BYTES) / LIMITS.pageBytes));
  });

  it('/connect replays up to the budget, closes 4906 replay_paused, and since = last seq continues with no gap and no duplicate', async () => {
    const owner = await account('bytes');
    const conv = await mint(owner);
    await heavyTokens(owner, conv, N);
    const seqs: number[] = [];
    let since = 0;
    let reconnects = 0;
    for (;;) {
      const s: TestSocket = await connect(conv.observer_link, { params: { since: String(since) } });
      await s.next(isType('joined'));
      const outcome = await Promise.race([s.closed, s.count(isType('token'), N - since, 10_000).then(() => 'all' as const)]);
      const got = s.frames.filter(isType('token')).map((f) => (f as { seq: number }).seq);
      seqs.push(...got);
      if (outcome === 'all') {
        s.close();
        break;
      }
      expect(outcome).toEqual({ code: 4906, reason: 'replay_paused' });
      expect(got.length).toBeGreaterThan(0);
      since = got.at(-1)!;
      reconnects++;
    }
    expectContiguous(seqs, 1, N);
    expect(reconnects).toBeGreaterThanOrEqual(2);
  });

  it('/events replays up to the budget, ends with event: close 4906, and Last-Event-ID continues exactly', async () => {
    const owner = await account('bytes');
    const conv = await mint(owner);
    await heavyTokens(owner, conv, N);
    const seqs: number[] = [];
    let lastId = '0';
    let rounds = 0;
    for (let round = 0; round < 10 && seqs.length < N; round++) {
      const res = await SELF.fetch(route(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream', 'last-event-id': lastId } });
      expect(res.status).toBe(200);
      const events = await readSse(res, N);
      const tokens = events.filter((e) => e.event === 'token');
      expect(tokens.length * HEAVY_FRAME_BYTES).toBeLessThanOrEqual(LIMITS.pageBytes + HEAVY_FRAME_BYTES);
      seqs.push(...tokens.map((e) => e.id!));
      rounds++;
      if (tokens.at(-1)!.id === N) break;
      expect(events.at(-1)!.event).toBe('close');
      expect(JSON.parse(events.at(-1)!.data)).toEqual({ code: 4906, reason: 'replay_paused', ts: expect.any(String) });
      lastId = String(tokens.at(-1)!.id);
      if (seqs.length === N) break;
    }
    expectContiguous(seqs, 1, N);
    expect(rounds).toBeGreaterThanOrEqual(Math.ceil((N * HEAVY_FRAME_BYTES) / LIMITS.pageBytes));
  });

  it('ams_recv answers at most 4 MiB of frames a call; next_since continues exactly', async () => {
    const owner = await account('bytes');
    const conv = await mint(owner);
    await heavyTokens(owner, conv, N);
    const m = await openSession(conv.observer_link);
    await m.ok('ams_join', { since: 0 });
    const seqs: number[] = [];
    let since = 0;
    for (let calls = 0; calls < 20 && seqs.length < N; calls++) {
      const r = await m.ok('ams_recv', { since, max: 1000, format: 'frames' });
      const frames = r.frames as { seq: number; data: string }[];
      expect(frames.length).toBeGreaterThan(0);
      expect(frames.reduce((n, f) => n + JSON.stringify(f).length, 0)).toBeLessThanOrEqual(LIMITS.pageBytes);
      seqs.push(...frames.map((f) => f.seq));
      since = r.next_since;
    }
    expectContiguous(seqs, 1, N);
  });
});

describe('a reader that never reads', () => {
  it('the runtime tells a server-side WebSocket nothing of its backlog (when it does, wire it to the same cap: decisions/0102)', () => {
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    client.accept();
    for (let i = 0; i < 20; i++) server.send('x'.repeat(100_000));
    expect((server as unknown as { bufferedAmount?: unknown }).bufferedAmount).toBeUndefined();
    client.close();
  });

  it('an SSE tail with more than 8 MiB unread gets event: close 4908 slow_consumer and leaves; Last-Event-ID resumes with nothing lost', async () => {
    const owner = await account('slow');
    const conv = await mint(owner);
    const log = vi.spyOn(console, 'log');
    const res = await SELF.fetch(route(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    // An observer's tail is held by an audience shard: it counts among the listeners (decision 0110).
    expect((await inspect(owner, conv.alias)).audience.listeners).toBe(1);
    // 30 heavy frames are 11 MiB of SSE: far past the cap, and nobody reads.
    const total = 30;
    await heavyTokens(owner, conv, total);
    expect((await inspect(owner, conv.alias)).audience.listeners).toBe(0);
    const events = await readSse(res);
    expect(events.at(-1)!.event).toBe('close');
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ code: 4908, reason: 'slow_consumer', ts: expect.any(String) });
    // The shed is an event line of its own (decision 0148).
    const shed = log.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('"ams_event":"consumer.shed"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    log.mockRestore();
    expect(shed).toEqual([expect.objectContaining({ ns: owner.namespace, alias: conv.alias, path: 'sse' })]);
    const got = events.filter((e) => e.event === 'token').map((e) => e.id!);
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(total);
    expect(got.length * HEAVY_FRAME_BYTES).toBeLessThanOrEqual(LIMITS.bufferedBytesPerConnection + 2 * HEAVY_FRAME_BYTES);
    const seqs = [...got];
    let lastId = String(got.at(-1));
    for (let round = 0; round < 10 && seqs.length < total; round++) {
      const more = await readSse(await SELF.fetch(route(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream', 'last-event-id': lastId } }), total);
      const ids = more.filter((e) => e.event === 'token').map((e) => e.id!);
      seqs.push(...ids);
      lastId = String(ids.at(-1));
    }
    expectContiguous(seqs, 1, total);
  });

  it('an MCP membership of a conversation without history keeps at most 8 MiB; the rest is reported as truncated', async () => {
    const owner = await account('slow');
    const conv = await mint(owner, { history: { max_frames: 0, max_age_s: 0 } });
    const m = await openSession(conv.observer_link);
    await m.ok('ams_join', {});
    const total = 30;
    await heavyTokens(owner, conv, total);
    const first = await m.ok('ams_recv', { max: 1000, format: 'frames' });
    expect(first.truncated).toMatchObject({ from_seq: 1 });
    const kept = total - first.truncated.to_seq;
    expect(kept * HEAVY_FRAME_BYTES).toBeLessThanOrEqual(LIMITS.bufferedBytesPerConnection);
    expect(kept).toBeGreaterThan(0);
  });
});
