/**
 * The Durable Object shell of a conversation, named `{namespace}/{alias}`.
 * Every entry point does the same few things: rebuild per-connection state
 * from socket attachments (they survive hibernation), delegate to
 * `Conversation`, and turn anything unexpected into a logged 4500 / 500.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../control/env';
import { newStreamId, newStreamName } from '../control/ids';
import type { CloseReason } from '../protocol/close-codes';
import { errorResponse, type ErrorCode } from '../protocol/errors';
import { parseClientFrame, PING_FRAME, PONG_FRAME, type JsonObject } from '../protocol/frames';
import { isAcceptableMetadata } from '../protocol/validate';
import { ADMISSION_HEADER, claimsValid, connectVerdict, type Admission } from './admission';
import { Conversation, type EmitInput, type JoinRequest } from './conversation';
import { rejectSocket, SocketConnection, SseConnection, type SocketAttachment } from './connections';
import { planResume } from './resume';
import type { ConversationRecord, StreamRecord } from './store';
import { LIMITS } from '../protocol/limits';
import { withChain } from './chain';
import { McpMembers } from '../mcp/members';
import { mcpSessionByObjectId, type JoinArgs, type Listener, type MemberRef, type RecvArgs, type SendArgs } from '../mcp/rpc';

export class ConversationObject extends DurableObject<Env> {
  /** Replaced by a fresh one when the conversation is deleted, so its alias can be minted again. */
  conv: Conversation;
  private readonly sockets = new Map<WebSocket, SocketConnection>();
  private inbox: Array<[SocketConnection, string | ArrayBuffer]> = [];

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.conv = this.freshConversation();
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    for (const ws of ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as SocketAttachment | null;
      if (!att || att.v !== 1 || att.closed) continue;
      const conn = new SocketConnection(ws, att);
      this.sockets.set(ws, conn);
      this.conv.connections.add(conn);
      this.conv.membership.add(conn.member);
      if (att.stream_id) this.conv.holders.set(att.stream_id, conn);
    }
    this.mcp = new McpMembers(() => this.conv, ctx.storage.sql, (at) => void this.alarmBy(at),
      (listener, bell) => mcpSessionByObjectId(this.env, listener).doorbell(bell));
    // Sockets and memberships are back; whatever was live before and is not has left.
    this.conv.settlePresence();
  }

  /** The conversation as storage holds it (empty after a deletion), wired to this object's transactions. */
  private freshConversation(): Conversation {
    return new Conversation(this.ctx.storage.sql, { streamId: newStreamId, streamName: newStreamName }, Date.now, (fn) => this.transact(fn));
  }

  /** MCP memberships (their sessions live in McpSessionObject and call the RPC methods below). */
  readonly mcp: McpMembers;

  private get label(): string {
    const r = this.conv.record;
    return r ? `${r.conversation_id} (${r.namespace}/${r.alias})` : this.ctx.id.toString();
  }

  // ---- control plane (RPC from the Worker) ----

  create(record: ConversationRecord, minterStream: StreamRecord): boolean {
    return this.conv.create(record, minterStream);
  }

  /** The record, or null when nothing lives at this address. */
  describe(): ConversationRecord | null {
    return this.conv.record ?? null;
  }

  inspect(): Record<string, unknown> | null {
    return this.conv.record ? this.conv.inspect() : null;
  }

  /** Revokes every link: bumps the generation and closes connections admitted with older links. */
  rotate(): number {
    const r = this.conv.record;
    if (!r) return -1;
    r.generation += 1;
    this.conv.store.saveRecord(r);
    this.conv.closeWhere((c) => c.generation < r.generation, 'invalid_magic_link');
    return r.generation;
  }

  /** Ends the conversation: closes everyone with 4910 and deletes all storage. */
  async destroy(): Promise<boolean> {
    if (!this.conv.record) return false;
    for (const c of [...this.conv.connections]) c.close('conversation_closed');
    this.sockets.clear();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    // Start over in memory too (streams, head, members). Not ctx.abort(): that
    // would fail this very call, and the caller would see a 500.
    this.conv = this.freshConversation();
    return true;
  }

  // ---- MCP memberships (RPC from McpSessionObject; see src/mcp/members.ts) ----

  mcpJoin(args: JoinArgs) { return this.mcp.join(args); }
  mcpSend(ref: MemberRef, args: SendArgs) { return this.mcp.send(ref, args); }
  mcpRecv(ref: MemberRef, args: RecvArgs) { return this.mcp.recv(ref, args); }
  mcpSetMetadata(ref: MemberRef, metadata: JsonObject) { return this.mcp.setMetadata(ref, metadata); }
  mcpLeave(ref: MemberRef) { return this.mcp.leave(ref); }
  mcpPeers(ref: MemberRef) { return this.mcp.peers(ref); }
  mcpListen(ref: MemberRef, listener: Listener) { return this.mcp.listen(ref, listener); }
  mcpUnlisten(memberId: string, tag: string) { this.mcp.unlisten(memberId, tag); }

  // ---- stream plane ----

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    let admission: Admission;
    try {
      admission = JSON.parse(request.headers.get(ADMISSION_HEADER) ?? '') as Admission;
    } catch {
      return errorResponse('internal_error');
    }
    try {
      switch (url.pathname) {
        case '/connect':
          return this.openSocket(admission);
        case '/events':
          return this.events(admission);
        case '/tokens':
          return this.postTokens(admission, await request.json());
        case '/history':
          return this.history(admission, url);
        default:
          return errorResponse('not_found');
      }
    } catch (err) {
      console.error(`AMS conversation ${this.label}: ${url.pathname} failed`, err);
      return url.pathname === '/connect' ? rejectSocket('internal_error', admission.subprotocol) : errorResponse('internal_error');
    }
  }

  private openSocket(a: Admission): Response {
    const verdict = connectVerdict(a, this.conv.record);
    if (verdict) return rejectSocket(verdict, a.subprotocol);
    const claims = a.claims!;
    const req: JoinRequest = {
      accountId: a.account.status === 'ok' ? a.account.account_id : null,
      scope: claims.scope,
      generation: claims.generation,
      streamName: a.stream_name,
      streamMetadata: a.stream_metadata,
      selfSubscribe: claims.scope === 'write' && a.self_subscribe,
      chain: a.integrity,
      cursor: { since: a.since, epoch: a.epoch },
    };
    if (a.since_invalid) return rejectSocket('invalid_cursor', a.subprotocol);
    if (claims.scope === 'read') req.accountId = null;
    const outcome = this.conv.decideJoin(req);
    if (!outcome.ok) return rejectSocket(outcome.reason, a.subprotocol);

    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    const att: SocketAttachment = {
      v: 1, account_id: req.accountId, stream_id: outcome.stream?.stream_id ?? null, scope: req.scope,
      generation: req.generation, self_subscribe: req.selfSubscribe, receipts: a.receipts, chain: a.integrity,
    };
    server.serializeAttachment(att);
    const conn = new SocketConnection(server, att);
    this.sockets.set(server, conn);
    if (outcome.takeover) this.sockets.delete((outcome.takeover as SocketConnection).ws);
    this.conv.admit(conn, req, outcome);
    return new Response(null, { status: 101, webSocket: client, headers: a.subprotocol ? { 'Sec-WebSocket-Protocol': 'ams.v1' } : {} });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const conn = this.sockets.get(ws);
    if (!conn || !this.conv.record) return;
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
    this.transact(() => {
      for (const [conn, message] of batch) {
        if (!this.sockets.has(conn.ws) || !this.conv.record) continue;
        try {
          this.onFrame(conn, message);
        } catch (err) {
          console.error(`AMS conversation ${this.label}: frame handling failed`, err);
          this.drop(conn, 'internal_error');
        }
      }
    });
  }

  private transactionDepth = 0;

  /** One SQLite transaction around `fn`; nested calls join the outer one. */
  private transact<T>(fn: () => T): T {
    if (this.transactionDepth > 0) return fn();
    this.transactionDepth++;
    try {
      return this.ctx.storage.transactionSync(fn);
    } finally {
      this.transactionDepth--;
    }
  }

  private onFrame(conn: SocketConnection, message: string | ArrayBuffer): void {
    const parsed = parseClientFrame(message);
    if (!parsed.ok) return this.drop(conn, parsed.reason);
    const frame = parsed.frame;
    if (frame.type === 'ping') return conn.send(PONG_FRAME);
    const stream = conn.streamId ? this.conv.streams.get(conn.streamId) : undefined;
    if (!stream || conn.scope !== 'write') return this.drop(conn, 'read_only');
    if (frame.type === 'token') {
      const out = this.conv.emit(stream, { data: frame.data, id: frame.id, ref: frame.ref }, conn);
      if (!out.ok) this.drop(conn, out.reason);
      return;
    }
    if (!isAcceptableMetadata(frame.metadata)) return this.drop(conn, 'malformed_frame');
    this.conv.setMetadata(stream, frame.metadata);
  }

  /** Closes one socket with a reason; the others keep being served. */
  private drop(conn: SocketConnection, reason: CloseReason): void {
    this.sockets.delete(conn.ws);
    this.conv.leave(conn);
    conn.close(reason);
    this.afterLeave();
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    this.closed(ws, code);
  }

  override webSocketError(ws: WebSocket): void {
    this.closed(ws, 1011);
  }

  private closed(ws: WebSocket, code: number): void {
    const conn = this.sockets.get(ws);
    this.sockets.delete(ws);
    if (conn) {
      try {
        this.conv.leave(conn);
      } catch (err) {
        console.error(`AMS conversation ${this.label}: leave failed`, err);
      }
      this.afterLeave();
    }
    try {
      ws.close(code === 1005 || code === 1006 || code === 1015 ? 1000 : code, 'bye');
    } catch {
      // Already closed.
    }
  }

  /** When the last connection leaves, make sure an alarm will trim the log by age. */
  private afterLeave(): void {
    if (this.conv.connections.size > 0) return;
    const due = this.conv.trim();
    if (due !== undefined) void this.alarmBy(due);
  }

  /** Sets the alarm to `at` unless one is already due sooner (log trimming and MCP collection share it). */
  private async alarmBy(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  override async alarm(): Promise<void> {
    if (!this.conv.record) return;
    const next = [this.conv.trim(), this.mcp.collectIdle()].filter((t): t is number => t !== undefined);
    if (next.length > 0) await this.ctx.storage.setAlarm(Math.min(...next));
  }

  // ---- HTTP stream routes ----

  private httpCheck(a: Admission, needWrite: boolean): ErrorCode | undefined {
    const r = this.conv.record;
    if (!r) return 'conversation_not_found';
    if (!claimsValid(a.claims, r)) return 'invalid_magic_link';
    if (!needWrite) return undefined;
    if (a.claims.scope !== 'write') return 'read_only';
    if (a.account.status === 'missing') return 'missing_credential';
    if (a.account.status === 'invalid') return 'invalid_credential';
    return undefined;
  }

  private events(a: Admission): Response {
    const bad = this.httpCheck(a, false);
    if (bad) return errorResponse(bad);
    if (a.since_invalid) return errorResponse('invalid_cursor');
    const req: JoinRequest = {
      accountId: null, scope: 'read', generation: a.claims!.generation, selfSubscribe: false, chain: a.integrity,
      cursor: { since: a.since, epoch: a.epoch },
    };
    const outcome = this.conv.decideJoin(req);
    if (!outcome.ok) {
      return outcome.reason === 'invalid_cursor' ? errorResponse('invalid_cursor', `since is beyond the head (${this.conv.head.seq}).`) : errorResponse('conversation_full');
    }
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const conn = new SseConnection(writable.getWriter(), req.generation, a.integrity, (c) => {
      this.conv.leave(c);
      this.afterLeave();
    });
    this.conv.admit(conn, req, outcome);
    return new Response(readable, {
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
      },
    });
  }

  private postTokens(a: Admission, body: unknown): Response {
    const bad = this.httpCheck(a, true);
    if (bad) return errorResponse(bad);
    const { stream_name, stream_metadata, tokens } = body as { stream_name?: string; stream_metadata?: JsonObject; tokens: EmitInput[] };
    const accountId = (a.account as { account_id: string }).account_id;
    let stream: StreamRecord | undefined;
    if (stream_name !== undefined) {
      stream = this.conv.streams.named(stream_name);
      if (stream && stream.owner_account_id !== accountId) return errorResponse('stream_name_conflict');
    } else {
      stream = this.conv.streams.ownedBy(accountId)[0];
    }
    if (!stream) {
      if (this.conv.streams.size >= LIMITS.streamsPerConversation) return errorResponse('concurrency_limit', 'The conversation holds too many streams.');
      let name = stream_name ?? newStreamName();
      while (this.conv.streams.named(name)) name = newStreamName();
      stream = { stream_id: newStreamId(), stream_name: name, owner_account_id: accountId, metadata: stream_metadata ?? {}, created_at: new Date().toISOString(), connected_once: false };
      this.conv.streams.put(stream);
      this.conv.store.saveStream(stream);
    }
    const results = this.conv.emitBatch(stream, tokens);
    if (!Array.isArray(results)) {
      return results.reason === 'rate_limited' ? errorResponse('rate_limited') : errorResponse('invalid_ref');
    }
    return Response.json({
      stream_id: stream.stream_id,
      stream_name: stream.stream_name,
      seqs: results.map((r) => (r.ok ? r.seq : -1)),
      duplicates: results.filter((r) => r.ok && r.duplicate).length,
    });
  }

  private history(a: Admission, url: URL): Response {
    const bad = this.httpCheck(a, false);
    if (bad) return errorResponse(bad);
    if (a.since_invalid) return errorResponse('invalid_cursor');
    const limitText = url.searchParams.get('limit');
    const limit = limitText === null ? LIMITS.historyPageDefault : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.historyPageMax) return errorResponse('invalid_limit');
    const w = this.conv.window();
    const plan = planResume({ since: a.since ?? 0, epoch: a.epoch }, w);
    if (plan.kind === 'invalid') return errorResponse('invalid_cursor', `since is beyond the head (${w.head}).`);
    const from = plan.kind === 'replay' ? plan.from : w.head + 1;
    const rows = this.conv.page(from, limit);
    const frames = rows.map((row) => JSON.parse(withChain(row.frame, row.chain)) as unknown);
    const last = rows.length > 0 ? rows[rows.length - 1].seq : Math.max(from - 1, a.since ?? 0);
    return Response.json({
      conversation_id: this.conv.record!.conversation_id,
      epoch: w.epoch,
      head_seq: w.head,
      first_seq: w.firstRetained,
      frames,
      next_since: last,
      more: last < w.head,
      ...(plan.kind === 'replay' && plan.truncated ? { truncated: plan.truncated } : {}),
    });
  }
}
