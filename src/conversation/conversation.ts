/**
 * One conversation's broker logic: streams, live connections, the log and the
 * fan-out. It knows nothing of Durable Objects or WebSockets beyond the small
 * `Connection` interface, so the object shell, SSE tails and MCP sessions all
 * plug into the same loop.
 *
 * Everything here runs synchronously inside one Durable Object event, which is
 * what gives one total order and makes "replay, then go live" free of gaps.
 */
import type { CloseReason } from '../protocol/close-codes';
import type {
  JoinedFrame, JsonObject, LoggedFrame, Peer, ReceiptFrame, Scope, StreamJoinedFrame, StreamLeftFrame,
  StreamMetadataFrame, TokenFrame, TruncatedFrame,
} from '../protocol/frames';
import { LIMITS } from '../protocol/limits';
import { Membership, Wire, type Member } from './audience';
import { canonicalFrame, canonicalToken, chainStep, withChain } from '../protocol/chain';
import { TokenBucket } from './rate';
import { planResume, type Cursor, type LogWindow } from './resume';
import { chooseStream, StreamTable } from './streams';
import type { ConversationRecord, StreamRecord } from '../protocol/records';
import { ConversationStore, type Head, type LogRow } from './store';

/** A live subscriber of any transport. */
export interface Connection {
  readonly member: Member;
  readonly accountId: string | null;
  /** The stream this connection holds (write scope), or null for observers. */
  streamId: string | null;
  readonly scope: Scope;
  readonly generation: number;
  readonly receipts: boolean;
  send(text: string): void;
  close(reason: CloseReason): void;
}

export interface Ids {
  streamId(): string;
  streamName(): string;
}

export interface JoinRequest {
  accountId: string | null;
  scope: Scope;
  generation: number;
  streamName?: string;
  streamMetadata?: JsonObject;
  selfSubscribe: boolean;
  chain: boolean;
  cursor: Cursor;
}

export type JoinOutcome =
  | { ok: true; stream: StreamRecord | null; resumed: boolean; takeover: Connection | null; plan: ReturnType<typeof planResume> }
  | { ok: false; reason: CloseReason };

export type EmitOutcome =
  | { ok: true; seq: number; chain: string; duplicate: boolean }
  | { ok: false; reason: 'rate_limited' | 'malformed_frame' | 'read_only' };

export interface EmitInput {
  data: string;
  id?: string;
  ref?: number;
}

const SSE_PREFIX = (seq: number, type: string) => `id: ${seq}\nevent: ${type}\ndata: `;

export class Conversation {
  readonly store: ConversationStore;
  record: ConversationRecord | undefined;
  head: Head;
  streams: StreamTable;
  readonly membership = new Membership();
  /** The connection holding each connected stream. */
  readonly holders = new Map<string, Connection>();
  readonly connections = new Set<Connection>();
  private readonly buckets = new Map<string, TokenBucket>();
  /** Called after every append, for long-polls and push channels outside the broadcast groups. */
  readonly appendListeners = new Set<(seq: number) => void>();
  private appendsSinceTrim = 0;

  constructor(sql: SqlStorage, private readonly ids: Ids, private readonly clock: () => number = Date.now, transact?: <T>(fn: () => T) => T) {
    this.store = new ConversationStore(sql, transact);
    this.record = this.store.loadRecord();
    this.head = this.store.loadHead();
    this.streams = new StreamTable(this.store.loadStreams());
  }

  /** Creates the conversation with the minter's stream registered; false if this address is taken. */
  create(record: ConversationRecord, minterStream: StreamRecord): boolean {
    if (this.record) return false;
    this.store.saveRecord(record);
    this.store.saveStream(minterStream);
    this.record = record;
    this.streams.put(minterStream);
    return true;
  }

  window(now = this.clock()): LogWindow {
    const r = this.record!;
    return { epoch: r.epoch, head: this.head.seq, firstRetained: this.store.firstRetained(this.head.seq, r.history, now) };
  }

  heldBy(accountId: string): number {
    let n = 0;
    for (const c of this.holders.values()) if (c.accountId === accountId) n++;
    return n;
  }

  peersFor(accountId: string | null, selfSubscribe: boolean, ownStreamId: string | null): Peer[] {
    const peers: Peer[] = [];
    for (const [streamId] of this.holders) {
      const s = this.streams.get(streamId);
      if (!s || streamId === ownStreamId) continue;
      if (Membership.hears({ accountId, selfSubscribe }, s.owner_account_id)) peers.push(peerOf(s));
    }
    return peers;
  }

  /** Decides admission for a connection that passed the link and credential checks. */
  decideJoin(req: JoinRequest): JoinOutcome {
    if (this.connections.size >= LIMITS.connectionsPerConversation) return { ok: false, reason: 'conversation_full' };
    let stream: StreamRecord | null = null;
    let resumed = false;
    let takeover: Connection | null = null;
    if (req.scope === 'write' && req.accountId) {
      const choice = chooseStream(
        { accountId: req.accountId, name: req.streamName, metadata: req.streamMetadata },
        {
          table: this.streams,
          isHeld: (id) => this.holders.has(id),
          heldBy: (acc) => this.heldBy(acc),
          newStreamId: this.ids.streamId,
          newStreamName: this.ids.streamName,
          now: new Date(this.clock()).toISOString(),
        },
      );
      if (!choice.ok) return { ok: false, reason: choice.reason };
      stream = choice.stream;
      resumed = choice.takeover || stream.connected_once;
      takeover = choice.takeover ? this.holders.get(stream.stream_id)! : null;
    }
    const plan = planResume(req.cursor, this.window());
    if (plan.kind === 'invalid') return { ok: false, reason: 'invalid_cursor' };
    return { ok: true, stream, resumed, takeover, plan };
  }

  /**
   * Admits a connection after `decideJoin` said yes: takes the stream over or
   * announces it, sends `joined`, replays what the cursor missed, then goes live.
   * All of it in one synchronous step, so nothing can slip between replay and live.
   */
  admit(conn: Connection, req: JoinRequest, outcome: Extract<JoinOutcome, { ok: true }>): JoinedFrame {
    const { stream, takeover, plan } = outcome;
    if (stream) {
      const metadataChanged = takeover !== null && req.streamMetadata !== undefined
        && JSON.stringify(req.streamMetadata) !== JSON.stringify(stream.metadata);
      if (req.streamMetadata !== undefined) stream.metadata = req.streamMetadata;
      const wasConnected = takeover !== null;
      stream.connected_once = true;
      this.streams.put(stream);
      this.store.saveStream(stream);
      if (takeover) {
        this.detach(takeover);
        takeover.close('stream_displaced');
      }
      this.holders.set(stream.stream_id, conn);
      this.store.saveHeld(this.holders.keys());
      if (!wasConnected) this.appendStreamJoined(stream);
      else if (metadataChanged) this.appendStreamMetadata(stream);
    }
    const joined: JoinedFrame = {
      type: 'joined',
      conversation_id: this.record!.conversation_id,
      stream_id: stream?.stream_id ?? null,
      stream_name: stream?.stream_name ?? null,
      metadata: stream?.metadata ?? null,
      self_subscribe: req.selfSubscribe,
      peers: this.peersFor(conn.accountId, req.selfSubscribe, stream?.stream_id ?? null),
      resumed: outcome.resumed,
      seq: this.head.seq,
      epoch: this.record!.epoch,
      scope: req.scope,
      ...(req.chain ? { head_chain: this.head.chain } : {}),
    };
    conn.send(encodeFrame(conn.member.wire, joined));
    if (plan.kind === 'replay') this.replay(conn, plan.from, plan.truncated);
    this.connections.add(conn);
    this.membership.add(conn.member);
    return joined;
  }

  /** Sends the retained frames from `from` that this connection would have heard live. */
  replay(conn: Connection, from: number, truncated?: { from_seq: number; to_seq: number }): void {
    const wire = conn.member.wire;
    if (truncated) {
      const frame: TruncatedFrame = { type: 'x_truncated', ...truncated, epoch: this.record!.epoch };
      conn.send(encodeFrame(wire, frame));
    }
    for (const row of this.store.rowsFrom(from)) {
      if (Membership.hears(conn.member, row.owner)) conn.send(encodeRow(wire, row));
    }
  }

  /** Removes a connection from the fan-out; announces `stream_left` if it held a stream. */
  leave(conn: Connection): void {
    if (!this.connections.has(conn)) return;
    this.detach(conn);
    if (conn.streamId) {
      const s = this.streams.get(conn.streamId);
      if (s) this.appendStreamLeft(s);
    }
  }

  /** Forgets a connection without announcing anything (takeover, shutdown). */
  private detach(conn: Connection): void {
    this.connections.delete(conn);
    this.membership.remove(conn.member);
    if (conn.streamId && this.holders.get(conn.streamId) === conn) {
      this.holders.delete(conn.streamId);
      this.store.saveHeld(this.holders.keys());
    }
  }

  /**
   * After the object restarted: streams that were held when it stopped and
   * that no restored connection holds (their sockets died with the process)
   * are announced gone, so the log never shows a stream joined twice.
   */
  settlePresence(): number {
    if (!this.record) return 0;
    let gone = 0;
    for (const streamId of this.store.loadHeld()) {
      const s = this.streams.get(streamId);
      if (!s || this.holders.has(streamId)) continue;
      this.appendStreamLeft(s);
      gone++;
    }
    if (gone > 0) this.store.saveHeld(this.holders.keys());
    return gone;
  }

  /** Emits one token on a stream owned by the caller; `conn` gets the receipt if it asked. */
  emit(stream: StreamRecord, input: EmitInput, receiptTo?: Connection): EmitOutcome {
    const bucket = this.bucketOf(stream.stream_id);
    if (!bucket.take(1, this.clock())) return { ok: false, reason: 'rate_limited' };
    return this.emitChecked(stream, input, receiptTo);
  }

  /** Emits a batch all-or-nothing: every token is checked (rate included) before the first is logged. */
  emitBatch(stream: StreamRecord, inputs: EmitInput[]): EmitOutcome[] | { ok: false; reason: 'rate_limited' | 'malformed_frame' } {
    for (const input of inputs) if (!this.refValid(input.ref)) return { ok: false, reason: 'malformed_frame' };
    if (!this.bucketOf(stream.stream_id).take(inputs.length, this.clock())) return { ok: false, reason: 'rate_limited' };
    return inputs.map((input) => this.emitChecked(stream, input));
  }

  private refValid(ref: number | undefined): boolean {
    return ref === undefined || (ref >= 1 && ref <= this.head.seq);
  }

  private emitChecked(stream: StreamRecord, input: EmitInput, receiptTo?: Connection): EmitOutcome {
    if (!this.refValid(input.ref)) return { ok: false, reason: 'malformed_frame' };
    if (input.id !== undefined) {
      const first = this.store.seqOfClientId(stream.stream_id, input.id, this.window().firstRetained);
      if (first) {
        if (receiptTo?.receipts) receiptTo.send(encodeFrame(receiptTo.member.wire, receipt(first.seq, input.id, first.chain, receiptTo, true)));
        return { ok: true, seq: first.seq, chain: first.chain, duplicate: true };
      }
    }
    const seq = this.head.seq + 1;
    const frame: TokenFrame = {
      type: 'token',
      stream_id: stream.stream_id,
      stream_name: stream.stream_name,
      owner_account_id: stream.owner_account_id,
      ts: new Date(this.clock()).toISOString(),
      data: input.data,
      seq,
    };
    if (input.id !== undefined) frame.id = input.id;
    if (input.ref !== undefined) frame.ref = input.ref;
    const chain = this.append(frame, input.id ?? null);
    if (receiptTo?.receipts) receiptTo.send(encodeFrame(receiptTo.member.wire, receipt(seq, input.id, chain, receiptTo, false)));
    return { ok: true, seq, chain, duplicate: false };
  }

  setMetadata(stream: StreamRecord, metadata: JsonObject): number {
    stream.metadata = metadata;
    this.streams.put(stream);
    this.store.saveStream(stream);
    return this.appendStreamMetadata(stream);
  }

  private bucketOf(streamId: string): TokenBucket {
    let bucket = this.buckets.get(streamId);
    if (!bucket) {
      bucket = new TokenBucket(LIMITS.emitRatePerSecond, LIMITS.emitBurst, this.clock());
      this.buckets.set(streamId, bucket);
    }
    return bucket;
  }

  private appendStreamJoined(s: StreamRecord): number {
    const frame: StreamJoinedFrame = { type: 'stream_joined', ...peerOf(s), ts: new Date(this.clock()).toISOString(), seq: this.head.seq + 1 };
    this.append(frame, null);
    return frame.seq;
  }

  private appendStreamLeft(s: StreamRecord): number {
    const frame: StreamLeftFrame = {
      type: 'stream_left', stream_id: s.stream_id, stream_name: s.stream_name, owner_account_id: s.owner_account_id,
      ts: new Date(this.clock()).toISOString(), seq: this.head.seq + 1,
    };
    this.append(frame, null);
    return frame.seq;
  }

  private appendStreamMetadata(s: StreamRecord): number {
    const frame: StreamMetadataFrame = { type: 'stream_metadata', ...peerOf(s), ts: new Date(this.clock()).toISOString(), seq: this.head.seq + 1 };
    this.append(frame, null);
    return frame.seq;
  }

  /**
   * Logs a frame (seq, chain) and then fans it out to the owner's audience:
   * serialized once, each wire format built once, the same string to every sink.
   */
  private append(frame: LoggedFrame, clientId: string | null): string {
    const record = this.record!;
    const now = this.clock();
    const json = JSON.stringify(frame);
    const chain = chainStep(this.head.chain, frame.type === 'token' ? canonicalToken(frame) : canonicalFrame(frame));
    this.store.append(
      { seq: frame.seq, ts: now, owner: frame.owner_account_id, stream_id: frame.stream_id, client_id: clientId, frame: json, chain },
      record.history.max_frames > 0,
    );
    this.head = { seq: frame.seq, chain };

    const groups = this.membership.audienceOf(frame.owner_account_id);
    if (groups[Wire.Json].length > 0) for (const sink of groups[Wire.Json]) sink.send(json);
    if (groups[Wire.JsonChain].length > 0) {
      const text = withChain(json, chain);
      for (const sink of groups[Wire.JsonChain]) sink.send(text);
    }
    if (groups[Wire.Sse].length > 0) {
      const text = `${SSE_PREFIX(frame.seq, frame.type)}${json}\n\n`;
      for (const sink of groups[Wire.Sse]) sink.send(text);
    }
    if (groups[Wire.SseChain].length > 0) {
      const text = `${SSE_PREFIX(frame.seq, frame.type)}${withChain(json, chain)}\n\n`;
      for (const sink of groups[Wire.SseChain]) sink.send(text);
    }
    for (const listener of this.appendListeners) listener(frame.seq);
    if (++this.appendsSinceTrim >= 128) {
      this.appendsSinceTrim = 0;
      this.trim(now);
    }
    return chain;
  }

  /** Drops log rows outside the window; returns when the oldest kept row expires (ms), if any. */
  trim(now = this.clock()): number | undefined {
    const r = this.record;
    if (!r) return undefined;
    const oldest = this.store.trim(this.head, r.history, now);
    return oldest === undefined ? undefined : oldest + r.history.max_age_s * 1000;
  }

  /** A page of logged frames for a reader who hears everything (history API, MCP observers). */
  page(from: number, limit: number): LogRow[] {
    return [...this.store.rowsFrom(from, limit)];
  }

  inspect(): Record<string, unknown> {
    const r = this.record!;
    const w = this.window();
    return {
      conversation_id: r.conversation_id,
      namespace: r.namespace,
      alias: r.alias,
      id_kind: r.id_kind,
      metadata: r.metadata,
      created_at: r.created_at,
      streams: [...this.streams.all()].map((s) => ({ ...peerOf(s), connected: this.holders.has(s.stream_id) })),
      head_seq: this.head.seq,
      head_chain: this.head.chain,
      epoch: r.epoch,
      history: { ...r.history, first_seq: w.firstRetained },
      connections: this.connections.size,
    };
  }

  /** Closes every connection (rotation, deletion) matching `which`, without announcements. */
  closeWhere(which: (c: Connection) => boolean, reason: CloseReason): number {
    let n = 0;
    for (const c of [...this.connections]) {
      if (!which(c)) continue;
      this.leave(c);
      c.close(reason);
      n++;
    }
    return n;
  }
}

export function peerOf(s: StreamRecord): Peer {
  return { stream_id: s.stream_id, stream_name: s.stream_name, owner_account_id: s.owner_account_id, metadata: s.metadata };
}

function receipt(seq: number, id: string | undefined, chain: string, conn: Connection, duplicate: boolean): ReceiptFrame {
  const frame: ReceiptFrame = { type: 'x_receipt', seq };
  if (id !== undefined) frame.id = id;
  if (conn.member.wire === Wire.JsonChain || conn.member.wire === Wire.SseChain) frame.chain = chain;
  if (duplicate) frame.duplicate = true;
  return frame;
}

/** Encodes an unlogged frame (joined, receipts, truncation notices) for a wire format. */
export function encodeFrame(wire: Wire, frame: object & { type: string }): string {
  const json = JSON.stringify(frame);
  return wire === Wire.Sse || wire === Wire.SseChain ? `event: ${frame.type}\ndata: ${json}\n\n` : json;
}

/** Encodes a logged row for a wire format (replay path). */
export function encodeRow(wire: Wire, row: LogRow): string {
  const json = wire === Wire.JsonChain || wire === Wire.SseChain ? withChain(row.frame, row.chain) : row.frame;
  if (wire === Wire.Json || wire === Wire.JsonChain) return json;
  const type = /^\{"type":"([a-z_]+)"/.exec(row.frame)?.[1] ?? 'message';
  return `${SSE_PREFIX(row.seq, type)}${json}\n\n`;
}
