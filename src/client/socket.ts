/**
 * A small AMS WebSocket client for Node (with the `ws` package) and browsers.
 * Node passes headers; browsers cannot, so `browserMode` moves every option to
 * the query string and the credential to the `ams.bearer.*` subprotocol.
 */
import type { JoinedFrame, JsonObject, ServerFrame } from '../protocol/frames';
import type { Identity } from '../protocol/identity';

/** The constructor of a WebSocket: the global one in browsers, `ws` in Node. */
export type WebSocketLike = {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: any) => void): void;
};
export type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: { headers?: Record<string, string> }) => WebSocketLike;

export interface ConnectOptions {
  /** `ams_sk_…`; required with a write link, ignored for observer links. */
  credential?: string;
  streamName?: string;
  /** Hear only these streams' tokens and metadata, by name (PROTOCOL §4.5); joins and leaves of all still arrive. */
  subscribeStreams?: string[];
  streamMetadata?: JsonObject;
  selfSubscribe?: boolean;
  receipts?: boolean;
  /** Ask for `chain` on every logged frame. */
  integrity?: boolean;
  /** Who holds the stream, as declared (self-declared, not verified): `{kind, client?, model?}`. */
  identity?: Partial<Identity>;
  /** Resume cursor: the last seq seen, and the epoch it belongs to. */
  since?: number;
  epoch?: string;
  /** More headers to send (Node only: a browser cannot set them), e.g. what newer brokers read and older ones ignore. */
  headers?: Record<string, string>;
  /** Query parameters and subprotocol instead of headers (what a browser must do). */
  browserMode?: boolean;
  WebSocket?: WebSocketConstructor;
}

export interface Closed {
  code: number;
  reason: string;
}

/** `https://h/ns/conversations/a?t=…` → `wss://h/ns/conversations/a/connect?t=…` */
export function connectUrl(link: string, suffix = '/connect'): string {
  const url = new URL(link);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${suffix}`;
  return url.toString();
}

function base64Json(value: JsonObject): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** One live connection to a conversation. */
export class AmsSocket {
  readonly frames: ServerFrame[] = [];
  readonly joined: Promise<JoinedFrame>;
  readonly closed: Promise<Closed>;
  /** Highest seq seen (the resume cursor), and the epoch it belongs to. */
  lastSeq = 0;
  epoch: string | undefined;
  private readonly listeners = new Set<(frame: ServerFrame) => void>();

  constructor(readonly ws: WebSocketLike) {
    let onJoined!: (f: JoinedFrame) => void;
    let onJoinFail!: (e: Error) => void;
    this.joined = new Promise((res, rej) => ((onJoined = res), (onJoinFail = rej)));
    this.joined.catch(() => {});
    this.closed = new Promise((resolve) => {
      ws.addEventListener('close', (e: { code: number; reason: string }) => {
        onJoinFail(new Error(`closed ${e.code} ${e.reason}`));
        resolve({ code: e.code, reason: String(e.reason) });
      });
    });
    // A failed connection reports an error and then closes (1006); the close is what we act on.
    ws.addEventListener('error', () => {});
    ws.addEventListener('message', (e: { data: unknown }) => {
      const frame = JSON.parse(String(e.data)) as ServerFrame;
      if (frame.type === 'joined') {
        this.epoch = frame.epoch;
        this.lastSeq = Math.max(this.lastSeq, frame.seq);
        onJoined(frame);
      } else if ('seq' in frame && frame.type !== 'x_receipt' && frame.seq > this.lastSeq) {
        this.lastSeq = frame.seq;
      }
      this.frames.push(frame);
      for (const l of this.listeners) l(frame);
    });
  }

  static open(link: string, opts: ConnectOptions = {}): AmsSocket {
    const Impl = opts.WebSocket ?? (globalThis as unknown as { WebSocket: WebSocketConstructor }).WebSocket;
    const url = new URL(connectUrl(link));
    const headers: Record<string, string> = { ...opts.headers };
    const set = (header: string, param: string, value: string | undefined) => {
      if (value === undefined) return;
      if (opts.browserMode) url.searchParams.set(param, value);
      else headers[header] = value;
    };
    set('X-AMS-Stream-Name', 'stream_name', opts.streamName);
    set('X-AMS-Stream-Metadata', 'stream_metadata', opts.streamMetadata && base64Json(opts.streamMetadata));
    set('X-AMS-Self-Subscribe', 'self_subscribe', opts.selfSubscribe ? 'true' : undefined);
    set('X-AMS-Receipts', 'receipts', opts.receipts ? 'true' : undefined);
    set('X-AMS-Integrity', 'integrity', opts.integrity ? 'chain' : undefined);
    set('X-AMS-Since', 'since', opts.since === undefined ? undefined : String(opts.since));
    set('X-AMS-Epoch', 'epoch', opts.epoch);
    set('X-AMS-Subscribe-Streams', 'subscribe_streams', opts.subscribeStreams?.join(','));
    set('X-AMS-Identity-Kind', 'identity_kind', opts.identity?.kind);
    set('X-AMS-Identity-Client', 'identity_client', opts.identity?.client);
    set('X-AMS-Identity-Model', 'identity_model', opts.identity?.model);
    if (opts.browserMode) {
      const protocols = ['ams.v1', ...(opts.credential ? [`ams.bearer.${opts.credential}`] : [])];
      return new AmsSocket(new Impl(url.toString(), protocols));
    }
    if (opts.credential) headers.Authorization = `Bearer ${opts.credential}`;
    return new AmsSocket(new Impl(url.toString(), undefined, { headers }));
  }

  onFrame(listener: (frame: ServerFrame) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The first frame (already received or yet to come) matching `match`. */
  next<T extends ServerFrame = ServerFrame>(match: (f: ServerFrame) => boolean, timeoutMs = 15_000, fromIndex = 0): Promise<T> {
    const seen = this.frames.slice(fromIndex).find(match);
    if (seen) return Promise.resolve(seen as T);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (off(), reject(new Error(`no matching frame within ${timeoutMs} ms`))), timeoutMs);
      const off = this.onFrame((f) => {
        if (match(f)) {
          clearTimeout(timer);
          off();
          resolve(f as T);
        }
      });
    });
  }

  /** Emits a token; `end: true` marks the last token of an utterance (PROTOCOL.md §4.4). */
  send(data: string, extra: { id?: string; ref?: number; end?: boolean } = {}): void {
    this.ws.send(JSON.stringify({ type: 'token', data, ...extra }));
  }

  setMetadata(metadata: JsonObject): void {
    this.ws.send(JSON.stringify({ type: 'set_metadata', metadata }));
  }

  ping(): void {
    this.ws.send('{"type":"ping"}');
  }

  sendRaw(text: string): void {
    this.ws.send(text);
  }

  close(code = 1000, reason = 'bye'): Promise<Closed> {
    this.ws.close(code, reason);
    return this.closed;
  }

  tokens(): string[] {
    return this.frames.filter((f) => f.type === 'token').map((f) => (f as { data: string }).data);
  }
}
