/**
 * The records the broker stores and passes between its parts: a conversation
 * and a registered stream. The control plane builds them when it mints, the
 * conversation object keeps them, the HTTP routes read them.
 */
import type { JsonObject } from './frames';
import type { Identity } from './identity';
import { LIMITS } from './limits';

export type IdKind = 'ulid' | 'jcs-sha256';

export interface HistorySettings {
  max_frames: number;
  max_age_s: number;
}

export interface ConversationRecord {
  conversation_id: string;
  namespace: string;
  alias: string;
  id_kind: IdKind;
  metadata: JsonObject;
  created_at: string;
  owner_account_id: string;
  history: HistorySettings;
  epoch: string;
  /** Link generation: links of an older generation are revoked. */
  generation: number;
  /** Links and resume keys must carry this record's epoch (every mint since decision 0105); absent on older records, which also accept links without one. */
  links_bind_epoch?: true;
  /** Quiet gap (ms) that closes an utterance without an `end` marker; absent on records minted before it existed (then the default). */
  utterance_gap_ms?: number;
  /** The conversation's purpose in the owner's words (plain text, at most 2,000 characters); absent or empty: none. */
  instructions?: string;
  /** Listeners admitted across the audience shards (`audience.max_listeners` at mint); absent on older records (then the default). */
  max_listeners?: number;
}

export interface StreamRecord {
  stream_id: string;
  stream_name: string;
  owner_account_id: string;
  metadata: JsonObject;
  created_at: string;
  /** Whether a connection ever held it (a reattach then reports `resumed: true`). */
  connected_once: boolean;
  /** Who its last holder declared itself to be; absent: never declared (then `DEFAULT_IDENTITY`). */
  identity?: Identity;
}

/** The conversation's quiet gap (ms): what it was minted with, else the default. */
export function utteranceGapOf(r: ConversationRecord): number {
  return r.utterance_gap_ms ?? LIMITS.utteranceGapDefaultMs;
}
