/**
 * An audience shard: a Durable Object, named `{namespace}/{alias}#{n}`,
 * holding read-only listeners (observer WebSockets and SSE tails) of one
 * conversation, so the conversation object sends each frame once per shard
 * instead of once per listener (decisions 0110–0112).
 *
 * Its state is memory only (`ShardLog`): listeners' sockets are not
 * hibernatable, so the object lives exactly as long as it has listeners, and
 * when it dies they reconnect with `since` and are served from the tail of a
 * fresh shard or from the conversation's log. The first listener makes the
 * shard join the conversation (snapshot + capacity); the conversation then
 * feeds it every logged row in order; a row that does not follow `fed` makes
 * the shard pull the gap from the log before going on.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../../control/env';
import { emit } from '../../control/events';
import type { CloseReason } from '../../protocol/close-codes';
import { errorResponse } from '../../protocol/errors';
import { parseClientFrame, PONG_FRAME, type JoinedFrame, type TruncatedFrame } from '../../protocol/frames';
import { LIMITS } from '../../protocol/limits';
import { ADMISSION_HEADER, expired, sameMint, type Admission } from '../admission';
import { Wire, type Member } from '../audience';
import { ShardCapacity } from './capacity';
import { ShardLog } from './log';
import type { FeedItem, ShardAck, ShardJoin } from './rpc';
import { closeSocket, rejectSocket, sendTo, SseConnection } from '../connections';
import { conversationOfShard } from '../conversation-stub';
import type { LogRow } from '../store';
import { encodeFrame, encodeRow, utf8Length } from '../wire';
import { filterOf, passesJson } from '../../protocol/subscription';

export const SHARD_HEADER = 'x-ams-shard';

/** Why a listener is turned away: each is both a close reason and an HTTP error code. */
type Refusal = 'conversation_not_found' | 'invalid_magic_link' | 'invalid_subscription' | 'invalid_cursor' | 'conversation_full' | 'internal_error';

/** Rows asked of the conversation per call when a listener resumes or the shard fills a gap. */
const PAGE = 1_000;

interface Listener {
  readonly member: Member;
  readonly generation: number;
  close(reason: CloseReason): void;
}

class ShardSocket implements Listener {
  readonly member: Member;
  constructor(readonly ws: WebSocket, readonly generation: number, chain: boolean, streams?: string[]) {
    this.member = { sink: this, accountId: null, selfSubscribe: false, wire: chain ? Wire.JsonChain : Wire.Json, streams: filterOf(streams) };
  }
  send(text: string): void {
    sendTo(this.ws, text);
  }
  close(reason: CloseReason): void {
    closeSocket(this.ws, reason);
  }
}

/** What a listener is sent after `joined`: a truncation notice, then rows, up to `fed`. */
interface Replay {
  truncated?: { from_seq: number; to_seq: number };
  rows: LogRow[];
  /** The last seq the listener has (or will have been sent by `rows`); null for a live-only listener. */
  after: number | null;
  /** The last seq pulled from the log: rows up to it that `rows` lacks were held back by the listener's filter. */
  scanned?: number;
}

export class AudienceShard extends DurableObject<Env> {
  private name = '';
  private log: ShardLog | null = null;
  private joining: Promise<ShardJoin> | null = null;
  /** Rows delivered before the join answer arrived. */
  private early: FeedItem[] = [];
  /** Admissions under way (the shard is not done while any is). */
  private pending = 0;
  private readonly listeners = new Set<Listener>();
  private readonly capacity = new ShardCapacity(() => this.listeners.size, () => ({
    grant: (need, want) => this.conversation.shardLease(this.name, need, want),
    release: (n) => this.conversation.shardRelease(this.name, n),
  }));
  /** Listeners admitted with an expiring link, closed 4001 when it expires (issue 14: expiry binds what a link admitted). */
  private readonly expiries = new Map<Listener, ReturnType<typeof setTimeout>>();
  private filling: Promise<void> = Promise.resolve();
  /** The conversation's head when a cursor was last refused for being beyond it (the SSE error names it). */
  private beyond = 0;

  /** The conversation's address, from the shard's name `{namespace}/{alias}#{n}` (for event lines). */
  private get where(): { ns: string; alias: string } {
    const slash = this.name.indexOf('/');
    return { ns: this.name.slice(0, slash), alias: this.name.slice(slash + 1, this.name.lastIndexOf('#')) };
  }

  private get conversation() {
    return conversationOfShard(this.env, this.name);
  }

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const sse = url.pathname === '/events';
    let a: Admission;
    try {
      a = JSON.parse(request.headers.get(ADMISSION_HEADER) ?? '') as Admission;
      this.name = request.headers.get(SHARD_HEADER) ?? '';
    } catch {
      return errorResponse('internal_error');
    }
    try {
      const replay = await this.prepare(a);
      if (typeof replay === 'string') {
        if (!sse) return rejectSocket(replay, a.subprotocol);
        if (replay === 'invalid_subscription') return errorResponse(replay, a.subscribe_invalid);
        return replay === 'invalid_cursor' && !a.since_invalid ? errorResponse(replay, `since is beyond the head (${this.beyond}).`) : errorResponse(replay);
      }
      return sse ? this.openEvents(a, replay) : this.openSocket(a, replay);
    } catch (err) {
      console.error(`AMS audience shard ${this.name}: ${url.pathname} failed`, err);
      return sse ? errorResponse('internal_error') : rejectSocket('internal_error', a.subprotocol);
    }
  }

  /** The published check order (not found, link, subscription, cursor syntax, capacity, cursor range), then what to replay. */
  private async prepare(a: Admission): Promise<Replay | Refusal> {
    const log = await this.joined(a);
    if (typeof log === 'string') return log;
    if (!a.claims || a.claims.conversation_id !== log.conversationId || a.claims.generation !== log.generation
      || !sameMint(a.claims.epoch, { epoch: log.epoch, ...(log.linksBindEpoch ? { links_bind_epoch: true as const } : {}) }) || expired(a.claims.expires_at, Date.now())) return 'invalid_magic_link';
    if (a.subscribe_invalid !== undefined) return 'invalid_subscription';
    if (a.since_invalid) return 'invalid_cursor';
    this.pending++;
    let held = false;
    try {
      held = await this.capacity.hold();
      if (!held) return 'conversation_full';
      return await this.catchUp(log, a);
    } finally {
      this.pending--;
      // The place passes to the listener `start` adds in the same step, or is freed.
      if (held) this.capacity.unhold();
    }
  }

  /** This shard's view of the log, joining the conversation first when it has none. */
  private async joined(a: Admission): Promise<ShardLog | Refusal> {
    if (this.log) return this.log;
    this.joining ??= this.conversation.shardJoin(this.name, a.claims, LIMITS.shardLeaseBlock);
    const join = await this.joining.finally(() => (this.joining = null));
    if (!join.ok) this.early = [];
    if (!this.log && join.ok) {
      this.log = new ShardLog(join.snapshot);
      this.capacity.start(join.granted);
      const early = this.early;
      this.early = [];
      await this.take(early);
    }
    return this.log ?? (join.ok ? 'internal_error' : join.reason);
  }

  /**
   * The rows a resuming listener missed: from the tail when it holds them,
   * else from the conversation's log, page by page, until the tail takes
   * over. A cursor ahead of this shard makes it pull up to the cursor first.
   */
  private async catchUp(log: ShardLog, a: Admission): Promise<Replay | Refusal> {
    if (a.since === undefined) return { rows: [], after: null };
    if (a.since > log.fed) await this.fillTo(a.since);
    const fromTail = (a.epoch === undefined || a.epoch === log.epoch) && a.since <= log.fed && log.covers(a.since + 1);
    if (fromTail && (a.since === log.fed || a.since + 1 >= log.firstRetained(Date.now()))) return { rows: [], after: a.since };
    const r = await this.conversation.shardResume({ since: a.since, epoch: a.epoch }, PAGE);
    if (!r.ok) {
      this.beyond = r.head;
      return 'invalid_cursor';
    }
    // A filtered listener keeps only the rows it hears, and pulls on until those fill a page: its next cursor is its last heard seq.
    const filter = filterOf(a.subscribe_streams);
    const heard = (page: LogRow[]) => (filter ? page.filter((row) => passesJson(filter, row.frame)) : page);
    const rows = heard(r.rows);
    let after = r.rows.at(-1)?.seq ?? r.truncated?.to_seq ?? a.since;
    // One replay is at most a page of bytes (LIMITS.pageBytes): pull no more than that; `start` pauses the rest.
    let bytes = rows.reduce((n, row) => n + row.frame.length, 0);
    while (r.rows.length > 0 && after < log.fed && !log.covers(after + 1) && bytes < LIMITS.pageBytes) {
      const page = await this.conversation.shardPage(after + 1, PAGE);
      if (page.rows.length === 0 || page.rows[0].seq !== after + 1) break;
      const kept = heard(page.rows);
      rows.push(...kept);
      bytes += kept.reduce((n, row) => n + row.frame.length, 0);
      after = page.rows[page.rows.length - 1].seq;
    }
    if (a.since > log.fed) await this.fillTo(a.since);
    return { rows, after: a.since, scanned: after, ...(r.truncated ? { truncated: r.truncated } : {}) };
  }

  /** Sends `joined` and the replay, then makes the listener live — one synchronous step, so nothing slips between. */
  private start(listener: Listener & { member: Member }, a: Admission, replay: Replay): void {
    const chain = a.integrity;
    const expiresAt = a.claims!.expires_at;
    const log = this.log!;
    const wire = listener.member.wire;
    const joined: JoinedFrame = {
      type: 'joined', conversation_id: log.conversationId, stream_id: null, stream_name: null, metadata: null,
      self_subscribe: false, peers: log.peerList(), resumed: false, seq: log.fed, epoch: log.epoch, scope: 'read',
      ...(chain ? { head_chain: log.chain } : {}), ts: new Date().toISOString(),
      ...(a.subscribe_streams ? { subscribed_streams: a.subscribe_streams } : {}),
    };
    const sink = listener.member.sink;
    sink.send(encodeFrame(wire, joined));
    if (replay.truncated) {
      const notice: TruncatedFrame = { type: 'x_truncated', ...replay.truncated, epoch: log.epoch, ts: new Date().toISOString() };
      sink.send(encodeFrame(wire, notice));
    }
    if (replay.after !== null && !this.replay(listener, replay)) {
      // The rest is the listener's next connection, from its own cursor (decisions/0101): not made live.
      listener.close('replay_paused');
      emit(this.env, 'replay.paused', { ...this.where, path: listener instanceof SseConnection ? 'sse' : 'ws' });
      return;
    }
    this.listeners.add(listener);
    log.join(listener.member);
    if (expiresAt !== undefined) this.expiries.set(listener, setTimeout(() => this.drop(listener, 'invalid_magic_link'), Math.max(0, expiresAt * 1000 - Date.now())));
  }

  /** Sends the replay, then the tail up to `fed`, within one page of bytes; false if frames remain past the budget. */
  private replay(listener: Listener & { member: Member }, replay: Replay): boolean {
    const log = this.log!;
    const { wire, sink } = listener.member;
    const filter = listener.member.streams ?? null;
    let sent = replay.truncated ? replay.truncated.to_seq : replay.after!;
    let bytes = 0;
    const within = (row: LogRow): boolean => {
      // A row the listener's filter holds back is passed over: it counts as reached, not as sent.
      if (!passesJson(filter, row.frame)) return (sent = row.seq), true;
      if (bytes >= LIMITS.pageBytes) return false;
      const text = encodeRow(wire, row);
      sink.send(text);
      bytes += utf8Length(text);
      sent = row.seq;
      return true;
    };
    for (const row of replay.rows) {
      if (row.seq <= sent || row.seq > log.fed) continue;
      if (!within(row)) return false;
    }
    if (replay.scanned !== undefined) sent = Math.max(sent, Math.min(replay.scanned, log.fed));
    if (sent < log.fed && !log.covers(sent + 1)) return false;
    for (const row of log.tailAfter(sent)) if (!within(row)) return false;
    return true;
  }

  private openSocket(a: Admission, replay: Replay): Response {
    if (!this.log) return rejectSocket('conversation_not_found', a.subprotocol);
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    const listener = new ShardSocket(server, a.claims!.generation, a.integrity, a.subscribe_streams);
    server.addEventListener('message', (ev) => this.onMessage(listener, ev.data as string | ArrayBuffer));
    server.addEventListener('close', (ev) => {
      this.remove(listener);
      try {
        server.close(ev.code === 1005 || ev.code === 1006 || ev.code === 1015 ? 1000 : ev.code, 'bye');
      } catch {
        // Already closed.
      }
    });
    server.addEventListener('error', () => this.remove(listener));
    this.start(listener, a, replay);
    return new Response(null, { status: 101, webSocket: client, headers: a.subprotocol ? { 'Sec-WebSocket-Protocol': 'ams.v1' } : {} });
  }

  private openEvents(a: Admission, replay: Replay): Response {
    if (!this.log) return errorResponse('conversation_not_found');
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const conn = new SseConnection(writable.getWriter(), a.claims!.generation, a.integrity, (c) => {
      if (c.shed) emit(this.env, 'consumer.shed', { ...this.where, path: 'sse' });
      this.remove(c);
    }, undefined, a.subscribe_streams);
    this.start(conn, a, replay);
    return new Response(readable, {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' },
    });
  }

  /** A listener may only ping; anything else closes it as the conversation would (4903 read_only, 4400). */
  private onMessage(listener: ShardSocket, message: string | ArrayBuffer): void {
    const parsed = parseClientFrame(message);
    if (parsed.ok && parsed.frame.type === 'ping') return listener.send(PONG_FRAME);
    this.drop(listener, parsed.ok ? 'read_only' : parsed.reason);
  }

  private remove(listener: Listener): void {
    clearTimeout(this.expiries.get(listener));
    this.expiries.delete(listener);
    if (!this.listeners.delete(listener)) return;
    this.log?.leave(listener.member);
    if (this.log) this.capacity.releaseSoon();
  }

  private drop(listener: Listener, reason: CloseReason): void {
    this.remove(listener);
    listener.close(reason);
  }

  // ---- the feed (RPC from the conversation object; see rpc.ts) ----

  async deliver(items: FeedItem[]): Promise<ShardAck> {
    if (!this.log) {
      if (this.joining) this.early.push(...items);
      return this.ack();
    }
    await this.take(items);
    return this.ack();
  }

  private async take(items: FeedItem[]): Promise<void> {
    for (const item of items) {
      const log = this.log;
      if (!log) return;
      if ('row' in item) {
        if (item.row.seq <= log.fed) continue;
        if (item.row.seq > log.fed + 1) await this.fillTo(item.row.seq - 1);
        this.log?.apply(item.row);
      } else if ('rotate' in item) {
        log.generation = Math.max(log.generation, item.rotate);
        for (const l of [...this.listeners]) if (l.generation < log.generation) this.drop(l, 'invalid_magic_link');
      } else {
        for (const l of [...this.listeners]) this.drop(l, item.close);
        this.reset();
      }
    }
  }

  census(): number {
    return this.listeners.size;
  }

  reclaim(): number {
    return this.capacity.reclaim();
  }

  private ack(): ShardAck {
    const gone = this.listeners.size + this.pending === 0 && !this.joining;
    if (gone) this.reset();
    return { gone };
  }

  private reset(): void {
    this.log = null;
    this.capacity.reset();
    this.early = [];
  }

  /** Pulls rows up to `seq` from the conversation's log (one pull at a time). */
  private fillTo(seq: number): Promise<void> {
    this.filling = this.filling.then(() => this.pull(seq)).catch((err) => {
      console.error(`AMS audience shard ${this.name}: gap fill failed`, err);
    });
    return this.filling;
  }

  private async pull(seq: number): Promise<void> {
    while (this.log && this.log.fed < seq) {
      const log = this.log;
      const page = await this.conversation.shardPage(log.fed + 1, PAGE);
      if (this.log !== log || log.fed >= seq) return;
      if (page.firstRetained > log.fed + 1 && page.head > log.fed) {
        // The log no longer holds what this shard missed: its listeners resume (and learn of the loss with x_truncated).
        for (const l of [...this.listeners]) this.drop(l, 'internal_error');
        const first = page.rows[0];
        if (first) log.skipTo(first.seq - 1, '');
        else log.skipTo(page.head, page.chain);
      }
      for (const row of page.rows) log.apply(row);
      if (page.rows.length === 0) return;
    }
  }
}
