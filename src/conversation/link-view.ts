/**
 * What a magic link tells about its conversation when fetched as a document
 * (markdown or JSON, src/http/link-answer.ts): its instructions, who is here,
 * and the last messages — for whoever holds a valid link of it. A holder of
 * any link hears every stream, so the recap is an observer's.
 */
import type { LinkClaims } from '../control/links';
import type { Identity } from '../protocol/identity';
import { utteranceGapOf } from '../protocol/records';
import { claimsValid } from './admission';
import type { Conversation } from './conversation';
import { recapFor, type Recap } from './recap';
import { peerOf } from './streams';

/** Participants listed at most: the connected ones first. */
export const LINK_VIEW_PARTICIPANTS = 50;

export interface Participant {
  stream_name: string;
  connected: boolean;
  /** Who holds (or last held) the stream, as declared: self-declared, not authenticated. */
  identity: Identity;
}

export interface LinkView {
  conversation_id: string;
  namespace: string;
  alias: string;
  instructions: string;
  utterance_gap_ms: number;
  head_seq: number;
  participants: Participant[];
  /** Registered streams not listed (past `LINK_VIEW_PARTICIPANTS`). */
  participants_more: number;
  recent: Recap;
}

export type LinkViewOutcome = { ok: true; view: LinkView } | { ok: false; reason: 'conversation_not_found' | 'invalid_magic_link' };

export function linkView(conv: Conversation, claims: LinkClaims | null, messages: number, bytes: number, now: number): LinkViewOutcome {
  const r = conv.record;
  if (!r) return { ok: false, reason: 'conversation_not_found' };
  if (!claimsValid(claims, r)) return { ok: false, reason: 'invalid_magic_link' };
  const all = [...conv.streams.all()].map((s) => ({ stream_name: s.stream_name, connected: conv.isHeld(s.stream_id), identity: peerOf(s).identity }));
  all.sort((a, b) => Number(b.connected) - Number(a.connected));
  return {
    ok: true,
    view: {
      conversation_id: r.conversation_id, namespace: r.namespace, alias: r.alias, instructions: r.instructions ?? '',
      utterance_gap_ms: utteranceGapOf(r), head_seq: conv.head.seq,
      participants: all.slice(0, LINK_VIEW_PARTICIPANTS), participants_more: Math.max(0, all.length - LINK_VIEW_PARTICIPANTS),
      recent: recapFor(conv, { accountId: null, selfSubscribe: false }, messages, bytes, now),
    },
  };
}
