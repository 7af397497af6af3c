/**
 * The Durable Object shell of a conversation, named `{namespace}/{alias}`.
 * It keeps only the runtime's entry points — `fetch`, the WebSocket events,
 * `alarm` and the RPC methods — and each does the same few steps: the state
 * was rebuilt when the object woke (constructor: socket attachments and MCP
 * rows survive hibernation), delegate to `Conversation` (or the sockets, the
 * MCP members, or the HTTP stream routes), and catch anything unexpected, log it with the
 * conversation id, and answer with a 4500 / 500 / `internal_error` outcome.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../control/env';
import { newStreamId, newStreamName } from '../control/ids';
import { errorResponse } from '../protocol/errors';
import { PING_FRAME, PONG_FRAME, type JsonObject } from '../protocol/frames';
import { ADMISSION_HEADER, closeExpired, type Admission } from './admission';
import { rejectSocket } from './connections';
import { Conversation } from './conversation';
import { inspectConversation, summarizeConversation, type ConversationSummary } from './inspect';
import { linkView, type LinkViewOutcome } from './link-view';
import { sessionDoorbell } from './conversation-stub';
import { fail, type Doorbell, type JoinArgs, type Listener, type MemberRef, type Outcome, type ReadProposal, type RecvArgs, type RecvMessagesArgs, type SendArgs } from './members/rpc';
import { McpMembers } from './members/members';
import type { ConversationRecord, StreamRecord } from '../protocol/records';
import { ConversationStore } from './store';
import { historyPage, openEvents, postTokens } from './stream-http';
import { AudienceFeeds, rowsWithin } from './shards/feeds';
import type { ShardJoin, ShardPage, ShardResume } from './shards/rpc';
import { audienceShardRpc, webhookRpc } from './conversation-stub';
import type { LinkClaims } from '../control/links';
import { LIMITS } from '../protocol/limits';
import { claimsValid } from './admission';
import { planResume, type Cursor } from './resume';
import { WebhookHub, type Caller } from './webhooks/hub';
import { Sockets } from './sockets';
import { PresenceLedger } from './presence';
import { emit } from '../control/events';

/** When an alarm fails, look again this much later (ms). */
const ALARM_RETRY_MS = 60_000;

export class ConversationObject extends DurableObject<Env> {
  /** Replaced by a fresh one when the conversation is deleted, so its alias can be minted again. */
  conv: Conversation;
  /** MCP memberships (their sessions live in McpSessionObject and call the RPC methods below). */
  mcp: McpMembers;
  /** The audience shards this conversation feeds (decision 0110). */
  feeds: AudienceFeeds;
  /** Its webhooks (decision 0135): registrations, their listeners, the outbox to their objects. */
  hooks: WebhookHub;
  /** Its WebSockets: the runtime's socket events are handed to them (sockets.ts). */
  private readonly sockets: Sockets;
  /** Which accounts hold sockets here, and the notes that keep their presence indexes in step (decision 0170). */
  private presence: PresenceLedger;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    this.feeds = this.freshFeeds();
    this.conv = this.freshConversation();
    this.presence = this.freshPresence();
    this.sockets = new Sockets({
      env,
      conv: () => this.conv,
      accept: (ws) => ctx.acceptWebSocket(ws),
      transact: (fn) => this.transact(fn),
      alarmBy: (at) => void this.alarmBy(at),
      afterLeave: () => this.afterLeave(),
      held: (holder) => this.presence.held(holder),
      released: (accountId) => this.presence.released(accountId),
      label: () => this.label,
    });
    this.sockets.restore(ctx.getWebSockets());
    this.mcp = this.freshMembers();
    this.hooks = this.freshHooks();
    this.hooks.restore();
    // Sockets, memberships and webhooks are back; whatever was live before and is not has left.
    this.conv.settlePresence();
  }

  /** The conversation as storage holds it (empty after a deletion), wired to this object's transactions. */
  private freshConversation(): Conversation {
    const store = new ConversationStore(this.ctx.storage.sql, (fn) => this.transact(fn));
    return new Conversation(store, { streamId: newStreamId, streamName: newStreamName }, Date.now, (row) => this.feeds.relay(row));
  }

  private freshFeeds(): AudienceFeeds {
    const budget = () => this.conv.record?.max_listeners ?? LIMITS.listenerBudgetDefault;
    return new AudienceFeeds(this.ctx.storage.sql, (shard) => audienceShardRpc(this.env, shard), budget, (p) => this.ctx.waitUntil(p));
  }

  private freshHooks(): WebhookHub {
    return new WebhookHub(() => this.conv, this.ctx.storage.sql, (id) => webhookRpc(this.env, id), (p) => this.ctx.waitUntil(p));
  }

  private freshPresence(): PresenceLedger {
    const where = () => (this.conv.record ? { ns: this.conv.record.namespace, alias: this.conv.record.alias } : null);
    // A socket with an account is a writer, and a writer holds its stream: the account's live sockets are its held streams.
    const holds = (accountId: string) => this.conv.heldBy(accountId) + this.mcp.rows.heldBy(accountId);
    return new PresenceLedger(this.ctx.storage.sql, this.env, (p) => this.ctx.waitUntil(p), where, holds, (accountId) => this.endAccount(accountId));
  }

  private freshMembers(): McpMembers {
    const ring = (listener: string, bell: Doorbell) => sessionDoorbell(this.env, listener).doorbell(bell);
    return new McpMembers(this.conv, this.ctx.storage.sql, (at) => void this.alarmBy(at), ring);
  }

  private get label(): string {
    const r = this.conv.record;
    return r ? `${r.conversation_id} (${r.namespace}/${r.alias})` : this.ctx.id.toString();
  }

  /** Runs an entry point's work; a fault is logged with the conversation id and answered with `fallback` (or rethrown, without one). */
  private async guard<T>(what: string, work: () => T | Promise<T>, fallback?: () => T): Promise<T> {
    try {
      return await work();
    } catch (err) {
      console.error(`AMS conversation ${this.label}: ${what} failed`, err);
      if (fallback) return fallback();
      throw err;
    }
  }

  // ---- control plane (RPC from the Worker; a fault reaches the Worker, which answers 500) ----

  create(record: ConversationRecord, minterStream: StreamRecord): Promise<boolean> {
    return this.guard('create', () => this.conv.create(record, minterStream));
  }

  /** The record, or null when nothing lives at this address. */
  describe(): ConversationRecord | null {
    return this.conv.record ?? null;
  }

  inspect(): Promise<Record<string, unknown> | null> {
    return this.guard('inspect', async () => {
      const r = this.conv.record;
      if (!r) return null;
      const audience = {
        listeners: await this.feeds.census(), max_listeners: r.max_listeners ?? LIMITS.listenerBudgetDefault,
        shards: this.feeds.shards, listeners_per_shard: LIMITS.listenersPerShard,
      };
      return { ...inspectConversation(this.conv), audience };
    });
  }

  /** What a link fetched as a document tells (its claims checked here, against the record as it is now). */
  linkView(claims: LinkClaims | null, messages: number, bytes: number): Promise<LinkViewOutcome> {
    return this.guard('linkView', () => linkView(this.conv, claims, messages, bytes, Date.now()));
  }

  /** The owner's new instructions, logged as `x_conversation_updated`; its seq, or null when nothing lives here. */
  setInstructions(instructions: string): Promise<number | null> {
    return this.guard('setInstructions', () => (this.conv.record ? this.conv.setInstructions(instructions) : null));
  }

  /** A row of the owner's conversation list; null when nothing lives here. */
  summary(): Promise<ConversationSummary | null> {
    return this.guard('summary', async () => (this.conv.record ? summarizeConversation(this.conv, await this.feeds.census()) : null));
  }

  /** An account's credential was rotated or the account deleted: what it admitted here ends (decision 0146). */
  revokeAccount(accountId: string): Promise<number> {
    return this.guard('revokeAccount', () => {
      if (!this.conv.record) return 0;
      return this.endAccount(accountId);
    });
  }

  /** Closes what an account's credential holds here (4002, memberships ended); how many connections closed. */
  private endAccount(accountId: string): number {
    const closed = this.conv.closeWhere((c) => c.accountId === accountId, 'credential_revoked');
    this.mcp.revoke(accountId);
    return closed;
  }

  /** Revokes every link: bumps the generation and closes connections admitted with older links. */
  rotate(): Promise<number> {
    return this.guard('rotate', () => {
      if (!this.conv.record) return -1;
      const generation = this.conv.rotate();
      this.feeds.rotate(generation);
      return generation;
    });
  }

  /** Ends the conversation: closes everyone with 4910 and deletes all storage. */
  destroy(): Promise<boolean> {
    return this.guard('destroy', async () => {
      if (!this.conv.record) return false;
      this.conv.closeAll('conversation_closed');
      this.feeds.closeAll('conversation_closed');
      this.hooks.destroyAll();
      this.presence.forgetAll();
      this.sockets.clear();
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      // Start over in memory too (streams, head, members). Not ctx.abort(): that
      // would fail this very call, and the caller would see a 500.
      this.feeds = this.freshFeeds();
      this.conv = this.freshConversation();
      this.mcp = this.freshMembers();
      this.hooks = this.freshHooks();
      this.presence = this.freshPresence();
      return true;
    });
  }

  // ---- MCP memberships (RPC from McpSessionObject; see members.ts): a fault is an internal_error outcome ----

  private member<T>(what: string, work: () => Outcome<T> | Promise<Outcome<T>>): Promise<Outcome<T>> {
    return this.guard(what, work, () => fail<T>('internal_error'));
  }

  mcpJoin(args: JoinArgs) {
    return this.member('mcpJoin', async () => {
      const out = await this.mcp.join(args);
      // The membership acts under the caller's own credential, or under the one its resume_key carries (tool-host.ts enteredWith).
      const credential = out.ok && out.value.account_id !== null ? (out.value.account_id === args.account_id ? args.credential : args.resume?.credential) : undefined;
      if (out.ok && out.value.account_id && credential) this.presence.held({ account_id: out.value.account_id, namespace: credential.ns, credential_generation: credential.generation });
      return out;
    });
  }
  mcpSend(ref: MemberRef, args: SendArgs) { return this.member('mcpSend', () => this.mcp.send(ref, args)); }
  mcpRecv(ref: MemberRef, args: RecvArgs) { return this.member('mcpRecv', () => this.mcp.recv(ref, args)); }
  mcpRecvMessages(ref: MemberRef, args: RecvMessagesArgs) { return this.member('mcpRecvMessages', () => this.mcp.recvMessages(ref, args)); }
  mcpCommitRead(ref: MemberRef, p: ReadProposal) { return this.member('mcpCommitRead', () => this.mcp.commitRead(ref, p)); }
  mcpSetMetadata(ref: MemberRef, metadata: JsonObject) { return this.member('mcpSetMetadata', () => this.mcp.setMetadata(ref, metadata)); }
  mcpLeave(ref: MemberRef) {
    return this.member('mcpLeave', () => {
      const accountId = this.mcp.rows.get(ref.member_id)?.account_id ?? null;
      const out = this.mcp.leave(ref);
      this.presence.released(accountId);
      return out;
    });
  }
  mcpPeers(ref: MemberRef) { return this.member('mcpPeers', () => this.mcp.peers(ref)); }
  mcpListen(ref: MemberRef, listener: Listener) { return this.member('mcpListen', () => this.mcp.listen(ref, listener)); }
  mcpUnlisten(memberId: string, tag: string): Promise<void> {
    return this.guard('mcpUnlisten', () => this.mcp.unlisten(memberId, tag), () => undefined);
  }

  // ---- audience shards (RPC from AudienceShard; see shards/rpc.ts) ----

  shardJoin(shard: string, claims: LinkClaims | null, want: number): Promise<ShardJoin> {
    return this.guard('shardJoin', async (): Promise<ShardJoin> => {
      const r = this.conv.record;
      if (!r) return { ok: false, reason: 'conversation_not_found' };
      if (!claimsValid(claims, r)) return { ok: false, reason: 'invalid_magic_link' };
      const granted = await this.feeds.lease(shard, 1, want, true);
      // The snapshot is taken after the lease's awaits, in the same step that follows them, so the feed starts right after it.
      const { seq, chain } = this.conv.head;
      const snapshot = { conversation_id: r.conversation_id, epoch: r.epoch, links_bind_epoch: r.links_bind_epoch === true, history: r.history, generation: r.generation, seq, chain, peers: this.conv.peersFor(null, false, null) };
      return { ok: true, snapshot, granted };
    });
  }

  shardLease(shard: string, need: number, want: number): Promise<number> {
    return this.guard('shardLease', () => (this.conv.record ? this.feeds.lease(shard, need, want) : 0));
  }

  shardRelease(shard: string, n: number): Promise<void> {
    return this.guard('shardRelease', () => this.feeds.release(shard, n));
  }

  shardResume(cursor: Cursor, limit: number): Promise<ShardResume> {
    return this.guard('shardResume', (): ShardResume => {
      const head = this.conv.head.seq;
      if (!this.conv.record) return { ok: false, reason: 'invalid_cursor', head };
      const plan = planResume(cursor, this.conv.window());
      if (plan.kind === 'invalid') return { ok: false, reason: 'invalid_cursor', head };
      if (plan.kind === 'live') return { ok: true, rows: [], head };
      return { ok: true, rows: rowsWithin(this.conv.rows(plan.from, limit), LIMITS.pageBytes), head, ...(plan.truncated ? { truncated: plan.truncated } : {}) };
    });
  }

  shardPage(from: number, limit: number): Promise<ShardPage> {
    return this.guard('shardPage', (): ShardPage => {
      const { seq: head, chain } = this.conv.head;
      if (!this.conv.record) return { rows: [], firstRetained: head + 1, head, chain };
      return { rows: rowsWithin(this.conv.rows(from, limit), LIMITS.pageBytes), firstRetained: this.conv.window().firstRetained, head, chain };
    });
  }

  // ---- webhooks (RPC from the Worker and from WebhookObject; see webhooks/hub.ts) ----

  webhookRegister(...args: Parameters<WebhookHub['register']>) { return this.guard('webhookRegister', () => this.hooks.register(...args)); }
  webhookList(caller: Caller) { return this.guard('webhookList', () => this.hooks.list(caller)); }
  webhookDelete(caller: Caller, id: string) { return this.guard('webhookDelete', () => this.hooks.remove(caller, id)); }
  webhookEnable(caller: Caller, id: string) { return this.guard('webhookEnable', () => this.hooks.enable(caller, id)); }
  webhookSpeak(id: string, messageId: string, text: string) { return this.guard('webhookSpeak', () => this.transact(() => this.hooks.speak(id, messageId, text))); }
  webhookDisabled(id: string): Promise<void> { return this.guard('webhookDisabled', () => this.hooks.disabled(id)); }

  // ---- stream plane ----

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    let admission: Admission;
    try {
      admission = JSON.parse(request.headers.get(ADMISSION_HEADER) ?? '') as Admission;
    } catch {
      return errorResponse('internal_error');
    }
    const failed = () => (url.pathname === '/connect' ? rejectSocket('internal_error', admission.subprotocol) : errorResponse('internal_error'));
    return this.guard(url.pathname, async () => {
      switch (url.pathname) {
        case '/connect':
          return this.sockets.connect(admission);
        case '/events':
          if (admission.claims?.expires_at !== undefined) void this.alarmBy(admission.claims.expires_at * 1000);
          return openEvents(this.conv, admission, (c) => {
            if (c.shed) emit(this.env, 'consumer.shed', { ns: this.conv.record?.namespace ?? '', alias: this.conv.record?.alias ?? '', path: 'sse' });
            this.conv.leave(c);
            this.afterLeave();
          });
        case '/tokens':
          return postTokens(this.conv, admission, await request.json());
        case '/history':
          return historyPage(this.conv, admission, url);
        default:
          return errorResponse('not_found');
      }
    }, failed);
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

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    this.sockets.message(ws, message);
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    this.sockets.closed(ws, code);
  }

  override webSocketError(ws: WebSocket): void {
    this.sockets.closed(ws, 1011);
  }

  /** When the last connection leaves, make sure an alarm will trim the log by age. */
  private afterLeave(): void {
    if (this.conv.connectionCount > 0) return;
    const due = this.conv.trim();
    if (due !== undefined) void this.alarmBy(due);
  }

  /** Sets the alarm to `at` unless one is already due sooner (log trimming and MCP collection share it). */
  private async alarmBy(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  override async alarm(): Promise<void> {
    await this.guard('alarm', async () => {
      if (!this.conv.record) return;
      const next = [this.conv.trim(), this.mcp.collectIdle(), closeExpired(this.conv, Date.now())].filter((t): t is number => t !== undefined);
      this.presence.sweep();
      if (next.length > 0) await this.ctx.storage.setAlarm(Math.min(...next));
    }, () => void this.alarmBy(Date.now() + ALARM_RETRY_MS));
  }
}
