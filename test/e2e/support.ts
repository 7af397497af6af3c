/** Helpers for end-to-end tests: real clients (`ws`) against a real broker. */
import WebSocket from 'ws';
import { afterAll, beforeAll, inject } from 'vitest';
import { AmsClient, AmsSocket, type ConnectOptions, type WebSocketConstructor } from '../../src/client';
import type { ServerFrame } from '../../src/protocol/frames';
import { startBroker, type Broker } from '../support/broker';
import type { SharedBrokerAddress } from './global-broker';

export const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

/** A broker one test file shares and a client of its HTTP API: set once the file's `beforeAll` ran. */
export interface SharedBroker<B extends Broker> {
  readonly broker: B;
  readonly api: AmsClient;
  /** Starts it again on the same state and port (after `broker.kill()`: a crash, then a restart); `broker` and `api` follow. */
  restart(): Promise<void>;
}

type Start<B> = (opts?: { stateDir?: string; port?: number }) => Promise<B>;

/**
 * Starts a broker before a file's tests and stops it after them, so the file
 * says only what is its own. A real `wrangler dev` unless `start` gives another
 * runtime (plain workerd: startServe). For a file that restarts its broker or
 * runs another runtime; the others share one (`sharedBroker`).
 */
export function useBroker<B extends Broker = Broker>(opts: { start?: Start<B> } = {}): SharedBroker<B> {
  const start = opts.start ?? (startBroker as Start<B>);
  const shared = {
    broker: undefined as unknown as B,
    api: undefined as unknown as AmsClient,
    restart: async () => up(await start({ stateDir: shared.broker.stateDir, port: shared.broker.port })),
  };
  const up = (broker: B) => {
    shared.broker = broker;
    shared.api = new AmsClient(broker.url);
  };
  beforeAll(async () => {
    up(await start());
  });
  afterAll(async () => {
    await shared.broker?.stop();
  });
  return shared;
}

/**
 * The broker the whole e2e run shares (test/e2e/global-broker.ts), with a
 * client of its HTTP API: for files that never stop, restart or configure it.
 */
export function sharedBroker(): { broker: SharedBrokerAddress; api: AmsClient } {
  const broker = inject('broker');
  return { broker, api: new AmsClient(broker.url) };
}

let n = 0;
export const uniqueNs = (p = 'e') => `${p}-${Date.now().toString(36)}-${(n++).toString(36)}`;

export function open(link: string, opts: ConnectOptions = {}): AmsSocket {
  return AmsSocket.open(link, { WebSocket: NodeWebSocket, ...opts });
}

export async function accounts(api: AmsClient, count: number) {
  return Promise.all(Array.from({ length: count }, () => api.createAccount(uniqueNs())));
}

/** Resolves once the broker has handled everything `s` sent before (an in-order ping). */
export async function barrier(s: AmsSocket): Promise<void> {
  const before = s.frames.filter((f) => f.type === 'pong').length;
  s.sendRaw('{"type":"ping","barrier":true}');
  await waitFor(() => s.frames.filter((f) => f.type === 'pong').length > before);
}

export async function waitFor(cond: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const logged = (frames: ServerFrame[]) =>
  frames.filter((f) => f.type === 'token' || f.type === 'stream_joined' || f.type === 'stream_left' || f.type === 'stream_metadata') as Array<ServerFrame & { seq: number }>;

/** A streamed text body (e.g. `…/transcript`) read line by line as it arrives. */
export interface StreamedLines {
  /** Complete lines so far, without their `\n`. */
  got: string[];
  /** Resolves with `got` once it holds at least `count` lines. */
  until(count: number, timeoutMs?: number): Promise<string[]>;
  /** Stops reading (cancels the body). */
  stop(): void;
}

export function streamedLines(res: Response): StreamedLines {
  const got: string[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffered.indexOf('\n')) !== -1) {
        got.push(buffered.slice(0, cut));
        buffered = buffered.slice(cut + 1);
      }
    }
  })();
  return {
    got,
    stop: () => void reader.cancel().catch(() => {}),
    async until(count, timeoutMs = 20_000) {
      await waitFor(() => got.length >= count, timeoutMs, `${count} lines (have ${JSON.stringify(got)})`);
      return got;
    },
  };
}
