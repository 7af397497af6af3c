/**
 * Helpers for the fuzz and security tests that run inside workerd: real
 * requests through the Worker (`SELF`), real WebSockets, and a bystander that
 * checks it keeps hearing every logged frame, in order, whatever the others do.
 */
import { SELF } from 'cloudflare:test';
import { expect } from 'vitest';
import { CLOSE } from '../../src/protocol/close-codes';
import { ERRORS, type HttpErrorCode } from '../../src/protocol/errors';
import type { JoinedFrame, ServerFrame } from '../../src/protocol/frames';

/** The wire's timestamps (`ts`): ISO 8601 in UTC with milliseconds, as `Date.toISOString()` writes them. */
export const ISO_TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

export const ORIGIN = 'http://ams.test';

let counter = 0;
/** A namespace nobody else in this run uses. */
export function freshNamespace(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.floor(Math.random() * 1e6).toString(36)}`.slice(0, 60);
}

export interface TestAccount {
  account_id: string;
  namespace: string;
  credential: string;
}

export interface TestConversation {
  conversation_id: string;
  alias: string;
  magic_link: string;
  observer_link: string;
  stream_id: string;
  stream_name: string;
  epoch: string;
}

export async function createAccount(prefix = 'fz'): Promise<TestAccount> {
  const res = await SELF.fetch(`${ORIGIN}/v1/accounts`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: freshNamespace(prefix) }),
  });
  expect(res.status).toBe(201);
  return res.json();
}

export async function mint(owner: TestAccount, body: Record<string, unknown> = {}): Promise<TestConversation> {
  const res = await SELF.fetch(`${ORIGIN}/v1/${owner.namespace}/conversations`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.credential}` }, body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return res.json();
}

export async function inspect(owner: TestAccount, alias: string): Promise<Record<string, unknown> & { head_seq: number; connections: number }> {
  const res = await SELF.fetch(`${ORIGIN}/v1/${owner.namespace}/conversations/${alias}`, { headers: { authorization: `Bearer ${owner.credential}` } });
  expect(res.status).toBe(200);
  return res.json();
}

/** `{link path}{suffix}?t=…&extra` on the test origin. */
export function routeOf(link: string, suffix: string, params: Record<string, string> = {}): string {
  const url = new URL(link);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${suffix}`;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/** The token (`t`) of a magic link. */
export function tokenOf(link: string): string {
  return new URL(link).searchParams.get('t')!;
}

export interface Closed {
  code: number;
  reason: string;
}

/** A WebSocket opened through the Worker, with every frame it received kept in order. */
export class Peer {
  readonly frames: ServerFrame[] = [];
  readonly closed: Promise<Closed>;
  private waiters: Array<() => void> = [];
  isClosed = false;
  private closedWith?: Closed;

  constructor(readonly ws: WebSocket, readonly protocol: string | null) {
    this.closed = new Promise((resolve) => {
      ws.addEventListener('close', (e) => {
        this.isClosed = true;
        this.closedWith = { code: e.code, reason: e.reason };
        resolve(this.closedWith);
        this.wake();
      });
    });
    ws.addEventListener('message', (e) => {
      this.frames.push(JSON.parse(typeof e.data === 'string' ? e.data : new TextDecoder().decode(e.data as ArrayBuffer)) as ServerFrame);
      this.wake();
    });
    ws.accept();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `done()` holds, or rejects when the socket closes first (or after a generous deadline). */
  async until(done: () => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (this.isClosed) throw new Error(`socket closed (${this.closedWith?.code} ${this.closedWith?.reason}) while waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    }
  }

  async joined(): Promise<JoinedFrame> {
    await this.until(() => this.frames.length > 0, 'joined');
    const first = this.frames[0];
    expect(first.type).toBe('joined');
    return first as JoinedFrame;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Closes from the client side and waits until the broker has answered the close. */
  async close(): Promise<Closed> {
    try {
      this.ws.close(1000, 'bye');
    } catch {
      // already closing
    }
    return this.closed;
  }

  logged(): Array<ServerFrame & { seq: number }> {
    return this.frames.filter((f) => f.type !== 'joined' && f.type !== 'x_receipt' && f.type !== 'x_truncated' && f.type !== 'pong' && 'seq' in f) as Array<ServerFrame & { seq: number }>;
  }
}

export interface ConnectParts {
  credential?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  protocols?: string[];
}

/** Opens `/connect` for a magic link: a Peer when upgraded, else the HTTP response. */
export async function connect(link: string, parts: ConnectParts = {}): Promise<Peer> {
  const res = await upgrade(routeOf(link, '/connect', parts.query), parts);
  expect(res.status).toBe(101);
  return new Peer(res.webSocket!, res.headers.get('sec-websocket-protocol'));
}

export async function upgrade(url: string, parts: ConnectParts = {}): Promise<Response> {
  const headers: Record<string, string> = { Upgrade: 'websocket', ...parts.headers };
  if (parts.credential !== undefined) headers.Authorization = `Bearer ${parts.credential}`;
  if (parts.protocols) headers['Sec-WebSocket-Protocol'] = parts.protocols.join(', ');
  return SELF.fetch(url, { headers });
}

/** The close reason name for a code and reason string, asserting the pair is one the broker documents. */
export function expectDocumentedClose(closed: Closed): keyof typeof CLOSE {
  const entry = CLOSE[closed.reason as keyof typeof CLOSE];
  expect(entry, `undocumented close reason "${closed.reason}" (${closed.code})`).toBeDefined();
  expect(closed.code).toBe(entry.code);
  expect(closed.reason).not.toBe('internal_error');
  return closed.reason as keyof typeof CLOSE;
}

/** Asserts a response is a documented JSON error (never a 500) and returns its code. */
export async function expectDocumentedError(res: Response): Promise<HttpErrorCode> {
  if ((res.headers.get('content-type') ?? '').includes('event-stream')) {
    await res.body?.cancel();
    throw new Error(`expected an error, got a ${res.status} event stream`);
  }
  const text = await res.text();
  let body: { error?: string; message?: string };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`status ${res.status} with a non-JSON body: ${text.slice(0, 200)}`);
  }
  const code = body.error as HttpErrorCode;
  expect(ERRORS[code], `undocumented error code ${body.error}`).toBeDefined();
  expect(res.status).toBe(ERRORS[code][0]);
  expect(typeof body.message).toBe('string');
  expect(code).not.toBe('internal_error');
  return code;
}

/**
 * An observer that must hear every logged frame, each exactly once, in seq
 * order, with no gap: the "no other connection is disturbed" invariant.
 */
export class Bystander {
  private constructor(readonly peer: Peer, readonly startSeq: number) {}

  static async open(observerLink: string): Promise<Bystander> {
    const peer = await connect(observerLink);
    const joined = await peer.joined();
    return new Bystander(peer, joined.seq);
  }

  /** The highest seq heard so far. */
  get seq(): number {
    const logged = this.peer.logged();
    return logged.length === 0 ? this.startSeq : logged[logged.length - 1].seq;
  }

  async reach(seq: number): Promise<void> {
    await this.peer.until(() => this.seq >= seq, `seq ${seq}`);
  }

  /** Checks the whole record so far: contiguous seqs from the start, still open. */
  assertIntact(): void {
    expect(this.peer.isClosed).toBe(false);
    const seqs = this.peer.logged().map((f) => f.seq);
    seqs.forEach((s, i) => {
      if (s !== this.startSeq + i + 1) throw new Error(`bystander heard seq ${s} at position ${i}, expected ${this.startSeq + i + 1}`);
    });
  }

  /** Tokens heard after position `from` (an index into the logged frames). */
  tokensSince(from: number): Array<{ data: string; stream_id: string; owner_account_id: string; seq: number }> {
    return this.peer.logged().slice(from).filter((f) => f.type === 'token') as never;
  }

  get count(): number {
    return this.peer.logged().length;
  }
}

/** A write-scoped peer with receipts, used to prove the conversation is still live after an attack. */
export async function heartbeat(emitter: Peer, bystander: Bystander, text: string): Promise<number> {
  const before = emitter.frames.filter((f) => f.type === 'x_receipt').length;
  emitter.send({ type: 'token', data: text });
  await emitter.until(() => emitter.frames.filter((f) => f.type === 'x_receipt').length > before, 'receipt');
  const receipt = emitter.frames.filter((f) => f.type === 'x_receipt')[before] as { seq: number };
  await bystander.reach(receipt.seq);
  const heard = bystander.peer.logged().find((f) => f.seq === receipt.seq) as { type: string; data?: string };
  expect(heard).toMatchObject({ type: 'token', data: text });
  return receipt.seq;
}
