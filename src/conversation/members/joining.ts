/**
 * How an MCP membership's join is put to the conversation and answered: the
 * `JoinRequest` a fresh join or an idle membership's rejoin asks with (the
 * same decision a WebSocket goes through), and the `Joined` a session gets
 * back. Kept apart from McpMembers, which owns the memberships' state, because
 * these only translate between the RPC's shapes and the conversation's.
 */
import { ulid } from 'ulid';
import { LIMITS } from '../../protocol/limits';
import { nameBaseOf } from '../../protocol/identity';
import type { ConversationRecord } from '../../protocol/records';
import type { Conversation } from '../conversation';
import type { JoinRequest } from '../join';
import { peerOf } from '../streams';
import { subscribedStreams, type McpConnection } from './connection';
import type { MemberRow } from './rows';
import type { JoinArgs, Joined } from './rpc';

/** A membership's lease: unguessable, and new whenever another session takes the membership over. */
export const newLease = (): string => `ls_${ulid()}${crypto.randomUUID().replace(/-/g, '')}`;

/** A fresh join's request, from `a` whose claims were verified. */
export function freshRequest(a: JoinArgs, r: ConversationRecord): JoinRequest {
  const scope = a.claims!.scope;
  return {
    accountId: scope === 'write' ? a.account_id : null,
    scope,
    generation: r.generation,
    streamName: a.stream_name,
    streamMetadata: a.stream_metadata,
    identity: a.identity,
    // An MCP participant is named after its client, else its kind, never `stream-XXXXXX` (decision 0156).
    nameBase: nameBaseOf(a.identity, true),
    selfSubscribe: scope === 'write' && a.self_subscribe === true,
    ...(a.subscribe_streams ? { streams: a.subscribe_streams } : {}),
    chain: false,
    cursor: {},
  };
}

/** An idle membership's rejoin, from its stored row (its stream, if it writes, keeps its name). */
export function rowRequest(row: MemberRow, streamName: string | undefined): JoinRequest {
  const streams = subscribedStreams(row);
  return {
    accountId: row.account_id, scope: row.scope, generation: row.generation, streamName,
    selfSubscribe: row.self_subscribe === 1, ...(streams ? { streams } : {}), chain: false, cursor: {},
  };
}

/** What the session is told about its membership after a join or a resume. */
export function joinedOf(conv: Conversation, conn: McpConnection, resumed: boolean): Joined {
  const row = conn.row;
  const s = row.stream_id ? conv.streams.get(row.stream_id) : undefined;
  const r = conv.record!;
  return {
    ref: { member_id: row.member_id, lease: row.lease! },
    conversation_id: r.conversation_id,
    account_id: row.account_id,
    stream_id: s?.stream_id ?? null,
    stream_name: s?.stream_name ?? null,
    metadata: s?.metadata ?? null,
    identity: s ? peerOf(s).identity : null,
    scope: row.scope,
    self_subscribe: row.self_subscribe === 1,
    ...(row.subscribe_streams !== null ? { subscribed_streams: subscribedStreams(row)! } : {}),
    peers: conv.peersFor(row.account_id, row.self_subscribe === 1, row.stream_id),
    resumed,
    seq: conv.head.seq,
    epoch: r.epoch,
    generation: r.generation,
    ...(row.expires_at !== null ? { expires_at: row.expires_at } : {}),
    cursor: row.cursor,
    utterance_gap_ms: r.utterance_gap_ms ?? LIMITS.utteranceGapDefaultMs,
  };
}
