import { describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/client/chain';
import type { LoggedFrame } from '../../src/protocol/frames';
import { account, barrier, connect, inspect, isType, mint, settle } from './support';

const seqOf = (f: object) => (f as { seq: number }).seq;

describe('resume from a cursor', () => {
  it('a subscriber that drops gets exactly what it missed, in order, then live frames', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const emitter = await connect(conv.magic_link, { credential: a.credential });
    const sub = await connect(conv.magic_link, { credential: b.credential, headers: { 'X-AMS-Stream-Name': 'reader' } });
    await Promise.all([emitter.next(isType('joined')), sub.next(isType('joined'))]);
    emitter.send({ type: 'token', data: 'seen' });
    const seen = await sub.next(isType('token'));
    sub.close();
    await sub.closed;
    for (let i = 0; i < 50; i++) emitter.send({ type: 'token', data: `missed ${i}` });
    await barrier(emitter);
    const back = await connect(conv.magic_link, { credential: b.credential, headers: { 'X-AMS-Stream-Name': 'reader' }, params: { since: String(seqOf(seen)), epoch: conv.epoch } });
    const joined = await back.next(isType('joined'));
    expect(joined).toMatchObject({ resumed: true });
    const replayed = await back.count(isType('token'), 50);
    expect(replayed.map((f) => (f as { data: string }).data)).toEqual(Array.from({ length: 50 }, (_, i) => `missed ${i}`));
    emitter.send({ type: 'token', data: 'live' });
    await back.next((f) => f.type === 'token' && f.data === 'live');
    const seqs = back.frames.filter((f) => 'seq' in f && f.type !== 'joined').map((f) => seqOf(f as { seq: number }));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    // Its own stream_joined/left were never replayed to it: self-exclusion holds in replay too.
    expect(back.frames.filter((f) => (f.type === 'stream_joined' || f.type === 'stream_left') && f.owner_account_id === b.account_id)).toEqual([]);
  });

  it('a cursor older than the window first gets x_truncated with the exact lost range', async () => {
    const a = await account();
    const conv = await mint(a, { history: { max_frames: 10 } });
    const emitter = await connect(conv.magic_link, { credential: a.credential });
    await emitter.next(isType('joined'));
    for (let i = 1; i <= 30; i++) emitter.send({ type: 'token', data: String(i) });
    await barrier(emitter);
    // Log: seq 1 = stream_joined, tokens 2..31; the window keeps 22..31.
    const obs = await connect(conv.observer_link, { params: { since: '5', epoch: conv.epoch } });
    await obs.next(isType('joined'));
    const trunc = await obs.next(isType('x_truncated'));
    expect(trunc).toEqual({ type: 'x_truncated', from_seq: 6, to_seq: 21, epoch: conv.epoch, ts: expect.any(String) });
    const replayed = await obs.count(isType('token'), 10);
    expect(replayed.map(seqOf)).toEqual(Array.from({ length: 10 }, (_, i) => 22 + i));
    expect(obs.frames.findIndex(isType('x_truncated'))).toBe(1);
    const info = await inspect(a, conv.alias);
    expect(info.history).toEqual({ max_frames: 10, max_age_s: 86400, first_seq: 22 });
  });

  it('a cursor of another epoch is reported as truncated from seq 1', async () => {
    const a = await account();
    const conv = await mint(a);
    const emitter = await connect(conv.magic_link, { credential: a.credential });
    await emitter.next(isType('joined'));
    emitter.send({ type: 'token', data: 'x' });
    await barrier(emitter);
    const obs = await connect(conv.observer_link, { params: { since: '1', epoch: 'someotherepoch' } });
    expect(await obs.next(isType('x_truncated'))).toEqual({ type: 'x_truncated', from_seq: 1, to_seq: 0, epoch: conv.epoch, ts: expect.any(String) });
    expect((await obs.count((f) => 'seq' in f && f.type !== 'joined', 2)).map(seqOf)).toEqual([1, 2]);
  });

  it('with history off, seq and chain still advance and every resume is truncated', async () => {
    const a = await account();
    const conv = await mint(a, { history: { max_frames: 0 } });
    const emitter = await connect(conv.magic_link, { credential: a.credential });
    await emitter.next(isType('joined'));
    emitter.send({ type: 'token', data: 'x' });
    await barrier(emitter);
    const info = await inspect(a, conv.alias);
    expect(info.head_seq).toBe(2);
    expect(info.history).toEqual({ max_frames: 0, max_age_s: 0, first_seq: 3 });
    const obs = await connect(conv.observer_link, { params: { since: '0' } });
    expect(await obs.next(isType('x_truncated'))).toMatchObject({ from_seq: 1, to_seq: 2 });
  });
});

describe('idempotency, causal links and receipts', () => {
  it('a repeated id is logged once; its receipt repeats the original seq', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const emitter = await connect(conv.magic_link, { credential: a.credential, params: { receipts: '1' } });
    const sub = await connect(conv.magic_link, { credential: b.credential });
    await Promise.all([emitter.next(isType('joined')), sub.next(isType('joined'))]);
    emitter.send({ type: 'token', data: 'once', id: 'msg-1' });
    emitter.send({ type: 'token', data: 'once', id: 'msg-1' });
    emitter.send({ type: 'token', data: 'next', id: 'msg-2', ref: 3 });
    const receipts = await emitter.count(isType('x_receipt'), 3);
    expect(receipts[0]).toEqual({ type: 'x_receipt', seq: 3, id: 'msg-1', ts: expect.any(String) });
    expect(receipts[1]).toEqual({ type: 'x_receipt', seq: 3, id: 'msg-1', duplicate: true, ts: expect.any(String) });
    expect(receipts[2]).toEqual({ type: 'x_receipt', seq: 4, id: 'msg-2', ts: expect.any(String) });
    await sub.count(isType('token'), 2);
    await settle(50);
    const tokens = sub.frames.filter(isType('token'));
    expect(tokens).toHaveLength(2);
    expect(tokens[1]).toMatchObject({ data: 'next', id: 'msg-2', ref: 3, seq: 4 });
  });

  it('receipts are only sent to connections that asked', async () => {
    const a = await account();
    const conv = await mint(a);
    const emitter = await connect(conv.magic_link, { credential: a.credential });
    await emitter.next(isType('joined'));
    emitter.send({ type: 'token', data: 'x', id: 'k' });
    await barrier(emitter);
    expect(emitter.frames.filter(isType('x_receipt'))).toEqual([]);
  });
});

describe('integrity chain', () => {
  it('two subscribers recompute the broker head_chain; the emitter bridges its own frames with receipts', async () => {
    const a = await account();
    const b = await account();
    const conv = await mint(a);
    const emitter = await connect(conv.magic_link, { credential: a.credential, params: { integrity: 'chain', receipts: 'true' } });
    const o1 = await connect(conv.observer_link, { params: { integrity: 'chain', since: '0' } });
    const o2 = await connect(conv.observer_link, { headers: { 'X-AMS-Integrity': 'chain' }, params: { since: '0' } });
    const peer = await connect(conv.magic_link, { credential: b.credential, params: { integrity: 'chain' } });
    await Promise.all([emitter, o1, o2, peer].map((s) => s.next(isType('joined'))));
    for (let i = 0; i < 20; i++) emitter.send({ type: 'token', data: `t${i}`, id: `id${i}` });
    peer.send({ type: 'set_metadata', metadata: { mood: 'ok' } });
    for (let i = 0; i < 5; i++) peer.send({ type: 'token', data: `p${i}` });
    await Promise.all([o1, o2].map((o) => o.count(isType('token'), 25)));
    const info = await inspect(a, conv.alias);
    const logged = (s: typeof o1) => s.frames.filter((f) => 'seq' in f && f.type !== 'joined' && f.type !== 'x_receipt') as Array<LoggedFrame & { chain: string }>;
    const c1 = verifyChain(logged(o1));
    const c2 = verifyChain(logged(o2));
    expect(c1).toEqual({ ok: true, head: info.head_chain });
    expect(c2).toEqual({ ok: true, head: info.head_chain });
    expect(logged(o1).map(seqOf)).toEqual(Array.from({ length: info.head_seq }, (_, i) => i + 1));
    // Altering one frame breaks the check.
    const altered = logged(o1).map((f) => (f.seq === 10 ? { ...f, data: f.type === 'token' ? `${f.data}!` : undefined } : f)) as typeof c1 extends never ? never : Array<LoggedFrame & { chain: string }>;
    expect(verifyChain(altered)).toMatchObject({ ok: false, brokenAt: 10 });
    // The emitter's receipts carry the chain of its own frames.
    const receipts = await emitter.count(isType('x_receipt'), 20);
    for (const r of receipts) expect(logged(o1).find((f) => f.seq === seqOf(r))!.chain).toBe((r as { chain: string }).chain);
  });

  it('joined carries head_chain to connections that ask for integrity', async () => {
    const a = await account();
    const conv = await mint(a);
    const obs = await connect(conv.observer_link, { params: { integrity: 'chain' } });
    expect(await obs.next(isType('joined'))).toMatchObject({ head_chain: '0'.repeat(64), seq: 0 });
  });
});
