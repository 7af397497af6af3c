/**
 * The conversation's side of its audience shards (decision 0110): which
 * shards it feeds, what capacity each holds out of the conversation-wide
 * listener budget, and the ordered feed itself — every logged frame is
 * queued once per shard (not once per listener) and leaves in batches, one
 * RPC in flight per shard, so a shard sees rows in log order.
 *
 * A slow shard's queue is bounded: past `shardQueueFrames` the oldest rows
 * are dropped and the shard fills the gap from the log when the next row
 * shows it (decision 0111). The registry (shard names and the capacity each
 * holds) is kept in SQLite, so a conversation that hibernated keeps feeding
 * its shards and keeps its listener budget exact.
 */
import type { CloseReason } from '../../protocol/close-codes';
import { LIMITS } from '../../protocol/limits';
import type { FeedItem, ShardAck, ShardRpc } from './rpc';
import type { LogRow } from '../store';

interface Feed {
  queue: FeedItem[];
  inflight: boolean;
  lease: number;
  failures: number;
  /**
   * The stub deliveries go through, made once: making one per delivery cost
   * a name hash and a new stub per shard per batch. Calls on one stub also
   * arrive in the order made. A stub that threw fails every later call, so a
   * failed delivery drops it and the retry makes a new one.
   */
  stub?: ShardRpc;
}

/** A failed delivery is sent again after this long (ms), doubling, this many times before the shard is forgotten. */
const RETRY_MS = 100;
const MAX_FAILURES = 8;

export class AudienceFeeds {
  private readonly feeds = new Map<string, Feed>();
  private scheduled = false;
  /** Set when the conversation is deleted: queued closes still leave, nothing is written. */
  private closed = false;

  /**
   * `keepAwake` holds the object in memory until a delivery settles: queued
   * rows live only in memory, and an object that hibernated with a queue
   * would leave its shards waiting for rows until the next frame showed them the gap.
   */
  constructor(
    private readonly sql: SqlStorage,
    private readonly stubOf: (shard: string) => ShardRpc,
    private readonly budget: () => number,
    private readonly keepAwake: (work: Promise<unknown>) => void = () => {},
  ) {
    sql.exec('CREATE TABLE IF NOT EXISTS audience_shards (name TEXT PRIMARY KEY, lease INTEGER NOT NULL DEFAULT 0)');
    for (const { name, lease } of sql.exec<{ name: string; lease: number }>('SELECT name, lease FROM audience_shards')) this.feeds.set(name, { ...newFeed(), lease });
  }

  get shards(): number {
    return this.feeds.size;
  }

  /** Listeners now, as each shard counts them (asked, not remembered: a conversation that hibernated knows only the shards' names). */
  async census(): Promise<number> {
    const counts = await Promise.all([...this.feeds.keys()].map((name) => this.stubOf(name).census().catch(() => 0)));
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * Grants `shard` `need` more listeners' capacity and, while the budget is
   * roomy, some headroom up to `want` (a quarter of what is left, so no shard
   * hoards it); less than `need` when the budget is spent. Answers the amount
   * added. Registers the shard, so every frame logged from now on is queued
   * for it.
   *
   * Capacity moves only in amounts (added here, given back by `release` and
   * `reclaim`), never as a total one side overwrites, so the conversation's
   * count for a shard is never below what the shard holds, whatever order
   * calls cross in: the budget is exact, and errs only toward refusing.
   */
  lease(shard: string, need: number, want: number, fresh = false): Promise<number> {
    // One at a time: a grant decided while another call awaits its reclaims would count capacity twice.
    const turn = this.leasing.then(() => this.grant(shard, need, want, fresh));
    this.leasing = turn.catch(() => undefined);
    return turn;
  }

  private leasing: Promise<unknown> = Promise.resolve();

  private async grant(shard: string, need: number, want: number, fresh: boolean): Promise<number> {
    let feed = this.feeds.get(shard);
    // A shard that joins holds nothing yet (its state is memory only): whatever an earlier instance held is free again.
    if (feed && fresh) this.setLease(shard, feed, 0);
    if (!feed) {
      feed = newFeed();
      this.feeds.set(shard, feed);
      this.sql.exec('INSERT OR IGNORE INTO audience_shards (name, lease) VALUES (?, 0)', shard);
    }
    if (this.available() < need) {
      // Other shards may hold headroom they do not use: take it back before refusing.
      await Promise.all([...this.feeds].filter(([name]) => name !== shard).map(([name, f]) =>
        this.stubOf(name).reclaim().then((back) => this.setLease(name, f, f.lease - back), () => undefined)));
    }
    if (this.feeds.get(shard) !== feed) return 0;
    const available = this.available();
    const granted = available < need ? available : Math.min(want, need + Math.floor((available - need) / 4));
    this.setLease(shard, feed, feed.lease + granted);
    return granted;
  }

  /** `shard` gives back `n` of its capacity (listeners left). */
  release(shard: string, n: number): void {
    const feed = this.feeds.get(shard);
    if (feed) this.setLease(shard, feed, feed.lease - n);
  }

  /** Every lease is written through: after hibernation the budget is as exact as before it. */
  private setLease(name: string, feed: Feed, lease: number): void {
    lease = Math.max(0, lease);
    if (feed.lease === lease || this.feeds.get(name) !== feed) return;
    feed.lease = lease;
    if (!this.closed) this.sql.exec('UPDATE audience_shards SET lease = ? WHERE name = ?', lease, name);
  }

  /** The budget no shard holds. */
  private available(): number {
    let held = 0;
    for (const f of this.feeds.values()) held += f.lease;
    return Math.max(0, this.budget() - held);
  }

  /** Queues a logged row for every shard. */
  relay(row: LogRow): void {
    if (this.feeds.size === 0) return;
    const item = { row: { seq: row.seq, ts: row.ts, owner: row.owner, frame: row.frame, chain: row.chain } };
    for (const feed of this.feeds.values()) {
      feed.queue.push(item);
      if (feed.queue.length > LIMITS.shardQueueFrames) feed.queue = shed(feed.queue);
    }
    this.schedule();
  }

  /** Link rotation: each shard closes listeners of older generations after the frames queued before it. */
  rotate(generation: number): void {
    for (const feed of this.feeds.values()) feed.queue.push({ rotate: generation });
    this.schedule();
  }

  /** The conversation is deleted: every shard closes its listeners with `reason`, then the registry is gone. */
  closeAll(reason: CloseReason): void {
    for (const feed of this.feeds.values()) feed.queue.push({ close: reason });
    this.closed = true;
    this.schedule();
  }

  /** Sends once the current event's rows are all queued (a drained batch leaves as one RPC). */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const [name, feed] of this.feeds) this.flush(name, feed);
    });
  }

  private flush(name: string, feed: Feed): void {
    if (feed.inflight || feed.queue.length === 0) return;
    const batch = feed.queue.splice(0, LIMITS.shardBatchFrames);
    feed.inflight = true;
    const delivery = (feed.stub ??= this.stubOf(name)).deliver(batch);
    this.keepAwake(delivery.catch(() => {}));
    delivery.then(
      (ack) => {
        feed.inflight = false;
        feed.failures = 0;
        this.acknowledged(name, feed, ack);
      },
      (err) => {
        feed.inflight = false;
        feed.stub = undefined;
        if (++feed.failures > MAX_FAILURES) {
          console.error(`AMS audience shard ${name}: delivery failed ${feed.failures} times; forgetting it`, err);
          this.forget(name);
          return;
        }
        feed.queue.unshift(...batch);
        const wait = RETRY_MS * 2 ** (feed.failures - 1);
        this.keepAwake(new Promise((resolve) => setTimeout(resolve, wait + 10)));
        setTimeout(() => this.flush(name, feed), wait);
      },
    );
  }

  private acknowledged(name: string, feed: Feed, ack: ShardAck): void {
    if (this.feeds.get(name) !== feed) return;
    if (ack.gone || (this.closed && feed.queue.length === 0)) {
      this.forget(name);
      return;
    }
    this.flush(name, feed);
  }

  private forget(name: string): void {
    this.feeds.delete(name);
    if (this.closed) return;
    try {
      this.sql.exec('DELETE FROM audience_shards WHERE name = ?', name);
    } catch (err) {
      console.error(`AMS audience shard ${name}: could not forget it`, err);
    }
  }
}

function newFeed(): Feed {
  return { queue: [], inflight: false, lease: 0, failures: 0 };
}

/** Drops the older half of the queued rows (controls are kept, in order): the shard refills them from the log. */
function shed(queue: FeedItem[]): FeedItem[] {
  let rows = 0;
  for (const item of queue) if ('row' in item) rows++;
  let drop = Math.floor(rows / 2);
  return queue.filter((item) => !('row' in item) || drop-- <= 0);
}

/** Rows a shard asks for, within `budget` bytes of frame text (always at least one row): a page never holds more than that. */
export function rowsWithin(source: Iterable<LogRow>, budget: number): LogRow[] {
  const rows: LogRow[] = [];
  let bytes = 0;
  for (const row of source) {
    if (rows.length > 0 && bytes + row.frame.length > budget) break;
    rows.push(row);
    bytes += row.frame.length;
  }
  return rows;
}
