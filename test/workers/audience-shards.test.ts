/**
 * Audience shards inside workerd: read-only listeners are held by
 * AudienceShard objects fed once per shard by the conversation (decisions
 * 0110–0112). Feed order, gap fill, resume across shards, close codes,
 * self-exclusion and the listener budget.
 */
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ConversationObject } from '../../src/conversation/conversation-object';
import type { LogRow } from '../../src/conversation/store';
import { account, barrier, connect, inspect, isType, mint, route, type TestSocket } from './support';

const seqOf = (f: object) => (f as { seq: number }).seq;
const liveSeqs = (s: TestSocket) => s.frames.filter((f) => f.type !== 'joined' && 'seq' in f).map(seqOf);
const inObject = runInDurableObject as unknown as <R>(s: unknown, f: (o: ConversationObject) => R) => Promise<R>;
const conversationObject = (ns: string, alias: string) => env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${ns}/${alias}`));

async function writerAndListeners(n: number, body: Record<string, unknown> = {}) {
  const owner = await account();
  const conv = await mint(owner, body);
  const writer = await connect(conv.magic_link, { credential: owner.credential });
  await writer.next(isType('joined'));
  const listeners = await Promise.all(Array.from({ length: n }, () => connect(conv.observer_link)));
  await Promise.all(listeners.map((l) => l.next(isType('joined'))));
  return { owner, conv, writer, listeners };
}

describe('audience shards', () => {
  it('every listener hears every frame once, in order, with the same seqs and wire frames as the writer logged', async () => {
    const { owner, conv, writer, listeners } = await writerAndListeners(24);
    for (let i = 0; i < 40; i++) writer.send({ type: 'token', data: `t${i}` });
    await barrier(writer);
    await Promise.all(listeners.map((l) => l.count(isType('token'), 40)));
    const expected = liveSeqs(listeners[0]);
    expect(expected).toHaveLength(40);
    for (const l of listeners) {
      expect(liveSeqs(l)).toEqual(expected);
      expect(l.frames.filter(isType('token')).map((f) => (f as { data: string }).data)).toEqual(Array.from({ length: 40 }, (_, i) => `t${i}`));
    }
    const info = await inspect(owner, conv.alias);
    // The listeners are spread over shards, and the conversation object itself holds only the writer.
    expect(info.connections).toBe(1);
    expect(info.audience.shards).toBeGreaterThan(1);
    expect(info.audience.listeners).toBe(24);
    expect(info.audience).toMatchObject({ max_listeners: 10_000, listeners_per_shard: 1_000 });
  });

  it('joined from a shard is an observer view: owns nothing, lists every live stream, head seq and chain', async () => {
    const owner = await account();
    const conv = await mint(owner, { stream_metadata: { role: 'host' } });
    const writer = await connect(conv.magic_link, { credential: owner.credential });
    await writer.next(isType('joined'));
    writer.send({ type: 'token', data: 'before' });
    await barrier(writer);
    const info = await inspect(owner, conv.alias);
    const l = await connect(conv.observer_link, { headers: { 'X-AMS-Integrity': 'chain' } });
    const joined = await l.next(isType('joined'));
    expect(joined).toMatchObject({
      conversation_id: conv.conversation_id, stream_id: null, stream_name: null, metadata: null, self_subscribe: false,
      resumed: false, scope: 'read', epoch: conv.epoch, seq: info.head_seq, head_chain: info.head_chain,
      peers: [{ stream_id: conv.stream_id, stream_name: conv.stream_name, owner_account_id: owner.account_id, metadata: { role: 'host' } }],
    });
    writer.send({ type: 'token', data: 'after' });
    const token = await l.next(isType('token'));
    expect(token).toMatchObject({ data: 'after', seq: info.head_seq + 1 });
    expect(typeof (token as { chain?: string }).chain).toBe('string');
    // An observer cannot emit, from a shard as from the conversation.
    l.send({ type: 'token', data: 'nope' });
    expect(await l.closed).toEqual({ code: 4903, reason: 'read_only' });
  });

  it('a shard that misses rows of its feed fills the gap from the log, in order', async () => {
    const { owner, conv, writer, listeners } = await writerAndListeners(6);
    const stub = conversationObject(owner.namespace, conv.alias);
    // Drop the feed for a while, as a slow shard's shed queue would.
    await inObject(stub, (o) => {
      const relay = o.feeds.relay.bind(o.feeds);
      (o.feeds as { relay: (row: LogRow) => void }).relay = () => {};
      (o as unknown as { restoreRelay: () => void }).restoreRelay = () => ((o.feeds as { relay: unknown }).relay = relay);
    });
    for (let i = 0; i < 10; i++) writer.send({ type: 'token', data: `hidden ${i}` });
    await barrier(writer);
    await inObject(stub, (o) => (o as unknown as { restoreRelay: () => void }).restoreRelay());
    writer.send({ type: 'token', data: 'shown' });
    await Promise.all(listeners.map((l) => l.count(isType('token'), 11)));
    for (const l of listeners) {
      expect(l.frames.filter(isType('token')).map((f) => (f as { data: string }).data)).toEqual([...Array.from({ length: 10 }, (_, i) => `hidden ${i}`), 'shown']);
      const seqs = liveSeqs(l);
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
    }
  });

  it('a listener that drops resumes on any shard with exactly what it missed (tail or log), then goes live', async () => {
    const { conv, writer, listeners } = await writerAndListeners(4);
    writer.send({ type: 'token', data: 'seen' });
    const seen = await listeners[0].next(isType('token'));
    listeners[0].close();
    await listeners[0].closed;
    for (let i = 0; i < 30; i++) writer.send({ type: 'token', data: `missed ${i}` });
    await barrier(writer);
    // Several resumes land on different shards: some hold the rows in their tail, fresh ones ask the log.
    const back = await Promise.all(Array.from({ length: 6 }, () => connect(conv.observer_link, { params: { since: String(seqOf(seen)), epoch: conv.epoch } })));
    writer.send({ type: 'token', data: 'live' });
    for (const b of back) {
      await b.next((f) => f.type === 'token' && f.data === 'live');
      expect(b.frames.filter(isType('token')).map((f) => (f as { data: string }).data)).toEqual([...Array.from({ length: 30 }, (_, i) => `missed ${i}`), 'live']);
      const seqs = liveSeqs(b);
      expect(seqs[0]).toBe(seqOf(seen) + 1);
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
    }
  });

  it('x_truncated when the window no longer holds the range, even where a shard tail still holds it; 4920 for a cursor beyond the head', async () => {
    // 200 listeners leave no shard without a tail (all 16 empty of them: p ≈ 4·10⁻⁵), so the resume below meets one.
    const { conv, writer } = await writerAndListeners(200, { history: { max_frames: 10 } });
    for (let i = 0; i < 30; i++) writer.send({ type: 'token', data: `t${i}` });
    await barrier(writer);
    const l = await connect(conv.observer_link, { params: { since: '1', epoch: conv.epoch } });
    const notice = await l.next(isType('x_truncated'));
    const rows = await l.count(isType('token'), 10);
    expect(notice).toMatchObject({ from_seq: 2, to_seq: seqOf(rows[0]) - 1, epoch: conv.epoch });
    expect(l.frames.findIndex(isType('x_truncated'))).toBeLessThan(l.frames.findIndex(isType('token')));
    const beyond = await connect(conv.observer_link, { params: { since: '99999', epoch: conv.epoch } });
    expect(await beyond.closed).toEqual({ code: 4920, reason: 'invalid_cursor' });
  });

  it('SSE tails are shard listeners too, with the same wire frames', async () => {
    const { conv, writer } = await writerAndListeners(0);
    const res = await SELF.fetch(route(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    writer.send({ type: 'token', data: 'over sse' });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('over sse')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/^retry: 2000\nevent: joined\ndata: \{"type":"joined"/);
    expect(text).toMatch(/id: \d+\nevent: token\ndata: \{"type":"token"[^\n]*"data":"over sse"/);
    await reader.cancel();
  });

  it('rotation closes shard listeners 4001 after the frames logged before it; deletion closes them 4910', async () => {
    const { owner, conv, writer, listeners } = await writerAndListeners(5);
    writer.send({ type: 'token', data: 'last words' });
    await barrier(writer);
    const rotated = await SELF.fetch(`https://ams.test/v1/${owner.namespace}/conversations/${conv.alias}/links/rotate`, { method: 'POST', headers: { authorization: `Bearer ${owner.credential}` } });
    expect(rotated.status).toBe(200);
    const links = (await rotated.json()) as { observer_link: string };
    for (const l of listeners) {
      expect(await l.closed).toEqual({ code: 4001, reason: 'invalid_magic_link' });
      expect(l.frames.some((f) => f.type === 'token' && f.data === 'last words')).toBe(true);
    }
    const fresh = await Promise.all([connect(links.observer_link), connect(links.observer_link)]);
    await Promise.all(fresh.map((l) => l.next(isType('joined'))));
    const deleted = await SELF.fetch(`https://ams.test/v1/${owner.namespace}/conversations/${conv.alias}`, { method: 'DELETE', headers: { authorization: `Bearer ${owner.credential}` } });
    expect(deleted.status).toBeLessThan(300);
    for (const l of fresh) expect(await l.closed).toEqual({ code: 4910, reason: 'conversation_closed' });
  });

  it('a budget is filled exactly: every listener up to it is admitted, in concurrent waves, and the next is refused', async () => {
    const budget = 300;
    const { owner, conv } = await writerAndListeners(0, { audience: { max_listeners: budget } });
    const admitted: TestSocket[] = [];
    while (admitted.length < budget) {
      const wave = await Promise.all(Array.from({ length: 100 }, () => connect(conv.observer_link)));
      await Promise.all(wave.map((l) => l.next(isType('joined'))));
      admitted.push(...wave);
    }
    expect((await inspect(owner, conv.alias)).audience).toMatchObject({ listeners: budget, max_listeners: budget });
    for (let i = 0; i < 5; i++) {
      const s = await connect(conv.observer_link);
      const first = await Promise.race([s.next(isType('joined')).then(() => 'joined'), s.closed]);
      expect(first).toEqual({ code: 4913, reason: 'conversation_full' });
    }
  }, 90_000);

  it('the listener budget set at mint refuses the next listener 4913, never a writer', async () => {
    const { owner, conv, listeners } = await writerAndListeners(3, { audience: { max_listeners: 3 } });
    expect(listeners).toHaveLength(3);
    const extra = await connect(conv.observer_link);
    expect(await extra.closed).toEqual({ code: 4913, reason: 'conversation_full' });
    // One leaves: its shard hands the place back, and the next listener (on whichever shard) is admitted.
    listeners[0].close();
    await listeners[0].closed;
    let again: TestSocket | undefined;
    for (let tries = 0; tries < 20 && !again; tries++) {
      const s = await connect(conv.observer_link);
      const first = await Promise.race([s.next(isType('joined')).then(() => 'joined' as const), s.closed.then((c) => c.code)]);
      if (first === 'joined') again = s;
      else expect(first).toBe(4913);
    }
    expect(again).toBeDefined();
    expect(await (await connect(conv.observer_link)).closed).toEqual({ code: 4913, reason: 'conversation_full' });
    const speaker = await connect(conv.magic_link, { credential: (await account()).credential, headers: { 'X-AMS-Stream-Name': 'late' } });
    expect(await speaker.next(isType('joined'))).toMatchObject({ stream_name: 'late' });
    expect((await inspect(owner, conv.alias)).audience).toMatchObject({ max_listeners: 3 });
    const bad = await SELF.fetch(`https://ams.test/v1/${owner.namespace}/conversations`, {
      method: 'POST', headers: { authorization: `Bearer ${owner.credential}`, 'content-type': 'application/json' }, body: JSON.stringify({ audience: { max_listeners: 0 } }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_audience' });
  });
});
