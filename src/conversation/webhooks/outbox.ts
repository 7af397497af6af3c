/**
 * The conversation's side of the webhook feed: messages wait in SQLite
 * (written in the same event as the frame that completed them) until their
 * webhook object has stored them, then they are deleted. One `enqueue` in
 * flight per webhook keeps them in order; a failed hand-off is tried again,
 * backing off, and after a restart whatever is still here leaves again.
 * Nothing here is on the fan-out's path: sends start from a microtask.
 */
import type { Sql } from '../sql';
import type { OutMessage, WebhookRpc } from './rpc';

/** Messages per `enqueue` call. */
const BATCH = 64;
/** A failed hand-off is tried again after this long, doubling up to the cap (ms). */
const RETRY_MS = 200;
const RETRY_CAP_MS = 30_000;

interface Lane {
  inflight: boolean;
  failures: number;
}

export class Outbox {
  private readonly lanes = new Map<string, Lane>();
  private readonly due = new Set<string>();
  private scheduled = false;

  constructor(
    private readonly sql: Sql,
    private readonly stubOf: (webhookId: string) => WebhookRpc,
    private readonly keepAwake: (work: Promise<unknown>) => void,
  ) {
    sql.exec('CREATE TABLE IF NOT EXISTS webhook_outbox (n INTEGER PRIMARY KEY AUTOINCREMENT, webhook_id TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL)');
    for (const { webhook_id } of sql.exec<{ webhook_id: string }>('SELECT DISTINCT webhook_id FROM webhook_outbox')) this.due.add(webhook_id);
    if (this.due.size > 0) this.schedule();
  }

  put(webhookId: string, message: OutMessage): void {
    this.sql.exec('INSERT INTO webhook_outbox (webhook_id, id, body) VALUES (?, ?, ?)', webhookId, message.id, message.body);
    this.due.add(webhookId);
    this.schedule();
  }

  /** The webhook is gone: nothing more leaves for it. */
  forget(webhookId: string): void {
    this.sql.exec('DELETE FROM webhook_outbox WHERE webhook_id = ?', webhookId);
    this.due.delete(webhookId);
    this.lanes.delete(webhookId);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const id of [...this.due]) this.flush(id);
    });
  }

  private flush(webhookId: string): void {
    let lane = this.lanes.get(webhookId);
    if (!lane) this.lanes.set(webhookId, (lane = { inflight: false, failures: 0 }));
    if (lane.inflight) return;
    const rows = this.sql.exec<{ n: number; id: string; body: string }>('SELECT n, id, body FROM webhook_outbox WHERE webhook_id = ? ORDER BY n LIMIT ?', webhookId, BATCH).toArray();
    if (rows.length === 0) {
      this.due.delete(webhookId);
      return;
    }
    lane.inflight = true;
    const handOff = this.stubOf(webhookId).enqueue(rows.map(({ id, body }) => ({ id, body })));
    this.keepAwake(handOff.catch(() => {}));
    const last = rows[rows.length - 1]!.n;
    handOff.then(
      () => {
        lane.inflight = false;
        lane.failures = 0;
        if (this.lanes.get(webhookId) !== lane) return;
        this.sql.exec('DELETE FROM webhook_outbox WHERE webhook_id = ? AND n <= ?', webhookId, last);
        this.flush(webhookId);
      },
      (err) => {
        lane.inflight = false;
        if (this.lanes.get(webhookId) !== lane) return;
        const wait = Math.min(RETRY_CAP_MS, RETRY_MS * 2 ** lane.failures++);
        console.error(`AMS webhook ${webhookId}: hand-off failed; again in ${wait} ms`, err);
        this.keepAwake(new Promise((resolve) => setTimeout(resolve, wait + 10)));
        setTimeout(() => this.flush(webhookId), wait);
      },
    );
  }
}
