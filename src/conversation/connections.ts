/**
 * The live connections a conversation object serves directly: hibernatable
 * WebSockets (state in the socket attachment) and SSE tails (observers on a
 * response stream). Both plug into `Conversation` through `Connection`.
 */
import { CLOSE, type CloseReason } from '../protocol/close-codes';
import type { Scope } from '../protocol/frames';
import { LIMITS } from '../protocol/limits';
import { Wire, type Member } from './audience';
import type { Connection } from './connection';
import { filterOf } from '../protocol/subscription';

/** Per-socket state, kept in the socket's attachment so it survives hibernation. */
export interface SocketAttachment {
  v: 1;
  account_id: string | null;
  stream_id: string | null;
  scope: Scope;
  generation: number;
  /** When its magic link expires (unix seconds); absent: never. */
  expires_at?: number;
  self_subscribe: boolean;
  /** Its subscription filter (decisions/0130); absent: every stream. */
  streams?: string[];
  receipts: boolean;
  chain: boolean;
  /** Set before the broker closes a socket, so a woken object does not count it as live. */
  closed?: boolean;
}

export class SocketConnection implements Connection {
  readonly member: Member;
  /** Tokens this socket logged since the object last woke: the count `stream.left` reports (never per token). */
  tokens = 0;
  constructor(readonly ws: WebSocket, readonly att: SocketAttachment) {
    this.member = { sink: this, accountId: att.account_id, selfSubscribe: att.self_subscribe, wire: att.chain ? Wire.JsonChain : Wire.Json, streams: filterOf(att.streams) };
  }
  get accountId() { return this.att.account_id; }
  get streamId() { return this.att.stream_id; }
  get scope() { return this.att.scope; }
  get generation() { return this.att.generation; }
  get expiresAt() { return this.att.expires_at; }
  get receipts() { return this.att.receipts; }
  send(text: string): void {
    sendTo(this.ws, text);
  }
  close(reason: CloseReason): void {
    try {
      this.ws.serializeAttachment({ ...this.att, closed: true });
    } catch {
      // Already closed.
    }
    closeSocket(this.ws, reason);
  }
}

/** Sends on a socket that may be closing (its close event removes it). */
export function sendTo(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // Closing.
  }
}

/** Closes a socket with a broker close code, if it is not closed already. */
export function closeSocket(ws: WebSocket, reason: CloseReason): void {
  try {
    ws.close(CLOSE[reason].code, reason);
  } catch {
    // Already closed.
  }
}

const encoder = new TextEncoder();
let lastText = '';
let lastBytes = new Uint8Array(0);

/**
 * The UTF-8 bytes of `text`. The fan-out hands every SSE tail of a format the
 * same string in a row, so each frame is encoded once per format, not once per
 * tail. (Every tail's stream only reads its chunks, so they can share them.)
 */
function utf8(text: string): Uint8Array {
  if (text !== lastText) {
    lastBytes = encoder.encode(text);
    lastText = text;
  }
  return lastBytes;
}

/** How long a shed tail's last bytes (its `event: close`) may wait for its reader before the stream is aborted. */
const SHED_GRACE_MS = 10_000;

/**
 * A Server-Sent Events tail: an observer that hears everything, written to a
 * response stream. It counts the bytes written and not yet taken by its
 * reader; past `LIMITS.bufferedBytesPerConnection` it sheds itself with
 * `event: close` 4908 `slow_consumer` (decisions/0102).
 */
export class SseConnection implements Connection {
  readonly member: Member;
  readonly accountId = null;
  readonly streamId = null;
  readonly scope: Scope = 'read';
  readonly receipts = false;
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private ended = false;
  /** UTF-8 bytes handed to the stream whose write has not completed (the reader has not taken them). */
  private unread = 0;
  /** The reconnect delay rides on the first event: a block holding only `retry:` is an empty event to some clients. */
  private retry = 'retry: 2000\n';
  constructor(private readonly writer: WritableStreamDefaultWriter<Uint8Array>, readonly generation: number, chain: boolean, private readonly onGone: (c: SseConnection) => void,
    readonly expiresAt?: number, streams?: string[]) {
    this.member = { sink: this, accountId: null, selfSubscribe: false, wire: chain ? Wire.SseChain : Wire.Sse, streams: filterOf(streams) };
    this.keepAlive = setInterval(() => this.send(': keep-alive\n\n'), LIMITS.sseKeepAliveMs);
  }
  get unreadBytes(): number {
    return this.unread;
  }
  send(text: string): void {
    if (this.ended) return;
    const bytes = utf8(this.withRetry(text));
    if (this.unread > 0 && this.unread + bytes.byteLength > LIMITS.bufferedBytesPerConnection) {
      // Not from inside the fan-out that called us: the tail leaves once it is over.
      this.ended = true;
      queueMicrotask(() => this.shedNow());
      return;
    }
    this.write(bytes);
  }
  close(reason: CloseReason): void {
    if (this.ended) return;
    this.write(utf8(this.withRetry(`event: close\ndata: ${JSON.stringify({ code: CLOSE[reason].code, reason, ts: new Date().toISOString() })}\n\n`)));
    this.end();
  }
  private withRetry(text: string): string {
    if (!this.retry || text.startsWith(':')) return text;
    const first = this.retry + text;
    this.retry = '';
    return first;
  }
  private write(bytes: Uint8Array): void {
    const size = bytes.byteLength;
    this.unread += size;
    this.writer.write(bytes).then(() => {
      this.unread -= size;
    }, () => this.end());
  }
  /** True once the tail was closed for reading too slowly: its owner logs `consumer.shed` when it goes. */
  get shed(): boolean {
    return this.wasShed;
  }
  private wasShed = false;
  private shedNow(): void {
    this.ended = false;
    this.wasShed = true;
    this.close('slow_consumer');
    // A reader that never reads would keep what is queued forever: abort it after a grace.
    const abort = setTimeout(() => void this.writer.abort('slow_consumer').catch(() => {}), SHED_GRACE_MS);
    this.writer.closed.then(() => clearTimeout(abort), () => clearTimeout(abort));
  }
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.keepAlive);
    this.writer.close().catch(() => {});
    this.onGone(this);
  }
}

/** Accepts the upgrade only to close it at once with a code and its exact reason. */
/** Set on a refused WebSocket's 101: the close reason it carries. */
export const REFUSED_HEADER = 'x-ams-refused';

export function rejectSocket(reason: CloseReason, subprotocol = false): Response {
  const [client, server] = Object.values(new WebSocketPair());
  server.accept();
  server.close(CLOSE[reason].code, reason);
  // The reason is what the client reads anyway; the Worker's event line needs it (http/observe.ts).
  const headers: Record<string, string> = { [REFUSED_HEADER]: reason, ...(subprotocol ? { 'Sec-WebSocket-Protocol': 'ams.v1' } : {}) };
  return new Response(null, { status: 101, webSocket: client, headers });
}

