/** Helpers for tests inside workerd: mint through the real Worker, open real WebSockets through SELF. */
import { SELF } from 'cloudflare:test';
import { inspect as inspectAs, routeOf, type TestAccount } from '../fuzz/workerd';
import type { ServerFrame } from '../../src/protocol/frames';

/** Accounts, conversations and inspect come from the shared workerd helpers; these names are kept for brevity. */
export { createAccount as account, mint, ISO_TS } from '../fuzz/workerd';

/** Inspect by the owner's bearer, loosely typed for assertions. */
export const inspect = (owner: TestAccount, alias: string) => inspectAs(owner, alias) as Promise<Record<string, any>>;

/** `{link}` → `{link path}/{route}?t=…&extra` */
export const route = (link: string, path: string, params: Record<string, string> = {}) => routeOf(link, `/${path}`, params);

export interface TestSocket {
  ws: WebSocket;
  frames: ServerFrame[];
  closed: Promise<{ code: number; reason: string }>;
  protocol: string | null;
  next(match: (f: ServerFrame) => boolean, timeoutMs?: number): Promise<ServerFrame>;
  /** Waits until `n` frames matching `match` have arrived. */
  count(match: (f: ServerFrame) => boolean, n: number, timeoutMs?: number): Promise<ServerFrame[]>;
  send(frame: object | string): void;
  close(): void;
}

export async function connect(link: string, opts: { credential?: string; headers?: Record<string, string>; params?: Record<string, string>; protocols?: string } = {}): Promise<TestSocket> {
  const headers: Record<string, string> = { Upgrade: 'websocket', ...opts.headers };
  if (opts.credential) headers.Authorization = `Bearer ${opts.credential}`;
  if (opts.protocols) headers['Sec-WebSocket-Protocol'] = opts.protocols;
  const res = await SELF.fetch(route(link, 'connect', opts.params), { headers });
  const ws = res.webSocket;
  if (!ws) throw new Error(`connect: no WebSocket (${res.status} ${await res.text()})`);
  const frames: ServerFrame[] = [];
  const waiters = new Set<() => void>();
  ws.accept();
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason }));
  });
  ws.addEventListener('message', (e) => {
    frames.push(JSON.parse(e.data as string));
    for (const w of [...waiters]) w();
  });
  const count = (match: (f: ServerFrame) => boolean, n: number, timeoutMs = 5_000) =>
    new Promise<ServerFrame[]>((resolve, reject) => {
      const check = () => {
        const got = frames.filter(match);
        if (got.length >= n) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(got);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`expected ${n} matching frames, got ${frames.filter(match).length}: ${JSON.stringify(frames.slice(-3))}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return {
    ws, frames, closed, protocol: res.headers.get('sec-websocket-protocol'),
    next: async (match, timeoutMs) => (await count(match, 1, timeoutMs))[0],
    count,
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    close: () => ws.close(1000, 'done'),
  };
}

export const isType = (type: string) => (f: ServerFrame) => f.type === type;
export const tokenData = (s: TestSocket) => s.frames.filter((f) => f.type === 'token').map((f) => (f as { data: string }).data);
export const settle = (ms = 50) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the broker has processed everything this socket sent before.
 * The exact text {"type":"ping"} is answered by the runtime at once, ahead of
 * queued frames, so the barrier uses a ping the object itself answers, in order.
 */
export async function barrier(s: TestSocket): Promise<void> {
  const pongs = s.frames.filter(isType('pong')).length;
  s.send('{"type":"ping","barrier":true}');
  await s.count(isType('pong'), pongs + 1);
}
