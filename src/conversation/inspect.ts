/** What inspect (`GET /v1/{ns}/conversations/{alias}`) tells about a conversation. */
import { utteranceGapOf } from '../protocol/records';
import type { Conversation } from './conversation';
import { peerOf } from './streams';

export function inspectConversation(conv: Conversation): Record<string, unknown> {
  const r = conv.record!;
  const w = conv.window();
  return {
    conversation_id: r.conversation_id,
    namespace: r.namespace,
    alias: r.alias,
    id_kind: r.id_kind,
    metadata: r.metadata,
    created_at: r.created_at,
    streams: [...conv.streams.all()].map((s) => ({ ...peerOf(s), connected: conv.isHeld(s.stream_id) })),
    head_seq: conv.head.seq,
    head_chain: conv.head.chain,
    epoch: r.epoch,
    history: { ...r.history, first_seq: w.firstRetained },
    utterance_gap_ms: utteranceGapOf(r),
    connections: conv.connectionCount,
    instructions: r.instructions ?? '',
  };
}

/** One row of an account's conversation list (`GET /v1/{ns}/conversations`). */
export interface ConversationSummary {
  conversation_id: string;
  alias: string;
  created_at: string;
  head_seq: number;
  /** Streams held by a live connection or MCP membership. */
  writers: number;
  /** Read-only connections: observer sockets and SSE tails here, and the audience shards' listeners. */
  listeners: number;
  /** When the newest kept frame was logged, else when the conversation was minted. */
  last_activity: string;
}

export function summarizeConversation(conv: Conversation, audienceListeners: number): ConversationSummary {
  const r = conv.record!;
  const writers = [...conv.streams.all()].filter((s) => conv.isHeld(s.stream_id)).length;
  const newest = [...conv.rows(conv.head.seq, 1)][0];
  return {
    conversation_id: r.conversation_id, alias: r.alias, created_at: r.created_at, head_seq: conv.head.seq, writers,
    listeners: Math.max(0, conv.connectionCount - writers) + audienceListeners,
    last_activity: newest ? new Date(newest.ts).toISOString() : r.created_at,
  };
}
