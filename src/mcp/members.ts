/**
 * MCP memberships inside a conversation object. An MCP session (which lives in
 * its own object) joins through RPC; here its membership becomes a
 * `Connection` in the same fan-out as WebSockets and SSE tails, so it is a
 * connected peer (`stream_joined` / `stream_left`), takes streams over and is
 * taken over by the same rules, and is closed by rotation and deletion.
 *
 * Memberships are rows in SQLite (stream, identity, recv cursor, lease), so
 * they survive hibernation and restarts; the object rebuilds them in its
 * constructor. `ams_recv` reads the log with the same self-exclusion rule as
 * the wire (`Membership.hears`) and long-polls on appends.
 *
 * A session holding a GET stream registers as the membership's listener
 * (durably, in its row). When the fan-out hands such a membership frames, the
 * conversation rings the session's doorbell once per batch — a short RPC with
 * the new head — and the session pulls what it has not told yet. Nothing is
 * held open between frames, so the object hibernates with listeners attached.
 */
import { ulid } from 'ulid';
import { claimsValid } from '../conversation/admission';
import { Membership, Wire, type Member } from '../conversation/audience';
import type { Connection, Conversation, JoinRequest } from '../conversation/conversation';
import { planResume } from '../conversation/resume';
import type { StreamRecord } from '../protocol/records';
import type { CloseReason } from '../protocol/close-codes';
import type { JsonObject, Scope } from '../protocol/frames';
import { LIMITS } from '../protocol/limits';
import type { ErrorCode as ToolErrorCode } from '../protocol/errors';
import type { Doorbell, JoinArgs, Joined, Listener, MemberRef, Outcome, Received, RecvArgs, SendArgs, Truncation } from './rpc';

type MemberRow = {
  member_id: string;
  /** The session allowed to act on this membership; null after ams_leave. */
  lease: string | null;
  account_id: string | null;
  stream_id: string | null;
  scope: Scope;
  generation: number;
  self_subscribe: number;
  /** The last seq ams_recv returned (next_since). */
  cursor: number;
  epoch: string;
  last_seen: number;
  attached: number;
  /** Why it is not attached: `idle` (the next call rejoins), `left`, or the close reason. */
  ended: string | null;
  /** The McpSessionObject (its id, hex) holding a GET stream for this membership, rung after frames; null: none. */
  listener: string | null;
  /** Names that GET stream's registration: a ring or an unlisten for another tag changes nothing. */
  listen_tag: string | null;
};

/** Rings a session's doorbell; resolves whether it still listens for that membership. */
export type Ring = (listener: string, bell: Doorbell) => Promise<boolean>;

/** Frames kept in memory per membership when the conversation keeps no history. */
const BUFFER_CAP = 1_000;
/** Log rows read per page, and at most per call, while looking for audible frames. */
const PAGE = 256;
const SCAN_CAP = 4_096;
const LOGGED = new Set(['token', 'stream_joined', 'stream_left', 'stream_metadata']);

function fail<T>(error: ToolErrorCode, message?: string, ended = false): Outcome<T> {
  return { ok: false, error, ...(message !== undefined ? { message } : {}), ...(ended ? { ended } : {}) };
}
const ok = <T>(value: T): Outcome<T> => ({ ok: true, value });
const newLease = (): string => `ls_${ulid()}${crypto.randomUUID().replace(/-/g, '')}`;

/** One attached MCP membership as the fan-out sees it. */
export class McpConnection implements Connection {
  readonly member: Member;
  readonly receipts = false;
  endedBy: CloseReason | undefined;
  /** Only when history is off: what the fan-out delivered, complete from `bufferFrom`. */
  buffer: { seq: number; frame: JsonObject }[] | null;
  bufferFrom: number;

  constructor(
    readonly row: MemberRow, head: number, keepBuffer: boolean,
    private readonly onClose: (c: McpConnection, reason: CloseReason) => void,
    private readonly onHeard: (c: McpConnection) => void,
  ) {
    this.member = { sink: this, accountId: row.account_id, selfSubscribe: row.self_subscribe === 1, wire: Wire.Json };
    this.buffer = keepBuffer ? [] : null;
    this.bufferFrom = head + 1;
  }
  get accountId() { return this.row.account_id; }
  get streamId() { return this.row.stream_id; }
  set streamId(v) { this.row.stream_id = v; }
  get scope() { return this.row.scope; }
  get generation() { return this.row.generation; }

  send(text: string): void {
    if (this.row.listener !== null) this.onHeard(this);
    if (!this.buffer) return;
    const frame = JSON.parse(text) as JsonObject;
    if (!LOGGED.has(frame.type as string) || typeof frame.seq !== 'number') return;
    this.buffer.push({ seq: frame.seq, frame });
    if (this.buffer.length > BUFFER_CAP) this.bufferFrom = this.buffer.shift()!.seq + 1;
  }

  close(reason: CloseReason): void {
    this.endedBy = reason;
    this.onClose(this, reason);
  }
}

export class McpMembers {
  private readonly live = new Map<string, McpConnection>();
  private readonly waiters = new Set<() => void>();
  /** Doorbells to ring after the current batch, one per membership and listener. */
  private readonly bells = new Map<string, Doorbell & { listener: string }>();
  private bellsScheduled = false;
  /** Doorbells being rung now: a bell for one of them waits until that ring is answered. */
  private readonly ringing = new Set<string>();

  /** `schedule(at)` asks the object for an alarm no later than `at` (ms). */
  private conv: Conversation;

  /**
   * `convOf` is read on every call (the object may start a fresh Conversation
   * after a deletion); `schedule(at)` asks the object for an alarm no later than `at` (ms).
   */
  constructor(
    private readonly convOf: () => Conversation,
    private readonly sql: SqlStorage,
    private readonly schedule: (at: number) => void,
    private readonly ring: Ring = async () => false,
    private readonly clock: () => number = Date.now,
  ) {
    this.conv = convOf();
    this.ready();
    this.rebuild();
  }

  /** The table exists (a deletion drops it) and appends wake long-polls of the current Conversation. */
  private ready(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS mcp_members (
      member_id TEXT PRIMARY KEY, lease TEXT, account_id TEXT, stream_id TEXT, scope TEXT NOT NULL,
      generation INTEGER NOT NULL, self_subscribe INTEGER NOT NULL, cursor INTEGER NOT NULL, epoch TEXT NOT NULL,
      last_seen INTEGER NOT NULL, attached INTEGER NOT NULL, ended TEXT, listener TEXT, listen_tag TEXT)`);
    const conv = this.convOf();
    if (conv !== this.conv || !this.listening) {
      this.conv = conv;
      this.listening = true;
      conv.appendListeners.add(() => this.wake());
      // Tables written before doorbells existed lack the listener columns.
      const columns = new Set(this.sql.exec<{ name: string }>(`SELECT name FROM pragma_table_info('mcp_members')`).toArray().map((c) => c.name));
      for (const c of ['listener', 'listen_tag']) if (!columns.has(c)) this.sql.exec(`ALTER TABLE mcp_members ADD COLUMN ${c} TEXT`);
    }
  }
  private listening = false;

  /** Puts attached memberships back into the fan-out after the object restarted or woke. */
  private rebuild(): void {
    if (!this.conv.record) return;
    for (const row of this.sql.exec<MemberRow>('SELECT * FROM mcp_members WHERE attached = 1').toArray()) {
      if (row.stream_id && (this.conv.holders.has(row.stream_id) || !this.conv.streams.get(row.stream_id))) {
        this.sql.exec(`UPDATE mcp_members SET attached = 0, ended = 'stream_displaced' WHERE member_id = ?`, row.member_id);
        continue;
      }
      const conn = this.connectionFor(row);
      this.live.set(row.member_id, conn);
      this.conv.connections.add(conn);
      this.conv.membership.add(conn.member);
      if (row.stream_id) this.conv.holders.set(row.stream_id, conn);
    }
  }

  get size(): number {
    return this.live.size;
  }

  private connectionFor(row: MemberRow): McpConnection {
    return new McpConnection(row, this.conv.head.seq, this.conv.record!.history.max_frames === 0, (c, reason) => this.closed(c, reason), (c) => this.bell(c.row));
  }

  private row(memberId: string): MemberRow | undefined {
    return this.sql.exec<MemberRow>('SELECT * FROM mcp_members WHERE member_id = ?', memberId).toArray()[0];
  }

  private save(r: MemberRow): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO mcp_members (member_id, lease, account_id, stream_id, scope, generation, self_subscribe, cursor, epoch, last_seen, attached, ended, listener, listen_tag)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      r.member_id, r.lease, r.account_id, r.stream_id, r.scope, r.generation, r.self_subscribe, r.cursor, r.epoch, r.last_seen, r.attached, r.ended,
      r.listener, r.listen_tag);
  }

  private touch(r: MemberRow): void {
    r.last_seen = this.clock();
    this.sql.exec('UPDATE mcp_members SET last_seen = ? WHERE member_id = ?', r.last_seen, r.member_id);
  }

  /** The conversation closed a membership (takeover, rotation, deletion). */
  private closed(conn: McpConnection, reason: CloseReason): void {
    const id = conn.row.member_id;
    if (this.live.get(id) === conn) {
      this.live.delete(id);
      if (this.conv.record) this.sql.exec('UPDATE mcp_members SET attached = 0, ended = ? WHERE member_id = ? AND lease IS ?', reason, id, conn.row.lease);
    }
    // A listening session learns the end on its GET stream, as `notifications/ams/closed`.
    this.bell(conn.row, true);
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
    });
  }

  // ---- joining ----

  join(a: JoinArgs): Outcome<Joined> {
    this.ready();
    const r = this.conv.record;
    if (!r) return fail('conversation_not_found');
    if (a.since !== undefined && a.since > this.conv.head.seq) return fail('invalid_cursor', `since is beyond the head (${this.conv.head.seq}).`);
    if (a.resume) return this.resume(a);
    if (!claimsValid(a.claims ?? null, r)) return fail('invalid_magic_link');
    const scope = a.claims!.scope;
    return this.attach({
      accountId: scope === 'write' ? a.account_id : null,
      scope,
      generation: r.generation,
      streamName: a.stream_name,
      streamMetadata: a.stream_metadata,
      selfSubscribe: scope === 'write' && a.self_subscribe === true,
      chain: false,
      cursor: {},
    }, { since: a.since });
  }

  private resume(a: JoinArgs): Outcome<Joined> {
    const r = this.conv.record!;
    const { conversation_id, member_id, account_id, generation } = a.resume!;
    if (conversation_id !== r.conversation_id) return fail('resume_key_mismatch', 'The resume_key is for an earlier conversation at this address.');
    if (generation !== r.generation) return fail('invalid_magic_link', 'The resume_key was issued under a magic link that has since been revoked.');
    const row = this.row(member_id);
    if (row && row.account_id !== account_id) return fail('resume_key_mismatch');
    const since = a.since ?? row?.cursor;
    const live = this.live.get(member_id);
    if (live && row && row.attached === 1) {
      // The membership moves to the new session: a new lease, nothing on the wire.
      // The session listening until now is rung to learn it was displaced; the new one registers its own GET.
      this.bell(live.row, true);
      live.row.listener = null;
      live.row.listen_tag = null;
      live.row.lease = newLease();
      live.row.cursor = since ?? live.row.cursor;
      live.row.last_seen = this.clock();
      this.save(live.row);
      this.wake();
      return ok(this.describe(live, true));
    }
    const selfSubscribe = row ? row.self_subscribe === 1 : a.self_subscribe === true;
    if (member_id.startsWith('obs_')) {
      return this.attach({ accountId: null, scope: 'read', generation, selfSubscribe: false, chain: false, cursor: {} }, { memberId: member_id, since });
    }
    const s = this.conv.streams.get(member_id);
    if (!s || s.owner_account_id !== account_id) return fail('resume_key_mismatch');
    return this.attach({ accountId: account_id, scope: 'write', generation, streamName: s.stream_name, selfSubscribe, chain: false, cursor: {} }, { since });
  }

  /** Admits a membership through the same decision as a WebSocket, then records it. */
  private attach(jr: JoinRequest, opts: { memberId?: string; since?: number; lease?: string; listener?: Listener | null }): Outcome<Joined> {
    const outcome = this.conv.decideJoin(jr);
    if (!outcome.ok) return fail(outcome.reason);
    const now = this.clock();
    const id = outcome.stream?.stream_id ?? opts.memberId ?? `obs_${ulid()}`;
    const row: MemberRow = {
      member_id: id, lease: opts.lease ?? newLease(), account_id: jr.accountId, stream_id: outcome.stream?.stream_id ?? null,
      scope: jr.scope, generation: jr.generation, self_subscribe: jr.selfSubscribe ? 1 : 0, cursor: 0,
      epoch: this.conv.record!.epoch, last_seen: now, attached: 1, ended: null,
      listener: opts.listener?.object ?? null, listen_tag: opts.listener?.tag ?? null,
    };
    const conn = this.connectionFor(row);
    // Registered before admit: a takeover of this membership's previous connection must not clear it.
    this.live.set(id, conn);
    const joined = this.conv.admit(conn, jr, outcome);
    conn.bufferFrom = joined.seq + 1;
    row.cursor = opts.since ?? joined.seq;
    this.save(row);
    this.schedule(now + LIMITS.mcpPresenceIdleMs);
    this.wake();
    return ok(this.describe(conn, outcome.resumed));
  }

  private describe(conn: McpConnection, resumed: boolean): Joined {
    const row = conn.row;
    const s = row.stream_id ? this.conv.streams.get(row.stream_id) : undefined;
    const r = this.conv.record!;
    return {
      ref: { member_id: row.member_id, lease: row.lease! },
      conversation_id: r.conversation_id,
      account_id: row.account_id,
      stream_id: s?.stream_id ?? null,
      stream_name: s?.stream_name ?? null,
      metadata: s?.metadata ?? null,
      scope: row.scope,
      self_subscribe: row.self_subscribe === 1,
      peers: this.conv.peersFor(row.account_id, row.self_subscribe === 1, row.stream_id),
      resumed,
      seq: this.conv.head.seq,
      epoch: r.epoch,
      generation: r.generation,
      cursor: row.cursor,
    };
  }

  /** The live connection a session may act through, rejoining an idle membership on the way. */
  private current(ref: MemberRef): Outcome<McpConnection> {
    const r = this.conv.record;
    if (!r) return fail('conversation_closed', 'The conversation was deleted.', true);
    const row = this.row(ref.member_id);
    if (!row || row.lease === null) return fail('not_joined', undefined, true);
    if (row.lease !== ref.lease) return fail('stream_displaced', undefined, true);
    const conn = this.live.get(row.member_id);
    if (conn && row.attached === 1) return ok(conn);
    if (row.ended !== 'idle' && row.attached !== 1) return fail(row.ended as ToolErrorCode, undefined, true);
    if (row.generation !== r.generation) return fail('invalid_magic_link', undefined, true);
    const s = row.stream_id ? this.conv.streams.get(row.stream_id) : undefined;
    const back = this.attach({
      accountId: row.account_id, scope: row.scope, generation: row.generation, streamName: s?.stream_name,
      selfSubscribe: row.self_subscribe === 1, chain: false, cursor: {},
    }, { memberId: row.member_id, since: row.cursor, lease: row.lease, listener: row.listener && row.listen_tag ? { object: row.listener, tag: row.listen_tag } : null });
    if (!back.ok) return back as Outcome<McpConnection>;
    return ok(this.live.get(row.member_id)!);
  }

  // ---- acting ----

  /** The member's row and the stream it may write on, or why it may not. */
  private writable(ref: MemberRef): Outcome<{ row: MemberRow; stream: StreamRecord }> {
    this.ready();
    const cur = this.current(ref);
    if (!cur.ok) return cur as Outcome<never>;
    const row = cur.value.row;
    const stream = row.stream_id ? this.conv.streams.get(row.stream_id) : undefined;
    if (row.scope !== 'write' || !stream) return fail('read_only');
    return ok({ row, stream });
  }

  send(ref: MemberRef, a: SendArgs): Outcome<{ seq: number; duplicate: boolean }> {
    const w = this.writable(ref);
    if (!w.ok) return w as Outcome<never>;
    const { row, stream: s } = w.value;
    const out = this.conv.emit(s, { data: a.data, ...(a.id !== undefined ? { id: a.id } : {}), ...(a.ref !== undefined ? { ref: a.ref } : {}) });
    if (!out.ok) return out.reason === 'malformed_frame' ? fail('invalid_ref', `ref must be the seq of a frame already in the conversation (head is ${this.conv.head.seq}).`) : fail(out.reason);
    this.touch(row);
    return ok({ seq: out.seq, duplicate: out.duplicate });
  }

  setMetadata(ref: MemberRef, metadata: JsonObject): Outcome<{ seq: number }> {
    const w = this.writable(ref);
    if (!w.ok) return w as Outcome<never>;
    const { row, stream: s } = w.value;
    const seq = this.conv.setMetadata(s, metadata);
    this.touch(row);
    return ok({ seq });
  }

  leave(ref: MemberRef): Outcome<{ seq: number }> {
    this.ready();
    const row = this.conv.record ? this.row(ref.member_id) : undefined;
    if (!row || row.lease === null) return fail('not_joined');
    if (row.lease !== ref.lease) return fail('stream_displaced', undefined, true);
    const conn = this.live.get(row.member_id);
    if (conn && row.attached === 1) {
      this.live.delete(row.member_id);
      this.conv.leave(conn);
    }
    if (conn) conn.row.listener = conn.row.listen_tag = null;
    this.sql.exec(`UPDATE mcp_members SET attached = 0, lease = NULL, ended = 'left', last_seen = ?, listener = NULL, listen_tag = NULL WHERE member_id = ?`, this.clock(), row.member_id);
    this.wake();
    return ok({ seq: this.conv.head.seq });
  }

  peers(ref: MemberRef): Outcome<{ peers: ReturnType<Conversation['peersFor']>; seq: number; stream_id: string | null }> {
    this.ready();
    const cur = this.current(ref);
    if (!cur.ok) return cur as Outcome<never>;
    const row = cur.value.row;
    this.touch(row);
    return ok({ peers: this.conv.peersFor(row.account_id, row.self_subscribe === 1, row.stream_id), seq: this.conv.head.seq, stream_id: row.stream_id });
  }

  // ---- listeners: sessions holding a GET stream, told by doorbell ----

  /**
   * The session holding `ref` has a GET stream: ring `listener` after frames
   * this membership hears (and when it ends). Counts as a call, so a listening
   * membership that renews its registration stays present.
   */
  listen(ref: MemberRef, listener: Listener): Outcome<{ head_seq: number }> {
    this.ready();
    const cur = this.current(ref);
    if (!cur.ok) return cur as Outcome<never>;
    const row = cur.value.row;
    row.listener = listener.object;
    row.listen_tag = listener.tag;
    row.last_seen = this.clock();
    this.sql.exec('UPDATE mcp_members SET listener = ?, listen_tag = ?, last_seen = ? WHERE member_id = ?', row.listener, row.listen_tag, row.last_seen, row.member_id);
    return ok({ head_seq: this.conv.head.seq });
  }

  /** That GET stream closed (or its doorbell failed): forget it, unless another one registered since. */
  unlisten(memberId: string, tag: string): void {
    this.bells.delete(`${memberId} ${tag}`);
    const conn = this.live.get(memberId);
    if (conn && conn.row.listen_tag === tag) conn.row.listener = conn.row.listen_tag = null;
    // A deleted conversation keeps no table to update (and must not get one back).
    if (!this.convOf().record) return;
    this.ready();
    this.sql.exec('UPDATE mcp_members SET listener = NULL, listen_tag = NULL WHERE member_id = ? AND listen_tag = ?', memberId, tag);
  }

  /** `ams_recv` calls waiting in this object now (a GET stream holds none). */
  get longPolls(): number {
    return this.waiters.size;
  }

  /** Resolves once no doorbell waits to be rung or is being rung. */
  bellsRung(): Promise<void> {
    if (this.bells.size + this.ringing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.quiet.push(resolve));
  }
  private quiet: Array<() => void> = [];

  /** Asks for one doorbell for this membership after the current batch of frames. */
  private bell(row: MemberRow, ended = false): void {
    if (row.listener === null || row.listen_tag === null) return;
    const key = `${row.member_id} ${row.listen_tag}`;
    const head = this.conv.head.seq;
    const prev = this.bells.get(key);
    this.bells.set(key, { listener: row.listener, member_id: row.member_id, tag: row.listen_tag, head: Math.max(head, prev?.head ?? 0), ...(ended || prev?.ended ? { ended: true } : {}) });
    if (this.bellsScheduled) return;
    this.bellsScheduled = true;
    setTimeout(() => this.ringBells(), 0);
  }

  /** Rings each pending doorbell once; one in flight per membership, the frames that came meanwhile ring once more after it. */
  private ringBells(): void {
    this.bellsScheduled = false;
    for (const [key, bell] of [...this.bells]) {
      if (this.ringing.has(key)) continue;
      this.bells.delete(key);
      this.ringing.add(key);
      const { listener, ...doorbell } = bell;
      new Promise<boolean>((resolve) => resolve(this.ring(listener, doorbell)))
        .then((held) => {
          if (!held) this.unlisten(bell.member_id, bell.tag);
        }, (err: unknown) => {
          console.error(`AMS MCP: the doorbell of member ${bell.member_id} failed; it is no longer rung`, err);
          this.unlisten(bell.member_id, bell.tag);
        })
        .finally(() => {
          this.ringing.delete(key);
          if (this.bells.has(key) && !this.bellsScheduled) {
            this.bellsScheduled = true;
            setTimeout(() => this.ringBells(), 0);
          }
          this.settled();
        });
    }
    this.settled();
  }

  private settled(): void {
    if (this.bells.size + this.ringing.size === 0) for (const q of this.quiet.splice(0)) q();
  }

  /**
   * The cursor long-poll: frames after `since` (default: the stored cursor)
   * that this membership hears, at once if there are any, else after the next
   * audible append or `wait_ms`. `truncated` names seqs the log no longer holds.
   */
  async recv(ref: MemberRef, a: RecvArgs): Promise<Outcome<Received>> {
    this.ready();
    const cur = this.current(ref);
    if (!cur.ok) return cur as Outcome<never>;
    if (a.since !== undefined && a.since > this.conv.head.seq) return fail('invalid_cursor', `since is beyond the head (${this.conv.head.seq}).`);
    const conn = cur.value;
    const deadline = this.clock() + Math.min(Math.max(0, a.wait_ms), LIMITS.mcpWaitMsMax);
    let from = a.since ?? conn.row.cursor;
    this.touch(conn.row);
    for (;;) {
      const got = this.collect(conn, from, Math.min(Math.max(1, a.max), LIMITS.mcpRecvMax));
      if (got.frames.length > 0 || got.truncated || got.next_since < got.head_seq || this.clock() >= deadline) {
        if (a.advance) {
          conn.row.cursor = got.next_since;
          conn.row.epoch = this.conv.record!.epoch;
          this.sql.exec('UPDATE mcp_members SET cursor = ?, epoch = ? WHERE member_id = ?', conn.row.cursor, conn.row.epoch, conn.row.member_id);
        }
        this.touch(conn.row);
        return ok(got);
      }
      from = got.next_since;
      await this.wait(deadline - this.clock());
      if (conn.endedBy) return fail(conn.endedBy === 'conversation_closed' ? 'conversation_closed' : conn.endedBy, undefined, true);
      if (!this.conv.record) return fail('conversation_closed', undefined, true);
      if (conn.row.lease !== ref.lease || this.live.get(conn.row.member_id) !== conn) return fail('stream_displaced', undefined, true);
    }
  }

  private collect(conn: McpConnection, from: number, max: number): Received {
    const w = this.conv.window();
    const frames: JsonObject[] = [];
    let truncated: Truncation | undefined;
    let last = from;
    if (conn.buffer) {
      if (from + 1 < conn.bufferFrom) {
        truncated = { from_seq: from + 1, to_seq: conn.bufferFrom - 1, epoch: w.epoch };
        last = conn.bufferFrom - 1;
      }
      for (const b of conn.buffer) {
        if (b.seq <= last) continue;
        frames.push(b.frame);
        last = b.seq;
        if (frames.length >= max) break;
      }
      if (frames.length < max) last = Math.max(last, w.head);
      return { frames, next_since: last, head_seq: w.head, ...(truncated ? { truncated } : {}) };
    }
    const plan = planResume({ since: from, epoch: conn.row.epoch }, w);
    if (plan.kind !== 'replay') return { frames, next_since: w.head, head_seq: w.head };
    if (plan.truncated) {
      truncated = { ...plan.truncated, epoch: w.epoch };
      last = plan.from - 1;
    }
    let start = plan.from;
    let scanned = 0;
    const listener = { accountId: conn.row.account_id, selfSubscribe: conn.row.self_subscribe === 1 };
    scan: for (;;) {
      const rows = this.conv.page(start, PAGE);
      for (const row of rows) {
        last = row.seq;
        scanned++;
        if (!Membership.hears(listener, row.owner)) continue;
        frames.push(JSON.parse(row.frame) as JsonObject);
        if (frames.length >= max) break scan;
      }
      if (rows.length < PAGE || scanned >= SCAN_CAP) break;
      start = last + 1;
    }
    return { frames, next_since: last, head_seq: w.head, ...(truncated ? { truncated } : {}) };
  }

  // ---- collection ----

  /**
   * Called from the object's alarm: memberships idle past the presence window
   * leave (`stream_left`; their next call rejoins), rows past the retention
   * window are forgotten. Returns when to look again, if ever.
   */
  collectIdle(now = this.clock()): number | undefined {
    this.ready();
    if (!this.conv.record) return undefined;
    const idleBefore = now - LIMITS.mcpPresenceIdleMs;
    for (const row of this.sql.exec<MemberRow>('SELECT * FROM mcp_members WHERE attached = 1 AND last_seen <= ?', idleBefore).toArray()) {
      const conn = this.live.get(row.member_id);
      if (conn) {
        this.live.delete(row.member_id);
        this.conv.leave(conn);
        conn.endedBy = undefined;
      }
      this.sql.exec(`UPDATE mcp_members SET attached = 0, ended = 'idle' WHERE member_id = ?`, row.member_id);
    }
    this.sql.exec('DELETE FROM mcp_members WHERE attached = 0 AND last_seen <= ?', now - LIMITS.mcpMemberRetainMs);
    const next = this.sql.exec<{ a: number | null; d: number | null }>(
      'SELECT MIN(CASE WHEN attached = 1 THEN last_seen END) AS a, MIN(CASE WHEN attached = 0 THEN last_seen END) AS d FROM mcp_members').one();
    const dues = [next.a === null ? undefined : next.a + LIMITS.mcpPresenceIdleMs, next.d === null ? undefined : next.d + LIMITS.mcpMemberRetainMs];
    const due = dues.filter((d): d is number => d !== undefined);
    if (this.live.size > 0) this.wake();
    return due.length > 0 ? Math.max(now + 1000, Math.min(...due)) : undefined;
  }
}
