/**
 * Resume cost: a subscriber that missed 10,000 frames reconnects with its
 * cursor (`since`, `epoch`) and is timed until the last missed frame arrived,
 * next to a reconnect that missed nothing. The baseline is Redis Streams
 * (XRANGE of as many entries); pub/sub brokers without history have none.
 */
import { linkRoute } from '../../src/client';
import { command, type RedisTarget, type Resp } from '../targets/redis';
import { closeAll, openAms, type AmsTarget } from '../targets/ams';
import { median } from '../lib/stats';

export interface ResumeResult {
  frames: number;
  repeats: number;
  /** Median ms from opening the socket to the last replayed frame. */
  replayMs: number;
  /** Median ms from opening the socket to `joined`, nothing to replay. */
  connectMs: number;
  framesPerSecond: number;
}

const BATCH = 1_000;

export async function amsResume(t: AmsTarget, frames: number, repeats: number): Promise<ResumeResult> {
  const conv = await t.mint({ history: { max_frames: frames * 2 } });
  // Fill the log through POST …/tokens, one stream and one account per batch, so neither nears its emit limit
  // (an account's budget in one conversation is 2,000 tokens a second after a burst of 4,000).
  for (let b = 0; b * BATCH < frames; b++) {
    const owner = await t.account(b);
    const tokens = Array.from({ length: Math.min(BATCH, frames - b * BATCH) }, (_, i) => ({ data: `${b * BATCH + i}` }));
    const res = await fetch(linkRoute(conv.magic_link, 'tokens', { stream_name: `fill-${b}` }), {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.credential}` }, body: JSON.stringify(tokens),
    });
    if (!res.ok) throw new Error(`filling the log: ${res.status} ${await res.text()}`);
  }
  const replay: number[] = [];
  const connect: number[] = [];
  for (let r = 0; r < repeats; r++) {
    // A cursor before everything: all `frames` are missed.
    let got = 0;
    let lastSeq = 0;
    let problem: string | undefined;
    let resolveDone!: () => void;
    const done = new Promise<void>((res) => (resolveDone = res));
    let t1 = 0;
    const start = performance.now();
    const ws = await openAms(conv.observer_link, { since: 0, epoch: conv.epoch, compression: t.client.compression }, (text) => {
      const f = JSON.parse(text) as { type: string; seq?: number; data?: string };
      if (f.type === 'joined') return;
      if (f.type !== 'token') problem ??= `unexpected ${f.type} during replay`;
      else if (f.seq !== lastSeq + 1 || f.data !== String(got)) problem ??= `replay out of order: seq ${f.seq} data ${f.data} after seq ${lastSeq}`;
      lastSeq = f.seq ?? lastSeq;
      if (++got === frames) {
        t1 = performance.now();
        resolveDone();
      }
    }, (code) => (problem ??= `closed ${code} during replay`));
    await Promise.race([done, new Promise((res) => setTimeout(res, 60_000))]);
    await closeAll([ws]);
    if (problem || got !== frames) throw new Error(`resume: ${problem ?? `got ${got} of ${frames} frames`}`);
    replay.push(t1 - start);
    // The same reconnect with nothing missed: since = head.
    const c0 = performance.now();
    const live = await openAms(conv.observer_link, { since: frames, epoch: conv.epoch, compression: t.client.compression }, () => {}, () => {});
    connect.push(performance.now() - c0);
    await closeAll([live]);
  }
  const replayMs = median(replay);
  return { frames, repeats, replayMs, connectMs: median(connect), framesPerSecond: (frames / replayMs) * 1000 };
}

export async function redisStreamResume(t: RedisTarget, frames: number, repeats: number): Promise<ResumeResult> {
  const key = `b.stream.${Date.now()}`;
  const writer = await t.connection();
  for (let i = 0; i < frames; i++) writer.fire(command('XADD', key, '*', 'data', String(i)));
  await writer.call('PING');
  await writer.close();
  const replay: number[] = [];
  const connect: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    const c = await t.connection();
    const entries = (await c.call('XRANGE', key, '-', '+', 'COUNT', frames)) as Resp[];
    const elapsed = performance.now() - start;
    await c.close();
    if (!Array.isArray(entries) || entries.length !== frames) throw new Error(`redis XRANGE returned ${Array.isArray(entries) ? entries.length : typeof entries} entries`);
    entries.forEach((e, i) => {
      const fields = (e as Resp[])[1] as Resp[];
      if (fields[1] !== String(i)) throw new Error(`redis XRANGE out of order at ${i}`);
    });
    replay.push(elapsed);
    const c0 = performance.now();
    const c2 = await t.connection();
    await c2.call('XRANGE', key, '+', '+', 'COUNT', 1);
    connect.push(performance.now() - c0);
    await c2.close();
  }
  const replayMs = median(replay);
  return { frames, repeats, replayMs, connectMs: median(connect), framesPerSecond: (frames / replayMs) * 1000 };
}
