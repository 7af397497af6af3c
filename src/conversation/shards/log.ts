/**
 * What an audience shard knows of its conversation's log (decision 0111):
 * the seq and chain it has delivered up to (`fed`), the peers at that seq,
 * a tail of recent rows for resuming listeners, and its listeners'
 * membership. Rows are applied strictly in order — one at `fed + 1`, never
 * twice — and each goes to every listener with the same wire text the
 * conversation itself would have written (`broadcast`).
 */
import { DEFAULT_IDENTITY, type Identity } from '../../protocol/identity';
import type { LoggedFrame, Peer } from '../../protocol/frames';
import { LIMITS } from '../../protocol/limits';
import { Membership, type Member } from '../audience';
import type { ShardSnapshot } from './rpc';
import type { LogRow } from '../store';
import { broadcast } from '../wire';
import { streamNameOf } from '../../protocol/subscription';

const TYPE_RE = /^\{"type":"([a-z_]+)"/;

export class ShardLog {
  readonly conversationId: string;
  readonly epoch: string;
  readonly linksBindEpoch: boolean;
  private readonly history: { max_frames: number; max_age_s: number };
  generation: number;
  fed: number;
  chain: string;
  private readonly peers = new Map<string, Peer>();
  /** Recent rows: `tail[tailStart…]`, at most `shardTailFrames` rows and `shardTailBytes` of frame text. */
  private tail: LogRow[] = [];
  private tailStart = 0;
  private tailBytes = 0;
  private readonly membership = new Membership();

  constructor(s: ShardSnapshot) {
    this.conversationId = s.conversation_id;
    this.epoch = s.epoch;
    this.linksBindEpoch = s.links_bind_epoch;
    this.history = s.history;
    this.generation = s.generation;
    this.fed = s.seq;
    this.chain = s.chain;
    for (const p of s.peers) this.peers.set(p.stream_id, p);
  }

  /** Every held stream, as `joined.peers` lists them for an observer. */
  peerList(): Peer[] {
    return [...this.peers.values()];
  }

  /** Whether the tail holds every row from `seq` to `fed` (trivially, when `seq` is past `fed`). */
  covers(seq: number): boolean {
    return seq > this.fed || (this.tail.length > this.tailStart && this.tail[this.tailStart].seq <= seq);
  }

  /**
   * The first seq the conversation's history window holds, as far as the tail
   * can tell (with `fed` as the head): the same rule as the log's own
   * (`ConversationStore.firstRetained`), so a resume from the tail replays
   * nothing the log would not.
   */
  firstRetained(now: number): number {
    if (this.history.max_frames === 0) return this.fed + 1;
    const oldestTs = now - this.history.max_age_s * 1000;
    for (let i = this.tailStart; i < this.tail.length; i++) {
      const row = this.tail[i];
      if (row.seq > this.fed - this.history.max_frames && row.ts >= oldestTs) return row.seq;
    }
    return this.fed + 1;
  }

  /** Tail rows after `after`, up to `fed`. */
  *tailAfter(after: number): Generator<LogRow> {
    for (let i = this.tailStart; i < this.tail.length; i++) if (this.tail[i].seq > after) yield this.tail[i];
  }

  join(member: Member): void {
    this.membership.add(member);
  }

  leave(member: Member): void {
    this.membership.remove(member);
  }

  /** Applies the next row (`fed + 1`): peers, listeners, tail. False (and nothing done) for any other seq. */
  apply(row: LogRow): boolean {
    if (row.seq !== this.fed + 1) return false;
    const type = TYPE_RE.exec(row.frame)?.[1] ?? 'message';
    if (type === 'stream_joined' || type === 'stream_metadata' || type === 'stream_left') this.track(type, row.frame);
    // Listeners are observers (owner ''); the stream's name is read from the row only while one of them filters.
    const audience = this.membership.filtered ? this.membership.audienceFor('', type, streamNameOf(row.frame)) : this.membership.audienceOf('');
    broadcast(audience, { seq: row.seq, type } as LoggedFrame, row.frame, row.chain);
    this.fed = row.seq;
    this.chain = row.chain;
    this.keep(row);
    return true;
  }

  /** Frames up to `seq` are lost to this shard (the log no longer holds them): continue from there with an empty tail. */
  skipTo(seq: number, chain: string): void {
    this.fed = seq;
    this.chain = chain;
    this.tail = [];
    this.tailStart = 0;
    this.tailBytes = 0;
  }

  private keep(row: LogRow): void {
    this.tail.push(row);
    this.tailBytes += row.frame.length;
    while (this.tail.length - this.tailStart > LIMITS.shardTailFrames || (this.tailBytes > LIMITS.shardTailBytes && this.tail.length - this.tailStart > 1)) {
      this.tailBytes -= this.tail[this.tailStart].frame.length;
      this.tail[this.tailStart++] = undefined as never; // Let the dropped row go before the array is compacted.
    }
    if (this.tailStart >= LIMITS.shardTailFrames) {
      this.tail = this.tail.slice(this.tailStart);
      this.tailStart = 0;
    }
  }

  private track(type: string, json: string): void {
    const f = JSON.parse(json) as Omit<Peer, 'identity'> & { identity?: Identity };
    if (type === 'stream_left') this.peers.delete(f.stream_id);
    else if (type === 'stream_joined' || this.peers.has(f.stream_id)) {
      this.peers.set(f.stream_id, { stream_id: f.stream_id, stream_name: f.stream_name, owner_account_id: f.owner_account_id, metadata: f.metadata, identity: f.identity ?? DEFAULT_IDENTITY });
    }
  }
}
