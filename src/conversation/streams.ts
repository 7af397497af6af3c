/** The conversation's stream registry and the rule for which stream a connection gets. */
import type { JsonObject, Peer } from '../protocol/frames';
import { DEFAULT_IDENTITY, type Identity } from '../protocol/identity';
import type { Conversation } from './conversation';
import { LIMITS } from '../protocol/limits';
import type { StreamRecord } from '../protocol/records';

export class StreamTable {
  private readonly byId = new Map<string, StreamRecord>();
  private readonly byName = new Map<string, StreamRecord>();

  constructor(streams: Iterable<StreamRecord> = []) {
    for (const s of streams) this.put(s);
  }

  get size(): number {
    return this.byId.size;
  }

  put(s: StreamRecord): void {
    this.byId.set(s.stream_id, s);
    this.byName.set(s.stream_name, s);
  }

  remove(streamId: string): void {
    const s = this.byId.get(streamId);
    if (!s) return;
    this.byId.delete(streamId);
    if (this.byName.get(s.stream_name) === s) this.byName.delete(s.stream_name);
  }

  get(streamId: string): StreamRecord | undefined {
    return this.byId.get(streamId);
  }

  named(name: string): StreamRecord | undefined {
    return this.byName.get(name);
  }

  all(): IterableIterator<StreamRecord> {
    return this.byId.values();
  }

  ownedBy(accountId: string): StreamRecord[] {
    return [...this.byId.values()].filter((s) => s.owner_account_id === accountId);
  }
}

export interface StreamRequest {
  accountId: string;
  name?: string;
  metadata?: JsonObject;
  identity?: Identity;
  /** What a new stream's default name is made from (`{base}-{4 hex}`); undefined: `stream-XXXXXX`. */
  nameBase?: string;
}

export interface StreamContext {
  table: StreamTable;
  /** Whether a live connection holds the stream now. */
  isHeld(streamId: string): boolean;
  /** How many streams this account holds live connections for. */
  heldBy(accountId: string): number;
  /** Of these streams, the least recently active one that may be retired now (nobody holds it, quiet long enough), if any. */
  retirable(streams: StreamRecord[]): StreamRecord | undefined;
  newStreamId(): string;
  newStreamName(base?: string): string;
  now: string;
}

export type StreamChoice =
  | { ok: true; stream: StreamRecord; takeover: boolean; retire?: StreamRecord }
  | { ok: false; reason: 'stream_name_conflict' | 'concurrency_limit' };

/**
 * - a named stream of another account: conflict;
 * - a named stream of this account: attach (taking it over if held);
 * - no name: the account's first stream nobody holds (so the minter gets its minted stream), else a new one;
 * - attaching a stream nobody holds counts against the account's cap; a takeover does not;
 * - a new stream needs room among the account's registered streams: at the cap, its
 *   least recently active retirable stream is retired (named in `retire`), else refused.
 */
export function chooseStream(req: StreamRequest, ctx: StreamContext): StreamChoice {
  let existing: StreamRecord | undefined;
  if (req.name !== undefined) {
    existing = ctx.table.named(req.name);
    if (existing && existing.owner_account_id !== req.accountId) return { ok: false, reason: 'stream_name_conflict' };
  } else {
    existing = ctx.table.ownedBy(req.accountId).find((s) => !ctx.isHeld(s.stream_id));
  }
  const takeover = existing !== undefined && ctx.isHeld(existing.stream_id);
  if (!takeover && ctx.heldBy(req.accountId) >= LIMITS.streamsPerAccount) return { ok: false, reason: 'concurrency_limit' };
  if (existing) return { ok: true, stream: existing, takeover };
  let retire: StreamRecord | undefined;
  const owned = ctx.table.ownedBy(req.accountId);
  if (owned.length >= LIMITS.streamsRegisteredPerAccount) {
    retire = ctx.retirable(owned);
    if (!retire) return { ok: false, reason: 'concurrency_limit' };
  } else if (ctx.table.size >= LIMITS.streamsPerConversation) return { ok: false, reason: 'concurrency_limit' };
  let name = req.name;
  // A generated name taken by anyone (another account's, or this one's held stream) is drawn again.
  while (name === undefined || ctx.table.named(name)) name = ctx.newStreamName(req.nameBase);
  return {
    ok: true,
    takeover: false,
    ...(retire ? { retire } : {}),
    stream: { stream_id: ctx.newStreamId(), stream_name: name, owner_account_id: req.accountId, metadata: req.metadata ?? {}, created_at: ctx.now, connected_once: false,
      ...(req.identity ? { identity: req.identity } : {}) },
  };
}

export function peerOf(s: StreamRecord): Peer {
  return { stream_id: s.stream_id, stream_name: s.stream_name, owner_account_id: s.owner_account_id, metadata: s.metadata, identity: s.identity ?? DEFAULT_IDENTITY };
}
