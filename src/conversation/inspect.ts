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
