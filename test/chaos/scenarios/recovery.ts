/**
 * Recovery scenarios: a storm of subscribers resuming at once, the dev server
 * SIGKILLed under a stream (receipts never lost; log, seq, chain and epoch
 * continue), and restarts in the middle of a stream with resuming clients and
 * an emitter that retries with idempotency keys.
 */
import { ResumingSocket, linkRoute, verifyChain } from '../../../src/client';
import type { LoggedFrame, ServerFrame } from '../../../src/protocol/frames';
import { Ws, assert, assertContiguous, loggedOf, receiptsOf, sleep, type World } from '../world';
import type { Scenario } from '../runner';

type Logged = ServerFrame & { seq: number; owner_account_id?: string };

/** A frame as every subscriber receives it, without the chain some of them ask for. */
const bare = (f: object) => {
  const { chain: _c, ...rest } = f as { chain?: string };
  return JSON.stringify(rest);
};

/** Emits `n` tokens on a socket with receipts and waits for every receipt; returns the last seq. */
async function emitAll(w: World, s: ReturnType<World['open']>, prefix: string, n: number): Promise<number> {
  const before = receiptsOf(s).length;
  for (let i = 0; i < n; i++) s.send(`${prefix}${i}`, { id: `${prefix}${i}` });
  w.tally.tokensEmitted += n;
  // Receipts share the client process and the object with whatever else the scenario does (200 replays at once):
  // how long they take is the machine's load; a receipt that never comes stops the count.
  await w.untilProgressing(() => receiptsOf(s).length >= before + n, () => receiptsOf(s).length, `${n} receipts for ${prefix}`, 30_000, () => `${receiptsOf(s).length - before} of ${n} receipts${w.closeOf(s) ? `, emitter closed ${w.closeOf(s)}` : ''}`);
  w.tally.receiptsChecked += n;
  return receiptsOf(s).at(-1)!.seq;
}

export const recoveryStorm: Scenario = {
  name: 'recovery-storm',
  what: 'every subscriber drops at once (no close frame) and all reconnect together with their cursors while the emitter keeps going',
  async run(w) {
    const A = await w.account('storm-a');
    const B = await w.account('storm-b');
    const conv = await w.mint(A);
    w.track(A, conv);
    const emitter = w.open(conv.magic_link, { credential: A.credential, receipts: true });
    await emitter.joined;
    const observers = w.n(60, 190);
    const writers = 10;
    const first = [
      ...Array.from({ length: observers }, () => ({ link: conv.observer_link, opts: {} })),
      ...Array.from({ length: writers }, (_, i) => ({ link: conv.magic_link, opts: { credential: B.credential, streamName: `b-${i}` } })),
    ].map((c) => ({ ...c, socket: w.open(c.link, c.opts) }));
    const joinedSeq = await Promise.all(first.map(async (c) => (await c.socket.joined).seq));
    let head = await emitAll(w, emitter, 'before-', w.n(50, 200));
    await w.untilProgressing(() => first.every((c) => c.socket.lastSeq >= head), () => first.reduce((n, c) => n + c.socket.lastSeq, 0), 'everyone caught up');
    // The storm: every subscriber's TCP connection dies at once, without a close frame.
    for (const c of first) (c.socket.ws as unknown as { terminate(): void }).terminate();
    w.tally.faults += first.length;
    head = await emitAll(w, emitter, 'dropped-', w.n(50, 300));
    // Everyone reconnects at the same moment, each with its own cursor, while tokens keep coming.
    const second = first.map((c) => w.open(c.link, { ...c.opts, since: c.socket.lastSeq, epoch: c.socket.epoch }));
    const during = emitAll(w, emitter, 'during-', w.n(50, 300));
    const rejoined = await Promise.all(second.map((s) => s.joined.then(() => true, () => false)));
    assert.ok(rejoined.every(Boolean), 'every subscriber got back in');
    head = await during;
    await w.untilProgressing(() => second.every((s) => s.lastSeq >= head), () => second.reduce((n, s) => n + s.lastSeq, 0), 'everyone resumed to the head', 30_000,
      () => `${second.filter((s) => s.lastSeq < head).length} of ${second.length} below head ${head}`);
    const log = await w.history(conv.observer_link);
    for (const [i, c] of first.entries()) {
      const hears = (f: Logged) => c.link === conv.observer_link || f.owner_account_id !== B.account_id;
      const got = [...loggedOf(c.socket), ...loggedOf(second[i])].filter((f) => f.seq <= head);
      const want = log.filter((f) => f.seq > joinedSeq[i] && f.seq <= head && hears(f));
      assert.deepEqual(got.map((f) => f.seq), want.map((f) => f.seq), `subscriber ${i}: seqs after resume`);
      assert.deepEqual(got.map(bare), want.map(bare), `subscriber ${i}: frames after resume`);
      w.tally.framesVerified += got.length;
    }
    for (const s of [...second, emitter]) s.close();
    await w.connectionsReach(A, conv.alias, 0);
    return { subscribers: first.length, frames_each: head - Math.min(...joinedSeq), head };
  },
};

export const killRestart: Scenario = {
  name: 'sigkill-restart',
  what: 'wrangler dev is SIGKILLed under a live stream and restarted on the same state: receipted tokens survive, seq, chain and epoch continue, retries with the same ids are exactly-once',
  async run(w) {
    const A = await w.account('kill-a');
    const conv = await w.mint(A);
    w.track(A, conv);
    // The watcher joins first, so it hears the whole log from seq 1 and can verify the chain from genesis.
    const watcher = w.open(conv.observer_link, { integrity: true });
    await watcher.joined;
    const emitter = w.open(conv.magic_link, { credential: A.credential, receipts: true, streamName: 'durable' });
    await emitter.joined;
    const total = w.n(300, 1500);
    const killAfter = 50 + w.pick(total / 2);
    const sent: string[] = [];
    // Tokens go out in small bursts; the kill lands while some are in flight.
    for (let i = 0; i < total && receiptsOf(emitter).length < killAfter; i++) {
      emitter.send(`k${i}`, { id: `k${i}` });
      sent.push(`k${i}`);
      if (i % 25 === 24) await sleep(5);
    }
    w.tally.tokensEmitted += sent.length;
    await w.killAndRestart();
    const receipted = receiptsOf(emitter).map((r) => ({ seq: r.seq, id: r.id! }));
    await Promise.all([emitter.closed, watcher.closed]);
    const info = await w.inspect(A, conv.alias);
    assert.equal(info.epoch, conv.epoch, 'the epoch survives the kill');
    const log = await w.history(conv.observer_link);
    const byId = new Map(log.filter((f) => f.type === 'token').map((f) => [(f as { id?: string }).id, f]));
    let lost = 0;
    for (const r of receipted) {
      const f = byId.get(r.id);
      if (!f || f.seq !== r.seq || (f as { data: string }).data !== r.id) lost += 1;
    }
    w.tally.lost += lost;
    w.tally.receiptsChecked += receipted.length;
    assert.equal(lost, 0, `${lost} receipted tokens lost in the kill`);
    assert.equal(log.at(-1)?.seq ?? 0, info.head_seq, 'the log ends at the head');
    const chain = verifyChain(log as unknown as LoggedFrame[]);
    assert.ok(chain.ok, `the chain breaks at ${chain.brokenAt}`);
    assert.equal(chain.head, info.head_chain, 'the recomputed chain is the head chain');
    // The watcher resumes from its cursor across the restart: no gap, no repeat, the chain checks out.
    const resumed = w.open(conv.observer_link, { integrity: true, since: watcher.lastSeq, epoch: watcher.epoch });
    await resumed.joined;
    // The emitter comes back and retries everything without a receipt, with the same ids.
    const back = w.open(conv.magic_link, { credential: A.credential, receipts: true, streamName: 'durable' });
    const joined = await back.joined;
    assert.equal(joined.stream_id, (await emitter.joined).stream_id, 'the stream keeps its id');
    const missing = sent.filter((id) => !receipted.some((r) => r.id === id));
    for (const id of missing) back.send(id, { id });
    back.send('after-restart', { id: 'after-restart' });
    await w.until(() => receiptsOf(back).length >= missing.length + 1, 'receipts for the retries');
    const retries = receiptsOf(back);
    const duplicates = retries.filter((r) => r.duplicate).length;
    const last = retries.at(-1)!;
    const finalLog = await w.history(conv.observer_link);
    // Exactly once: every id appears once in the log, in sending order.
    const ids = finalLog.filter((f) => f.type === 'token').map((f) => (f as { id: string }).id);
    assert.deepEqual(ids, [...sent, 'after-restart'], 'every token exactly once, in order');
    assert.equal(last.seq, finalLog.at(-1)!.seq, 'seq continues after the restart');
    // Presence stays true across the crash: the stream that died with the process is announced gone once, then back.
    const presence = finalLog.filter((f) => f.type !== 'token' && (f as { stream_id?: string }).stream_id === joined.stream_id).map((f) => f.type);
    assert.deepEqual(presence, ['stream_joined', 'stream_left', 'stream_joined'], 'presence across the kill');
    await w.until(() => resumed.lastSeq >= last.seq, 'the watcher resumed to the head');
    const seen = [...loggedOf(watcher), ...loggedOf(resumed)];
    assertContiguous(seen.map((f) => f.seq), 1, last.seq, 'watcher across the kill');
    assert.ok(verifyChain(seen as unknown as LoggedFrame[]).ok, 'the watcher verifies the chain across the kill');
    w.tally.framesVerified += seen.length;
    back.close();
    resumed.close();
    await w.connectionsReach(A, conv.alias, 0);
    return { sent: sent.length, receipted_before_kill: receipted.length, retried: missing.length, duplicates_recognised: duplicates, head: last.seq };
  },
};

export const restartMidStream: Scenario = {
  name: 'eviction-mid-stream',
  what: 'the object is evicted (dev server restarted) while an HTTP emitter streams and resuming clients listen; retries with ids make delivery exactly-once',
  async run(w) {
    const A = await w.account('evict-a');
    const conv = await w.mint(A);
    w.track(A, conv);
    const listeners = w.n(8, 30);
    const got: Logged[][] = Array.from({ length: listeners }, () => []);
    const clients = got.map((bucket) => new ResumingSocket(conv.observer_link, { WebSocket: Ws }, { onFrame: (f) => { if ('seq' in f && f.type !== 'joined') bucket.push(f as Logged); } }, (n) => Math.min(1_000, 50 * 2 ** n)).start());
    w.tally.connections += listeners;
    await w.until(() => clients.every((c) => c.current !== undefined && c.epoch !== undefined), 'listeners live');
    const batches = w.n(30, 120);
    const restartAt = 5 + w.pick(batches - 10);
    let posted = 0;
    for (let b = 0; b < batches; b++) {
      if (b === restartAt) await w.killAndRestart();
      const body = Array.from({ length: 5 }, (_, i) => ({ data: `e${b}-${i}`, id: `e${b}-${i}` }));
      // Retry until the broker answers: a request lost to the restart is sent again with the same ids.
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await fetch(linkRoute(conv.magic_link, 'tokens', { stream_name: 'http-emitter' }), {
            method: 'POST', headers: { authorization: `Bearer ${A.credential}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
          });
          if (res.status === 200) break;
          assert.ok(res.status >= 500 || res.status === 429, `tokens answered ${res.status}`);
        } catch {
          // connection refused while the server restarts
        }
        assert.ok(attempt < 200, 'the broker came back');
        await sleep(50);
      }
      posted += body.length;
    }
    w.tally.tokensEmitted += posted;
    const log = await w.history(conv.observer_link);
    const head = log.at(-1)!.seq;
    const ids = log.filter((f) => f.type === 'token').map((f) => (f as { id: string }).id);
    assert.equal(ids.length, posted, 'every posted token logged exactly once');
    assert.equal(new Set(ids).size, posted, 'no token logged twice');
    await w.until(() => clients.every((c) => c.lastSeq >= head), 'listeners resumed to the head', 60_000);
    for (const [i, bucket] of got.entries()) {
      assertContiguous(bucket.map((f) => f.seq), 1, head, `listener ${i}`);
      assert.deepEqual(bucket.map(bare), log.map(bare), `listener ${i} frames`);
      w.tally.framesVerified += bucket.length;
    }
    const reconnects = clients.reduce((n, c) => n + c.reconnects, 0);
    for (const c of clients) c.close();
    await w.connectionsReach(A, conv.alias, 0);
    return { listeners, tokens: posted, head, reconnects };
  },
};

