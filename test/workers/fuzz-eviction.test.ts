/**
 * Evicting the conversation object at random points of a stream, in workerd.
 * An eviction that hibernates the sockets must be invisible: the stream goes
 * on, every frame once, in order, no presence churn. An eviction that closes
 * the sockets (what a crash or a deploy does) must leave a log whose presence
 * is true: each stream that was live is announced gone exactly once.
 */
import fc from 'fast-check';
import { env, evictDurableObject, SELF } from 'cloudflare:test';
import { expect, it } from 'vitest';
import { SEED } from '../fuzz/arbitraries';
import { Bystander, connect, createAccount, inspect, mint, routeOf, type Peer, type TestConversation } from '../fuzz/workerd';

function stubOf(ns: string, alias: string): DurableObjectStub {
  const ns_ = (env as unknown as { CONVERSATIONS: DurableObjectNamespace }).CONVERSATIONS;
  return ns_.get(ns_.idFromName(`${ns}/${alias}`));
}

async function receipts(p: Peer, n: number): Promise<number[]> {
  await p.until(() => p.frames.filter((f) => f.type === 'x_receipt').length >= n, `${n} receipts`);
  return p.frames.filter((f) => f.type === 'x_receipt').map((f) => (f as { seq: number }).seq);
}

it('keeps a stream whole across evictions that hibernate its sockets, wherever they fall', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 4 }), async (bursts) => {
      const A = await createAccount('evict-a');
      const conv = await mint(A);
      const bystander = await Bystander.open(conv.observer_link);
      const emitter = await connect(conv.magic_link, { credential: A.credential, headers: { 'x-ams-receipts': '1' } });
      await emitter.joined();
      let sent = 0;
      for (const n of bursts) {
        for (let i = 0; i < n; i++) emitter.send({ type: 'token', data: `t${sent++}` });
        const seqs = await receipts(emitter, sent);
        await bystander.reach(seqs.at(-1)!);
        await evictDurableObject(stubOf(A.namespace, conv.alias), { webSockets: 'hibernate' });
      }
      emitter.send({ type: 'token', data: 'after' });
      const seqs = await receipts(emitter, sent + 1);
      await bystander.reach(seqs.at(-1)!);
      bystander.assertIntact();
      expect(bystander.tokensSince(0).map((t) => t.data)).toEqual([...Array.from({ length: sent }, (_, i) => `t${i}`), 'after']);
      expect(bystander.peer.logged().filter((f) => f.type !== 'token').map((f) => f.type)).toEqual(['stream_joined']);
      // The emitter is the object's own connection; the bystander is held by an audience shard the woken object keeps feeding.
      const info = (await inspect(A, conv.alias)) as { connections: number; audience?: { listeners: number } };
      expect([info.connections, info.audience?.listeners]).toEqual([1, 1]);
      await emitter.close();
      await bystander.peer.close();
    }),
    { seed: SEED, numRuns: 8 },
  );
}, 60_000);

/** The presence frames of the log, per stream, in order. */
async function presence(conv: TestConversation): Promise<Map<string, string[]>> {
  const page = (await (await SELF.fetch(routeOf(conv.observer_link, '/history', { limit: '1000' }))).json()) as { frames: Array<{ type: string; stream_id: string }> };
  const out = new Map<string, string[]>();
  for (const f of page.frames) if (f.type !== 'token') out.set(f.stream_id, [...(out.get(f.stream_id) ?? []), f.type]);
  return out;
}

it('announces every stream that was live as gone, once, after an eviction that closed its sockets', async () => {
  const A = await createAccount('evict-c');
  const B = await createAccount('evict-d');
  const conv = await mint(A);
  const writers = [
    await connect(conv.magic_link, { credential: A.credential }),
    await connect(conv.magic_link, { credential: B.credential, headers: { 'x-ams-stream-name': 'b1' } }),
    await connect(conv.magic_link, { credential: B.credential, headers: { 'x-ams-stream-name': 'b2' } }),
  ];
  const joined = await Promise.all(writers.map((w) => w.joined()));
  const quiet = await connect(conv.magic_link, { credential: B.credential, headers: { 'x-ams-stream-name': 'b3' } });
  await quiet.joined();
  await quiet.close();
  await evictDurableObject(stubOf(A.namespace, conv.alias), { webSockets: 'close' });
  // The next request wakes the object: the three live streams are announced gone, the quiet one is not announced again.
  const info = await inspect(A, conv.alias);
  expect(info.connections).toBe(0);
  const p = await presence(conv);
  for (const j of joined) expect(p.get(j.stream_id!)).toEqual(['stream_joined', 'stream_left']);
  expect([...p.values()].filter((seq) => seq.join() === 'stream_joined,stream_left').length).toBe(4);
  // Coming back is a fresh join, and the log stays alternating.
  const again = await connect(conv.magic_link, { credential: B.credential, headers: { 'x-ams-stream-name': 'b1' } });
  const rejoined = await again.joined();
  expect(rejoined.stream_id).toBe(joined[1].stream_id);
  await again.close();
  expect((await presence(conv)).get(joined[1].stream_id!)).toEqual(['stream_joined', 'stream_left', 'stream_joined', 'stream_left']);
  // A second wake finds nothing more to announce.
  await evictDurableObject(stubOf(A.namespace, conv.alias), { webSockets: 'close' }).catch(() => undefined);
  expect((await inspect(A, conv.alias)).head_seq).toBe(info.head_seq + 2);
});
