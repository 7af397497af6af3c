/**
 * MCP memberships inside a conversation object. An MCP session (which lives in
 * its own object) joins through RPC (src/conversation/members/rpc.ts); here its
 * membership becomes a `Connection` in the same fan-out as WebSockets and SSE
 * tails, so it is a connected peer (`stream_joined` / `stream_left`), takes
 * streams over and is taken over by the same rules, and is closed by rotation
 * and deletion.
 *
 * The seams: rows in SQLite (rows.ts) carry a membership across
 * hibernation; the doorbell (doorbell.ts) tells a listening session about new
 * frames; the long-poll (long-poll.ts) serves `ams_recv`; joining.ts puts a
 * join to the conversation and words the answer.
 */
import { ulid } from 'ulid';
import type { CloseReason } from '../../protocol/close-codes';
import type { JsonObject, LoggedFrame } from '../../protocol/frames';
import { recapFor } from '../recap';
import { filterOf } from '../../protocol/subscription';
import { LIMITS } from '../../protocol/limits';
import { claimsValid, expired, sameMint } from '../admission';
import type { Conversation } from '../conversation';
import { Doorbells, type Ring } from './doorbell';
import type { JoinRequest } from '../join';
import { LongPolls } from './long-poll';
import { MemberReads } from './reads';
import { McpConnection, subscribedStreams } from './connection';
import { freshRequest, joinedOf, newLease, rowRequest } from './joining';
import { checkSubscription } from '../../protocol/subscription';
import { fail, ok, type JoinArgs, type Joined, type Listener, type MemberErrorCode, type MemberRef, type Outcome, type Proposed, type ReadProposal, type Received, type ReceivedMessages, type RecvArgs, type RecvMessagesArgs, type SendArgs } from './rpc';
import { say } from './messages';
import { MemberRows, type MemberRow } from './rows';
import type { Sql } from '../sql';
import type { StreamRecord } from '../../protocol/records';
import { sameIdentity } from '../../protocol/identity';

export class McpMembers {
  private readonly live = new Map<string, McpConnection>();
  /** Read by the object too: whose a membership is, and what an account still holds here (presence.ts). */
  readonly rows: MemberRows;
  private readonly polls = new LongPolls();
  private readonly doorbells: Doorbells;
  private readonly reads: MemberReads;

  /** Builds the memberships of `conv` from their rows (attached ones rejoin the fan-out); `schedule(at)` asks for an alarm by `at` (ms). */
  constructor(
    private readonly conv: Conversation,
    sql: Sql,
    private readonly schedule: (at: number) => void,
    ring: Ring = async () => false,
    private readonly clock: () => number = Date.now,
  ) {
    this.rows = new MemberRows(sql);
    this.reads = new MemberReads(conv, this.rows, this.polls, clock);
    this.doorbells = new Doorbells(ring, (memberId, tag) => this.unlisten(memberId, tag));
    conv.activity.pinned = (streamId) => this.rows.names(streamId);
    if (!conv.record) return;
    for (const row of this.rows.attached()) {
      const conn = this.connectionOf(row);
      if (!conv.restore(conn)) {
        this.rows.ended(row.member_id, 'stream_displaced');
        continue;
      }
      this.live.set(row.member_id, conn);
    }
  }

  get size(): number {
    return this.live.size;
  }

  /** `ams_recv` calls waiting in this object now (a GET stream holds none). */
  get longPolls(): number {
    return this.polls.size;
  }

  /** Resolves once no doorbell waits to be rung or is being rung. */
  bellsRung(): Promise<void> {
    return this.doorbells.rung();
  }

  private connectionOf(row: MemberRow): McpConnection {
    return new McpConnection(row, this.conv.head.seq, this.conv.record!.history.max_frames === 0, {
      closed: (c, reason) => this.closed(c, reason),
      heard: (c, frame) => this.heard(c, frame),
    });
  }

  /** The fan-out handed `conn` something: ring its listener; a frame it hears wakes its long-polls. */
  private heard(conn: McpConnection, frame: LoggedFrame | undefined): void {
    this.bell(conn.row);
    if (frame) this.polls.wake(conn);
  }

  /** The conversation closed a membership (takeover, rotation, deletion). */
  private closed(conn: McpConnection, reason: CloseReason): void {
    const id = conn.row.member_id;
    if (this.live.get(id) === conn) {
      this.live.delete(id);
      if (this.conv.record) this.rows.ended(id, reason, conn.row.lease);
    }
    // A listening session learns the end on its GET stream, as `notifications/ams/closed`.
    this.bell(conn.row, true);
    this.polls.wake(conn);
  }

  /** Asks for one doorbell for this membership after the current batch of frames. */
  private bell(row: MemberRow, ended = false): void {
    if (row.listener === null || row.listen_tag === null) return;
    this.doorbells.request(row.listener, row.member_id, row.listen_tag, this.conv.head.seq, ended);
  }

  // ---- joining ----

  /** Joins or continues, then tells what an arriving agent needs: the instructions and a recap (which moves no cursor). */
  join(a: JoinArgs): Outcome<Joined> {
    const out = this.admitJoin(a);
    if (!out.ok) return out;
    const v = out.value;
    const r = this.conv.record!;
    const recap = recapFor(this.conv, { accountId: v.scope === 'write' ? v.account_id : null, selfSubscribe: v.self_subscribe, streams: filterOf(v.subscribed_streams) },
      a.recap ?? LIMITS.recapDefaultMessages, LIMITS.recapBytes, this.clock());
    return ok({ ...v, instructions: r.instructions ?? '', recap });
  }

  private admitJoin(a: JoinArgs): Outcome<Joined> {
    const r = this.conv.record;
    if (!r) return fail('conversation_not_found');
    if (a.subscribe_streams) {
      const sub = checkSubscription(a.subscribe_streams);
      if (!sub.ok) return fail('invalid_subscription', sub.message);
    }
    if (a.since !== undefined && a.since > this.conv.head.seq) return fail('invalid_cursor', `since is beyond the head (${this.conv.head.seq}).`);
    if (a.resume) return this.resume(a);
    if (!claimsValid(a.claims ?? null, r)) return fail('invalid_magic_link');
    return this.attach(freshRequest(a, r), { since: a.since, lease: a.lease, expiresAt: a.claims!.expires_at ?? null });
  }

  private resume(a: JoinArgs): Outcome<Joined> {
    const r = this.conv.record!;
    const { conversation_id, member_id, account_id, generation, epoch } = a.resume!;
    if (conversation_id !== r.conversation_id || !sameMint(epoch, r)) return fail('resume_key_mismatch', 'The resume_key is for an earlier conversation at this address.');
    if (generation !== r.generation) return fail('invalid_magic_link', 'The resume_key was issued under a magic link that has since been revoked.');
    if (expired(a.resume!.expires_at, this.clock())) return fail('invalid_magic_link', 'The resume_key expired with the magic link it was issued under.');
    const row = this.rows.get(member_id);
    if (row && row.account_id !== account_id) return fail('resume_key_mismatch');
    // A key of the first format carries no expiry: the membership keeps the one it was admitted with.
    const expiresAt = a.resume!.expires_at ?? (epoch === undefined ? row?.expires_at ?? null : null);
    const since = a.since ?? row?.cursor;
    const live = this.live.get(member_id);
    if (live && row && row.attached === 1) {
      // The membership moves to the new session: a new lease, nothing on the wire.
      // The session listening until now is rung to learn it was displaced; the new one registers its own GET.
      // A stateless holder asking again with the lease it already holds displaces nobody.
      const lease = a.lease ?? newLease();
      const moved = live.row.lease !== lease;
      if (moved) {
        this.bell(live.row, true);
        live.row.listener = null;
        live.row.listen_tag = null;
      }
      live.row.lease = lease;
      if (since !== undefined && since !== live.row.cursor) live.row.carry = null;
      live.row.cursor = since ?? live.row.cursor;
      live.row.last_seen = this.clock();
      live.row.expires_at = expiresAt;
      // A new filter holds from the next frame and the next read on: no leave, no rejoin, nothing on the wire.
      if (a.subscribe_streams !== undefined) {
        live.row.subscribe_streams = a.subscribe_streams === null ? null : JSON.stringify(a.subscribe_streams);
        this.conv.refilter(live, McpConnection.memberOf(live, live.row));
      }
      this.rows.save(live.row);
      // The new holder's identity is announced as the stream's (a `stream_metadata`), as a socket's takeover would.
      const held = live.row.stream_id ? this.conv.streams.get(live.row.stream_id) : undefined;
      if (held && a.identity && !sameIdentity(a.identity, held.identity)) this.conv.setMetadata(held, held.metadata, a.identity);
      if (moved) this.polls.wake(live);
      return ok(joinedOf(this.conv, live, true));
    }
    const selfSubscribe = row ? row.self_subscribe === 1 : a.self_subscribe === true;
    const kept = a.subscribe_streams !== undefined ? a.subscribe_streams : row ? subscribedStreams(row) : null;
    const streams = kept ? { streams: kept } : {};
    const carry = a.since === undefined ? row?.carry ?? null : null;
    if (member_id.startsWith('obs_')) {
      return this.attach({ accountId: null, scope: 'read', generation, selfSubscribe: false, ...streams, chain: false, cursor: {} }, { memberId: member_id, since, lease: a.lease, carry, expiresAt });
    }
    const s = this.conv.streams.get(member_id);
    if (!s || s.owner_account_id !== account_id) return fail('resume_key_mismatch');
    return this.attach({ accountId: account_id, scope: 'write', generation, streamName: s.stream_name, identity: a.identity, selfSubscribe, ...streams, chain: false, cursor: {} }, { since, lease: a.lease, carry, expiresAt });
  }

  /** Admits a membership through the same decision as a WebSocket, then records it. */
  private attach(jr: JoinRequest, opts: { memberId?: string; since?: number; carry?: string | null; lease?: string; listener?: Listener | null; expiresAt: number | null }): Outcome<Joined> {
    const outcome = this.conv.decideJoin(jr);
    if (!outcome.ok) return fail(outcome.reason);
    const now = this.clock();
    const id = outcome.stream?.stream_id ?? opts.memberId ?? `obs_${ulid()}`;
    const row: MemberRow = {
      member_id: id, lease: opts.lease ?? newLease(), account_id: jr.accountId, stream_id: outcome.stream?.stream_id ?? null,
      scope: jr.scope, generation: jr.generation, self_subscribe: jr.selfSubscribe ? 1 : 0, cursor: 0, carry: null,
      subscribe_streams: jr.streams ? JSON.stringify(jr.streams) : null,
      epoch: this.conv.record!.epoch, last_seen: now, attached: 1, ended: null,
      listener: opts.listener?.object ?? null, listen_tag: opts.listener?.tag ?? null, expires_at: opts.expiresAt,
    };
    const conn = this.connectionOf(row);
    const before = this.live.get(id);
    // Registered before admit: a takeover of this membership's previous connection must not clear it.
    this.live.set(id, conn);
    const joined = this.conv.admit(conn, jr, outcome);
    conn.bufferFrom = joined.seq + 1;
    row.cursor = opts.since ?? joined.seq;
    if (opts.since !== undefined) row.carry = opts.carry ?? null;
    this.rows.save(row);
    this.schedule(now + LIMITS.mcpPresenceQuietMs);
    // The object's alarm closes it when its link expires (decision 0104).
    if (opts.expiresAt !== null) this.schedule(opts.expiresAt * 1000);
    // A long-poll on the connection this one replaced learns it is displaced.
    if (before && before !== conn) this.polls.wake(before);
    return ok(joinedOf(this.conv, conn, outcome.resumed));
  }

  /** The live connection `ref` may act through; a membership that went idle is rejoined first. */
  private liveOrRejoined(ref: MemberRef): Outcome<McpConnection> {
    const r = this.conv.record;
    if (!r) return fail('conversation_closed', 'The conversation was deleted.', true);
    const row = this.rows.get(ref.member_id);
    if (!row || row.lease === null) return fail('not_joined', undefined, true);
    if (row.lease !== ref.lease) return fail('stream_displaced', undefined, true);
    const conn = this.live.get(row.member_id);
    if (expired(row.expires_at, this.clock())) {
      // Its link expired: it ends as the alarm would have ended it (decision 0104).
      if (conn && row.attached === 1) this.conv.closeWhere((c) => c === conn, 'invalid_magic_link');
      else this.rows.ended(row.member_id, 'invalid_magic_link');
      return fail('invalid_magic_link', 'The magic link this membership was admitted with has expired.', true);
    }
    if (conn && row.attached === 1) return ok(conn);
    if (row.ended !== 'idle' && row.attached !== 1) return fail(row.ended as MemberErrorCode, undefined, true);
    if (row.generation !== r.generation) return fail('invalid_magic_link', undefined, true);
    const s = row.stream_id ? this.conv.streams.get(row.stream_id) : undefined;
    const back = this.attach(rowRequest(row, s?.stream_name), { memberId: row.member_id, since: row.cursor, carry: row.carry, lease: row.lease, listener: row.listener && row.listen_tag ? { object: row.listener, tag: row.listen_tag } : null, expiresAt: row.expires_at });
    if (!back.ok) return back as Outcome<McpConnection>;
    return ok(this.live.get(row.member_id)!);
  }

  // ---- acting ----

  /** The member's connection and the stream it may write on (`Conversation.writableStream`), or why it may not. */
  private writer(ref: MemberRef): Outcome<{ conn: McpConnection; stream: StreamRecord }> {
    const cur = this.liveOrRejoined(ref);
    if (!cur.ok) return cur as Outcome<never>;
    const stream = this.conv.writableStream(cur.value);
    return stream ? ok({ conn: cur.value, stream }) : fail('read_only');
  }

  send(ref: MemberRef, a: SendArgs): Outcome<{ seq: number; duplicate: boolean }> {
    const w = this.writer(ref);
    if (!w.ok) return w as Outcome<never>;
    const { conn, stream } = w.value;
    const end = a.end !== false;
    const input = { data: a.data, ...(a.id !== undefined ? { id: a.id } : {}), ...(a.ref !== undefined ? { ref: a.ref } : {}), end };
    const out = say(this.conv, stream, input, conn.openPiece, this.clock());
    if (!out.ok) return out.reason === 'malformed_frame' ? fail('invalid_ref', `ref must be the seq of a frame already in the conversation (head is ${this.conv.head.seq}).`) : fail(out.reason);
    if (!out.duplicate) conn.openPiece = end ? undefined : out.seq;
    this.rows.touch(conn.row, this.clock());
    return ok({ seq: out.seq, duplicate: out.duplicate });
  }

  setMetadata(ref: MemberRef, metadata: JsonObject): Outcome<{ seq: number }> {
    const w = this.writer(ref);
    if (!w.ok) return w as Outcome<never>;
    const seq = this.conv.setMetadata(w.value.stream, metadata);
    this.rows.touch(w.value.conn.row, this.clock());
    return ok({ seq });
  }

  /** The account's credential was revoked: the conversation closed its live memberships; the idle ones end too. */
  revoke(accountId: string): void {
    this.rows.revoke(accountId, 'credential_revoked');
  }

  leave(ref: MemberRef): Outcome<{ seq: number }> {
    const row = this.conv.record ? this.rows.get(ref.member_id) : undefined;
    if (!row || row.lease === null) return fail('not_joined');
    if (row.lease !== ref.lease) return fail('stream_displaced', undefined, true);
    const conn = this.live.get(row.member_id);
    if (conn && row.attached === 1) {
      this.live.delete(row.member_id);
      this.conv.leave(conn);
    }
    if (conn) {
      conn.row.listener = conn.row.listen_tag = null;
      this.polls.wake(conn);
    }
    this.rows.left(row.member_id, this.clock());
    return ok({ seq: this.conv.head.seq });
  }

  peers(ref: MemberRef): Outcome<{ peers: ReturnType<Conversation['peersFor']>; seq: number; stream_id: string | null }> {
    const cur = this.liveOrRejoined(ref);
    if (!cur.ok) return cur as Outcome<never>;
    const row = cur.value.row;
    this.rows.touch(row, this.clock());
    return ok({ peers: this.conv.peersFor(row.account_id, row.self_subscribe === 1, row.stream_id), seq: this.conv.head.seq, stream_id: row.stream_id });
  }

  // ---- listeners: sessions holding a GET stream, told by doorbell ----

  /** The session holding `ref` has a GET stream: ring `listener` after frames it hears (and at its end); counts as a call, so renewals keep it present. */
  listen(ref: MemberRef, listener: Listener): Outcome<{ head_seq: number }> {
    const cur = this.liveOrRejoined(ref);
    if (!cur.ok) return cur as Outcome<never>;
    const row = cur.value.row;
    row.listener = listener.object;
    row.listen_tag = listener.tag;
    row.last_seen = this.clock();
    this.rows.saveListener(row);
    return ok({ head_seq: this.conv.head.seq });
  }

  /** That GET stream closed (or its doorbell failed): forget it, unless another one registered since. */
  unlisten(memberId: string, tag: string): void {
    this.doorbells.cancel(memberId, tag);
    const conn = this.live.get(memberId);
    const now = this.clock();
    if (conn && conn.row.listen_tag === tag) {
      conn.row.listener = conn.row.listen_tag = null;
      conn.row.last_seen = Math.max(conn.row.last_seen, now);
    }
    if (!this.conv.record) return;
    this.rows.dropListener(memberId, tag, now);
    // Without its GET stream the membership is present only while it keeps calling.
    this.schedule(now + LIMITS.mcpPresenceQuietMs);
  }

  /** `ams_recv {format: "frames"}` (and the session's notification pulls): see MemberReads.frames. */
  async recv(ref: MemberRef, a: RecvArgs): Promise<Outcome<Received & { proposal?: ReadProposal }>> {
    const cur = this.recvStart(ref, a.since);
    return cur.ok ? this.reads.frames(cur.value, a, () => this.gone(cur.value, ref)) : cur as Outcome<never>;
  }

  /** `ams_recv {format: "messages"}`: see MemberReads.messages. */
  async recvMessages(ref: MemberRef, a: RecvMessagesArgs): Promise<Outcome<Proposed<ReceivedMessages>>> {
    const cur = this.recvStart(ref, a.since);
    return cur.ok ? this.reads.messages(cur.value, a, () => this.gone(cur.value, ref)) : cur as Outcome<never>;
  }

  /** The session's answer to a read is on its way: move the read position as proposed (MemberReads.commit). A session that no longer holds the membership moves nothing. */
  commitRead(ref: MemberRef, p: ReadProposal): Outcome<{ committed: boolean }> {
    // The live connection's row is the one reads use; a membership gone idle meanwhile has only its stored row.
    const row = this.conv.record ? this.live.get(ref.member_id)?.row ?? this.rows.get(ref.member_id) : undefined;
    if (!row || row.lease !== ref.lease) return ok({ committed: false });
    return ok({ committed: this.reads.commit(row, p) });
  }

  private recvStart(ref: MemberRef, since: number | undefined): Outcome<McpConnection> {
    const cur = this.liveOrRejoined(ref);
    if (!cur.ok) return cur;
    if (since !== undefined && since > this.conv.head.seq) return fail('invalid_cursor', `since is beyond the head (${this.conv.head.seq}).`);
    this.rows.touch(cur.value.row, this.clock());
    return cur;
  }

  /** After a wait: why `conn`'s call cannot go on (ended, deleted, displaced), if it cannot. */
  private gone(conn: McpConnection, ref: MemberRef): Outcome<never> | undefined {
    if (conn.endedBy) return fail(conn.endedBy, undefined, true);
    if (!this.conv.record) return fail('conversation_closed', undefined, true);
    if (conn.row.lease !== ref.lease || this.live.get(conn.row.member_id) !== conn) return fail('stream_displaced', undefined, true);
    return undefined;
  }

  // ---- collection ----

  /**
   * Called from the object's alarm: memberships that went quiet leave
   * (`stream_left`; their next call rejoins) — without a GET stream after
   * `mcpPresenceQuietMs` with no call, with one after `mcpPresenceIdleMs` —
   * and rows past the retention window are forgotten. Returns when to look again, if ever.
   */
  collectIdle(now = this.clock()): number | undefined {
    if (!this.conv.record) return undefined;
    for (const row of this.rows.idleSince(now - LIMITS.mcpPresenceQuietMs, now - LIMITS.mcpPresenceIdleMs)) {
      const conn = this.live.get(row.member_id);
      if (conn) {
        this.live.delete(row.member_id);
        this.conv.leave(conn);
        conn.endedBy = undefined;
        this.polls.wake(conn);
      }
      this.rows.ended(row.member_id, 'idle');
    }
    this.rows.forgetBefore(now - LIMITS.mcpMemberRetainMs);
    const oldest = this.rows.oldest();
    const dues = [
      oldest.listening === null ? undefined : oldest.listening + LIMITS.mcpPresenceIdleMs,
      oldest.quiet === null ? undefined : oldest.quiet + LIMITS.mcpPresenceQuietMs,
      oldest.detached === null ? undefined : oldest.detached + LIMITS.mcpMemberRetainMs,
    ].filter((d): d is number => d !== undefined);
    return dues.length > 0 ? Math.max(now + 1000, Math.min(...dues)) : undefined;
  }
}
