/**
 * What the Worker learned about a request before handing it to the
 * conversation (signature checked, credential verified, headers decoded), and
 * the order in which the conversation turns that into a verdict.
 */
import type { AccountCheck } from '../control/accounts';
import type { Conversation } from './conversation';
import type { LinkClaims } from '../control/links';
import type { CloseReason } from '../protocol/close-codes';
import type { JsonObject } from '../protocol/frames';
import type { Identity } from '../protocol/identity';
import type { ConversationRecord } from '../protocol/records';

export interface Admission {
  /** The link token's claims when its signature and expiry held. */
  claims: LinkClaims | null;
  account: AccountCheck;
  stream_name?: string;
  stream_name_invalid?: boolean;
  stream_metadata?: JsonObject;
  stream_metadata_invalid?: boolean;
  /** What the request declared with `X-AMS-Identity-*` (or their query twins); absent when it declared nothing. */
  identity?: Identity;
  identity_invalid?: boolean;
  self_subscribe: boolean;
  /** `X-AMS-Subscribe-Streams` / `subscribe_streams`, checked (decisions/0130). */
  subscribe_streams?: string[];
  /** Why the subscription was refused (`invalid_subscription`), when it was. */
  subscribe_invalid?: string;
  receipts: boolean;
  integrity: boolean;
  since?: number;
  since_invalid?: boolean;
  epoch?: string;
  /** The client offered the `ams.v1` subprotocol. */
  subprotocol: boolean;
}

export const ADMISSION_HEADER = 'x-ams-admission';

/** Whether a token's claims admit it to this conversation as it is now: its id, generation and mint (epoch, decision 0105). */
export function claimsValid(claims: LinkClaims | null, record: ConversationRecord): claims is LinkClaims {
  return claims !== null && claims.conversation_id === record.conversation_id && claims.generation === record.generation
    && sameMint(claims.epoch, record);
}

/** A credential carrying an epoch must carry this mint's; one without is accepted only by a record minted before links carried it. */
export function sameMint(epoch: string | undefined, record: Pick<ConversationRecord, 'epoch' | 'links_bind_epoch'>): boolean {
  return epoch === undefined ? record.links_bind_epoch !== true : epoch === record.epoch;
}

/** Whether a link (or what descends from it) that expires at `expiresAt` (unix seconds) has expired at `now` (ms). */
export function expired(expiresAt: number | null | undefined, now: number): boolean {
  return expiresAt !== undefined && expiresAt !== null && expiresAt * 1000 <= now;
}

/** Closes every connection whose link has expired (4001 invalid_magic_link); returns when the next one expires (ms), if any. */
export function closeExpired(conv: Conversation, now: number): number | undefined {
  let next: number | undefined;
  conv.closeWhere((c) => {
    if (c.expiresAt === undefined) return false;
    if (expired(c.expiresAt, now)) return true;
    next = Math.min(next ?? Infinity, c.expiresAt * 1000);
    return false;
  }, 'invalid_magic_link');
  return next;
}

/** Checks 2–5 of the published connect order (1, a missing token, never reaches the conversation). */
export function connectVerdict(a: Admission, record: ConversationRecord | undefined): CloseReason | undefined {
  if (!record) return 'conversation_not_found';
  if (!claimsValid(a.claims, record)) return 'invalid_magic_link';
  if (a.claims.scope === 'write') {
    if (a.account.status !== 'ok') return 'invalid_credential';
    if (a.stream_name_invalid) return 'invalid_stream_name_header';
    if (a.stream_metadata_invalid) return 'invalid_stream_metadata_header';
    if (a.identity_invalid) return 'invalid_identity_header';
  }
  if (a.subscribe_invalid !== undefined) return 'invalid_subscription';
  return undefined;
}
