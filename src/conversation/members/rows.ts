/**
 * Where MCP memberships live between calls: one SQLite row each (stream,
 * identity, recv cursor and carry, lease, listener), so they survive hibernation and
 * restarts. The table is created (and migrated) once, when the object builds
 * its memberships, not on every call.
 */
import type { Scope } from '../../protocol/frames';
import type { Sql } from '../sql';

export type MemberRow = {
  member_id: string;
  /** The session allowed to act on this membership; null after ams_leave. */
  lease: string | null;
  account_id: string | null;
  stream_id: string | null;
  scope: Scope;
  generation: number;
  /** When the magic link it descends from expires (unix seconds); null: never. */
  expires_at: number | null;
  self_subscribe: number;
  /** Its subscription filter, a JSON array of stream names (decisions/0130); null: every stream. */
  subscribe_streams: string | null;
  /** The last seq ams_recv returned (next_since). */
  cursor: number;
  /** With `format: "messages"`: what beyond `cursor` was already told (an UtteranceCarry, JSON); null: nothing. */
  carry: string | null;
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

export class MemberRows {
  constructor(private readonly sql: Sql) {
    sql.exec(`CREATE TABLE IF NOT EXISTS mcp_members (
      member_id TEXT PRIMARY KEY, lease TEXT, account_id TEXT, stream_id TEXT, scope TEXT NOT NULL,
      generation INTEGER NOT NULL, self_subscribe INTEGER NOT NULL, cursor INTEGER NOT NULL, epoch TEXT NOT NULL,
      last_seen INTEGER NOT NULL, attached INTEGER NOT NULL, ended TEXT, listener TEXT, listen_tag TEXT, carry TEXT)`);
    // Tables written before doorbells (listener columns) or utterances (carry) existed lack those columns.
    const columns = new Set(sql.exec<{ name: string }>(`SELECT name FROM pragma_table_info('mcp_members')`).toArray().map((c) => c.name));
    for (const c of ['listener', 'listen_tag', 'carry']) if (!columns.has(c)) sql.exec(`ALTER TABLE mcp_members ADD COLUMN ${c} TEXT`);
    // And before memberships expired with their links.
    if (!columns.has('expires_at')) sql.exec('ALTER TABLE mcp_members ADD COLUMN expires_at INTEGER');
    // And before memberships chose whom they hear.
    if (!columns.has('subscribe_streams')) sql.exec('ALTER TABLE mcp_members ADD COLUMN subscribe_streams TEXT');
  }

  get(memberId: string): MemberRow | undefined {
    return this.sql.exec<MemberRow>('SELECT * FROM mcp_members WHERE member_id = ?', memberId).toArray()[0];
  }

  /** Whether a membership that can still act (it holds a lease) names this stream: such a stream is never retired. */
  names(streamId: string): boolean {
    return this.sql.exec('SELECT 1 FROM mcp_members WHERE stream_id = ? AND lease IS NOT NULL LIMIT 1', streamId).toArray().length > 0;
  }

  attached(): MemberRow[] {
    return this.sql.exec<MemberRow>('SELECT * FROM mcp_members WHERE attached = 1').toArray();
  }

  /** Attached memberships gone quiet (decision 0109): no call since `quietBefore` and no GET stream, or no call at all since `idleBefore`. */
  idleSince(quietBefore: number, idleBefore: number): MemberRow[] {
    return this.sql.exec<MemberRow>(
      'SELECT * FROM mcp_members WHERE attached = 1 AND (last_seen <= ? OR (listener IS NULL AND last_seen <= ?))', idleBefore, quietBefore).toArray();
  }

  save(r: MemberRow): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO mcp_members (member_id, lease, account_id, stream_id, scope, generation, self_subscribe, cursor, epoch, last_seen, attached, ended, listener, listen_tag, carry, expires_at, subscribe_streams)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      r.member_id, r.lease, r.account_id, r.stream_id, r.scope, r.generation, r.self_subscribe, r.cursor, r.epoch, r.last_seen, r.attached, r.ended,
      r.listener, r.listen_tag, r.carry, r.expires_at, r.subscribe_streams);
  }

  touch(r: MemberRow, now: number): void {
    r.last_seen = now;
    this.sql.exec('UPDATE mcp_members SET last_seen = ? WHERE member_id = ?', now, r.member_id);
  }

  saveCursor(r: MemberRow): void {
    this.sql.exec('UPDATE mcp_members SET cursor = ?, carry = ?, epoch = ? WHERE member_id = ?', r.cursor, r.carry, r.epoch, r.member_id);
  }

  saveListener(r: MemberRow): void {
    this.sql.exec('UPDATE mcp_members SET listener = ?, listen_tag = ?, last_seen = ? WHERE member_id = ?', r.listener, r.listen_tag, r.last_seen, r.member_id);
  }

  /** Forgets the listener registered with `tag`, unless another registered since; its going counts as the last word heard (`now`). */
  dropListener(memberId: string, tag: string, now: number): void {
    this.sql.exec('UPDATE mcp_members SET listener = NULL, listen_tag = NULL, last_seen = MAX(last_seen, ?) WHERE member_id = ? AND listen_tag = ?', now, memberId, tag);
  }

  /** Detaches a membership with a reason; with `lease`, only while that lease still holds it. */
  ended(memberId: string, reason: string, lease?: string | null): void {
    if (lease === undefined) this.sql.exec('UPDATE mcp_members SET attached = 0, ended = ? WHERE member_id = ?', reason, memberId);
    else this.sql.exec('UPDATE mcp_members SET attached = 0, ended = ? WHERE member_id = ? AND lease IS ?', reason, memberId, lease);
  }

  /** Ends every membership of an account that is not ended already (its credential was revoked). */
  revoke(accountId: string, reason: string): void {
    this.sql.exec("UPDATE mcp_members SET attached = 0, ended = ? WHERE account_id = ? AND lease IS NOT NULL AND (ended IS NULL OR ended = 'idle')", reason, accountId);
  }

  /** How many of an account's memberships still hold on (attached, or idle and rejoinable): presence (decision 0170). */
  heldBy(accountId: string): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM mcp_members WHERE account_id = ? AND lease IS NOT NULL AND (ended IS NULL OR ended = 'idle')", accountId).one().n;
  }

  /** ams_leave: detached for good, no lease, no listener. */
  left(memberId: string, now: number): void {
    this.sql.exec(`UPDATE mcp_members SET attached = 0, lease = NULL, ended = 'left', last_seen = ?, listener = NULL, listen_tag = NULL WHERE member_id = ?`, now, memberId);
  }

  /** Forgets detached rows not seen since `before`. */
  forgetBefore(before: number): void {
    this.sql.exec('DELETE FROM mcp_members WHERE attached = 0 AND last_seen <= ?', before);
  }

  /** The oldest `last_seen` of attached rows with and without a GET stream, and of detached rows (null: none). */
  oldest(): { listening: number | null; quiet: number | null; detached: number | null } {
    const r = this.sql.exec<{ l: number | null; q: number | null; d: number | null }>(
      `SELECT MIN(CASE WHEN attached = 1 AND listener IS NOT NULL THEN last_seen END) AS l,
              MIN(CASE WHEN attached = 1 AND listener IS NULL THEN last_seen END) AS q,
              MIN(CASE WHEN attached = 0 THEN last_seen END) AS d FROM mcp_members`).one();
    return { listening: r.l, quiet: r.q, detached: r.d };
  }
}
