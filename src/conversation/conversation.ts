/**
 * One conversation's broker logic: streams, live connections, the log and the
 * fan-out. It knows nothing of Durable Objects or transports beyond the
 * `Connection` contract, so WebSockets, SSE tails and MCP memberships plug
 * into the same loop, and its store is handed in, so it runs in Node tests.
 *
 * It owns its invariants: which connections are live, who hears whom, and
 * which connection holds each stream change only through its methods —
 * `restore` (after hibernation), `decideJoin` + `admit` (attach, taking a
 * stream over), `leave` (detach) and `closeWhere` / `closeAll`.
 *
 * Everything here runs synchronously inside one Durable Object event, which is
 * what gives one total order and makes "replay, then go live" free of gaps.
 */
import type { CloseReason } from '../protocol/close-codes';
import { NO_OWNER, ownerOf, type JoinedFrame, type JsonObject, type LoggedFrame, type Peer, type TruncatedFrame } from '../protocol/frames';
import { LIMITS } from '../protocol/limits';
import { Membership, type Member } from './audience';
import { canonicalFrame, canonicalToken, chainStep } from '../protocol/chain';
import type { Connection } from './connection';
import { EmitRates } from './rate';
import { StreamActivity } from './retire';
import { planResume, type LogWindow } from './resume';
import { chooseStream, peerOf, StreamTable, type StreamChoice } from './streams';
import type { ConversationRecord, StreamRecord } from '../protocol/records';
import { nameBaseOf, sameIdentity, type Identity } from '../protocol/identity';
import type { ConversationStore, Head, LogRow } from './store';
import type { EmitInput, EmitOutcome, Ids, JoinOutcome, JoinRequest } from './join';
import { broadcast, encodeFrame, receipt, replayWithin } from './wire';
import { instructionsFrame, joinedFrame, presenceFrame, tokenFrame } from './logged-frames';

export class Conversation {
  private current: ConversationRecord | undefined;
  private top: Head;
  readonly streams: StreamTable;
  private readonly membership = new Membership();
  /** The connection holding each connected stream. */
  private readonly holders = new Map<string, Connection>();
  private readonly connections = new Set<Connection>();
  private readonly rates = new EmitRates();
  /** When each stream was last held, released or written on: what retirement goes by. */
  readonly activity: StreamActivity;
  /** Per stream, its last frame when that is a token without `end`: an utterance still open (what `ams_send` ends first). */
  private readonly unended = new Map<string, { seq: number; ts: number }>();
  private appendsSinceTrim = 0;

  /** `relay` gets every logged row once, after the local fan-out (the audience shards' feed). */
  constructor(private readonly store: ConversationStore, private readonly ids: Ids, private readonly clock: () => number = Date.now, private readonly relay?: (row: LogRow) => void) {
    this.current = store.loadRecord();
    this.top = store.loadHead();
    this.streams = new StreamTable(store.loadStreams());
    this.activity = new StreamActivity(clock());
  }

  /** The conversation's record; undefined when nothing lives at this address. */
  get record(): ConversationRecord | undefined {
    return this.current;
  }

  /** The newest logged frame's seq and chain. */
  get head(): Head {
    return this.top;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  isHeld(streamId: string): boolean {
    return this.holders.has(streamId);
  }

  /** The stream's last token (seq, ms) if it left an utterance open: no `end`, nothing of the stream after it since this object started. */
  openUtterance(streamId: string): { seq: number; ts: number } | undefined {
    return this.unended.get(streamId);
  }

  /** Creates the conversation with the minter's stream registered; false if this address is taken. */
  create(record: ConversationRecord, minterStream: StreamRecord): boolean {
    if (this.current) return false;
    this.store.saveRecord(record);
    this.store.saveStream(minterStream);
    this.current = record;
    this.streams.put(minterStream);
    return true;
  }

  window(now = this.clock()): LogWindow {
    const r = this.current!;
    return { epoch: r.epoch, head: this.top.seq, firstRetained: this.store.firstRetained(this.top.seq, r.history, now) };
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

  /** Puts back a connection live before hibernation or a restart, announcing nothing; false when its stream is gone or held by another. */
  restore(conn: Connection): boolean {
    if (conn.streamId && (this.holders.has(conn.streamId) || !this.streams.get(conn.streamId))) return false;
    this.connections.add(conn);
    this.membership.add(conn.member);
    if (conn.streamId) this.holders.set(conn.streamId, conn);
    return true;
  }

  /** Decides admission for a connection that passed the link and credential checks. */
  decideJoin(req: JoinRequest): JoinOutcome {
    if (this.connections.size >= LIMITS.connectionsPerConversation) return { ok: false, reason: 'conversation_full' };
    // Readers have their own budget, so the writers' reserve is always left to writers.
    if (req.scope === 'read' && [...this.connections].filter((c) => c.scope === 'read').length >= LIMITS.readerConnectionsPerConversation) return { ok: false, reason: 'conversation_full' };
    let stream: StreamRecord | null = null;
    let resumed = false;
    let takeover: Connection | null = null;
    let retire: StreamRecord | undefined;
    if (req.scope === 'write' && req.accountId) {
      const choice = chooseStream(
        { accountId: req.accountId, name: req.streamName, metadata: req.streamMetadata, identity: req.identity, nameBase: req.nameBase },
        { table: this.streams, isHeld: (id) => this.holders.has(id), heldBy: (acc) => this.heldBy(acc), ...this.newStreams() },
      );
      if (!choice.ok) return { ok: false, reason: choice.reason };
      stream = choice.stream;
      retire = choice.retire;
      resumed = choice.takeover || stream.connected_once;
      takeover = choice.takeover ? this.holders.get(stream.stream_id)! : null;
    }
    const plan = planResume(req.cursor, this.window());
    if (plan.kind === 'invalid') return { ok: false, reason: 'invalid_cursor' };
    return { ok: true, stream, resumed, takeover, plan, ...(retire ? { retire } : {}) };
  }

  /** The stream an HTTP emit writes on, by `chooseStream` like a connection, but holding nothing (no takeover, not counted live); a new one is registered, not announced. */
  streamForEmit(accountId: string, name?: string, metadata?: JsonObject, identity?: Identity): StreamChoice {
    const choice = chooseStream({ accountId, name, metadata, identity, nameBase: nameBaseOf(identity, false) }, { table: this.streams, isHeld: () => false, heldBy: () => 0, ...this.newStreams() });
    if (choice.ok && choice.retire) this.retire(choice.retire);
    if (choice.ok && !this.streams.get(choice.stream.stream_id)) {
      this.streams.put(choice.stream);
      this.store.saveStream(choice.stream);
    }
    return choice;
  }

  private newStreams() {
    const now = this.clock();
    return {
      newStreamId: this.ids.streamId, newStreamName: this.ids.streamName, now: new Date(now).toISOString(),
      retirable: (owned: StreamRecord[]) => this.activity.pick(owned, (id) => this.holders.has(id), now),
    };
  }

  /** Forgets a quiet stream so its account may register another (decision 0106); the log keeps its frames. */
  private retire(s: StreamRecord): void {
    this.streams.remove(s.stream_id);
    this.store.deleteStream(s.stream_id);
    this.rates.forget(s.stream_id);
    this.activity.forget(s.stream_id);
  }

  /** The stream a live connection may write on: its own, held with a write link; undefined when it may not write. */
  writableStream(conn: Connection): StreamRecord | undefined {
    if (conn.scope !== 'write' || !conn.streamId || this.holders.get(conn.streamId) !== conn) return undefined;
    return this.streams.get(conn.streamId);
  }

  /** After `decideJoin` said yes: take over or announce, send `joined`, replay, go live — one synchronous step, so nothing slips between replay and live. */
  admit(conn: Connection, req: JoinRequest, outcome: Extract<JoinOutcome, { ok: true }>): JoinedFrame {
    const { stream, takeover, plan } = outcome;
    if (outcome.retire) this.retire(outcome.retire);
    if (stream) {
      // The new state is logged first, stored with its frame in one transaction, and only then made current.
      // The identity is the new holder's: a takeover by another kind of holder is announced like new metadata.
      const next: StreamRecord = { ...stream, metadata: req.streamMetadata ?? stream.metadata, connected_once: true, ...(req.identity ? { identity: req.identity } : {}) };
      const metadataChanged = takeover !== null && ((req.streamMetadata !== undefined && JSON.stringify(req.streamMetadata) !== JSON.stringify(stream.metadata))
        || !sameIdentity(next.identity, stream.identity));
      if (takeover) this.detach(takeover), takeover.close('stream_displaced');
      const save = () => (this.store.saveStream(next), this.store.saveHeld([...this.holders.keys(), next.stream_id]));
      if (!takeover) this.announce('stream_joined', next, save);
      else if (metadataChanged) this.announce('stream_metadata', next, save);
      else save();
      Object.assign(stream, next);
      this.streams.put(stream);
      this.holders.set(stream.stream_id, conn);
      this.activity.touch(stream.stream_id, this.clock());
    }
    const peers = this.peersFor(conn.accountId, req.selfSubscribe, stream?.stream_id ?? null);
    const joined = joinedFrame(this.current!, this.top, stream, req, outcome.resumed, peers, new Date(this.clock()).toISOString());
    conn.send(encodeFrame(conn.member.wire, joined));
    const complete = plan.kind !== 'replay' || this.replay(conn, plan.from, plan.truncated);
    this.connections.add(conn);
    this.membership.add(conn.member);
    if (!complete) {
      // The rest of the replay is the client's next connection, from its own cursor (decisions/0101).
      this.leave(conn);
      conn.close('replay_paused');
    }
    return joined;
  }

  /** Sends the retained frames from `from` this connection would have heard live, within the page budget; false if some remain. */
  private replay(conn: Connection, from: number, truncated?: { from_seq: number; to_seq: number }): boolean {
    if (truncated) {
      const notice: TruncatedFrame = { type: 'x_truncated', ...truncated, epoch: this.current!.epoch, ts: new Date(this.clock()).toISOString() };
      conn.send(encodeFrame(conn.member.wire, notice));
    }
    return replayWithin(conn, this.store.rowsFrom(from), LIMITS.pageBytes);
  }

  /** Gives a live connection a new place in the fan-out (a filter changed in place); nothing is announced. */
  refilter(conn: Connection & { member: Member }, member: Member): void {
    const live = this.membership.remove(conn.member);
    conn.member = member;
    if (live) this.membership.add(member);
  }

  /** Removes a connection from the fan-out; announces `stream_left` if it held a stream. */
  leave(conn: Connection): void {
    if (!this.connections.has(conn)) return;
    this.detach(conn);
    const s = conn.streamId ? this.streams.get(conn.streamId) : undefined;
    if (s) this.announce('stream_left', s);
  }

  /** Forgets a connection without announcing anything (takeover, shutdown). */
  private detach(conn: Connection): void {
    this.connections.delete(conn);
    this.membership.remove(conn.member);
    if (conn.streamId && this.holders.get(conn.streamId) === conn) {
      this.holders.delete(conn.streamId);
      this.activity.touch(conn.streamId, this.clock());
      this.store.saveHeld(this.holders.keys());
    }
  }

  /** After a restart: streams held before it that no restored connection holds are announced gone (the log never shows a stream joined twice). */
  settlePresence(): number {
    if (!this.current) return 0;
    let gone = 0;
    for (const streamId of this.store.loadHeld()) {
      const s = this.streams.get(streamId);
      if (!s || this.holders.has(streamId)) continue;
      this.announce('stream_left', s);
      gone++;
    }
    if (gone > 0) this.store.saveHeld(this.holders.keys());
    return gone;
  }

  /** Emits one token on a stream owned by the caller; `receiptTo` gets the receipt if it asked. */
  emit(stream: StreamRecord, input: EmitInput, receiptTo?: Connection): EmitOutcome {
    if (!this.rates.take(stream.stream_id, stream.owner_account_id, 1, this.clock())) return { ok: false, reason: 'rate_limited' };
    return this.emitChecked(stream, input, receiptTo);
  }

  /** Emits a batch all-or-nothing: every token is checked (rate included) before the first is logged. */
  emitBatch(stream: StreamRecord, inputs: EmitInput[]): EmitOutcome[] | { ok: false; reason: 'rate_limited' | 'malformed_frame' } {
    for (const input of inputs) if (!this.refValid(input.ref)) return { ok: false, reason: 'malformed_frame' };
    if (!this.rates.take(stream.stream_id, stream.owner_account_id, inputs.length, this.clock())) return { ok: false, reason: 'rate_limited' };
    return inputs.map((input) => this.emitChecked(stream, input));
  }

  /** Whether the stream logged a token with this idempotency key inside the kept window (a resend would log nothing). */
  hasClientId(streamId: string, id: string): boolean {
    return this.store.seqOfClientId(streamId, id, this.window().firstRetained) !== undefined;
  }

  private refValid(ref: number | undefined): boolean {
    return ref === undefined || (ref >= 1 && ref <= this.top.seq);
  }

  private emitChecked(stream: StreamRecord, input: EmitInput, receiptTo?: Connection): EmitOutcome {
    if (!this.refValid(input.ref)) return { ok: false, reason: 'malformed_frame' };
    if (input.id !== undefined) {
      const first = this.store.seqOfClientId(stream.stream_id, input.id, this.window().firstRetained);
      if (first) {
        if (receiptTo?.receipts) receiptTo.send(encodeFrame(receiptTo.member.wire, receipt(first.seq, input.id, first.chain, receiptTo.member.wire, true, this.clock())));
        return { ok: true, seq: first.seq, chain: first.chain, duplicate: true };
      }
    }
    const seq = this.top.seq + 1;
    const frame = tokenFrame(stream, input, seq, new Date(this.clock()).toISOString());
    const chain = this.append(frame, input.id ?? null);
    this.activity.touch(stream.stream_id, this.clock());
    if (receiptTo?.receipts) receiptTo.send(encodeFrame(receiptTo.member.wire, receipt(seq, input.id, chain, receiptTo.member.wire, false, this.clock())));
    return { ok: true, seq, chain, duplicate: false };
  }

  /** Replaces a stream's metadata (and, for a new holder, its identity): logged and stored in one transaction, made current only once both succeeded. */
  setMetadata(stream: StreamRecord, metadata: JsonObject, identity = stream.identity): number {
    const next: StreamRecord = { ...stream, metadata, ...(identity ? { identity } : {}) };
    const seq = this.announce('stream_metadata', next, () => this.store.saveStream(next));
    Object.assign(stream, next);
    this.streams.put(stream);
    return seq;
  }

  /**
   * The owner's new instructions: the record and its `x_conversation_updated`
   * frame are stored in one transaction, and the frame goes to every
   * connection (it belongs to no stream, so nobody is excluded). Returns its seq.
   */
  setInstructions(instructions: string): number {
    const r = this.current!;
    const next: ConversationRecord = { ...r, instructions };
    const seq = this.top.seq + 1;
    const frame = instructionsFrame(r, instructions, new Date(this.clock()).toISOString(), seq);
    this.append(frame, null, () => this.store.saveRecord(next));
    r.instructions = instructions;
    return seq;
  }

  /** Logs a stream's arrival, departure or new metadata; returns its seq. */
  private announce(type: 'stream_joined' | 'stream_left' | 'stream_metadata', s: StreamRecord, alongside?: () => void): number {
    const ts = new Date(this.clock()).toISOString();
    const seq = this.top.seq + 1;
    this.append(presenceFrame(type, s, ts, seq), null, alongside);
    return seq;
  }

  /** Logs a frame (seq, chain), then hands it to the owner's audience (`broadcast`). */
  private append(frame: LoggedFrame, clientId: string | null, alongside?: () => void): string {
    const record = this.current!;
    const now = this.clock();
    const json = JSON.stringify(frame);
    const chain = chainStep(this.top.chain, frame.type === 'token' ? canonicalToken(frame) : canonicalFrame(frame));
    const owner = ownerOf(frame);
    const streamId = frame.type === 'x_conversation_updated' ? NO_OWNER : frame.stream_id;
    const row = { seq: frame.seq, ts: now, owner, stream_id: streamId, client_id: clientId, frame: json, chain };
    this.store.append(row, record.history.max_frames > 0, alongside);
    this.top = { seq: frame.seq, chain };
    if (frame.type === 'token' && frame.end !== true) this.unended.set(frame.stream_id, { seq: frame.seq, ts: now });
    else if (frame.type !== 'x_conversation_updated') this.unended.delete(frame.stream_id);
    // A conversation's own frame goes to everyone: no owner to exclude, no stream a filter could hold back.
    const audience = frame.type === 'x_conversation_updated' ? this.membership.audienceOf(owner) : this.membership.audienceFor(owner, frame.type, frame.stream_name);
    broadcast(audience, frame, json, chain);
    this.relay?.(row);
    if (++this.appendsSinceTrim >= 128) {
      this.appendsSinceTrim = 0;
      this.trim(now);
    }
    return chain;
  }

  /** Drops log rows outside the window; returns when the oldest kept row expires (ms), if any. */
  trim(now = this.clock()): number | undefined {
    const r = this.current;
    if (!r) return undefined;
    const oldest = this.store.trim(this.top, r.history, now);
    return oldest === undefined ? undefined : oldest + r.history.max_age_s * 1000;
  }

  /** Logged rows from `from`, read lazily, for a reader who pages (history API, MCP). */
  rows(from: number, limit?: number): Iterable<LogRow> {
    return this.store.rowsFrom(from, limit);
  }

  /** Whether `conn` is in the fan-out (an admission whose replay paused is not). */
  isLive(conn: Connection): boolean {
    return this.connections.has(conn);
  }

  /** Revokes every link: bumps the generation and closes connections admitted with older links. Returns the new generation. */
  rotate(): number {
    const r = this.current!;
    r.generation += 1;
    this.store.saveRecord(r);
    this.closeWhere((c) => c.generation < r.generation, 'invalid_magic_link');
    return r.generation;
  }

  /** Closes every connection (rotation, deletion) matching `which`, announcing each held stream's end. */
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

  /** Closes every connection without logging anything: the conversation is being deleted. */
  closeAll(reason: CloseReason): void {
    const all = [...this.connections];
    for (const c of all) this.detach(c);
    for (const c of all) c.close(reason);
  }
}
