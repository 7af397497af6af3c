/**
 * One webhook's backlog, in its object's SQLite: messages in arrival order,
 * each with its `webhook-id`, its body (the utterance text lives here, so a
 * retry a day later needs nothing from the conversation's log) and how many
 * messages were dropped just before it. Bounded by count and by bytes: past
 * either, the oldest go, and the one after them carries the count
 * (`skipped` in its body), so a receiver knows it missed some.
 */
import type { Sql } from '../sql';
import type { OutMessage } from './rpc';

export interface Held {
  id: string;
  body: string;
  skipped: number;
}

export class Backlog {
  constructor(private readonly sql: Sql) {
    sql.exec(`CREATE TABLE IF NOT EXISTS backlog (pos INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
      body TEXT NOT NULL, bytes INTEGER NOT NULL, skipped INTEGER NOT NULL DEFAULT 0)`);
  }

  /** Stores what is new (an id already held is not stored twice: a hand-off repeated after a lost answer), then applies the bound. */
  add(messages: OutMessage[], maxMessages: number, maxBytes: number): void {
    for (const m of messages) {
      this.sql.exec('INSERT OR IGNORE INTO backlog (id, body, bytes) VALUES (?, ?, ?)', m.id, m.body, new TextEncoder().encode(m.body).length);
    }
    let dropped = 0;
    for (;;) {
      const { n, bytes } = this.size();
      if (n <= 1 || (n <= maxMessages && bytes <= maxBytes)) break;
      const oldest = this.sql.exec<{ pos: number; skipped: number }>('SELECT pos, skipped FROM backlog ORDER BY pos LIMIT 1').one();
      this.sql.exec('DELETE FROM backlog WHERE pos = ?', oldest.pos);
      dropped += 1 + oldest.skipped;
    }
    if (dropped > 0) this.sql.exec('UPDATE backlog SET skipped = skipped + ? WHERE pos = (SELECT MIN(pos) FROM backlog)', dropped);
  }

  head(): Held | undefined {
    return this.sql.exec<{ id: string; body: string; skipped: number }>('SELECT id, body, skipped FROM backlog ORDER BY pos LIMIT 1').toArray()[0];
  }

  done(id: string): void {
    this.sql.exec('DELETE FROM backlog WHERE id = ?', id);
  }

  size(): { n: number; bytes: number; skipped: number } {
    return this.sql.exec<{ n: number; bytes: number; skipped: number }>('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes, COALESCE(SUM(skipped), 0) AS skipped FROM backlog').one();
  }
}

/** The body as it leaves: with `skipped` when messages before it were dropped. */
export function bodyOf(held: Held): string {
  if (held.skipped === 0) return held.body;
  return JSON.stringify({ ...(JSON.parse(held.body) as object), skipped: held.skipped });
}
