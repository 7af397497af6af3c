/**
 * Selective subscription (decisions/0130) inside workerd: the filter on
 * sockets and SSE tails of the conversation object, on observer links and SSE
 * tails held by audience shards, on resume and replay, on history pages, and
 * the refusals of bad input.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ServerFrame } from '../../src/protocol/frames';
import { readSse } from '../support/shapes';
import { account, barrier, connect, isType, mint, route, settle, type TestSocket } from './support';

type Frame = ServerFrame & { data?: string; stream_name?: string; seq?: number };
const said = (s: TestSocket) => (s.frames as Frame[]).filter((f) => f.type === 'token').map((f) => `${f.stream_name}:${f.data}`);
const SUB = 'X-AMS-Subscribe-Streams';

/** A conversation with two speakers, `a` and `b`, each its own account, both joined. */
async function twoSpeakers() {
  const owner = await account();
  const conv = await mint(owner, { stream_name: 'a' });
  const a = await connect(conv.magic_link, { credential: owner.credential });
  await a.next(isType('joined'));
  const bAcc = await account();
  const b = await connect(conv.magic_link, { credential: bAcc.credential, headers: { 'X-AMS-Stream-Name': 'b' } });
  await b.next(isType('joined'));
  return { owner, conv, a, b };
}

async function speak(s: TestSocket, ...data: string[]) {
  for (const d of data) s.send({ type: 'token', data: d, end: true });
  await barrier(s);
}

describe('selective subscription on the conversation object', () => {
  it('a WebSocket subscribed to b hears b\'s tokens and none of a\'s; joined echoes the filter and peers stay whole', async () => {
    const { conv, a, b } = await twoSpeakers();
    const listener = await account();
    const l = await connect(conv.magic_link, { credential: listener.credential, headers: { 'X-AMS-Stream-Name': 'l', [SUB]: 'b' } });
    const joined = await l.next(isType('joined')) as Frame & { subscribed_streams?: string[]; peers: { stream_name: string }[] };
    expect(joined.subscribed_streams).toEqual(['b']);
    expect(joined.peers.map((p) => p.stream_name).sort()).toEqual(['a', 'b']);
    await speak(a, 'a1', 'a2');
    await speak(b, 'b1');
    a.send({ type: 'set_metadata', metadata: { mood: 'a' } });
    b.send({ type: 'set_metadata', metadata: { mood: 'b' } });
    await speak(a, 'a3');
    await speak(b, 'b2');
    await l.count(isType('token'), 2);
    await barrier(l);
    expect(said(l)).toEqual(['b:b1', 'b:b2']);
    expect((l.frames as Frame[]).filter(isType('stream_metadata')).map((f) => f.stream_name)).toEqual(['b']);
    // An unfiltered writer still hears everyone else.
    expect(said(b)).toEqual(['a:a1', 'a:a2', 'a:a3']);
    // Joins and leaves of a stream outside the filter still arrive.
    a.close();
    const left = await l.next(isType('stream_left')) as Frame;
    expect(left.stream_name).toBe('a');
  });

  it('the query twin works, and a filter naming a stream that joins later matches it', async () => {
    const { conv, a } = await twoSpeakers();
    const l = await connect(conv.observer_link, { params: { subscribe_streams: 'late,b' } });
    const joined = await l.next(isType('joined')) as { subscribed_streams?: string[] };
    expect(joined.subscribed_streams).toEqual(['late', 'b']);
    const lateAcc = await account();
    const late = await connect(conv.magic_link, { credential: lateAcc.credential, headers: { 'X-AMS-Stream-Name': 'late' } });
    await late.next(isType('joined'));
    await l.next((f) => f.type === 'stream_joined' && (f as Frame).stream_name === 'late');
    await speak(a, 'not heard');
    await speak(late, 'heard');
    await l.next(isType('token'));
    await speak(a, 'still not');
    await settle(100);
    expect(said(l)).toEqual(['late:heard']);
  });

  it('self-exclusion holds: naming one\'s own stream does not make it audible', async () => {
    const { conv, a, owner } = await twoSpeakers();
    const second = await connect(conv.magic_link, { credential: owner.credential, headers: { 'X-AMS-Stream-Name': 'a2', [SUB]: 'a,b' } });
    await second.next(isType('joined'));
    await speak(a, 'own');
    await barrier(second);
    await settle(50);
    expect(said(second)).toEqual([]);
  });

  it('a filtered resume replays only the filter\'s streams (and every join and leave), then goes live', async () => {
    const { conv, a, b } = await twoSpeakers();
    const first = await connect(conv.observer_link);
    const start = (await first.next(isType('joined')) as Frame).seq!;
    first.close();
    await speak(a, 'a1');
    await speak(b, 'b1');
    await speak(a, 'a2');
    await speak(b, 'b2');
    // Write link: served by the conversation object itself.
    const acc = await account();
    const w = await connect(conv.magic_link, { credential: acc.credential, headers: { 'X-AMS-Stream-Name': 'w', [SUB]: 'b' }, params: { since: String(start) } });
    await w.count(isType('token'), 2);
    expect(said(w)).toEqual(['b:b1', 'b:b2']);
    // Observer link: served by an audience shard (from the conversation's log or the shard's tail).
    const o = await connect(conv.observer_link, { params: { since: String(start), subscribe_streams: 'a' } });
    await o.count(isType('token'), 2);
    expect(said(o)).toEqual(['a:a1', 'a:a2']);
    await speak(b, 'b3');
    await speak(a, 'a3');
    await o.count(isType('token'), 3);
    await w.count(isType('token'), 3);
    expect(said(o)).toEqual(['a:a1', 'a:a2', 'a:a3']);
    expect(said(w)).toEqual(['b:b1', 'b:b2', 'b:b3']);
    // Seqs only grow: nothing twice.
    const seqs = (o.frames as Frame[]).filter((f) => f.seq !== undefined && f.type !== 'joined').map((f) => f.seq!);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('observer-link sockets held by audience shards honour their own filters, side by side', async () => {
    const { conv, a, b } = await twoSpeakers();
    const onlyA = await Promise.all(Array.from({ length: 4 }, () => connect(conv.observer_link, { headers: { [SUB]: 'a' } })));
    const onlyB = await Promise.all(Array.from({ length: 4 }, () => connect(conv.observer_link, { params: { subscribe_streams: 'b' } })));
    const all = await connect(conv.observer_link);
    for (const s of [...onlyA, ...onlyB, all]) await s.next(isType('joined'));
    expect((onlyA[0].frames[0] as { subscribed_streams?: string[] }).subscribed_streams).toEqual(['a']);
    for (let i = 0; i < 5; i++) {
      await speak(a, `a${i}`);
      await speak(b, `b${i}`);
    }
    await all.count(isType('token'), 10);
    await Promise.all([...onlyA, ...onlyB].map((s) => s.count(isType('token'), 5)));
    await settle(100);
    for (const s of onlyA) expect(said(s)).toEqual([0, 1, 2, 3, 4].map((i) => `a:a${i}`));
    for (const s of onlyB) expect(said(s)).toEqual([0, 1, 2, 3, 4].map((i) => `b:b${i}`));
    expect(said(all)).toHaveLength(10);
  });

  it('an SSE tail held by a shard, and one on the conversation object, honour the filter (live and replay)', async () => {
    const { conv, a, b } = await twoSpeakers();
    await speak(a, 'a1');
    await speak(b, 'b1');
    // Observer link → shard; write link → the conversation object. Both from since=0, replaying the log.
    const viaShard = await SELF.fetch(route(conv.observer_link, 'events', { since: '0', subscribe_streams: 'b' }));
    const viaObject = await SELF.fetch(route(conv.magic_link, 'events', { since: '0' }), { headers: { [SUB]: 'a' } });
    expect(viaShard.status).toBe(200);
    expect(viaObject.status).toBe(200);
    const head = await speakUntil(a, b);
    const [shardEvents, objectEvents] = await Promise.all([readSse(viaShard, head.b), readSse(viaObject, head.a)]);
    const tokens = (events: { event: string; data: string }[]) => events.filter((e) => e.event === 'token').map((e) => JSON.parse(e.data) as Frame).map((f) => `${f.stream_name}:${f.data}`);
    expect(tokens(shardEvents)).toEqual(['b:b1', 'b:b2']);
    expect(tokens(objectEvents)).toEqual(['a:a1', 'a:a2']);
    expect(JSON.parse(shardEvents[0].data).subscribed_streams).toEqual(['b']);
    expect(shardEvents.some((e) => e.event === 'stream_joined' && JSON.parse(e.data).stream_name === 'a')).toBe(true);
  });

  it('a transcript with a filter writes only the named streams\' utterances, and every join', async () => {
    const { conv, a, b } = await twoSpeakers();
    await speak(a, 'said by a');
    await speak(b, 'said by b');
    await speak(a, 'a again');
    await speak(b, 'b again');
    const res = await SELF.fetch(route(conv.observer_link, 'transcript', { since: '0', subscribe_streams: 'b' }));
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('b: b again')) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
    expect(text).toContain('a joined');
    expect(text).toContain('b: said by b\nb: b again');
    expect(text).not.toContain('a: ');
  });

  it('a history page counts limit over the frames it returns and moves next_since past the ones it passes over', async () => {
    const { conv, a, b } = await twoSpeakers();
    for (let i = 0; i < 6; i++) {
      await speak(a, `a${i}`);
      await speak(b, `b${i}`);
    }
    const page = async (since: number) => (await (await SELF.fetch(route(conv.observer_link, 'history', { since: String(since), limit: '2', subscribe_streams: 'b' }))).json()) as { frames: Frame[]; next_since: number; more: boolean; head_seq: number };
    const got: string[] = [];
    let since = 0;
    for (;;) {
      const p = await page(since);
      expect(p.frames.filter((f) => f.type === 'token').every((f) => f.stream_name === 'b')).toBe(true);
      expect(p.frames.length).toBeLessThanOrEqual(2);
      got.push(...p.frames.filter((f) => f.type === 'token').map((f) => f.data!));
      since = p.next_since;
      if (!p.more) {
        expect(since).toBe(p.head_seq);
        break;
      }
    }
    expect(got).toEqual([0, 1, 2, 3, 4, 5].map((i) => `b${i}`));
    const byHeader = await SELF.fetch(route(conv.observer_link, 'history', { since: '0', limit: '1000' }), { headers: { [SUB]: 'a' } });
    const frames = ((await byHeader.json()) as { frames: Frame[] }).frames.filter((f) => f.type === 'token');
    expect(frames.map((f) => f.data)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `a${i}`));
  });
});

/** Both speakers say their second line; returns the seq each landed at. */
async function speakUntil(a: TestSocket, b: TestSocket): Promise<{ a: number; b: number }> {
  a.send({ type: 'token', data: 'a2', end: true });
  await barrier(a);
  b.send({ type: 'token', data: 'b2', end: true });
  await barrier(b);
  const seqA = (await b.next((f) => f.type === 'token' && (f as Frame).data === 'a2') as Frame).seq!;
  const seqB = (await a.next((f) => f.type === 'token' && (f as Frame).data === 'b2') as Frame).seq!;
  return { a: seqA, b: seqB };
}

describe('selective subscription: bad input is refused whole', () => {
  const names = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`).join(',');
  const bad = [names(65), '', 'a,,b', 'a,', 'not a name', '-x'];

  it('on /connect, write and observer links alike, with 4400 invalid_subscription and nothing admitted', async () => {
    const { owner, conv, a } = await twoSpeakers();
    for (const value of bad) {
      const acc = await account();
      const w = await connect(conv.magic_link, { credential: acc.credential, headers: { 'X-AMS-Stream-Name': 'never', [SUB]: value } });
      expect(await w.closed, value).toEqual({ code: 4400, reason: 'invalid_subscription' });
      const o = await connect(conv.observer_link, { params: { subscribe_streams: value } });
      expect(await o.closed, value).toEqual({ code: 4400, reason: 'invalid_subscription' });
    }
    // A filter and integrity=chain together.
    const chained = await connect(conv.observer_link, { headers: { [SUB]: 'a', 'X-AMS-Integrity': 'chain' } });
    expect(await chained.closed).toEqual({ code: 4400, reason: 'invalid_subscription' });
    // No stream named `never` was joined or registered.
    await barrier(a);
    expect((a.frames as Frame[]).some((f) => f.stream_name === 'never')).toBe(false);
    void owner;
  });

  it('on the HTTP routes with 400 invalid_subscription', async () => {
    const { conv } = await twoSpeakers();
    for (const path of ['events', 'history', 'transcript']) {
      for (const link of [conv.observer_link, conv.magic_link]) {
        for (const value of [...bad, 'a']) {
          // `a` alone is fine; together with integrity=chain it is refused on every route that reads the filter.
          const extra: Record<string, string> = value === 'a' ? { integrity: 'chain' } : {};
          const res = await SELF.fetch(route(link, path, { subscribe_streams: value, ...extra }));
          expect(res.status, `${path} ${value}`).toBe(400);
          expect(((await res.json()) as { error: string }).error).toBe('invalid_subscription');
        }
      }
    }
  });
});
