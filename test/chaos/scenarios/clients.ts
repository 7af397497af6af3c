/**
 * Clients that misbehave by being slow or by vanishing: a subscriber that
 * stops reading does not hold anyone else back and gets everything when it
 * reads again; subscribers whose TCP connections die (sockets, SSE tails) are
 * noticed, announced (stream_left for writers) and stop being counted.
 */
import { linkRoute } from '../../../src/client';
import { assert, assertContiguous, loggedOf, receiptsOf, type World } from '../world';
import type { Scenario } from '../runner';

type RawSocket = { pause(): void; resume(): void; destroy(): void };
const tcpOf = (s: ReturnType<World['open']>) => (s.ws as unknown as { _socket: RawSocket })._socket;

export const slowAndVanishing: Scenario = {
  name: 'slow-and-vanishing-clients',
  what: 'a subscriber stops reading while others stay live; writers, observers and SSE tails vanish without a close frame',
  async run(w) {
    const A = await w.account('slow-a');
    const B = await w.account('slow-b');
    const conv = await w.mint(A);
    w.track(A, conv);
    const fast = w.open(conv.observer_link);
    const slow = w.open(conv.observer_link);
    const emitter = w.open(conv.magic_link, { credential: A.credential, receipts: true });
    // Each reader is checked from its own joined seq: on different audience shards they may join a frame apart.
    const starts = { fast: (await fast.joined).seq, slow: (await slow.joined).seq };
    await emitter.joined;
    // The slow reader stops reading its TCP socket; the broker keeps sending to everyone.
    tcpOf(slow).pause();
    const n = w.n(400, 1500);
    const payload = 'x'.repeat(256);
    for (let i = 0; i < n; i++) emitter.send(`${i}:${payload}`);
    w.tally.tokensEmitted += n;
    await w.until(() => receiptsOf(emitter).length === n, 'receipts');
    const head = receiptsOf(emitter).at(-1)!.seq;
    await w.until(() => fast.lastSeq >= head, 'the fast reader at the head');
    const slowBefore = loggedOf(slow).length;
    tcpOf(slow).resume();
    await w.until(() => slow.lastSeq >= head, 'the slow reader catching up');
    for (const [who, s] of [['fast', fast], ['slow', slow]] as const) {
      assertContiguous(loggedOf(s).map((f) => f.seq), starts[who] + 1, head, who);
      assert.deepEqual(s.tokens(), Array.from({ length: n }, (_, i) => `${i}:${payload}`), `${who} tokens`);
      w.tally.framesVerified += n;
    }

    // Vanishing: writers and observers whose TCP connections die without a close frame.
    const baseline = (await w.inspect(A, conv.alias)).connections;
    const writers = w.n(5, 10);
    const ghosts = [
      ...Array.from({ length: writers }, (_, i) => w.open(conv.magic_link, { credential: B.credential, streamName: `ghost-${i}` })),
      ...Array.from({ length: w.n(10, 40) }, () => w.open(conv.observer_link)),
    ];
    const ghostJoined = await Promise.all(ghosts.map((s) => s.joined));
    await w.connectionsReach(A, conv.alias, baseline + ghosts.length);
    const beforeVanish = fast.lastSeq;
    for (const s of ghosts) tcpOf(s).destroy();
    w.tally.faults += ghosts.length;
    await w.connectionsReach(A, conv.alias, baseline);
    // Each vanished writer is announced gone exactly once.
    const writerIds = ghostJoined.slice(0, writers).map((j) => j.stream_id);
    await w.until(() => loggedOf(fast).filter((f) => f.type === 'stream_left' && f.seq > beforeVanish).length >= writers, 'stream_left for each vanished writer');
    const left = loggedOf(fast).filter((f) => f.type === 'stream_left' && f.seq > beforeVanish).map((f) => (f as { stream_id: string }).stream_id);
    assert.deepEqual([...left].sort(), [...writerIds].sort(), 'one stream_left per vanished writer');

    // Vanishing SSE tails: the next frame written to them finds them gone.
    const tails = await Promise.all(Array.from({ length: w.n(5, 20) }, async () => {
      const ac = new AbortController();
      const res = await fetch(linkRoute(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream' }, signal: ac.signal });
      const reader = res.body!.getReader();
      await reader.read();
      return ac;
    }));
    w.tally.connections += tails.length;
    await w.connectionsReach(A, conv.alias, baseline + tails.length);
    for (const ac of tails) ac.abort();
    w.tally.faults += tails.length;
    await w.tailsGone(A, conv.alias, baseline, () => emitter.send('wake the tails'));
    for (const s of [fast, slow, emitter]) s.close();
    await w.connectionsReach(A, conv.alias, 0);
    return { tokens_while_paused: n, slow_had_before_resume: slowBefore, vanished_sockets: ghosts.length, vanished_sse: tails.length };
  },
};
