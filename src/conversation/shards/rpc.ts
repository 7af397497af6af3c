/**
 * The contract between a conversation object (the single writer) and its
 * audience shards (AudienceShard objects holding read-only listeners),
 * spoken over Durable Object RPC both ways (decisions 0110–0112).
 *
 * - Feed (conversation → shard): `deliver(items)`, one call in flight per
 *   shard, items in log order. A row is a logged frame exactly as the log
 *   holds it; `rotate` and `close` travel in the same order as the frames,
 *   so a listener hears every frame logged before its link was revoked.
 * - Pull (shard → conversation): `shardJoin` (snapshot + capacity),
 *   `shardLease` / `shardRelease` (capacity, moved in amounts), `shardResume` / `shardPage` (log ranges
 *   for resuming listeners and for the shard's own gap fill).
 */
import type { LinkClaims } from '../../control/links';
import type { CloseReason } from '../../protocol/close-codes';
import type { Peer } from '../../protocol/frames';
import type { Cursor } from '../resume';
import type { LogRow } from '../store';

export type FeedItem =
  | { row: LogRow }
  | { rotate: number }
  | { close: CloseReason };

/** What a shard answers to each delivery: whether it is done. */
export interface ShardAck {
  /** No listener left: the conversation stops feeding it (it joins again with its next listener). */
  gone: boolean;
}

export interface ShardRpc {
  deliver(items: FeedItem[]): Promise<ShardAck>;
  /** Listeners held now (inspect). */
  census(): Promise<number>;
  /** Gives back unused capacity: the lease shrinks to the listeners held and being admitted; answers the amount given back. */
  reclaim(): Promise<number>;
}

/** The conversation as a shard starts from: everything a `joined` frame needs, at `seq`. */
export interface ShardSnapshot {
  conversation_id: string;
  epoch: string;
  /** Whether links must carry this mint's epoch (see `sameMint`). */
  links_bind_epoch: boolean;
  /** The conversation's history window: a shard never replays from its tail what the log would no longer hold. */
  history: { max_frames: number; max_age_s: number };
  generation: number;
  seq: number;
  chain: string;
  /** Every held stream (an observer's view). */
  peers: Peer[];
}

export type ShardJoin =
  | { ok: false; reason: 'conversation_not_found' | 'invalid_magic_link' }
  | { ok: true; snapshot: ShardSnapshot; granted: number };

export type ShardResume =
  | { ok: false; reason: 'invalid_cursor'; head: number }
  | { ok: true; truncated?: { from_seq: number; to_seq: number }; rows: LogRow[]; head: number };

export interface ShardPage {
  rows: LogRow[];
  firstRetained: number;
  head: number;
  /** The chain at `head`. */
  chain: string;
}

/** The calls the conversation object answers for its shards. */
export interface ConversationShardRpc {
  shardJoin(shard: string, claims: LinkClaims | null, want: number): Promise<ShardJoin>;
  /** Asks for `need` more capacity (and up to `want` with headroom); answers the amount granted. */
  shardLease(shard: string, need: number, want: number): Promise<number>;
  /** Gives back `n` of the capacity granted. */
  shardRelease(shard: string, n: number): Promise<void>;
  shardResume(cursor: Cursor, limit: number): Promise<ShardResume>;
  shardPage(from: number, limit: number): Promise<ShardPage>;
}
