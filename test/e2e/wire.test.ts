import { describe, expect, it } from 'vitest';
import { verifyChain, type LoggedFrame } from '../../src/client';
import { accounts, barrier, logged, open, useBroker, waitFor } from './support';

const e2e = useBroker();

describe('the wire over a real wrangler dev', () => {
  it('5 subscribers see one identical total order of 3 concurrent emitters × 1,000 tokens, none lost or doubled', async () => {
    const [owner, ...rest] = await accounts(e2e.api, 8);
    const conv = await e2e.api.createConversation(owner);
    const emitters = [owner, rest[0], rest[1]].map((acc, k) => open(conv.magic_link, { credential: acc.credential, streamName: `emitter-${k}` }));
    const subs = rest.slice(2, 7).map((acc) => open(conv.magic_link, { credential: acc.credential }));
    await Promise.all([...emitters, ...subs].map((s) => s.joined));
    const per = 1_000;
    await Promise.all(emitters.map(async (e, k) => {
      for (let i = 0; i < per; i++) {
        e.send(`${k}:${i}`);
        if (i % 100 === 99) await new Promise((r) => setImmediate(r));
      }
    }));
    for (const s of subs) await waitFor(() => s.tokens().length >= per * 3, 60_000, 'all tokens');
    await Promise.all(emitters.map(barrier));
    const orders = subs.map((s) => logged(s.frames).filter((f) => f.type === 'token').map((f) => f.seq));
    for (const o of orders) expect(o).toEqual(orders[0]);
    expect(new Set(orders[0]).size).toBe(per * 3);
    for (const s of subs) {
      for (let k = 0; k < 3; k++) {
        expect(s.tokens().filter((d) => d.startsWith(`${k}:`))).toEqual(Array.from({ length: per }, (_, i) => `${k}:${i}`));
      }
    }
    for (const e of emitters) expect(e.tokens().every((d) => !d.startsWith(`${emitters.indexOf(e)}:`))).toBe(true);
    await Promise.all([...emitters, ...subs].map((s) => s.close()));
  });

  it('a stream flooding past its rate limit is closed 4929 while a peer keeps its flow', async () => {
    const [a, b, c] = await accounts(e2e.api, 3);
    const conv = await e2e.api.createConversation(a);
    const flood = open(conv.magic_link, { credential: b.credential, streamName: 'flood' });
    const calm = open(conv.magic_link, { credential: a.credential });
    const listener = open(conv.magic_link, { credential: c.credential });
    await Promise.all([flood.joined, calm.joined, listener.joined]);
    for (let i = 0; i < 6_000; i++) flood.send(`f${i}`);
    expect(await flood.closed).toEqual({ code: 4929, reason: 'rate_limited' });
    calm.send('still flowing');
    await listener.next((f) => f.type === 'token' && f.data === 'still flowing', 20_000);
    const floodTokens = listener.tokens().filter((d) => d.startsWith('f'));
    expect(floodTokens.length).toBeGreaterThanOrEqual(2_000);
    expect(floodTokens).toEqual(floodTokens.map((_, i) => `f${i}`));
  });

  it('a subscriber that misses 500 tokens resumes with exactly those, in order, then live ones — even while tokens keep coming', async () => {
    const [a, b] = await accounts(e2e.api, 2);
    const conv = await e2e.api.createConversation(a);
    const emitter = open(conv.magic_link, { credential: a.credential });
    const sub = open(conv.magic_link, { credential: b.credential, streamName: 'reader' });
    await Promise.all([emitter.joined, sub.joined]);
    emitter.send('before');
    await sub.next((f) => f.type === 'token');
    const cursor = sub.lastSeq;
    await sub.close();
    for (let i = 0; i < 500; i++) emitter.send(`missed-${i}`);
    await barrier(emitter);
    // Resume while the emitter keeps emitting: replay and live must meet with no gap and no duplicate.
    let live = 0;
    const pump = setInterval(() => emitter.send(`live-${live++}`), 1);
    const back = open(conv.magic_link, { credential: b.credential, streamName: 'reader', since: cursor, epoch: sub.epoch });
    await back.joined;
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(pump);
    await barrier(emitter);
    await waitFor(() => back.tokens().includes(`live-${live - 1}`), 20_000, 'last live token');
    const data = back.tokens();
    expect(data.slice(0, 500)).toEqual(Array.from({ length: 500 }, (_, i) => `missed-${i}`));
    expect(data.slice(500)).toEqual(Array.from({ length: live }, (_, i) => `live-${i}`));
    // Exactly the frames an observer holds after the cursor, minus those of b's own stream.
    const seqs = logged(back.frames).map((f) => f.seq);
    const obs = open(conv.observer_link, { since: cursor });
    await obs.joined;
    await waitFor(() => logged(obs.frames).some((f) => f.seq >= seqs[seqs.length - 1]), 20_000, 'observer replay');
    const expected = logged(obs.frames).filter((f) => (f as { owner_account_id?: string }).owner_account_id !== b.account_id).map((f) => f.seq);
    expect(seqs).toEqual(expected.filter((s) => s <= seqs[seqs.length - 1]));
    await Promise.all([obs.close(), back.close(), emitter.close()]);
  });
});

describe('state survives the broker being killed', () => {
  it('after SIGKILL and restart, streams, seq, log and chain continue, and a resuming client loses nothing acknowledged', async () => {
    const [a, b] = await accounts(e2e.api, 2);
    const conv = await e2e.api.createConversation(a);
    const emitter = open(conv.magic_link, { credential: a.credential, receipts: true, streamName: 'writer' });
    const joined = await emitter.joined;
    for (let i = 0; i < 100; i++) emitter.send(`pre-${i}`, { id: `pre-${i}` });
    await waitFor(() => emitter.frames.filter((f) => f.type === 'x_receipt').length === 100, 20_000, 'receipts');
    const acked = emitter.frames.filter((f) => f.type === 'x_receipt').map((f) => (f as { seq: number }).seq);

    await e2e.broker.kill();
    await e2e.restart();

    const again = open(conv.magic_link, { credential: a.credential, receipts: true, streamName: 'writer' });
    const j2 = await again.joined;
    expect(j2).toMatchObject({ stream_id: joined.stream_id, resumed: true });
    again.send('post', { id: 'post' });
    const receipt = await again.next((f) => f.type === 'x_receipt');
    expect((receipt as { seq: number }).seq).toBeGreaterThan(Math.max(...acked));
    // An idempotency key from before the crash is still known.
    again.send('pre-0 again', { id: 'pre-0' });
    const dup = await again.next((f) => f.type === 'x_receipt' && (f as { id?: string }).id === 'pre-0');
    expect(dup).toMatchObject({ seq: acked[0], duplicate: true });

    const obs = open(conv.observer_link, { since: 0, integrity: true });
    await obs.joined;
    await barrier(again);
    const info = await e2e.api.inspect(a.namespace, conv.alias, b.credential);
    await waitFor(() => logged(obs.frames).some((f) => f.seq >= (info.head_seq as number)), 20_000, 'full replay');
    const frames = logged(obs.frames) as unknown as Array<LoggedFrame & { chain: string }>;
    expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: info.head_seq as number }, (_, i) => i + 1));
    for (const s of acked) expect(frames.some((f) => f.seq === s && f.type === 'token')).toBe(true);
    expect(verifyChain(frames)).toEqual({ ok: true, head: info.head_chain });
    await Promise.all([again.close(), obs.close()]);
  });
});
