/**
 * The conversation's SQLite storage: its record, its streams, its log and head.
 * Durable Object SQLite calls are synchronous, and writes made in one event
 * commit together, which is what makes a batch all-or-nothing.
 */
import { GENESIS_CHAIN } from '../protocol/chain';
import type { JsonObject } from '../protocol/frames';
import type { Identity } from '../protocol/identity';
import type { ConversationRecord, HistorySettings, StreamRecord } from '../protocol/records';
import type { Sql } from './sql';

export interface Head {
  seq: number;
  chain: string;
}

export type LogRow = {
  seq: number;
  ts: number;
  owner: string;
  frame: string;
  chain: string;
};

export type AppendRow = LogRow & {
  stream_id: string;
  client_id: string | null;
};

/**
 * The store a `Conversation` is given: Durable Object SQLite in the object,
 * an in-process SQLite in Node unit tests, the same class over both. Creates
 * its tables once, when constructed.
 */
export class ConversationStore {
  constructor(private readonly sql: Sql, private readonly transact: <T>(fn: () => T) => T = (fn) => fn()) {
    sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS streams (
      stream_id TEXT PRIMARY KEY, stream_name TEXT NOT NULL UNIQUE, owner_account_id TEXT NOT NULL,
      metadata TEXT NOT NULL, created_at TEXT NOT NULL, connected_once INTEGER NOT NULL DEFAULT 0)`);
    // Tables written before streams carried who holds them (decision 0155) lack that column.
    if (!sql.exec<{ name: string }>(`SELECT name FROM pragma_table_info('streams')`).toArray().some((c) => c.name === 'identity')) {
      sql.exec('ALTER TABLE streams ADD COLUMN identity TEXT');
    }
    sql.exec(`CREATE TABLE IF NOT EXISTS log (
      seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, owner TEXT NOT NULL, stream_id TEXT NOT NULL,
      client_id TEXT, frame TEXT NOT NULL, chain TEXT NOT NULL)`);
    sql.exec(`CREATE INDEX IF NOT EXISTS log_ts ON log (ts)`);
    sql.exec(`CREATE INDEX IF NOT EXISTS log_client_id ON log (stream_id, client_id) WHERE client_id IS NOT NULL`);
  }

  private getMeta<T>(key: string): T | undefined {
    const row = this.sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', key).toArray()[0];
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  private setMeta(key: string, value: unknown): void {
    this.sql.exec('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', key, JSON.stringify(value));
  }

  loadRecord(): ConversationRecord | undefined {
    return this.getMeta<ConversationRecord>('record');
  }

  saveRecord(record: ConversationRecord): void {
    this.setMeta('record', record);
  }

  /**
   * The head is the newest log row; meta keeps it only where the log cannot:
   * with history off, and across a trim that may empty the log. One write per
   * frame instead of two (decisions/0052).
   */
  loadHead(): Head {
    const kept = this.getMeta<Head>('head');
    const last = this.sql.exec<{ seq: number; chain: string }>('SELECT seq, chain FROM log ORDER BY seq DESC LIMIT 1').toArray()[0];
    if (last && (!kept || last.seq > kept.seq)) return { seq: last.seq, chain: last.chain };
    return kept ?? { seq: 0, chain: GENESIS_CHAIN };
  }

  /** Streams a live connection held at the last change: what a restarted object checks its connections against. */
  loadHeld(): string[] {
    return this.getMeta<string[]>('held') ?? [];
  }

  saveHeld(streamIds: Iterable<string>): void {
    this.setMeta('held', [...streamIds]);
  }

  loadStreams(): StreamRecord[] {
    return this.sql
      .exec<{ stream_id: string; stream_name: string; owner_account_id: string; metadata: string; created_at: string; connected_once: number; identity: string | null }>(
        'SELECT * FROM streams ORDER BY created_at, stream_id')
      .toArray()
      .map(({ identity, ...r }) => ({
        ...r, metadata: JSON.parse(r.metadata) as JsonObject, connected_once: r.connected_once === 1,
        ...(identity !== null ? { identity: JSON.parse(identity) as Identity } : {}),
      }));
  }

  /** Forgets a retired stream's registration (its frames stay in the log). */
  deleteStream(streamId: string): void {
    this.sql.exec('DELETE FROM streams WHERE stream_id = ?', streamId);
  }

  saveStream(s: StreamRecord): void {
    this.sql.exec(
      'INSERT OR REPLACE INTO streams (stream_id, stream_name, owner_account_id, metadata, created_at, connected_once, identity) VALUES (?, ?, ?, ?, ?, ?, ?)',
      s.stream_id, s.stream_name, s.owner_account_id, JSON.stringify(s.metadata), s.created_at, s.connected_once ? 1 : 0,
      s.identity ? JSON.stringify(s.identity) : null);
  }

  /**
   * Appends one logged frame and moves the head: the row is the head with
   * history on, meta holds it with history off. `alongside` writes the state
   * the frame announces (a stream's metadata) in the same transaction.
   */
  append(row: AppendRow, keepHistory: boolean, alongside?: () => void): void {
    this.transact(() => {
      this.appendRows(row, keepHistory);
      alongside?.();
    });
  }

  private appendRows(row: AppendRow, keepHistory: boolean): void {
    if (keepHistory) {
      this.sql.exec('INSERT INTO log (seq, ts, owner, stream_id, client_id, frame, chain) VALUES (?, ?, ?, ?, ?, ?, ?)',
        row.seq, row.ts, row.owner, row.stream_id, row.client_id, row.frame, row.chain);
    } else {
      this.setMeta('head', { seq: row.seq, chain: row.chain });
    }
  }

  /** The lowest retained seq inside the window, or head + 1 when the window is empty. */
  firstRetained(head: number, history: HistorySettings, now: number): number {
    if (history.max_frames === 0) return head + 1;
    const row = this.sql.exec<{ first: number | null }>('SELECT MIN(seq) AS first FROM log WHERE seq > ? AND ts >= ?',
      head - history.max_frames, now - history.max_age_s * 1000).toArray()[0];
    return row?.first ?? head + 1;
  }

  /** Logged rows with seq >= from, in order. */
  *rowsFrom(from: number, limit = Number.MAX_SAFE_INTEGER): Generator<LogRow> {
    const cursor = this.sql.exec<LogRow>('SELECT seq, ts, owner, frame, chain FROM log WHERE seq >= ? ORDER BY seq LIMIT ?', from, limit);
    for (const row of cursor) yield row;
  }

  /** The seq a client idempotency key was first logged under, within [from, ∞). */
  seqOfClientId(streamId: string, clientId: string, from: number): { seq: number; chain: string } | undefined {
    return this.sql.exec<{ seq: number; chain: string }>(
      'SELECT seq, chain FROM log WHERE stream_id = ? AND client_id = ? AND seq >= ? ORDER BY seq LIMIT 1', streamId, clientId, from).toArray()[0];
  }

  /** Drops rows outside the window; returns the ts of the oldest row kept, if any. */
  trim(head: Head, history: HistorySettings, now: number): number | undefined {
    // Age may drop every row, the head's too: meta keeps it first.
    this.setMeta('head', head);
    this.sql.exec('DELETE FROM log WHERE seq <= ? OR ts < ?', head.seq - history.max_frames, now - history.max_age_s * 1000);
    const row = this.sql.exec<{ ts: number | null }>('SELECT MIN(ts) AS ts FROM log').toArray()[0];
    return row?.ts ?? undefined;
  }

  logCount(): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM log').one().n;
  }
}
