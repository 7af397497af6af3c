/**
 * A session's resumable event store (decisions/0120). Every message the
 * transport sends on a 2025-11-25 SSE stream, and the priming event that opens
 * each stream, is kept in the session object's SQLite, so a client whose
 * stream was cut resumes it with `Last-Event-ID` — also after the object
 * restarted. Bounded, oldest first: at most `mcpEventsKept` events,
 * `mcpEventsBytes` bytes and `mcpEventsMaxAgeMs` of age; the newest event is
 * always kept. Event ids are the rows' ids: increasing, never reused.
 *
 * Every notification a session pushes is stored here, so storing one must
 * not cost more as the store fills: the bounds are checked against an
 * in-memory list of what is kept (id, time, size), read once from SQLite when
 * the object starts, and only the rows that fall out are deleted. One store
 * per object writes its tables.
 */
import type { EventStore } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Sql } from '../conversation/sql';
import { LIMITS } from '../protocol/limits';
import { utf8Length } from '../protocol/frames';

/** A row holds at most 2 MB in a Durable Object's SQLite; a message is kept in pieces of at most this many UTF-16 units (≤ 1.5 MB of UTF-8). */
const PART_CHARS = 500_000;
const EVENT_ID_RE = /^[1-9][0-9]{0,14}$/;

type Kept = { id: number; at: number; bytes: number };

export class SessionEvents implements EventStore {
  /** The kept events, oldest first, as their rows say (what the bounds are checked against). */
  private readonly kept: Kept[] = [];
  private keptBytes = 0;

  constructor(private readonly sql: Sql, private readonly clock: () => number = Date.now) {
    sql.exec(`CREATE TABLE IF NOT EXISTS mcp_events (
      id INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL, at INTEGER NOT NULL, bytes INTEGER NOT NULL, parts INTEGER NOT NULL)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS mcp_event_parts (
      event INTEGER NOT NULL, part INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (event, part))`);
    for (const row of sql.exec<Kept>('SELECT id, at, bytes FROM mcp_events ORDER BY id')) this.kept.push({ id: row.id, at: row.at, bytes: row.bytes });
    this.keptBytes = this.kept.reduce((sum, e) => sum + e.bytes, 0);
  }

  /** Keeps `message` for `streamId`; an empty message is a priming event (an id, no data), kept as nothing. */
  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const text = Object.keys(message).length === 0 ? '' : JSON.stringify(message);
    const parts = Math.ceil(text.length / PART_CHARS);
    const at = this.clock();
    const bytes = utf8Length(text);
    const id = this.sql.exec<{ id: number }>('INSERT INTO mcp_events (stream, at, bytes, parts) VALUES (?, ?, ?, ?) RETURNING id',
      streamId, at, bytes, parts).one().id;
    for (let p = 0; p < parts; p++) this.sql.exec('INSERT INTO mcp_event_parts (event, part, text) VALUES (?, ?, ?)', id, p, text.slice(p * PART_CHARS, (p + 1) * PART_CHARS));
    this.kept.push({ id, at, bytes });
    this.keptBytes += bytes;
    this.prune();
    return String(id);
  }

  /** The stream an event id belongs to; undefined for an id never issued or no longer kept. */
  streamOf(eventId: string): string | undefined {
    if (!EVENT_ID_RE.test(eventId)) return undefined;
    return this.sql.exec<{ stream: string }>('SELECT stream FROM mcp_events WHERE id = ?', Number(eventId)).toArray()[0]?.stream;
  }

  /** Sends what `lastEventId`'s stream carried after it (priming events carry nothing); throws for an id not kept. */
  async replayEventsAfter(lastEventId: string, { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const stream = this.streamOf(lastEventId);
    if (stream === undefined) throw new Error(`Event ${lastEventId} is not kept`);
    const rows = this.sql.exec<{ id: number }>('SELECT id FROM mcp_events WHERE stream = ? AND id > ? AND parts > 0 ORDER BY id', stream, Number(lastEventId)).toArray();
    for (const { id } of rows) {
      const text = this.sql.exec<{ text: string }>('SELECT text FROM mcp_event_parts WHERE event = ? ORDER BY part', id).toArray().map((r) => r.text).join('');
      await send(String(id), JSON.parse(text) as JSONRPCMessage);
    }
    return stream;
  }

  /** Events and bytes kept now (for tests and the decision's figures). */
  size(): { events: number; bytes: number } {
    const r = this.sql.exec<{ n: number; b: number | null }>('SELECT COUNT(*) AS n, SUM(bytes) AS b FROM mcp_events').one();
    return { events: r.n, bytes: r.b ?? 0 };
  }

  /** Drops the oldest events past the bounds; the newest (just stored) always stays. Each bound cuts a prefix, so one id says what goes. */
  private prune(): void {
    const last = this.kept.length - 1;
    const tooOld = this.clock() - LIMITS.mcpEventsMaxAgeMs;
    // Ids follow the clock: the events too old are a prefix.
    let drop = 0;
    while (drop < last && this.kept[drop]!.at < tooOld) drop++;
    drop = Math.max(drop, this.kept.length - LIMITS.mcpEventsKept);
    let bytes = this.keptBytes;
    for (let i = 0; i < drop; i++) bytes -= this.kept[i]!.bytes;
    while (drop < last && bytes > LIMITS.mcpEventsBytes) bytes -= this.kept[drop++]!.bytes;
    if (drop === 0) return;
    const through = this.kept[drop - 1]!.id;
    this.kept.splice(0, drop);
    this.keptBytes = bytes;
    this.sql.exec('DELETE FROM mcp_events WHERE id <= ?', through);
    this.sql.exec('DELETE FROM mcp_event_parts WHERE event <= ?', through);
  }
}
