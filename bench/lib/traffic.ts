/**
 * The harness that drives every scenario: publishers emit numbered payloads,
 * every receiver checks it hears each publisher it should, in order, exactly
 * once; send and receive times come from this one process's clock.
 *
 * Flow control is a window of tokens in flight (sent, not yet heard by all of
 * their audience), global or per publisher, plus a client-side token bucket per
 * publisher that stays under AMS's emit limit (applied to every target alike).
 */
import type { Peer, Room } from '../targets/target';
import { Samples, summarize, type LatencySummary } from './stats';

export interface TrafficOptions {
  tokensPerPublisher: number;
  /** Tokens in flight: across all publishers, or per publisher. */
  window: number;
  windowScope: 'global' | 'publisher';
  /** Client-side bucket per publisher (tokens/s, burst); undefined = no pacing. */
  rate?: { perSecond: number; burst: number };
  payloadBytes: number;
  /** Fail when nothing was delivered for this long. */
  stallMs: number;
}

export interface TrafficResult {
  publishers: number;
  receivers: number;
  tokens: number;
  deliveries: number;
  elapsedMs: number;
  tokensPerSecond: number;
  deliveriesPerSecond: number;
  latency: LatencySummary;
  /** Times a publisher waited on its client-side bucket: > 0 means the emit limit, not the broker, set the pace part of the time. */
  bucketWaits: number;
}

export class CorrectnessError extends Error {}

interface Publisher {
  peer: Peer;
  owner: string;
  sent: number;
  completed: number;
  audience: number;
  sendTimes: Float64Array;
  heard: Uint16Array;
  bucket: number;
  bucketAt: number;
}

/** Runs one burst of traffic through `rooms` and checks every delivery. */
export async function runTraffic(rooms: Room[], opts: TrafficOptions): Promise<TrafficResult> {
  const publishers: Publisher[] = [];
  const receivers: { peer: Peer; owner: string; room: number }[] = [];
  const roomOfPublisher: number[] = [];
  rooms.forEach((room, r) => {
    room.owners.forEach((peers, o) => {
      for (const peer of peers) {
        publishers.push({
          peer, owner: `${r}/${o}`, sent: 0, completed: 0, audience: 0,
          sendTimes: new Float64Array(opts.tokensPerPublisher), heard: new Uint16Array(opts.tokensPerPublisher),
          bucket: opts.rate?.burst ?? 0, bucketAt: performance.now(),
        });
        roomOfPublisher.push(r);
        receivers.push({ peer, owner: `${r}/${o}`, room: r });
      }
    });
    for (const peer of room.listeners) receivers.push({ peer, owner: `${r}/listener`, room: r });
  });
  const P = publishers.length;
  // expected[r * P + g]: the next token number receiver r must hear from publisher g; -1 = must hear nothing.
  const expected = new Int32Array(receivers.length * P);
  receivers.forEach((rcv, r) => {
    for (let g = 0; g < P; g++) {
      const hears = roomOfPublisher[g] === rcv.room && publishers[g].owner !== rcv.owner;
      expected[r * P + g] = hears ? 0 : -1;
      if (hears) publishers[g].audience++;
    }
  });
  const totalTokens = P * opts.tokensPerPublisher;
  const totalDeliveries = publishers.reduce((n, p) => n + p.audience, 0) * opts.tokensPerPublisher;
  const pad = 'x'.repeat(Math.max(0, opts.payloadBytes));
  const latencies = new Samples();
  const errors: string[] = [];
  let errorCount = 0;
  let completedTokens = 0;
  let delivered = 0;
  let bucketWaits = 0;
  let firstSend = 0;
  let lastDone = 0;
  let lastProgress = performance.now();
  let cursor = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));

  const fail = (msg: string) => {
    if (++errorCount <= 20) errors.push(msg);
  };

  const canSend = (p: Publisher, now: number): boolean => {
    if (p.sent >= opts.tokensPerPublisher) return false;
    if (opts.windowScope === 'publisher' && p.sent - p.completed >= opts.window) return false;
    if (opts.rate) {
      p.bucket = Math.min(opts.rate.burst, p.bucket + ((now - p.bucketAt) * opts.rate.perSecond) / 1000);
      p.bucketAt = now;
      if (p.bucket < 1) return false;
    }
    return true;
  };

  const sendOne = (g: number, now: number) => {
    const p = publishers[g];
    const n = p.sent++;
    if (opts.rate) p.bucket -= 1;
    const payload = `${g}:${n}:${pad}`.slice(0, Math.max(opts.payloadBytes, 8 + String(g).length + String(n).length));
    if (firstSend === 0) firstSend = now;
    p.sendTimes[n] = now;
    p.peer.publish(payload);
  };

  let inFlight = 0;
  /** Sends whatever the window and buckets allow; arms a timer when only a bucket holds it back. */
  const pump = () => {
    let now = performance.now();
    let blockedByBucket = false;
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (let i = 0; i < P; i++) {
        if (opts.windowScope === 'global' && inFlight >= opts.window) return;
        const g = (cursor + i) % P;
        const p = publishers[g];
        if (!canSend(p, now)) {
          if (opts.rate && p.sent < opts.tokensPerPublisher && p.bucket < 1 && (opts.windowScope === 'global' || p.sent - p.completed < opts.window)) blockedByBucket = true;
          continue;
        }
        sendOne(g, now);
        inFlight++;
        progressed = true;
        cursor = g + 1;
        if (opts.windowScope === 'global' && opts.window === 1) return;
        now = performance.now();
      }
    }
    if (blockedByBucket && !timer) {
      bucketWaits++;
      timer = setTimeout(() => {
        timer = undefined;
        pump();
      }, Math.max(1, Math.ceil(1000 / opts.rate!.perSecond)));
    }
  };

  const onDelivery = (r: number) => (payload: string) => {
    const now = performance.now();
    const c1 = payload.indexOf(':');
    const c2 = payload.indexOf(':', c1 + 1);
    const g = Number(payload.slice(0, c1));
    const n = Number(payload.slice(c1 + 1, c2));
    if (!(g >= 0 && g < P) || !(n >= 0)) return fail(`receiver ${r}: unreadable payload ${payload.slice(0, 40)}`);
    const idx = r * P + g;
    const want = expected[idx];
    if (want === -1) return fail(`receiver ${r} heard publisher ${g}, which it must not hear`);
    if (n < want) return fail(`receiver ${r}: publisher ${g}'s token ${n} again, or out of order (expected ${want})`);
    // A gap is reported once; the receiver then follows on from what it got, and the lost tokens never complete.
    if (n > want) fail(`receiver ${r}: publisher ${g}'s tokens ${want}…${n - 1} lost or late (got ${n})`);
    expected[idx] = n + 1;
    const p = publishers[g];
    latencies.push(now - p.sendTimes[n]);
    delivered++;
    lastProgress = now;
    if (++p.heard[n] === p.audience) {
      p.completed++;
      completedTokens++;
      inFlight--;
      if (completedTokens === totalTokens) {
        lastDone = now;
        finish();
        return;
      }
      if (opts.windowScope === 'publisher') {
        if (canSend(p, now)) {
          sendOne(g, now);
          inFlight++;
        } else if (opts.rate && p.sent < opts.tokensPerPublisher) pump();
      } else pump();
    }
  };
  receivers.forEach((rcv, r) => (rcv.peer.onMessage = onDelivery(r)));

  const watchdog = setInterval(() => {
    if (performance.now() - lastProgress > opts.stallMs) {
      fail(`stalled: ${delivered}/${totalDeliveries} deliveries after ${Math.round(performance.now() - firstSend)} ms`);
      finish();
    }
  }, 250);
  pump();
  await done;
  clearInterval(watchdog);
  if (timer) clearTimeout(timer);
  for (const rcv of receivers) rcv.peer.onMessage = () => fail('a delivery after the run ended (duplicate)');

  if (errorCount === 0 && delivered !== totalDeliveries) fail(`delivered ${delivered}, expected ${totalDeliveries}`);
  if (errorCount > 0) throw new CorrectnessError(`${errorCount} correctness failure(s):\n  ${errors.join('\n  ')}`);
  const elapsedMs = lastDone - firstSend;
  return {
    publishers: P,
    receivers: receivers.length,
    tokens: totalTokens,
    deliveries: totalDeliveries,
    elapsedMs,
    tokensPerSecond: (totalTokens / elapsedMs) * 1000,
    deliveriesPerSecond: (totalDeliveries / elapsedMs) * 1000,
    latency: summarize(latencies.view()),
    bucketWaits,
  };
}
