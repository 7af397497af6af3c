/**
 * What every chaos scenario works with: a real `wrangler dev` it may kill and
 * restart on the same state, real clients (the project's own `AmsSocket` over
 * `ws`), a seeded random source, and a tally of what the run put the broker
 * through. Assertions throw; the runner reports.
 */
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { AmsClient, AmsSocket, linkRoute, type Account, type ConnectOptions, type Minted, type WebSocketConstructor } from '../../src/client';
import type { ServerFrame } from '../../src/protocol/frames';
import { startBroker, type Broker } from '../support/broker';
import { prng } from '../fuzz/arbitraries';
import { CHAOS_WEBHOOK_POLICY } from './scenarios/webhooks';

export type Scale = 'short' | 'full';

/** The figures RELIABILITY.md reports: what the broker was put through, and what it lost. */
export interface Tally {
  connections: number;
  framesVerified: number;
  tokensEmitted: number;
  receiptsChecked: number;
  faults: number;
  badInputs: number;
  lost: number;
}

export const emptyTally = (): Tally => ({ connections: 0, framesVerified: 0, tokensEmitted: 0, receiptsChecked: 0, faults: 0, badInputs: 0, lost: 0 });

/**
 * `ws` with a short closing handshake. A socket the broker closes from another
 * request's event (takeover 4901, rotation 4001, deletion 4910) gets its close
 * frame at once, but under `wrangler dev` its TCP connection is not torn down
 * afterwards; `ws` would wait 30 s before reporting the close it already has.
 * RELIABILITY.md records this.
 */
class ChaosWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[], options: WebSocket.ClientOptions = {}) {
    super(url, protocols, { closeTimeout: 1_000, ...options } as WebSocket.ClientOptions);
  }
}

export const Ws = ChaosWebSocket as unknown as WebSocketConstructor;

export class World {
  broker!: Broker;
  api!: AmsClient;
  readonly tally = emptyTally();
  readonly rand: () => number;
  private readonly sockets = new Set<AmsSocket>();
  private stateDir?: string;
  private port?: number;
  private counter = 0;

  constructor(readonly seed: number, readonly scale: Scale, readonly log: (line: string) => void = () => {}) {
    this.rand = prng(seed);
  }

  /** short or full, by scale. */
  n(short: number, full: number): number {
    return this.scale === 'short' ? short : full;
  }

  /** A whole number in [0, below), from the seeded source. */
  pick(below: number): number {
    return Math.floor(this.rand() * below);
  }

  async start(): Promise<void> {
    this.broker = await startBroker({ stateDir: this.stateDir, port: this.port, vars: { AMS_WEBHOOK_POLICY: JSON.stringify(CHAOS_WEBHOOK_POLICY) } });
    this.stateDir = this.broker.stateDir;
    this.port = this.broker.port;
    this.api = new AmsClient(this.broker.url);
  }

  /** SIGKILL the dev server (nothing gets to flush) and start it again on the same state and port. */
  async killAndRestart(): Promise<void> {
    await this.broker.kill();
    this.tally.faults += 1;
    await this.start();
  }

  /** Closes every socket the run still holds and waits for the broker's answers. */
  async closeAll(): Promise<void> {
    const open = [...this.sockets];
    for (const s of open) s.ws.close();
    await Promise.race([Promise.all(open.map((s) => s.closed)), sleep(10_000)]);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.ws.close();
    await this.broker?.stop();
  }

  async account(prefix: string): Promise<Account> {
    this.counter += 1;
    return this.api.createAccount(`${prefix}-${this.seed.toString(36)}-${Date.now().toString(36)}-${this.counter}`.slice(0, 63));
  }

  /** A socket, counted and tracked so the run can close what a scenario forgot. */
  open(link: string, opts: ConnectOptions = {}): AmsSocket {
    const s = AmsSocket.open(link, { WebSocket: Ws, ...opts });
    this.tally.connections += 1;
    this.sockets.add(s);
    void s.closed.then((c) => {
      this.closes.set(s, c);
      this.sockets.delete(s);
    });
    return s;
  }

  /** Inspect, with `connections` counting every live connection: the conversation object's own and its shards' listeners. */
  async inspect(owner: Account, alias: string): Promise<{ connections: number; head_seq: number; head_chain: string; epoch: string; streams: Array<{ stream_id: string; stream_name: string; connected: boolean }> }> {
    const info = (await this.api.inspect(owner.namespace, alias, owner.credential)) as { connections: number; audience?: { listeners: number } };
    return { ...info, connections: info.connections + (info.audience?.listeners ?? 0) } as never;
  }

  /** Every logged frame of a conversation, paged through `GET …/history`. */
  async history(link: string): Promise<Array<ServerFrame & { seq: number; chain: string; owner_account_id: string }>> {
    const frames: Array<ServerFrame & { seq: number; chain: string; owner_account_id: string }> = [];
    let since = 0;
    for (;;) {
      const res = await fetch(linkRoute(link, 'history', { since: String(since), limit: '1000' }));
      assert.equal(res.status, 200, `history answered ${res.status}`);
      const page = (await res.json()) as { frames: typeof frames; next_since: number; more: boolean };
      frames.push(...page.frames);
      since = page.next_since;
      if (!page.more) return frames;
    }
  }

  /**
   * Waits until `done()` holds, polling; fails after `ms` (a liveness bound,
   * not a speed claim) with what it was waiting for and, from `state`, where
   * things stood when it gave up.
   */
  async until(done: () => boolean | Promise<boolean>, what: string, ms = 30_000, state?: () => string | Promise<string>): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${ms} ms${state ? `: ${await state()}` : ''}`);
      await sleep(25);
    }
  }

  /**
   * Waits until `done()` holds for as long as `progress()` keeps rising, and
   * fails once it has not moved for `stallMs`. For waits whose length is the
   * work times the machine's load (delivering hundreds of thousands of frames
   * through the dev proxy to one client process): a fixed deadline there
   * measures the machine, while a stall is what a lost frame looks like.
   */
  async untilProgressing(done: () => boolean, progress: () => number, what: string, stallMs = 30_000, state?: () => string | Promise<string>): Promise<void> {
    let last = progress();
    let movedAt = Date.now();
    while (!done()) {
      const now = progress();
      if (now !== last) {
        last = now;
        movedAt = Date.now();
      } else if (Date.now() - movedAt > stallMs) {
        throw new Error(`gave up waiting for ${what}: no progress for ${stallMs} ms${state ? `: ${await state()}` : ''}`);
      }
      await sleep(25);
    }
  }

  /** How a socket of the run was closed, if it was (`code reason`). */
  closeOf(s: AmsSocket): string | undefined {
    const c = this.closes.get(s);
    return c && `${c.code} ${c.reason}`.trim();
  }

  private readonly closes = new WeakMap<AmsSocket, { code: number; reason: string }>();

  /** Waits until the conversation counts `n` live connections. */
  async connectionsReach(owner: Account, alias: string, n: number): Promise<void> {
    await this.until(async () => (await this.inspect(owner, alias)).connections === n, `${n} connections in ${alias}`);
  }

  /** Conversations the final leak check visits. */
  readonly tracked: Array<{ owner: Account; alias: string }> = [];

  track(owner: Account, conv: Pick<Minted, 'alias'>): void {
    this.tracked.push({ owner, alias: conv.alias });
  }

  /**
   * Waits for abandoned SSE tails to stop counting. A tail whose reader went
   * away is noticed when a write to it fails, which takes a write or two after
   * the disconnect has travelled through the dev server; `poke` makes writes
   * (the keep-alive would, every 15 s).
   */
  async tailsGone(owner: Account, alias: string, n: number, poke: () => unknown): Promise<void> {
    await this.until(async () => {
      await poke();
      await sleep(100);
      return (await this.inspect(owner, alias)).connections === n;
    }, `abandoned SSE tails in ${alias} to be noticed`);
  }

  async mint(owner: Account, body: Record<string, unknown> = {}): Promise<Minted> {
    return this.api.createConversation(owner, body as never);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The logged frames a socket received (not joined, receipts, truncation notices or pongs). */
export function loggedOf(s: AmsSocket): Array<ServerFrame & { seq: number }> {
  return s.frames.filter((f) => 'seq' in f && f.type !== 'joined' && f.type !== 'x_receipt') as Array<ServerFrame & { seq: number }>;
}

export function receiptsOf(s: AmsSocket): Array<{ seq: number; id?: string; duplicate?: boolean }> {
  return s.frames.filter((f) => f.type === 'x_receipt') as never;
}

/** Seqs that must run without a gap or a repeat from `from` to `to`. */
export function assertContiguous(seqs: number[], from: number, to: number, who: string): void {
  const expected = Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
  if (seqs.length !== expected.length || seqs.some((s, i) => s !== expected[i])) {
    const firstBad = seqs.findIndex((s, i) => s !== expected[i]);
    throw new Error(`${who}: expected seqs ${from}..${to} (${expected.length}), got ${seqs.length}; first difference at index ${firstBad}: ${seqs[firstBad]} vs ${expected[firstBad]}`);
  }
}

export { assert };
