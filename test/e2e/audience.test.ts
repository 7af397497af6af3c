/**
 * A large audience against a real `wrangler dev`: 3,000 read-only listeners
 * on one conversation (held by audience shards, decision 0110), a writer
 * that is never refused, a listener that drops and resumes, and a dev
 * server killed and restarted mid-stream.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AmsClient } from '../../src/client';
import { connectUrl } from '../../src/client/socket';
import { startBroker, type Broker } from '../support/broker';
import { startWorkerd } from '../../bench/lib/workerd';
import { accounts, open, waitFor } from './support';

let broker: Broker;
let direct: string | undefined;
beforeAll(async () => {
  const w = await startWorkerd();
  broker = w.broker;
  direct = w.directUrl;
});
afterAll(async () => {
  await broker?.stop();
});

/** A bare listener: raw `ws`, compression declined, keeping only what the assertions need. */
class Listener {
  readonly seqs: number[] = [];
  readonly data: string[] = [];
  joined: { seq: number; epoch: string } | undefined;
  closed: { code: number; reason: string } | undefined;
  error = '';
  readonly ws: WebSocket;
  readonly ready: Promise<void>;
  constructor(link: string, params: Record<string, string> = {}) {
    const url = new URL(connectUrl(link));
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ready = new Promise((resolve, reject) => {
      this.ws.on('message', (raw) => {
        const f = JSON.parse(raw.toString()) as { type: string; seq: number; epoch: string; data: string };
        if (f.type === 'joined') {
          this.joined = { seq: f.seq, epoch: f.epoch };
          resolve();
        } else if (f.type === 'token') {
          this.seqs.push(f.seq);
          this.data.push(f.data);
        }
      });
      this.ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        reject(new Error(`closed ${code} ${reason.toString()} ${this.error}`));
      });
      this.ws.on('error', (err) => (this.error = err.message));
    });
  }
  get last(): number {
    return this.seqs.at(-1) ?? this.joined!.seq;
  }
  close(): void {
    this.ws.terminate();
  }
}

async function openListeners(link: string, n: number, batch = 250): Promise<Listener[]> {
  const all: Listener[] = [];
  for (let i = 0; i < n; i += batch) {
    const some = Array.from({ length: Math.min(batch, n - i) }, () => new Listener(link));
    await Promise.all(some.map((l) => l.ready));
    all.push(...some);
  }
  return all;
}

const contiguous = (seqs: number[]) => seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1);

it('3,000 read-only listeners all hear 200 tokens once, in order, with identical seqs; the writer is never refused', async () => {
  const api = new AmsClient(broker.url);
  const [owner, late] = await accounts(api, 2);
  const conv = await api.createConversation(owner);
  const writer = open(conv.magic_link, { credential: owner.credential, receipts: true });
  await writer.joined;

  // The listeners use the runtime's own port when it is found (wrangler dev's proxy only exists in development; decision 0112).
  const listeners = await openListeners(direct ? conv.observer_link.replace(broker.url, direct) : conv.observer_link, 3_000);
  expect(listeners.every((l) => l.closed === undefined)).toBe(true);
  // A speaker arriving after the audience is admitted: listeners never take a speaker's place.
  const speaker = open(conv.magic_link, { credential: late.credential, streamName: 'late' });
  expect((await speaker.joined).stream_name).toBe('late');

  for (let i = 0; i < 200; i++) writer.send(`t${i}`);
  const started = Date.now();
  await waitFor(() => listeners.every((l) => l.seqs.length >= 200), 200_000, '200 tokens at every listener');
  console.log(`3,000 listeners: 600,000 deliveries in ${Date.now() - started} ms`);
  const reference = listeners[0].seqs;
  expect(reference).toHaveLength(200);
  expect(contiguous(reference)).toBe(true);
  const expectedData = Array.from({ length: 200 }, (_, i) => `t${i}`);
  for (const l of listeners) {
    expect(l.seqs).toEqual(reference);
    expect(l.data).toEqual(expectedData);
  }
  const info = (await (await fetch(`${broker.url}/v1/${owner.namespace}/conversations/${conv.alias}`, { headers: { authorization: `Bearer ${owner.credential}` } })).json()) as {
    connections: number; audience: { listeners: number; shards: number };
  };
  expect(info.connections).toBe(2);
  expect(info.audience.listeners).toBe(3_000);
  expect(info.audience.shards).toBeGreaterThan(1);
  for (const l of listeners) l.close();
  await writer.close();
  await speaker.close();
}, 300_000);

it('a listener that drops resumes exactly; after a kill and restart of the dev server a resuming listener loses nothing', async () => {
  const api = new AmsClient(broker.url);
  const [owner] = await accounts(api, 1);
  const conv = await api.createConversation(owner);
  let writer = open(conv.magic_link, { credential: owner.credential, receipts: true });
  await writer.joined;
  const listeners = await openListeners(conv.observer_link, 20);
  const receipts = () => writer.frames.filter((f) => f.type === 'x_receipt').length;

  for (let i = 0; i < 50; i++) writer.send(`a${i}`);
  await waitFor(() => listeners.every((l) => l.seqs.length >= 20), 20_000, 'first tokens');
  // One listener drops mid-stream and comes back with its cursor, on whichever shard the Worker picks.
  const dropped = listeners[0];
  dropped.close();
  await waitFor(() => receipts() === 50, 20_000, '50 receipts');
  const back = new Listener(conv.observer_link, { since: String(dropped.last), epoch: conv.epoch });
  await back.ready;
  await waitFor(() => dropped.seqs.length + back.seqs.length >= 50, 20_000, 'the resumed rest');
  expect([...dropped.data, ...back.data]).toEqual(Array.from({ length: 50 }, (_, i) => `a${i}`));
  expect(contiguous([...dropped.seqs, ...back.seqs])).toBe(true);

  // The dev server dies in the middle of a burst: the writer sends again, with the same ids, what was not receipted
  // (exactly-once), and a listener that was live through the kill resumes from its own cursor after the restart.
  const survivor = listeners[1];
  await waitFor(() => survivor.seqs.length === 50, 20_000, 'survivor caught up');
  const burst = Array.from({ length: 1_000 }, (_, i) => `b${i}`);
  for (const d of burst) writer.send(d, { id: d });
  await waitFor(() => receipts() >= 50 + 30, 20_000, 'part of the burst receipted');
  await broker.kill();
  const receipted = new Set(writer.frames.filter((f) => f.type === 'x_receipt').map((f) => (f as { id?: string }).id).filter((id) => id !== undefined));
  // The kill landed inside the burst: some of it receipted, not all.
  expect(receipted.size).toBeGreaterThanOrEqual(30);
  expect(receipted.size).toBeLessThan(burst.length);
  broker = await startBroker({ stateDir: broker.stateDir, port: broker.port });
  writer = open(conv.magic_link, { credential: owner.credential, receipts: true });
  await writer.joined;
  const again = burst.filter((d) => !receipted.has(d));
  for (const d of again) writer.send(d, { id: d });
  await waitFor(() => receipts() === again.length, 30_000, 'receipts after restart');
  const resumed = new Listener(conv.observer_link, { since: String(survivor.last), epoch: conv.epoch });
  await resumed.ready;
  const heard = () => [...survivor.data, ...resumed.data];
  await waitFor(() => heard().filter((d) => d.startsWith('b')).length >= burst.length, 30_000, 'resumed after restart');
  // Every token of the burst exactly once, after the first 50 in order; no seq twice, none out of order.
  expect(heard().slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, i) => `a${i}`));
  expect([...heard().slice(50)].sort()).toEqual([...burst].sort());
  const seqs = [...survivor.seqs, ...resumed.seqs];
  expect(new Set(seqs).size).toBe(seqs.length);
  expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  console.log(`kill mid-burst: ${receipted.size} of ${burst.length} receipted before the kill, ${again.length} sent again, survivor heard ${survivor.data.length - 50} before the kill`);
  resumed.close();
  back.close();
  await writer.close();
}, 120_000);
