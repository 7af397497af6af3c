/**
 * The contract between an MCP session (McpSessionObject) and the conversation
 * it joined (ConversationObject), spoken over Durable Object RPC: the calls
 * the conversation object answers for its MCP members, and the doorbell it
 * rings back. Defined here, below `src/mcp`, because the conversation serves
 * it; the session imports it. Every call names the membership by `MemberRef`;
 * the lease changes whenever another session takes the membership over, so a
 * superseded session learns it at once.
 */
import type { Recap } from '../recap';
import type { LinkClaims } from '../../control/links';
import type { CloseReason } from '../../protocol/close-codes';
import type { ErrorCode } from '../../protocol/errors';
import type { JsonObject, Peer, Scope } from '../../protocol/frames';
import type { Entry } from '../../protocol/utterances';
import type { Identity } from '../../protocol/identity';

export interface MemberRef {
  member_id: string;
  lease: string;
}

/** Why a member's call failed: an HTTP error code, the close reason that ended it, or one of the membership's own. */
export type MemberErrorCode =
  | ErrorCode
  | CloseReason
  | 'not_joined'
  | 'resume_key_mismatch'
  | 'stream_displaced'
  | 'conversation_closed'
  | 'invalid_cursor'
  | 'internal_error';

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: MemberErrorCode; message?: string; ended?: boolean };

export function fail<T>(error: MemberErrorCode, message?: string, ended = false): Outcome<T> {
  return { ok: false, error, ...(message !== undefined ? { message } : {}), ...(ended ? { ended } : {}) };
}
export const ok = <T>(value: T): Outcome<T> => ({ ok: true, value });

export interface JoinArgs {
  /** A fresh join: the verified claims of the magic link. */
  claims?: LinkClaims;
  /** A continued membership: from a verified resume_key. */
  resume?: { conversation_id: string; member_id: string; account_id: string | null; generation: number; epoch?: string; expires_at?: number; credential?: { ns: string; generation: number } };
  /** The session's identity; writers act as it. */
  account_id: string;
  stream_name?: string;
  stream_metadata?: JsonObject;
  /** Who the joining client declares itself to be (ams_join: the session's client, a kind, a model); absent: the stream keeps its own. */
  identity?: Identity;
  self_subscribe?: boolean;
  /** The subscription filter (decisions/0130): a list sets it, null removes it; absent: a fresh join has none, a continued membership keeps its own. */
  subscribe_streams?: string[] | null;
  since?: number;
  /** How many of the last completed messages the join result recaps (0: none; default `LIMITS.recapDefaultMessages`). */
  recap?: number;
  /** The credential the caller's own account acts under (absent for anonymous identities): the presence index notes it (decision 0170). */
  credential?: { ns: string; generation: number };
  /** The lease to hold the membership with; a fresh random one when absent. A stateless caller (MCP 2026-07-28) names its fixed one, so its calls never displace each other. */
  lease?: string;
}

export interface Joined {
  ref: MemberRef;
  conversation_id: string;
  account_id: string | null;
  stream_id: string | null;
  stream_name: string | null;
  metadata: JsonObject | null;
  /** Who holds the joined stream, as declared; null for observers. */
  identity: Identity | null;
  scope: Scope;
  self_subscribe: boolean;
  /** Its subscription filter, when it has one. */
  subscribed_streams?: string[];
  peers: Peer[];
  resumed: boolean;
  seq: number;
  epoch: string;
  generation: number;
  /** When the membership's magic link expires (unix seconds); the resume_key carries it. */
  expires_at?: number;
  /** Where ams_recv continues when it is given no `since`. */
  cursor: number;
  /** The conversation's quiet gap that closes an utterance (ms). */
  utterance_gap_ms: number;
  /** The conversation's instructions (its owner's words); '' for none. */
  instructions?: string;
  /** The last completed messages this member hears (ams_join's recap). */
  recap?: Recap;
}

export interface RecvArgs {
  since?: number;
  wait_ms: number;
  max: number;
  /** ams_recv proposes where the next call continues (`proposal`); notification pulls only read. */
  advance: boolean;
}

/** `ams_recv {format: "messages"}`: always proposes where the next call continues (cursor and carry). */
export interface RecvMessagesArgs {
  since?: number;
  wait_ms: number;
  /** Most frames read (an utterance longer than that is told in parts). */
  max: number;
}

export interface Truncation {
  from_seq: number;
  to_seq: number;
  epoch: string;
}

export interface Received {
  frames: JsonObject[];
  next_since: number;
  head_seq: number;
  truncated?: Truncation;
}

/** Where ams_recv continues without `since`: the stored cursor and, for messages, what beyond it was already told (an UtteranceCarry, JSON). */
export interface ReadPosition {
  cursor: number;
  carry: string | null;
}

/**
 * What a read answered moves the membership's position only when the session
 * commits it (`mcpCommitRead`, decisions/0120): from the position the read
 * started at, to where its answer ends. A read nobody commits moved nothing.
 */
export interface ReadProposal {
  from: ReadPosition;
  to: ReadPosition;
}

/** A read's answer with the position it proposes. */
export type Proposed<T> = T & { proposal: ReadProposal };

/** The frames after a cursor as utterances and events (src/protocol/utterances.ts). */
export interface ReceivedMessages {
  entries: Entry[];
  next_since: number;
  head_seq: number;
  /** Utterances still being spoken, held back for a later call (absent: none). */
  held?: number;
  truncated?: Truncation;
}

export interface SendArgs {
  data: string;
  ref?: number;
  id?: string;
  /** Whether this token ends the utterance (ams_send: default true). */
  end?: boolean;
}

/** A session holding a GET stream, as the conversation's doorbell reaches it. */
export interface Listener {
  /** The session's McpSessionObject id (hex): the conversation can reach it without holding the session id. */
  object: string;
  /** Random per GET stream, so a late ring or unlisten of a replaced stream changes nothing. */
  tag: string;
}

/** What a doorbell carries: which membership, and the head after the frames it heard. */
export interface Doorbell {
  member_id: string;
  tag: string;
  head: number;
  /** The conversation ended the membership (displaced, revoked, deleted): pull to learn why. */
  ended?: boolean;
}

/** The session object's surface for conversations. */
export interface McpSessionRpc {
  /** Returns at once: whether the session still listens for that membership with that tag (false: forget it). */
  doorbell(bell: Doorbell): Promise<boolean>;
}

/** The conversation object's MCP surface. */
export interface McpConversationRpc {
  mcpJoin(args: JoinArgs): Promise<Outcome<Joined>>;
  mcpSend(ref: MemberRef, args: SendArgs): Promise<Outcome<{ seq: number; duplicate: boolean }>>;
  /** With `advance`, the answer carries a `proposal`. */
  mcpRecv(ref: MemberRef, args: RecvArgs): Promise<Outcome<Received & { proposal?: ReadProposal }>>;
  mcpRecvMessages(ref: MemberRef, args: RecvMessagesArgs): Promise<Outcome<Proposed<ReceivedMessages>>>;
  /** Moves the read position as `p` proposes, if it still stands at `p.from` (or already at `p.to`); `committed` says whether it now stands at `p.to`. */
  mcpCommitRead(ref: MemberRef, p: ReadProposal): Promise<Outcome<{ committed: boolean }>>;
  mcpSetMetadata(ref: MemberRef, metadata: JsonObject): Promise<Outcome<{ seq: number }>>;
  mcpLeave(ref: MemberRef): Promise<Outcome<{ seq: number }>>;
  mcpPeers(ref: MemberRef): Promise<Outcome<{ peers: Peer[]; seq: number; stream_id: string | null }>>;
  /** The session holds a GET stream for this membership: ring it after frames (also renews presence). */
  mcpListen(ref: MemberRef, listener: Listener): Promise<Outcome<{ head_seq: number }>>;
  /** The GET stream registered with `tag` closed. */
  mcpUnlisten(member_id: string, tag: string): Promise<void>;
}
