/**
 * The WebSocket plane of a conversation object: the sockets it accepted, their
 * frames (handled in batches, one SQLite transaction each), and their ends.
 * The object keeps the runtime's entry points (`/connect`, `webSocketMessage`,
 * `webSocketClose`, `webSocketError`) and hands each here, as it hands MCP
 * memberships to McpMembers and SSE tails to stream-http.ts; what the plane
 * needs of the object (its conversation, transactions, alarm) it asks `host`.
 */
import type { Env } from '../control/env';
import { emit } from '../control/events';
import { CLOSE, type CloseReason } from '../protocol/close-codes';
import { parseClientFrame, PONG_FRAME } from '../protocol/frames';
import { DEFAULT_IDENTITY, nameBaseOf } from '../protocol/identity';
import { isAcceptableMetadata } from '../protocol/validate';
import { connectVerdict, expired, type Admission } from './admission';
import { rejectSocket, SocketConnection, type SocketAttachment } from './connections';
import type { Conversation } from './conversation';
import type { JoinRequest } from './join';
import type { Holder } from './presence';

/** What the plane needs of its Durable Object. */
export interface SocketHost {
  readonly env: Env;
  /** The conversation now: a deletion replaces it. */
  conv(): Conversation;
  /** `ctx.acceptWebSocket`: the runtime keeps the socket across hibernation. */
  accept(ws: WebSocket): void;
  /** One SQLite transaction around `fn` (nested calls join the outer one). */
  transact(fn: () => void): void;
  /** Sets the alarm to `at` (ms) unless one is due sooner. */
  alarmBy(at: number): void;
  /** A connection left: the object may need an alarm to trim the log by age. */
  afterLeave(): void;
  /** A socket of this credential was admitted / one of this account left: the accounts' presence index follows (presence.ts). */
  held(holder: Holder): void;
  released(accountId: string | null): void;
  /** The conversation's name in log lines. */
  label(): string;
}

export class Sockets {
  private readonly open = new Map<WebSocket, SocketConnection>();
  private inbox: Array<[SocketConnection, string | ArrayBuffer]> = [];

  constructor(private readonly host: SocketHost) {}

  /** After waking: the sockets the runtime kept rejoin the conversation; one whose stream another holds now is closed. */
  restore(all: WebSocket[]): void {
    for (const ws of all) {
      const att = ws.deserializeAttachment() as SocketAttachment | null;
      if (!att || att.v !== 1 || att.closed) continue;
      const conn = new SocketConnection(ws, att);
      if (this.host.conv().restore(conn)) this.open.set(ws, conn);
      else conn.close('stream_displaced');
    }
  }

  /** The conversation was deleted (its connections closed already): forget every socket. */
  clear(): void {
    this.open.clear();
  }

  /** `/connect`: admits a socket through the conversation's join decision, or refuses it with a close code. */
  connect(a: Admission): Response {
    const conv = this.host.conv();
    const verdict = connectVerdict(a, conv.record);
    if (verdict) return rejectSocket(verdict, a.subprotocol);
    const claims = a.claims!;
    const req: JoinRequest = {
      accountId: a.account.status === 'ok' && claims.scope === 'write' ? a.account.account_id : null,
      scope: claims.scope,
      generation: claims.generation,
      streamName: a.stream_name,
      streamMetadata: a.stream_metadata,
      // The holder is what it declares; a socket declaring nothing is an agent (decision 0155).
      identity: a.identity ?? DEFAULT_IDENTITY,
      nameBase: nameBaseOf(a.identity, false),
      selfSubscribe: claims.scope === 'write' && a.self_subscribe,
      ...(a.subscribe_streams ? { streams: a.subscribe_streams } : {}),
      chain: a.integrity,
      cursor: { since: a.since, epoch: a.epoch },
    };
    if (a.since_invalid) return rejectSocket('invalid_cursor', a.subprotocol);
    const outcome = conv.decideJoin(req);
    if (!outcome.ok) return rejectSocket(outcome.reason, a.subprotocol);

    const [client, server] = Object.values(new WebSocketPair());
    this.host.accept(server);
    const att: SocketAttachment = {
      v: 1, account_id: req.accountId, stream_id: outcome.stream?.stream_id ?? null, scope: req.scope,
      generation: req.generation, self_subscribe: req.selfSubscribe, receipts: a.receipts, chain: a.integrity,
      ...(req.streams ? { streams: req.streams } : {}),
      ...(claims.expires_at !== undefined ? { expires_at: claims.expires_at } : {}),
    };
    // Its link's expiry ends it (decision 0104): the alarm closes what is still open then.
    if (claims.expires_at !== undefined) this.host.alarmBy(claims.expires_at * 1000);
    server.serializeAttachment(att);
    const conn = new SocketConnection(server, att);
    this.open.set(server, conn);
    if (outcome.takeover instanceof SocketConnection) this.open.delete(outcome.takeover.ws);
    conv.admit(conn, req, outcome);
    const who = a.account;
    if (req.accountId && who.status === 'ok' && who.namespace !== undefined && who.credential_generation !== undefined) {
      this.host.held({ account_id: who.account_id, namespace: who.namespace, credential_generation: who.credential_generation });
    }
    if (outcome.stream) emit(this.host.env, 'stream.joined', { ...this.where, path: 'ws', stream: outcome.stream.stream_id, account: req.accountId ?? '' });
    // A replay that reached its budget closed the socket already (replay_paused).
    if (!conv.isLive(conn)) this.open.delete(server);
    if (!conv.isLive(conn)) emit(this.host.env, 'replay.paused', { ...this.where, path: 'ws' });
    return new Response(null, { status: 101, webSocket: client, headers: a.subprotocol ? { 'Sec-WebSocket-Protocol': 'ams.v1' } : {} });
  }

  /** A frame arrived: queued for the next batch. */
  message(ws: WebSocket, message: string | ArrayBuffer): void {
    const conn = this.open.get(ws);
    if (!conn || !this.host.conv().record) return;
    this.inbox.push([conn, message]);
    if (this.inbox.length === 1) setTimeout(() => this.drain(), 0);
  }

  /**
   * Frames are handled in batches: every message that arrived since the last
   * batch is logged in one SQLite transaction (one commit instead of one per
   * token), and its sends leave once that commit is durable. Order is arrival
   * order; one bad frame closes only its own socket.
   */
  private drain(): void {
    const batch = this.inbox;
    this.inbox = [];
    this.host.transact(() => {
      for (const [conn, message] of batch) {
        if (!this.open.has(conn.ws) || !this.host.conv().record) continue;
        try {
          this.onFrame(conn, message);
        } catch (err) {
          console.error(`AMS conversation ${this.host.label()}: frame handling failed`, err);
          this.drop(conn, 'internal_error');
        }
      }
    });
  }

  private onFrame(conn: SocketConnection, message: string | ArrayBuffer): void {
    const conv = this.host.conv();
    const parsed = parseClientFrame(message);
    if (!parsed.ok) return this.drop(conn, parsed.reason);
    const frame = parsed.frame;
    if (frame.type === 'ping') return conn.send(PONG_FRAME);
    if (expired(conn.expiresAt, Date.now())) return this.drop(conn, 'invalid_magic_link');
    const stream = conv.writableStream(conn);
    if (!stream) return this.drop(conn, 'read_only');
    if (frame.type === 'token') {
      const out = conv.emit(stream, { data: frame.data, id: frame.id, ref: frame.ref, end: frame.end }, conn);
      if (out.ok) conn.tokens++;
      else this.drop(conn, out.reason);
      return;
    }
    if (!isAcceptableMetadata(frame.metadata)) return this.drop(conn, 'malformed_frame');
    conv.setMetadata(stream, frame.metadata);
  }

  /** Closes one socket with a reason; the others keep being served. */
  private drop(conn: SocketConnection, reason: CloseReason): void {
    if (reason === 'rate_limited') emit(this.host.env, 'emit.rate_limited', { ...this.where, path: 'ws', stream: conn.streamId ?? '', account: conn.accountId ?? '' });
    this.left(conn, CLOSE[reason].code);
    this.open.delete(conn.ws);
    this.host.conv().leave(conn);
    conn.close(reason);
    this.host.afterLeave();
    this.host.released(conn.accountId);
  }

  /** The socket closed or failed (`code` 1011): its stream is announced gone, and the close is answered. */
  closed(ws: WebSocket, code: number): void {
    const conn = this.open.get(ws);
    this.open.delete(ws);
    if (conn) this.left(conn, code);
    if (conn) {
      try {
        this.host.conv().leave(conn);
        this.host.afterLeave();
        this.host.released(conn.accountId);
      } catch (err) {
        console.error(`AMS conversation ${this.host.label()}: leave failed`, err);
      }
    }
    try {
      ws.close(code === 1005 || code === 1006 || code === 1015 ? 1000 : code, 'bye');
    } catch {
      // Already closed.
    }
  }

  /** Where this conversation is, for its event lines. */
  private get where(): { ns: string; alias: string } {
    const r = this.host.conv().record;
    return { ns: r?.namespace ?? '', alias: r?.alias ?? '' };
  }

  /** A writer's socket ends: one `stream.left` with the tokens it logged. */
  private left(conn: SocketConnection, code: number): void {
    if (conn.streamId) emit(this.host.env, 'stream.left', { ...this.where, path: 'ws', stream: conn.streamId, account: conn.accountId ?? '', tokens: conn.tokens, code });
  }
}
