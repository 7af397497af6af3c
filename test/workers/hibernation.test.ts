import { env, evictDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { account, barrier, connect, inspect, isType, mint, tokenData } from './support';

const stubOf = (ns: string, alias: string) => env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${ns}/${alias}`));

describe('hibernation: the object is evicted while sockets stay open', () => {
  it('rebuilds streams, subscriber sets and self-exclusion from socket attachments', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const sa = await connect(conv.magic_link, { credential: a.credential, params: { receipts: '1' } });
    const sb = await connect(conv.magic_link, { credential: b.credential, headers: { 'X-AMS-Stream-Name': 'bob' } });
    const obs = await connect(conv.observer_link, { params: { integrity: 'chain' } });
    await Promise.all([sa, sb, obs].map((s) => s.next(isType('joined'))));
    sa.send({ type: 'token', data: 'before' });
    await sb.next(isType('token'));
    await barrier(sa);

    await evictDurableObject(stubOf(a.namespace, conv.alias));

    sa.send({ type: 'token', data: 'after' });
    sb.send({ type: 'token', data: 'bob after' });
    await sb.count(isType('token'), 2);
    await sa.next((f) => f.type === 'token' && f.data === 'bob after');
    await obs.count(isType('token'), 3);
    await barrier(sa);
    await barrier(sb);
    expect(tokenData(sb)).toEqual(['before', 'after']);
    expect(tokenData(sa)).toEqual(['bob after']);
    expect(tokenData(obs)).toEqual(['before', 'after', 'bob after']);
    const seqs = obs.frames.filter((f) => 'seq' in f && f.type !== 'joined').map((f) => (f as { seq: number }).seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
    // Per-connection options survived too: receipts for a, chain for the observer.
    expect(sa.frames.filter(isType('x_receipt'))).toHaveLength(2);
    expect(obs.frames.filter(isType('token')).every((f) => typeof (f as { chain?: string }).chain === 'string')).toBe(true);

    const info = await inspect(a, conv.alias);
    // The two writers are the object's own; the observer is held by an audience shard, which the woken object still feeds.
    expect(info.connections).toBe(2);
    expect(info.audience.listeners).toBe(1);
    expect(info.streams.filter((s: { connected: boolean }) => s.connected)).toHaveLength(2);
  });

  it('after a wake, takeover, stream_left and new joins behave as before', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a, { stream_name: 'agent' });
    const first = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 'agent' } });
    const sb = await connect(conv.magic_link, { credential: b.credential });
    await Promise.all([first.next(isType('joined')), sb.next(isType('joined'))]);

    await evictDurableObject(stubOf(a.namespace, conv.alias));

    const second = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 'agent' } });
    expect(await second.next(isType('joined'))).toMatchObject({ stream_id: conv.stream_id, resumed: true, peers: [expect.objectContaining({ owner_account_id: b.account_id })] });
    expect(await first.closed).toEqual({ code: 4901, reason: 'stream_displaced' });

    await evictDurableObject(stubOf(a.namespace, conv.alias));

    const c = await account();
    const sc = await connect(conv.magic_link, { credential: c.credential });
    const jc = await sc.next(isType('joined'));
    expect((jc as { peers: Array<{ stream_name: string }> }).peers.map((p) => p.stream_name).sort()).toEqual(['agent', (sb.frames[0] as { stream_name: string }).stream_name].sort());
    second.close();
    expect(await sb.next(isType('stream_left'))).toMatchObject({ stream_id: conv.stream_id });
    expect(sb.frames.filter((f) => f.type === 'stream_left' || f.type === 'stream_joined').map((f) => f.type)).toEqual(['stream_joined', 'stream_left']);
  });
});
