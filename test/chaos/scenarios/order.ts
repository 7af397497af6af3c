/**
 * Order scenarios: many emitters at once (one total order, per-stream
 * emission order, receipts that match), stream takeover races (exactly one
 * holder, no spurious presence frames), and cursors the log can no longer
 * serve (x_truncated names exactly what is lost).
 */
import { linkRoute, verifyChain } from '../../../src/client';
import type { LoggedFrame } from '../../../src/protocol/frames';
import { assert, assertContiguous, loggedOf, receiptsOf, type World } from '../world';
import type { Scenario } from '../runner';

export const concurrentEmitters: Scenario = {
  name: 'concurrent-emitters',
  what: 'many accounts emit at once; every subscriber sees one total order, each stream in emission order, receipts match the log and the chain verifies',
  async run(w) {
    const owner = await w.account('order-o');
    // A window larger than the run, so the history API can serve every frame for the comparison.
    const conv = await w.mint(owner, { history: { max_frames: 1_000_000 } });
    w.track(owner, conv);
    const emitters = w.n(6, 20);
    const perEmitter = w.n(150, 600);
    const watchers = [w.open(conv.observer_link, { integrity: true }), w.open(conv.observer_link), w.open(conv.magic_link, { credential: owner.credential, streamName: 'listener' })];
    await Promise.all(watchers.map((s) => s.joined));
    const accounts = await Promise.all(Array.from({ length: emitters }, (_, i) => w.account(`order-${i}`)));
    const sockets = accounts.map((a, i) => w.open(conv.magic_link, { credential: a.credential, receipts: true, streamName: `e${i}` }));
    const joined = await Promise.all(sockets.map((s) => s.joined));
    // Counted as they arrive: re-scanning ~12,000 frames per socket on every poll would slow the very client it waits for.
    const receiptCounts = sockets.map(() => 0);
    sockets.forEach((s, i) => s.onFrame((f) => { if (f.type === 'x_receipt') receiptCounts[i] += 1; }));
    // Interleave sends across emitters in a seeded order.
    const next = new Array(emitters).fill(0);
    for (let left = emitters * perEmitter; left > 0; left--) {
      let i = w.pick(emitters);
      while (next[i] >= perEmitter) i = (i + 1) % emitters;
      sockets[i].send(`e${i}-${next[i]}`, { id: `e${i}-${next[i]}` });
      next[i] += 1;
    }
    w.tally.tokensEmitted += emitters * perEmitter;
    // Each receipt arrives behind every peer frame logged before it (20 emitters hear 19 others: ~230,000 frames),
    // so how long this takes is the machine's load; a receipt that never comes stops the count.
    const sentAt = Date.now();
    const receipted = () => receiptCounts.reduce((n, k) => n + k, 0);
    await w.untilProgressing(() => receipted() === emitters * perEmitter, receipted, 'all receipts', 30_000, async () => {
      const short = sockets.map((s, i) => ({ i, s, got: receiptsOf(s).length })).filter((e) => e.got !== perEmitter);
      const head = (await w.inspect(owner, conv.alias)).head_seq;
      return `head ${head} after ${emitters * perEmitter} tokens sent; ${short.length} of ${emitters} emitters short: ${short.slice(0, 5).map(({ i, s, got }) => `e${i} ${got}/${perEmitter} receipts, last seq ${receiptsOf(s).at(-1)?.seq ?? '-'}${w.closeOf(s) ? `, closed ${w.closeOf(s)}` : ''}`).join('; ')}`;
    });
    const receiptsMs = Date.now() - sentAt;
    const head = Math.max(...sockets.map((s) => receiptsOf(s).at(-1)!.seq));
    await w.untilProgressing(() => watchers.every((s) => s.lastSeq >= head), () => watchers.reduce((n, s) => n + s.lastSeq, 0), 'watchers at the head');
    const log = await w.history(conv.observer_link);
    const start = (await watchers[0].joined).seq;
    const tokens = log.filter((f) => f.seq <= head && f.type === 'token');
    assert.equal(tokens.length, emitters * perEmitter, 'exactly every token logged');
    for (const [i, s] of sockets.entries()) {
      const mine = tokens.filter((f) => (f as { stream_id: string }).stream_id === joined[i].stream_id);
      assert.deepEqual(mine.map((f) => (f as { data: string }).data), Array.from({ length: perEmitter }, (_, k) => `e${i}-${k}`), `stream e${i} in emission order`);
      assert.deepEqual(receiptsOf(s).map((r) => r.seq), mine.map((f) => f.seq), `receipts of e${i} are its seqs`);
      w.tally.receiptsChecked += perEmitter;
    }
    const joinedAt = await Promise.all(watchers.map(async (s) => (await s.joined).seq));
    for (const [k, s] of watchers.entries()) {
      // Observers hear everything; the owner's listener hears everything but its own account's stream.
      const hears = (f: { owner_account_id: string }) => k < 2 || f.owner_account_id !== owner.account_id;
      const got = loggedOf(s).filter((f) => f.seq <= head);
      const want = log.filter((f) => f.seq > joinedAt[k] && f.seq <= head && hears(f));
      assert.deepEqual(got.map((f) => f.seq), want.map((f) => f.seq), `watcher ${k}: the one total order`);
      // Each from its own `joined.seq`: observers on different audience shards may join a frame apart.
      if (k < 2) assertContiguous(got.map((f) => f.seq), joinedAt[k] + 1, head, `observer ${k}`);
      w.tally.framesVerified += got.length;
    }
    const chained = loggedOf(watchers[0]).filter((f) => f.seq <= head) as unknown as LoggedFrame[];
    const check = verifyChain(chained, { seq: start, chain: (await watchers[0].joined).head_chain! });
    assert.ok(check.ok, `chain broken at ${check.brokenAt}`);
    for (const s of [...sockets, ...watchers]) s.close();
    await w.connectionsReach(owner, conv.alias, 0);
    return { emitters, tokens: emitters * perEmitter, head, receipts_ms: receiptsMs };
  },
};

export const takeoverRaces: Scenario = {
  name: 'takeover-races',
  what: 'many connections of one account race for the same stream name: exactly one holds it, the rest are displaced 4901, peers see no presence churn',
  async run(w) {
    const A = await w.account('race-a');
    const B = await w.account('race-b');
    const conv = await w.mint(A);
    w.track(A, conv);
    const watcher = w.open(conv.observer_link);
    await watcher.joined;
    const rounds = w.n(3, 10);
    const racers = w.n(12, 40);
    let streamId: string | undefined;
    let displaced = 0;
    let holder: ReturnType<World['open']> | undefined;
    for (let r = 0; r < rounds; r++) {
      const attempts = Array.from({ length: racers }, () => w.open(conv.magic_link, { credential: A.credential, receipts: true, streamName: 'contested' }));
      // Another account racing for the same name is refused every time.
      const intruders = Array.from({ length: 3 }, () => w.open(conv.magic_link, { credential: B.credential, streamName: 'contested' }));
      const outcomes = await Promise.all(attempts.map((s) => s.joined.then((j) => j, () => null)));
      for (const s of intruders) assert.deepEqual(await s.closed, { code: 4004, reason: 'stream_name_conflict' });
      w.tally.badInputs += intruders.length;
      for (const j of outcomes) {
        assert.ok(j, 'every racer of the owning account is admitted');
        streamId ??= j.stream_id!;
        assert.equal(j.stream_id, streamId, 'every racer gets the same stream');
      }
      // Every racer was admitted, so the broker has already displaced all but the last one admitted.
      await w.until(() => attempts.filter(closedNow).length >= racers - 1, 'the displacements');
      const alive = attempts.filter((s) => !closedNow(s));
      assert.equal(alive.length, 1, `exactly one holder after round ${r}`);
      for (const s of attempts) if (closedNow(s)) assert.deepEqual(await s.closed, { code: 4901, reason: 'stream_displaced' });
      displaced += racers - 1;
      if (holder) assert.deepEqual(await holder.closed, { code: 4901, reason: 'stream_displaced' });
      holder = alive[0];
      holder.send(`round ${r}`);
      await w.until(() => watcher.tokens().includes(`round ${r}`), `token of round ${r}`);
    }
    const presence = loggedOf(watcher).filter((f) => (f as { stream_id?: string }).stream_id === streamId && f.type !== 'token');
    // One stream_joined for the whole race, however many takeovers.
    assert.deepEqual(presence.map((f) => f.type), ['stream_joined'], 'no presence churn during takeovers');
    assert.deepEqual(watcher.tokens(), Array.from({ length: rounds }, (_, r) => `round ${r}`), 'one token per round, once each');
    holder!.close();
    watcher.close();
    await w.connectionsReach(A, conv.alias, 0);
    return { rounds, racers_per_round: racers, displaced };
  },
};

function closedNow(s: ReturnType<World['open']>): boolean {
  return s.ws.readyState >= 2;
}

export const unrecoverableCursors: Scenario = {
  name: 'unrecoverable-cursors',
  what: 'cursors older than a small history window, of another epoch, beyond the head, and with history off, get exactly the documented truncation or 4920',
  async run(w) {
    const A = await w.account('trunc-a');
    const keep = 20;
    const conv = await w.mint(A, { history: { max_frames: keep } });
    w.track(A, conv);
    const n = w.n(100, 400);
    const post = async (items: string[]) => {
      const res = await fetch(linkRoute(conv.magic_link, 'tokens', { stream_name: 'window' }), {
        method: 'POST', headers: { authorization: `Bearer ${A.credential}`, 'content-type': 'application/json' }, body: JSON.stringify(items),
      });
      assert.equal(res.status, 200);
    };
    await post(Array.from({ length: n }, (_, i) => `t${i + 1}`));
    w.tally.tokensEmitted += n;
    const first = n - keep + 1;
    const cases: Array<{ since: number; epoch?: string; truncated?: [number, number]; from: number }> = [
      { since: 0, truncated: [1, first - 1], from: first },
      { since: 10, truncated: [11, first - 1], from: first },
      { since: first - 2, truncated: [first - 1, first - 1], from: first },
      { since: first - 1, from: first },
      { since: n - 5, from: n - 4 },
      { since: n, from: n + 1 },
      { since: 10, epoch: 'another-epoch', truncated: [1, first - 1], from: first },
    ];
    for (const c of cases) {
      const s = w.open(conv.observer_link, { since: c.since, epoch: c.epoch ?? conv.epoch });
      await s.joined;
      await w.until(() => (loggedOf(s).at(-1)?.seq ?? c.from - 1) >= n, `replay from ${c.since}`);
      // The notice carries the broker's time (ts); what is compared is the range it names.
      const trunc = s.frames.filter((f) => f.type === 'x_truncated').map((f) => {
        const { ts, ...rest } = f as typeof f & { ts?: unknown };
        assert.equal(typeof ts, 'string', 'x_truncated carries ts');
        return rest;
      });
      assert.deepEqual(trunc, c.truncated ? [{ type: 'x_truncated', from_seq: c.truncated[0], to_seq: c.truncated[1], epoch: conv.epoch }] : [], `truncation for since=${c.since}`);
      if (c.truncated) assert.equal(s.frames[1].type, 'x_truncated', 'x_truncated comes before the replay');
      assertContiguous(loggedOf(s).map((f) => f.seq), c.from, n, `replay for since=${c.since}`);
      assert.deepEqual(s.tokens(), Array.from({ length: n - c.from + 1 }, (_, i) => `t${c.from + i}`));
      w.tally.framesVerified += loggedOf(s).length;
      s.close();
    }
    const beyond = w.open(conv.observer_link, { since: n + 1, epoch: conv.epoch });
    assert.deepEqual(await beyond.closed, { code: 4920, reason: 'invalid_cursor' });
    const page = (await (await fetch(linkRoute(conv.observer_link, 'history', { since: '10' }))).json()) as { frames: Array<{ seq: number }>; truncated: unknown };
    assert.deepEqual(page.truncated, { from_seq: 11, to_seq: first - 1 });
    assert.deepEqual(page.frames.map((f) => f.seq), Array.from({ length: keep }, (_, i) => first + i));
    // SSE honours Last-Event-ID with the same truncation.
    const ac = new AbortController();
    const res = await fetch(linkRoute(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream', 'last-event-id': '10' }, signal: ac.signal });
    const reader = res.body!.getReader();
    let text = '';
    while ((text.match(/^id: /gm) ?? []).length < keep) text += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    w.tally.faults += 1;
    assert.match(text, new RegExp(`event: x_truncated\\ndata: \\{"type":"x_truncated","from_seq":11,"to_seq":${first - 1},"epoch":"${conv.epoch}","ts":"[^"]+"\\}`));
    assert.deepEqual([...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])), Array.from({ length: keep }, (_, i) => first + i));
    // With history off, every resume is truncated to the head, and seq and chain still advance.
    const off = await w.mint(A, { history: { max_frames: 0 } });
    w.track(A, off);
    const emitter = w.open(off.magic_link, { credential: A.credential, receipts: true });
    await emitter.joined;
    for (let i = 0; i < 5; i++) emitter.send(`off${i}`);
    await w.until(() => receiptsOf(emitter).length === 5, 'receipts with history off');
    const late = w.open(off.observer_link, { since: 0, epoch: off.epoch });
    await late.joined;
    await w.until(() => late.frames.length >= 2, 'truncation notice');
    const { ts: lateTs, ...lateNotice } = late.frames[1] as typeof late.frames[1] & { ts?: unknown };
    assert.equal(typeof lateTs, 'string', 'x_truncated carries ts');
    assert.deepEqual(lateNotice, { type: 'x_truncated', from_seq: 1, to_seq: 6, epoch: off.epoch });
    assert.equal(loggedOf(late).length, 0);
    const info = await w.inspect(A, off.alias);
    assert.equal(info.head_seq, 6);
    assert.match(info.head_chain, /^[0-9a-f]{64}$/);
    emitter.close();
    late.close();
    await w.connectionsReach(A, off.alias, 0);
    await w.tailsGone(A, conv.alias, 0, () => post(['poke']));
    return { window: keep, head: n, cursors_tried: cases.length + 3 };
  },
};
