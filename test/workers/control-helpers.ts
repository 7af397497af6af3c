/**
 * Raw-HTTP helpers for the control-plane tests in workerd. They speak the wire
 * directly (no client library) so the tests pin down exactly what the broker
 * answers: status, content type, and the `{error, message}` body.
 */
import { SELF } from 'cloudflare:test';
import { expect } from 'vitest';

export const ORIGIN = 'https://ams.test';

let counter = 0;

/** A namespace no other test (or earlier run against persisted state) has used. */
export function uniqueName(prefix: string): string {
  counter += 1;
  const rand = crypto.getRandomValues(new Uint32Array(2));
  return `${prefix}-${counter}-${rand[0].toString(36)}${rand[1].toString(36)}`.slice(0, 63);
}

export function call(path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(path.startsWith('http') ? path : `${ORIGIN}${path}`, init);
}

/** A JSON request; `body` is serialized unless it is already a string. */
export function jsonCall(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const init: RequestInit = { method, headers: { 'content-type': 'application/json', ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  return call(path, init);
}

export const bearer = (credential: string): Record<string, string> => ({ authorization: `Bearer ${credential}` });

export interface Account {
  account_id: string;
  namespace: string;
  credential: string;
  created_at: string;
}

export async function newAccount(prefix = 'acct'): Promise<Account> {
  const res = await jsonCall('POST', '/v1/accounts', { namespace: uniqueName(prefix) });
  expect(res.status).toBe(201);
  return (await res.json()) as Account;
}

export interface Minted {
  conversation_id: string;
  alias: string;
  magic_link: string;
  observer_link: string;
  stream_id: string;
  stream_name: string;
  metadata: Record<string, unknown>;
  stream_metadata: Record<string, unknown>;
  created_at: string;
  [key: string]: unknown;
}

export function mintRaw(account: Account, body?: unknown): Promise<Response> {
  return jsonCall('POST', `/v1/${account.namespace}/conversations`, body, bearer(account.credential));
}

export async function mint(account: Account, body: unknown = {}): Promise<Minted> {
  const res = await mintRaw(account, body);
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Minted;
}

/** The path+query of a link (its host is the test origin). */
export function pathOf(link: string): string {
  const u = new URL(link);
  return `${u.pathname}${u.search}`;
}

export function tokenOf(link: string): string {
  const t = new URL(link).searchParams.get('t');
  if (!t) throw new Error(`no t= in ${link}`);
  return t;
}

/** The same link with its token replaced. */
export function withToken(link: string, token: string): string {
  const u = new URL(link);
  u.searchParams.set('t', token);
  return u.toString();
}

/** The inspect path of a conversation, optionally with a link token. */
export function inspectPath(ns: string, alias: string, t?: string): string {
  return `/v1/${ns}/conversations/${alias}${t === undefined ? '' : `?t=${encodeURIComponent(t)}`}`;
}

/** Asserts the documented error shape: exactly `{error, message}`, JSON, the given status and code, no stack. */
export async function expectError(res: Response, status: number, code: string): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe('string');
  expect((body.message as string).length).toBeGreaterThan(0);
  expect(text).not.toMatch(/\n\s+at |\.ts:\d+|\.js:\d+|<html/i);
}

/** One character replaced by a different character of the same alphabet, at `index`. */
export function flipChar(text: string, index: number): string {
  const ch = text[index];
  const alphabet = /[0-9]/.test(ch) ? '0123456789' : /[a-z]/.test(ch) ? 'abcdefghijklmnopqrstuvwxyz' : /[A-Z]/.test(ch) ? 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' : '-_.';
  const other = alphabet[(alphabet.indexOf(ch) + 1) % alphabet.length];
  return text.slice(0, index) + other + text.slice(index + 1);
}

export interface Closed {
  code: number;
  reason: string;
}

export interface TestSocket {
  ws: WebSocket;
  /** Every text frame received so far, parsed. */
  frames: Record<string, unknown>[];
  /** The first frame (resolves to undefined if the socket closes first). */
  first: Promise<Record<string, unknown> | undefined>;
  closed: Promise<Closed>;
}

/**
 * Opens a WebSocket on `{link}/connect` (or on `link` itself when it is a connect URL) through the Worker, the way a client
 * would: `Upgrade: websocket`, the credential as a bearer header.
 */
export async function connect(link: string, opts: { credential?: string; headers?: Record<string, string> } = {}): Promise<TestSocket> {
  const u = new URL(link);
  // A link already pointing at /connect (with or without a trailing slash) is used as it is.
  if (!/\/connect\/?$/.test(u.pathname)) u.pathname = `${u.pathname.replace(/\/$/, '')}/connect`;
  const headers: Record<string, string> = { upgrade: 'websocket', ...(opts.headers ?? {}) };
  if (opts.credential) headers.authorization = `Bearer ${opts.credential}`;
  const res = await call(u.toString(), { headers });
  expect(res.status).toBe(101);
  const ws = res.webSocket;
  if (!ws) throw new Error('no webSocket on a 101 response');
  const frames: Record<string, unknown>[] = [];
  let resolveFirst!: (f: Record<string, unknown> | undefined) => void;
  const first = new Promise<Record<string, unknown> | undefined>((r) => { resolveFirst = r; });
  const closed = new Promise<Closed>((resolve) => {
    ws.addEventListener('close', (ev) => {
      resolveFirst(undefined);
      resolve({ code: ev.code, reason: ev.reason });
    });
  });
  ws.addEventListener('message', (ev) => {
    const frame = JSON.parse(typeof ev.data === 'string' ? ev.data : new TextDecoder().decode(ev.data as ArrayBuffer)) as Record<string, unknown>;
    frames.push(frame);
    if (frames.length === 1) resolveFirst(frame);
  });
  ws.accept();
  return { ws, frames, first, closed };
}

/** Connects and expects the socket to be admitted: returns it with its `joined` frame. */
export async function join(link: string, opts: { credential?: string; headers?: Record<string, string> } = {}) {
  const s = await connect(link, opts);
  const joined = await s.first;
  expect(joined, 'socket closed before joined').toBeDefined();
  expect(joined!.type).toBe('joined');
  return { ...s, joined: joined! };
}

/** Connects and expects the socket to be closed before any frame, with `code` and the exact `reason`. */
export async function expectRejected(link: string, code: number, reason: string, opts: { credential?: string; headers?: Record<string, string> } = {}) {
  const s = await connect(link, opts);
  const closed = await s.closed;
  expect(s.frames).toEqual([]);
  expect(closed).toEqual({ code, reason });
}
