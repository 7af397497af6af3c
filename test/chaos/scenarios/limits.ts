/**
 * The limits that keep one participant from breaking or exhausting a
 * conversation (issue 14): metadata nested too deep is refused and the
 * conversation keeps serving; a backlog of heavy frames arrives in 4 MiB
 * replays and pages, each continued from its cursor; an SSE reader that stops
 * reading is shed at 8 MiB and resumes with nothing lost.
 */
import { linkRoute } from '../../../src/client';
import { CLOSE } from '../../../src/protocol/close-codes';
import { LIMITS } from '../../../src/protocol/limits';
import { assert, assertContiguous, loggedOf, type World } from '../world';
import type { Scenario } from '../runner';
import { brackets, readSse } from '../../support/shapes';

const HEAVY = '\u0001'.repeat(LIMITS.tokenBytes);

export const limitsUnderAbuse: Scenario = {
  name: 'limits-under-abuse',
  what: 'metadata 4,000 deep; a backlog of heavy frames read through 4 MiB replays and pages; an SSE reader that stops reading',
  async run(w) {
    const A = await w.account('lim-a');
    const conv = await w.mint(A);
    w.track(A, conv);

    // Nesting: refused on the socket and in the header; the conversation keeps serving.
    const deep = { a: brackets(4_000) };
    const setter = w.open(conv.magic_link, { credential: A.credential, streamName: 'deep' });
    await setter.joined;
    setter.sendRaw(JSON.stringify({ type: 'set_metadata', metadata: deep }));
    assert.deepEqual(await setter.closed, { code: CLOSE.malformed_frame.code, reason: 'malformed_frame' }, 'deep set_metadata');
    const header = w.open(conv.magic_link, { credential: A.credential, streamName: 'deep2', streamMetadata: deep as never });
    assert.deepEqual(await header.closed, { code: CLOSE.invalid_stream_metadata_header.code, reason: 'invalid_stream_metadata_header' }, 'deep header');
    w.tally.badInputs += 2;
    assert.equal((await w.inspect(A, conv.alias)).connections, 0);

    // A heavy backlog (384 KiB of JSON a frame).
    const n = w.n(24, 40);
    for (let done = 0; done < n; done += 15) {
      const res = await fetch(linkRoute(conv.magic_link, 'tokens'), {
        method: 'POST',
        headers: { authorization: `Bearer ${A.credential}`, 'content-type': 'application/x-ndjson' },
        body: Array(Math.min(15, n - done)).fill(HEAVY).join('\n'),
      });
      assert.equal(res.status, 200, `heavy batch: ${res.status}`);
    }
    w.tally.tokensEmitted += n;
    const head = (await w.inspect(A, conv.alias)).head_seq;

    // History pages: at most 4 MiB each, every frame once.
    const pages = await pageSizes(conv.observer_link);
    assert.ok(pages.every((p) => p.bytes <= LIMITS.pageBytes + 1_024), `pages of ${pages.map((p) => p.bytes).join(', ')} bytes`);
    assertContiguous(pages.flatMap((p) => p.seqs), 1, head, 'history pages');

    // A socket replaying from 0: paused at each 4 MiB with 4906, resumed from its last seq.
    const seqs: number[] = [];
    let pauses = 0;
    for (let since = 0; seqs.length < head;) {
      const s = w.open(conv.observer_link, { since });
      await s.joined;
      const outcome = await Promise.race([s.closed, w.until(() => (loggedOf(s).at(-1)?.seq ?? 0) >= head, 'replay to the head').then(() => 'live' as const)]);
      const got = loggedOf(s).map((f) => f.seq);
      seqs.push(...got);
      if (outcome === 'live') {
        s.close();
        break;
      }
      assert.deepEqual(outcome, { code: CLOSE.replay_paused.code, reason: 'replay_paused' }, 'replay pause');
      since = got.at(-1)!;
      pauses++;
    }
    assertContiguous(seqs, 1, head, 'paused replays');
    assert.ok(pauses >= 2, `${pauses} pauses`);
    w.tally.framesVerified += seqs.length + head;

    // An SSE reader that never reads: shed with 4908, then resumed with Last-Event-ID.
    const tail = await fetch(linkRoute(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream' } });
    assert.equal(tail.status, 200);
    await w.connectionsReach(A, conv.alias, 1);
    const more = w.n(60, 80);
    for (let done = 0; done < more; done += 15) {
      const res = await fetch(linkRoute(conv.magic_link, 'tokens'), {
        method: 'POST',
        headers: { authorization: `Bearer ${A.credential}`, 'content-type': 'application/x-ndjson' },
        body: Array(Math.min(15, more - done)).fill(HEAVY).join('\n'),
      });
      assert.equal(res.status, 200, `heavy batch: ${res.status}`);
    }
    w.tally.tokensEmitted += more;
    const end = head + more;
    await w.connectionsReach(A, conv.alias, 0);
    const shed = await readSse(tail, end);
    const last = shed.at(-1)!;
    assert.equal(last.event, 'close', 'the tail is shed');
    assert.deepEqual({ ...JSON.parse(last.data), ts: undefined }, { code: CLOSE.slow_consumer.code, reason: 'slow_consumer', ts: undefined }, 'the tail is shed');
    const heard = shed.filter((e) => e.event === 'token').map((e) => e.id!);
    for (let round = 0; heard.at(-1)! < end && round < 20; round++) {
      const res = await fetch(linkRoute(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream', 'last-event-id': String(heard.at(-1)) } });
      heard.push(...(await readSse(res, end)).filter((e) => e.event === 'token').map((e) => e.id!));
    }
    assertContiguous(heard, head + 1, end, 'the shed tail, resumed');
    w.tally.framesVerified += heard.length;
    w.tally.faults += 1;
    // The last resumed tail was cancelled by its reader: noticed at the next writes (decision 0067).
    await w.tailsGone(A, conv.alias, 0, () => fetch(linkRoute(conv.magic_link, 'tokens'), {
      method: 'POST', headers: { authorization: `Bearer ${A.credential}`, 'content-type': 'text/plain' }, body: 'poke',
    }));
    return { nested_levels: 4_000, frames_logged: end, history_pages: pages.length, replay_pauses: pauses, shed_after_frames: shed.filter((e) => e.event === 'token').length };
  },
};

async function pageSizes(link: string): Promise<Array<{ bytes: number; seqs: number[] }>> {
  const pages: Array<{ bytes: number; seqs: number[] }> = [];
  for (let since = 0; ;) {
    const res = await fetch(linkRoute(link, 'history', { since: String(since), limit: '1000' }));
    const text = await res.text();
    const page = JSON.parse(text) as { frames: Array<{ seq: number }>; next_since: number; more: boolean };
    pages.push({ bytes: Buffer.byteLength(text), seqs: page.frames.map((f) => f.seq) });
    if (!page.more) return pages;
    since = page.next_since;
  }
}
