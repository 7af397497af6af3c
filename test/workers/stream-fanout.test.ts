import { describe, expect, it } from 'vitest';
import { account, barrier, connect, inspect, isType, ISO_TS, mint, settle, tokenData } from './support';

describe('fan-out with structural self-exclusion', () => {
  it('sends joined first, with the peers that are live and their metadata', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const sa = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Metadata': btoa(JSON.stringify({ role: 'planner' })) } });
    const ja = await sa.next(isType('joined'));
    expect(sa.frames[0].type).toBe('joined');
    expect(ja).toMatchObject({ conversation_id: conv.conversation_id, stream_id: conv.stream_id, stream_name: conv.stream_name, metadata: { role: 'planner' }, self_subscribe: false, peers: [], resumed: false, scope: 'write' });
    const sb = await connect(conv.magic_link, { credential: b.credential, headers: { 'X-AMS-Stream-Name': 'bob' } });
    const jb = await sb.next(isType('joined'));
    expect(jb).toMatchObject({ stream_name: 'bob', peers: [{ stream_id: conv.stream_id, stream_name: conv.stream_name, owner_account_id: a.account_id, metadata: { role: 'planner' } }] });
    expect((jb as { seq: number }).seq).toBe(2);
    expect((ja as { epoch: string }).epoch).toBe(conv.epoch);
  });

  it('announces stream_joined and stream_left to the others, with seqs', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const sa = await connect(conv.magic_link, { credential: a.credential });
    await sa.next(isType('joined'));
    const sb = await connect(conv.magic_link, { credential: b.credential, headers: { 'X-AMS-Stream-Name': 'bob' } });
    const jb = await sb.next(isType('joined'));
    const joined = await sa.next(isType('stream_joined'));
    expect(joined).toMatchObject({ stream_id: (jb as { stream_id: string }).stream_id, stream_name: 'bob', owner_account_id: b.account_id, metadata: {}, seq: 2 });
    sb.close();
    const left = await sa.next(isType('stream_left'));
    expect(left).toMatchObject({ stream_name: 'bob', owner_account_id: b.account_id, seq: 3 });
    expect(sb.frames.filter((f) => f.type === 'stream_joined' || f.type === 'stream_left')).toEqual([]);
  });

  it('delivers a token to every other subscriber and never to its owner', async () => {
    const a = await account();
    const b = await account();
    const c = await account();
    const conv = await mint(a);
    const sa = await connect(conv.magic_link, { credential: a.credential });
    const sb = await connect(conv.magic_link, { credential: b.credential });
    const sc = await connect(conv.magic_link, { credential: c.credential });
    await Promise.all([sa, sb, sc].map((s) => s.next(isType('joined'))));
    sa.send({ type: 'token', data: 'from a' });
    const [tb, tc] = await Promise.all([sb.next(isType('token')), sc.next(isType('token'))]);
    expect(tb).toMatchObject({ stream_id: conv.stream_id, stream_name: conv.stream_name, owner_account_id: a.account_id, data: 'from a' });
    expect(tb).toEqual(tc);
    expect((tb as { ts: string }).ts).toMatch(ISO_TS);
    await barrier(sb);
    await barrier(sa);
    expect(tokenData(sa)).toEqual([]);
  });

  it('an account with two streams hears neither of them, but hears others', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const a1 = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 'a-one' } });
    const a2 = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Stream-Name': 'a-two' } });
    const sb = await connect(conv.magic_link, { credential: b.credential });
    await Promise.all([a1, a2, sb].map((s) => s.next(isType('joined'))));
    expect((a2.frames[0] as { peers: unknown[] }).peers).toEqual([]);
    a1.send({ type: 'token', data: 'one' });
    a2.send({ type: 'token', data: 'two' });
    sb.send({ type: 'token', data: 'bee' });
    await sb.count(isType('token'), 2);
    await a1.next(isType('token'));
    await a2.next(isType('token'));
    await barrier(a1);
    await barrier(a2);
    expect(tokenData(a1)).toEqual(['bee']);
    expect(tokenData(a2)).toEqual(['bee']);
    expect(tokenData(sb).sort()).toEqual(['one', 'two']);
    expect(a1.frames.filter((f) => f.type === 'stream_joined' && f.owner_account_id === a.account_id)).toEqual([]);
    expect(a1.frames.filter(isType('stream_joined'))).toHaveLength(1);
  });

  it('self-subscription is opt-in and echoes the own stream', async () => {
    const a = await account();
    const conv = await mint(a);
    const echo = await connect(conv.magic_link, { credential: a.credential, headers: { 'X-AMS-Self-Subscribe': 'TRUE' } });
    const j = await echo.next(isType('joined'));
    expect(j).toMatchObject({ self_subscribe: true });
    echo.send({ type: 'token', data: 'me' });
    expect(await echo.next(isType('token'))).toMatchObject({ data: 'me', stream_id: conv.stream_id });
  });

  it('set_metadata replaces the metadata and reaches everyone but the owner', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const sa = await connect(conv.magic_link, { credential: a.credential });
    const sb = await connect(conv.magic_link, { credential: b.credential });
    await Promise.all([sa.next(isType('joined')), sb.next(isType('joined'))]);
    sa.send({ type: 'set_metadata', metadata: { status: 'thinking', nested: { n: 1 } } });
    const m = await sb.next(isType('stream_metadata'));
    expect(m).toMatchObject({ stream_id: conv.stream_id, owner_account_id: a.account_id, metadata: { status: 'thinking', nested: { n: 1 } } });
    await barrier(sa);
    expect(sa.frames.filter(isType('stream_metadata'))).toEqual([]);
    const info = await inspect(a, conv.alias);
    expect(info.streams.find((s: { stream_id: string }) => s.stream_id === conv.stream_id)).toMatchObject({ metadata: { status: 'thinking', nested: { n: 1 } }, connected: true });
  });

  it('keeps one total order: every subscriber sees the same seq sequence', async () => {
    const owners = await Promise.all([account(), account(), account()]);
    const listeners = await Promise.all([account(), account()]);
    const conv = await mint(owners[0]);
    const emitters = await Promise.all(owners.map((o, i) => connect(conv.magic_link, { credential: o.credential, headers: { 'X-AMS-Stream-Name': `e${i}` } })));
    const subs = await Promise.all(listeners.map((l) => connect(conv.magic_link, { credential: l.credential })));
    await Promise.all([...emitters, ...subs].map((s) => s.next(isType('joined'))));
    const per = 200;
    for (let i = 0; i < per; i++) emitters.forEach((e, k) => e.send({ type: 'token', data: `${k}:${i}` }));
    const got = await Promise.all(subs.map((s) => s.count(isType('token'), per * 3, 15_000)));
    const seqs = got.map((frames) => frames.map((f) => (f as { seq: number }).seq));
    expect(seqs[0]).toEqual(seqs[1]);
    expect(new Set(seqs[0]).size).toBe(per * 3);
    for (let k = 0; k < 3; k++) {
      const mine = got[0].map((f) => (f as { data: string }).data).filter((d) => d.startsWith(`${k}:`));
      expect(mine).toEqual(Array.from({ length: per }, (_, i) => `${k}:${i}`));
    }
    await settle();
  });

  it('inspect reports live streams as connected and the head seq', async () => {
    const a = await account();
    const conv = await mint(a);
    const sa = await connect(conv.magic_link, { credential: a.credential });
    await sa.next(isType('joined'));
    sa.send({ type: 'token', data: 'x' });
    await barrier(sa);
    const live = await inspect(a, conv.alias);
    expect(live.streams).toEqual([expect.objectContaining({ stream_id: conv.stream_id, connected: true })]);
    expect(live.head_seq).toBe(2);
    sa.close();
    await sa.closed;
    await settle(100);
    const after = await inspect(a, conv.alias);
    expect(after.streams[0].connected).toBe(false);
    expect(after.head_seq).toBe(3);
  });
});
